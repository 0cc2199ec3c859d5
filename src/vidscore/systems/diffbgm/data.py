"""Diff-BGM's training examples: 8-bar piano rolls of POP909 with their own curves per beat.

The reference trains on POP909's melody, bridge and piano tracks merged into one roll, a window
at every downbeat. vidscore takes the same music from the V-MusProd corpus (key-normalised to C
major / A minor, quantised to sixteenths, split by hash, curves per beat ranked by the training
music's calibration), so both systems learn from identical pieces. Each window's conditions are
its own music's curves (the control-curve contract: computed from the target at training, from
the video at compose time): the dynamic tokens carry activity, intensity, boundary and accent;
the semantic tokens valence and register. Its section and phrase starts (the raw boundary
curve) split it into the "shots" SAC-Att masks by, as the clip's cuts do at compose time.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vidscore.curves.contract import CURVES
from vidscore.music.pianoroll import to_pianoroll
from vidscore.systems.diffbgm.model import BEATS, DiffBGMConfig

DYNAMIC = ("activity", "intensity", "boundary", "accent")
SEMANTIC = ("valence", "register")
BEATS_PER_BAR = 4


@dataclass
class Window:
    """One 8-bar segment: the roll (onset, sustain) over the model's pitches, and per beat the
    dynamic and semantic condition rows."""

    name: str
    start_beat: int
    roll: np.ndarray  # (2, 128, pitches) float32, 0/1
    dynamic: np.ndarray  # (32, len(DYNAMIC))
    semantic: np.ndarray  # (32, len(SEMANTIC))
    shots: np.ndarray  # (32,) section number of each beat, split at the music's own boundaries


def split_curves(cond: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Ranked per-beat curves -> (dynamic, semantic) condition rows."""
    c = np.asarray(cond, dtype=np.float32)
    return (c[:, [CURVES.index(n) for n in DYNAMIC]], c[:, [CURVES.index(n) for n in SEMANTIC]])


@dataclass
class Conditions:
    """A whole piece's condition rows per beat: ``dynamic`` and ``semantic`` (n_beats, dims),
    and ``starts`` (n_beats,) True where a new shot (or section) begins."""

    dynamic: np.ndarray
    semantic: np.ndarray
    starts: np.ndarray


def curve_conditions(piece) -> Conditions:
    """The calibrated piece's own curves, split at its section and phrase starts."""
    dyn, sem = split_curves(piece.cond)
    return Conditions(dyn, sem, piece.raw[:, CURVES.index("boundary")] > 0.5)


def windows(
    piece, cfg: DiffBGMConfig, hop_bars: int = 1, conditions: Conditions | None = None
) -> list[Window]:
    """Every full 8-bar window of a piece, one starting every ``hop_bars`` bars, conditioned on
    ``conditions`` (the piece's own curves when not given)."""
    c = conditions if conditions is not None else curve_conditions(piece)
    notes = [*piece.melody, *piece.accompaniment]
    out = []
    for start in range(0, piece.n_beats - BEATS + 1, hop_bars * BEATS_PER_BAR):
        roll = to_pianoroll(notes, start_beat=start, beats_per_bar=BEATS_PER_BAR)
        roll = roll[:, :, cfg.low_pitch : cfg.low_pitch + cfg.pitches]
        span = slice(start, start + BEATS)
        starts = c.starts[span].copy()
        starts[0] = False
        out.append(Window(piece.name, start, roll, c.dynamic[span], c.semantic[span],
                          np.cumsum(starts)))  # fmt: skip
    return out


def pitch_coverage(pieces, low: int, pitches: int) -> float:
    """Share of the pieces' notes inside ``[low, low + pitches)``: what a narrower roll keeps."""
    inside = total = 0
    for p in pieces:
        for n in [*p.melody, *p.accompaniment]:
            total += 1
            inside += low <= n.pitch < low + pitches
    return inside / total if total else float("nan")
