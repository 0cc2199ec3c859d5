"""Diff-BGM's piano-roll: 8-bar segments, 4 steps a beat, onset and sustain channels x 128 pitches.

A segment is ``(2, steps, 128)`` with ``steps = 8 bars x beats_per_bar x 4``: channel 0 is 1 where
a note starts, channel 1 where a note that started earlier is still held. Decoding starts a note
at every onset and extends it over the following sustain steps, so quantised notes round-trip
exactly (a re-struck pitch is an onset, which is why the two channels exist).
"""

from __future__ import annotations

import numpy as np

from vidscore.music.score import Note

STEPS_PER_BEAT = 4
BARS = 8


def segment_steps(beats_per_bar: int = 4, bars: int = BARS) -> int:
    return bars * beats_per_bar * STEPS_PER_BEAT


def to_pianoroll(
    notes: list[Note], *, start_beat: float = 0.0, beats_per_bar: int = 4, bars: int = BARS
) -> np.ndarray:
    """The ``(2, steps, 128)`` float32 roll of notes inside ``[start_beat, start_beat + bars)``."""
    steps = segment_steps(beats_per_bar, bars)
    roll = np.zeros((2, steps, 128), dtype=np.float32)
    for n in notes:
        s = round((n.start - start_beat) * STEPS_PER_BEAT)
        e = max(s + 1, round((n.end - start_beat) * STEPS_PER_BEAT))
        if s < 0 or s >= steps:
            continue
        roll[0, s, n.pitch] = 1.0
        roll[1, s + 1 : min(e, steps), n.pitch] = 1.0
    return roll


def from_pianoroll(
    roll: np.ndarray, *, start_beat: float = 0.0, threshold: float = 0.5, velocity: int = 80
) -> list[Note]:
    """Notes from a roll (values above ``threshold`` count, so model outputs decode too)."""
    onset, sustain = roll[0] > threshold, roll[1] > threshold
    steps = onset.shape[0]
    notes = []
    for s, pitch in zip(*np.nonzero(onset), strict=True):
        e = s + 1
        while e < steps and sustain[e, pitch] and not onset[e, pitch]:
            e += 1
        notes.append(
            Note(
                start_beat + s / STEPS_PER_BEAT,
                start_beat + e / STEPS_PER_BEAT,
                int(pitch),
                velocity,
            )
        )
    return sorted(notes)


def segments(
    notes: list[Note], *, end_beat: float, beats_per_bar: int = 4, bars: int = BARS
) -> np.ndarray:
    """All consecutive 8-bar rolls of a piece: ``(K, 2, steps, 128)``."""
    span = bars * beats_per_bar
    k = max(1, int(np.ceil(end_beat / span)))
    return np.stack(
        [
            to_pianoroll(notes, start_beat=i * span, beats_per_bar=beats_per_bar, bars=bars)
            for i in range(k)
        ]
    )
