"""Control curves measured from music: what a training target does, beat by beat.

Raw values per beat ``[a, b)`` seconds (ranked later by a :class:`~.contract.Calibration`):

* activity: note onsets per second;
* intensity: 0.6 x mean velocity / 127 of the sounding notes + 0.4 x sounding voices / 8
  (capped), so loud and thick both count;
* boundary: 1 on the beat where a phrase or section starts;
* accent: summed velocity / 127 of the attacks within an eighth of a beat of the beat;
* valence: the chord's quality valence (:data:`QUALITY_VALENCE`) plus +-0.25 for a major /
  minor key (the chord is the target itself: this curve *is* the valence control);
* register: mean pitch of the sounding notes (the last one carried over silences).

Drums count for activity, intensity and accents but not for register.
"""

from __future__ import annotations

import numpy as np

from vidscore.curves.contract import CURVES, Calibration, CurveSet, mark_events
from vidscore.music.chords import Chord
from vidscore.music.score import Score

#: valence of each chord quality (major bright, minor and diminished dark)
QUALITY_VALENCE = {
    "maj": 0.5, "maj7": 0.4, "maj6": 0.4, "7": 0.2, "sus2": 0.1, "sus4": 0.1, "aug": -0.2,
    "min": -0.4, "min7": -0.3, "min6": -0.3, "dim": -0.6, "dim7": -0.7, "hdim7": -0.6,
    "minmaj7": -0.3, "7sus4": 0.1, "9": 0.3, "maj9": 0.4, "min9": -0.3,
}  # fmt: skip
MODE_VALENCE = {"major": 0.25, "minor": -0.25}
DEFAULT_REGISTER = 60.0


def chord_valence(chord: Chord | None) -> float:
    if chord is None or chord.is_none:
        return 0.0
    return QUALITY_VALENCE.get(chord.quality, 0.0)


def raw_curves(
    score: Score,
    starts: np.ndarray,
    ends: np.ndarray,
    *,
    chords: list[Chord | None] | None = None,
    mode: str | None = None,
    boundaries: np.ndarray | list[float] = (),
) -> np.ndarray:
    """``(N, len(CURVES))`` raw values for the beats ``[starts[i], ends[i])`` (seconds)."""
    starts = np.asarray(starts, dtype=np.float64)
    ends = np.asarray(ends, dtype=np.float64)
    n = len(starts)
    notes = [(x, t.is_drum) for t in score.tracks for x in t.notes]
    pitched = np.array([not drum for _, drum in notes], dtype=bool)
    beats_on = np.array([x.start for x, _ in notes], dtype=np.float64)
    beats_off = np.array([x.end for x, _ in notes], dtype=np.float64)
    on = np.asarray(score.seconds(beats_on), dtype=np.float64).reshape(-1)
    off = np.asarray(score.seconds(beats_off), dtype=np.float64).reshape(-1)
    vel = np.array([x.velocity for x, _ in notes], dtype=np.float64) / 127
    pitch = np.array([x.pitch for x, _ in notes], dtype=np.float64)
    order = np.argsort(on, kind="stable")
    on, off, vel, pitch, pitched = on[order], off[order], vel[order], pitch[order], pitched[order]
    out = np.zeros((n, len(CURVES)))
    lengths = np.maximum(ends - starts, 1e-6)
    # onsets per beat through two binary searches over the sorted onsets
    first = np.searchsorted(on, starts, side="left")
    last = np.searchsorted(on, ends, side="left")
    out[:, 0] = (last - first) / lengths
    register = np.full(n, np.nan)
    for i in range(n):
        a, b = starts[i], ends[i]
        sounding = (on < b) & (off > a)
        if sounding.any():
            mid = (a + b) / 2
            voices = int(np.sum((on <= mid) & (off > mid)))
            out[i, 1] = 0.6 * vel[sounding].mean() + 0.4 * min(voices, 8) / 8
            keep = sounding & pitched
            if keep.any():
                register[i] = pitch[keep].mean()
        window = 0.125 * lengths[i]
        hit = np.searchsorted(on, [a - window, a + window])
        out[i, 3] = vel[hit[0] : hit[1]].sum()
    out[:, 2] = mark_events(boundaries, starts, ends)
    base = MODE_VALENCE.get(mode or "", 0.0)
    qual = [chord_valence(c) for c in chords] if chords is not None else [0.0] * n
    out[:, 4] = base + np.asarray(qual, dtype=np.float64)
    out[:, 5] = _fill(register)
    return out


def _fill(x: np.ndarray) -> np.ndarray:
    """NaN gaps take the last value before them (the first value before the first)."""
    if np.all(np.isnan(x)):
        return np.full_like(x, DEFAULT_REGISTER)
    idx = np.where(~np.isnan(x), np.arange(len(x)), 0)
    np.maximum.accumulate(idx, out=idx)
    out = x[idx]
    first = np.flatnonzero(~np.isnan(x))[0]
    out[:first] = x[first]
    return out


def beat_grid(score: Score) -> tuple[np.ndarray, np.ndarray]:
    """Whole beats of a score's tempo map, in seconds: ``(starts, ends)``."""
    beats = np.arange(0, int(np.ceil(score.end_beat)) + 1, dtype=np.float64)
    secs = np.asarray(score.seconds(beats))
    return secs[:-1], secs[1:]


def chords_at(score: Score, starts: np.ndarray) -> list[Chord | None]:
    """The chord of ``score.chords`` (spans in beats) sounding at each time (None: none)."""
    spans = sorted(score.chords, key=lambda s: s.start)
    at = [score.seconds(s.start) for s in spans]
    out: list[Chord | None] = []
    for t in np.asarray(starts, dtype=np.float64):
        k = int(np.searchsorted(at, t + 1e-6, side="right")) - 1
        out.append(spans[k].chord if k >= 0 and score.seconds(spans[k].end) > t else None)
    return out


def score_curves(score: Score, calibration: Calibration, *, mode: str | None = None) -> CurveSet:
    """The curves of any score on its own beat grid (how generated music is measured back)."""
    starts, ends = beat_grid(score)
    raw = raw_curves(score, starts, ends, chords=chords_at(score, starts), mode=mode)
    return CurveSet(starts, ends, calibration.apply(raw), "music")
