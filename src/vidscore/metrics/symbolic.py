"""Symbolic music quality, as V-MusProd (Table 2) and Diff-BGM report it.

Pure functions over a :class:`~vidscore.music.score.Score` (times in beats; drums excluded where the
definition is about pitch), each returning NaN where the value is undefined:

* **SC**, scale consistency: the largest share of notes inside one major or minor scale (Wu & Yang,
  Jazz Transformer 2020; muspy ``scale_consistency``).
* **PE** / **PCE**, pitch and pitch-class entropy: Shannon entropy (bits) of the note-count
  histogram over 128 pitches / 12 classes (ibid.; muspy ``pitch_entropy``,
  ``pitch_class_entropy``).
* **EBR**, empty-beat rate: share of beats, from 0 to the last note's end, in which no note sounds
  (Dong et al., Pypianoroll 2018; muspy ``empty_beat_rate``).
* **IOI**, average inter-onset interval: mean time in seconds between consecutive distinct onsets
  (V-MusProd's rhythm measure).
* **GS**, groove consistency: 1 - mean Hamming distance between the onset vectors of
  neighbouring bars, divided by the vector length (Wu & Yang 2020; muspy ``groove_consistency``).
  As in muspy, and so in the values the papers print (about 0.99), a bar's vector has one slot
  per MIDI tick (``ticks_per_beat``, 480 by default), which makes the score resolution-dependent.
* **PCHE** and **GPS**, Wu & Yang's pitch-class histogram entropy (8-bar windows, Diff-BGM's
  segment) and grooving pattern similarity (all pairs of bars, 16 positions a bar) as their MusDr
  code computes them, which Diff-BGM reports: :mod:`vidscore.metrics.musdr`. GS above is the
  muspy variant V-MusProd's table prints, not Wu & Yang's.
"""

from __future__ import annotations

import math

import numpy as np

from vidscore.metrics.musdr import (
    entropy_bits,
    grooving_pattern_similarity,
    pitch_class_histogram_entropy,
)
from vidscore.music.key import MAJOR_SCALE, MINOR_SCALE
from vidscore.music.score import Note, Score


def _pitched(score: Score) -> list[Note]:
    return score.notes()


def scale_consistency(score: Score) -> float:
    notes = _pitched(score)
    if not notes:
        return math.nan
    pcs = np.bincount([n.pitch % 12 for n in notes], minlength=12)
    best = 0
    for root in range(12):
        for scale in (MAJOR_SCALE, MINOR_SCALE):
            best = max(best, int(sum(pcs[(root + s) % 12] for s in scale)))
    return best / len(notes)


def pitch_entropy(score: Score) -> float:
    return entropy_bits(
        np.bincount([n.pitch for n in _pitched(score)], minlength=128).astype(float)
    )


def pitch_class_entropy(score: Score) -> float:
    return entropy_bits(
        np.bincount([n.pitch % 12 for n in _pitched(score)], minlength=12).astype(float)
    )


def empty_beat_rate(score: Score) -> float:
    notes = score.notes(drums=True)
    if not notes:
        return math.nan
    n_beats = int(max(n.end for n in notes)) + 1
    busy = np.zeros(n_beats, dtype=bool)
    for n in notes:
        busy[int(n.start) : int(n.end) + 1] = True
    return 1.0 - busy.sum() / n_beats


def inter_onset_interval(score: Score) -> float:
    onsets = np.unique(np.round([float(score.seconds(n.start)) for n in _pitched(score)], 6))
    if len(onsets) < 2:
        return math.nan
    return float(np.mean(np.diff(onsets)))


def groove_consistency(score: Score, ticks_per_beat: int = 480) -> float:
    notes = score.notes(drums=True)
    if not notes:
        return math.nan
    grid = round(score.beats_per_bar * ticks_per_beat)
    steps = [round(n.start * ticks_per_beat) for n in notes]
    n_bars = round(max(n.end for n in notes) * ticks_per_beat) // grid + 1
    if n_bars < 2:
        return math.nan
    onsets = np.zeros((n_bars, grid), dtype=bool)
    for s in steps:
        onsets[s // grid, s % grid] = True
    distance = np.count_nonzero(onsets[:-1] != onsets[1:])
    return 1.0 - distance / (grid * (n_bars - 1))


#: name -> function, in the papers' column order
METRICS = {
    "SC": scale_consistency,
    "PE": pitch_entropy,
    "PCE": pitch_class_entropy,
    "EBR": empty_beat_rate,
    "IOI": inter_onset_interval,
    "GS": groove_consistency,
    "PCHE": pitch_class_histogram_entropy,
    "GPS": grooving_pattern_similarity,
}


def all_metrics(score: Score) -> dict[str, float]:
    return {name: fn(score) for name, fn in METRICS.items()}


def closeness(generated: dict[str, float], reference: dict[str, float]) -> dict[str, float]:
    """|generated - real| per metric, as V-MusProd reports closeness to the real data."""
    return {k: abs(generated[k] - reference[k]) for k in generated if k in reference}
