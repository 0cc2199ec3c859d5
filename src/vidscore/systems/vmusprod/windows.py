"""Training windows: a few bars of a :class:`~.data.Piece` as one stage's tokens.

Every stage sees the same window of ``bars`` bars (bar indices counted inside the window):

* chord: target = Rhythm + Chord tokens, the controller reads the window's curves per beat;
* melody: source = the chord tokens, target = the melody's Rhythm + Note tokens;
* accompaniment: source = the melody merged with the chords, target = the accompaniment's;
* the ablations: ``direct`` target = every note (melody and accompaniment) with no source,
  ``music`` source = the chord tokens, target = every note.

The decoder reads a BOS token then the target shifted by one; each input token carries its
timing row (:data:`~.model.TIMING`: the curves of its beat, a 1 saying the curves are present,
its progress through the piece). A paired piece's video streams (semantic, colour) go to the
controller beside the curves, zeroed with them in the null condition. The window ends with bar
tokens for any empty last bars, never with EOS: the caller knows how many bars to generate.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import numpy as np
import torch

from vidscore.curves.contract import CURVES
from vidscore.music.chords import ChordSpan
from vidscore.music.score import Note
from vidscore.music.tokens import RHYTHM, encode, tempo_class
from vidscore.systems.vmusprod.data import BEATS_PER_BAR, Piece
from vidscore.systems.vmusprod.model import STREAM, TIMING

WIDTH = 7  # token attributes


@dataclass
class Window:
    """One stage's arrays for a window (numpy, unbatched)."""

    tokens: np.ndarray  # (L, 7) decoder input: BOS + target[:-1]
    indices: np.ndarray  # (L, 3)
    timing: np.ndarray  # (L, TIMING)
    target: np.ndarray  # (L, 7)
    src_tokens: np.ndarray | None  # (S, 7)
    src_indices: np.ndarray | None
    curves: np.ndarray  # (beats, len(CURVES) + 1): the controller's stream (curves, present)
    video: dict[str, np.ndarray] | None = None  # paired streams per beat (zeros when null)


def crop_notes(notes: list[Note], lo: float, hi: float) -> list[Note]:
    return [
        Note(n.start - lo, min(n.end, hi) - lo, n.pitch, n.velocity)
        for n in notes
        if lo <= n.start < hi
    ]


def crop_chords(spans: list[ChordSpan], lo: float, hi: float) -> list[ChordSpan]:
    return [
        ChordSpan(max(s.start, lo) - lo, min(s.end, hi) - lo, s.chord)
        for s in spans
        if s.end > lo and s.start < hi
    ]


def tokens_of(
    notes: list[Note], chords: list[ChordSpan], bars: int, tempo: float
) -> tuple[np.ndarray, np.ndarray]:
    """CP tokens of a window without EOS, with bar tokens for every bar up to ``bars``."""
    seq = encode(notes, chords, tempo_bpm=tempo)
    toks, idx = seq.tokens[:-1], seq.indices[:-1]
    last = int(idx[:, 0].max()) if len(idx) else -1
    tc = tempo_class(tempo)
    extra = [[RHYTHM, 1, 0, 0, 0, 0, 0] for _ in range(last + 1, bars)]
    if extra:
        toks = np.concatenate([toks, np.array(extra, dtype=np.int64)])
        more = [[b, 0, tc] for b in range(last + 1, bars)]
        idx = np.concatenate([idx, np.array(more, dtype=np.int64)])
    return toks, idx


def timing_rows(beats: np.ndarray, cond: np.ndarray | None, progress: np.ndarray) -> np.ndarray:
    """Per token: the curves of its beat (``beats`` index ``cond``), present (1) or null (all
    0), and its ``progress`` through the piece."""
    k = len(CURVES)
    out = np.zeros((len(beats), TIMING), dtype=np.float32)
    if cond is not None:
        out[:, :k] = cond[np.clip(beats, 0, len(cond) - 1)]
        out[:, k] = 1.0
    out[:, k + 1] = progress
    return out


def stream_rows(cond: np.ndarray | None, beats: int) -> np.ndarray:
    """The controller's curve stream for ``beats`` beats: the curves and present (1), or all 0
    for the null condition."""
    out = np.zeros((beats, STREAM), dtype=np.float32)
    if cond is not None:
        n = min(len(cond), beats)
        out[:n, : len(CURVES)] = cond[:n]
        out[:n, len(CURVES)] = 1.0
    return out


def make_window(
    piece: Piece, stage: str, first_bar: int, bars: int, *, null: bool = False
) -> Window:
    """The ``stage`` arrays of bars ``[first_bar, first_bar + bars)`` of ``piece``."""
    lo, hi = first_bar * BEATS_PER_BAR, (first_bar + bars) * BEATS_PER_BAR
    chords = crop_chords(piece.chords, lo, hi)
    melody = crop_notes(piece.melody, lo, hi)
    chord_toks = tokens_of([], chords, bars, piece.tempo)
    accomp = crop_notes(piece.accompaniment, lo, hi)
    if stage == "chord":
        target, src = chord_toks, None
    elif stage == "melody":
        target, src = tokens_of(melody, [], bars, piece.tempo), chord_toks
    elif stage == "accompaniment":
        target, src = (
            tokens_of(accomp, [], bars, piece.tempo),
            tokens_of(melody, chords, bars, piece.tempo),
        )
    else:  # the ablations write every note
        everything = tokens_of(sorted(melody + accomp), [], bars, piece.tempo)
        target, src = everything, (chord_toks if stage == "music" else None)
    toks, idx = target
    tc = tempo_class(piece.tempo)
    inp = np.concatenate([np.zeros((1, WIDTH), dtype=np.int64), toks[:-1]])
    inp_idx = np.concatenate([np.array([[0, 0, tc]], dtype=np.int64), idx[:-1]])
    beats = lo + inp_idx[:, 0] * BEATS_PER_BAR + inp_idx[:, 1]
    cond = None if null else piece.cond
    timing = timing_rows(beats, cond, beats / max(1, piece.n_beats))
    curves = stream_rows(None if null else piece.cond[lo:hi], hi - lo)
    video = None
    if piece.video is not None:
        video = {k: v[lo:hi] * (0.0 if null else 1.0) for k, v in piece.video.items()}
    return Window(
        inp, inp_idx, timing, toks,
        None if src is None else src[0], None if src is None else src[1], curves, video,
    )  # fmt: skip


def random_window(piece: Piece, stage: str, bars: int, rng: random.Random, drop: float) -> Window:
    first = rng.randrange(0, max(1, piece.n_bars - bars + 1))
    return make_window(piece, stage, first, min(bars, piece.n_bars), null=rng.random() < drop)


def padded(arrays: list[np.ndarray], length: int, fill: int = 0) -> torch.Tensor:
    """``arrays`` stacked into one tensor, each cut or padded with ``fill`` to ``length``."""
    shape = (len(arrays), length, *arrays[0].shape[1:])
    out = np.full(shape, fill, dtype=arrays[0].dtype)
    for i, a in enumerate(arrays):
        out[i, : min(len(a), length)] = a[:length]
    return torch.from_numpy(out)


def batch_of(windows: list[Window], max_len: int) -> dict:
    """Pad windows into one batch (sequences longer than ``max_len`` are cut at the end)."""
    length = min(max_len, max(len(w.tokens) for w in windows))
    lengths = torch.tensor([min(len(w.tokens), length) for w in windows])
    batch = {
        "tokens": padded([w.tokens for w in windows], length),
        "indices": padded([w.indices for w in windows], length),
        "timing": padded([w.timing for w in windows], length),
        "target": padded([w.target for w in windows], length),
        "pad": torch.arange(length)[None, :] >= lengths[:, None],
    }
    beats = max(len(w.curves) for w in windows)
    blen = torch.tensor([len(w.curves) for w in windows])
    mask = torch.arange(beats)[None, :] >= blen[:, None]
    batch["streams"] = {"curves": padded([w.curves for w in windows], beats)}
    for name in windows[0].video or {}:
        batch["streams"][name] = padded([w.video[name] for w in windows], beats)
    batch["stream_masks"] = {name: mask for name in batch["streams"]}
    if windows[0].src_tokens is not None:
        slen = min(max_len, max(len(w.src_tokens) for w in windows))
        s_lengths = torch.tensor([min(len(w.src_tokens), slen) for w in windows])
        batch["src_tokens"] = padded([w.src_tokens for w in windows], slen)
        batch["src_indices"] = padded([w.src_indices for w in windows], slen)
        batch["src_pad"] = torch.arange(slen)[None, :] >= s_lengths[:, None]
    return batch
