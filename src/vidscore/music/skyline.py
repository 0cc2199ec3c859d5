"""Melody / accompaniment split by the skyline algorithm on 16th-note-quantised notes (SymMV).

Notes are snapped to a 16th grid (phase from :func:`~vidscore.music.beats.grid_offset`); at every
onset the highest note is melody, and a melody note is cut where a higher one starts. Everything
else is accompaniment. Notes whose pitch is below ``min_pitch`` never count as melody.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np

from vidscore.music.beats import grid_offset
from vidscore.music.score import Note


def quantize(notes: Iterable[Note], *, steps_per_beat: int = 4, offset: float = 0.0) -> list[Note]:
    """Snap starts and ends to the grid ``offset + k / steps_per_beat``; at least one step long.
    Never before time 0: with a grid phase past half a step, a note at the very start would round
    to the grid point before 0 (a SymMV piece failed to write its MIDI so), so it takes the first
    grid point at or after 0."""
    first = math.ceil(-offset * steps_per_beat - 1e-9)  # the first grid index at or after 0
    out = []
    for n in notes:
        s = max(first, round((n.start - offset) * steps_per_beat))
        e = max(s + 1, round((n.end - offset) * steps_per_beat))
        out.append(
            Note(offset + s / steps_per_beat, offset + e / steps_per_beat, n.pitch, n.velocity)
        )
    return sorted(out)


def skyline(notes: Iterable[Note], *, min_pitch: int = 48) -> tuple[list[Note], list[Note]]:
    """(melody, accompaniment) of quantised notes."""
    notes = sorted(notes, key=lambda n: (n.start, -n.pitch))
    by_onset: dict[float, list[Note]] = {}
    for n in notes:
        by_onset.setdefault(n.start, []).append(n)
    tops = [group[0] for _, group in sorted(by_onset.items()) if group[0].pitch >= min_pitch]
    melody: list[Note] = []
    for n in tops:
        # a sounding melody note is cut when a new top note starts
        while melody and melody[-1].end > n.start:
            last = melody.pop()
            if last.start < n.start:
                melody.append(Note(last.start, n.start, last.pitch, last.velocity))
                break
            if last.pitch > n.pitch:  # same onset, higher note kept
                melody.append(last)
                n = None
                break
        if n is not None:
            melody.append(n)
    chosen = {(m.start, m.pitch) for m in melody}
    accomp = [n for n in notes if (n.start, n.pitch) not in chosen]
    return melody, accomp


def split_melody(notes: Iterable[Note], *, min_pitch: int = 48) -> tuple[list[Note], list[Note]]:
    """Quantise to 16ths (grid phase fitted to the onsets) and apply :func:`skyline`."""
    notes = list(notes)
    off = grid_offset(np.array([n.start for n in notes]))
    return skyline(quantize(notes, offset=off), min_pitch=min_pitch)
