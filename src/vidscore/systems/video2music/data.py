"""Training sequences for the AMT and the biGRU: chord steps with control rows (:mod:`.inputs`).

Every step is conditioned on the control curves of the music it must produce and on nothing else
that carries the target (:mod:`vidscore.curves`):

* **POP909**: curves per beat from the song's MIDI (:func:`vidscore.curves.music.raw_curves`;
  boundaries are phrase starts: the first melody note after >= 1.5 beats of rest), ranked by
  the training split's quantiles (:class:`~vidscore.curves.contract.Calibration`), merged per
  step. One step is half a 4/4 bar (two beats); chords are the human annotations, normalised to
  C major / A minor.
* **MuVi-Sync** (the paper's paired data): its per-second music descriptors give activity
  (note density), intensity (loudness) and valence (chords, key); its video gives boundaries
  (scene offset 0) and the semantic input; accent and register, which it lacks, sit at 0.5.

The biGRU's targets are each step's notes sounding per second / :data:`ONSET_FULL` and its
loudness: the raw intensity of its beats (0.6 x mean velocity / 127 + 0.4 x sounding voices / 8),
the nearest thing to the audio loudness Video2Music measures that a MIDI file has.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vidscore.curves.contract import CURVES, Calibration
from vidscore.curves.music import MODE_VALENCE, chord_valence, raw_curves
from vidscore.data.pop909 import Pop909Song
from vidscore.errors import InputError
from vidscore.music.chords import NO_CHORD, VIDEO2MUSIC, Chord
from vidscore.music.key import normalizing_shift
from vidscore.systems.video2music.inputs import FIXED_COLUMNS, rows

BEATS_PER_STEP = 2
#: onsets per second that count as full density (about the 90th percentile of POP909 steps)
ONSET_FULL = 14.0


@dataclass
class ChordSequence:
    """One piece as the models see it (``cond`` once :func:`condition` has ranked its curves)."""

    name: str
    chords: np.ndarray  # (L,) Video2Music vocabulary indices
    roots: np.ndarray  # (L,) factored root indices (12 = N)
    qualities: np.ndarray  # (L,) factored quality indices (13 = N)
    raw: np.ndarray  # (L * beats_per_step, len(CURVES)) raw curves per beat
    density: np.ndarray  # (L,) notes sounding per second, / ONSET_FULL
    loudness: np.ndarray  # (L,) raw intensity (velocity and voices)
    semantic: np.ndarray | None = None  # (L, D) paired video features (MuVi-Sync only)
    beats_per_step: int = BEATS_PER_STEP
    cond: np.ndarray | None = None  # (L, semantic_dim + FIXED_COLUMNS)

    @property
    def emotion(self) -> np.ndarray:
        return self.cond[:, -6:].argmax(axis=1)


def condition(seq: ChordSequence, calibration: Calibration) -> ChordSequence:
    """Rank the raw curves, merge them per step and build the rows."""
    beats = calibration.apply(seq.raw)
    n, k = len(seq.chords), seq.beats_per_step
    steps = beats[: n * k].reshape(n, k, len(CURVES))
    merged = steps.mean(axis=1)
    b = CURVES.index("boundary")
    merged[:, b] = steps[:, :, b].max(axis=1)
    seq.cond = rows(seq.semantic, merged)
    return seq


def factor(chords: list[Chord]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    idx = np.array([VIDEO2MUSIC.index(c) for c in chords], dtype=np.int64)
    rq = np.array([VIDEO2MUSIC.root_quality(c) for c in chords], dtype=np.int64).reshape(-1, 2)
    return idx, rq[:, 0], rq[:, 1]


def pop909_sequence(song: Pop909Song) -> ChordSequence | None:
    """Chord steps of one POP909 song with its raw curves per beat (None if unusable)."""
    beat_times, downbeats = song.beats()
    if len(beat_times) < 8 or not downbeats.any():
        return None
    first = int(np.argmax(downbeats))
    beats = beat_times[first:]
    n_steps = (len(beats) - 1) // BEATS_PER_STEP
    if n_steps < 4:
        return None
    beats = beats[: n_steps * BEATS_PER_STEP + 1]
    b_starts, b_ends = beats[:-1], beats[1:]
    shift = normalizing_shift(key := song.main_key())
    spans = song.chords("midi")
    beat_chords = [_chord_over(spans, a, b) for a, b in zip(b_starts, b_ends, strict=True)]
    starts, ends = beats[:-1:BEATS_PER_STEP], beats[BEATS_PER_STEP::BEATS_PER_STEP]
    chords = [
        VIDEO2MUSIC.map(_chord_over(spans, a, b).transpose(shift))
        for a, b in zip(starts, ends, strict=True)
    ]
    score = song.score
    raw = raw_curves(
        score,
        b_starts,
        b_ends,
        chords=beat_chords,
        mode=key.mode,
        boundaries=_phrase_starts(song),
    )
    notes = score.notes()
    on = np.array([score.seconds(n.start) for n in notes])
    off = np.array([score.seconds(n.end) for n in notes])
    lengths = ends - starts
    sounding = [(on < b) & (off > a) for a, b in zip(starts, ends, strict=True)]
    loud = raw[:, CURVES.index("intensity")].reshape(-1, BEATS_PER_STEP).mean(axis=1)
    density = np.array([s.sum() for s in sounding]) / lengths / ONSET_FULL
    idx, roots, quals = factor(chords)
    return ChordSequence(
        song.song_id,
        idx,
        roots,
        quals,
        raw,
        np.clip(density, 0, 3).astype(np.float32),
        loud.astype(np.float32),
    )


def _chord_over(spans, a: float, b: float) -> Chord:
    """The annotated chord covering most of ``[a, b)`` seconds."""
    best, best_len = NO_CHORD, 0.0
    for s in spans:
        overlap = min(b, s.end) - max(a, s.start)
        if overlap > best_len:
            best, best_len = s.chord, overlap
    return best


def _phrase_starts(song: Pop909Song) -> list[float]:
    """Seconds of each phrase start: the first melody note after >= 1.5 beats of rest."""
    score = song.score
    try:
        melody = sorted(score.track("MELODY").notes)
    except KeyError:
        return [0.0]
    starts = [0.0]
    last_end = None
    for n in melody:
        if last_end is None or n.start - last_end >= 1.5:
            starts.append(float(score.seconds(n.start)))
        last_end = n.end if last_end is None else max(last_end, n.end)
    return starts


@dataclass
class Sequences:
    """The splits, ranked by the calibration fitted on the training split."""

    splits: dict[str, list[ChordSequence]]
    calibration: Calibration

    def __getitem__(self, split: str) -> list[ChordSequence]:
        return self.splits[split]

    def items(self):
        return self.splits.items()

    @property
    def semantic_dim(self) -> int:
        """Width of the semantic part of the rows (0 for POP909)."""
        return self.splits["train"][0].cond.shape[1] - FIXED_COLUMNS


def load_sequences(data: str | os.PathLike, *, limit: int = 0) -> Sequences:
    """Train / val / test sequences from POP909 or MuVi-Sync, told apart by layout."""
    root = Path(data)
    if not root.is_dir():
        raise InputError(f"--data {root}: not a folder")
    out = muvisync_sequences(root, limit) if is_muvisync(root) else pop909_sequences(root, limit)
    if not out["train"]:
        raise InputError(f"{root}: no usable training pieces")
    calibration = Calibration.fit(np.concatenate([s.raw for s in out["train"]]))
    for seqs in out.values():
        for s in seqs:
            condition(s, calibration)
    return Sequences(out, calibration)


def is_muvisync(root: Path) -> bool:
    return (root / "vevo_chord").is_dir()


def pop909_sequences(root: Path, limit: int = 0) -> dict[str, list[ChordSequence]]:
    from vidscore.data.pop909 import songs

    out: dict[str, list[ChordSequence]] = {"train": [], "val": [], "test": []}
    for song in songs(root)[: limit or None]:
        seq = pop909_sequence(song)
        if seq is not None:
            out[song.split].append(seq)
    return out


def muvisync_sequences(root: Path, limit: int = 0) -> dict[str, list[ChordSequence]]:
    """MuVi-Sync's per-second steps: music descriptors as curves, semantic features as the
    paired video input (see the module docstring)."""
    from vidscore.data.muvisync import MuViSync

    ds = MuViSync(root)
    out = {}
    for split in ("train", "val", "test"):
        seqs = []
        for it in ds.items(split)[: limit or None]:
            parts = (it.chords, it.emotion, it.motion, it.scene_offset, it.semantic)
            n = min(len(x) for x in parts)
            if n < 4:
                continue
            idx, roots, quals = factor(it.chords[:n])
            mode = MODE_VALENCE.get(it.key.mode if it.key else "", 0.0)
            raw = np.full((n, len(CURVES)), 0.5)
            raw[:, CURVES.index("activity")] = it.note_density[:n]
            raw[:, CURVES.index("intensity")] = it.loudness[:n]
            raw[:, CURVES.index("boundary")] = np.asarray(it.scene_offset[:n]) < 1
            raw[:, CURVES.index("valence")] = [mode + chord_valence(c) for c in it.chords[:n]]
            seqs.append(
                ChordSequence(
                    it.video_id,
                    idx,
                    roots,
                    quals,
                    raw,
                    it.note_density[:n].astype(np.float32) / ONSET_FULL,
                    it.loudness[:n].astype(np.float32),
                    semantic=np.asarray(it.semantic[:n], dtype=np.float64),
                    beats_per_step=1,
                )
            )
        out[split] = seqs
    return out
