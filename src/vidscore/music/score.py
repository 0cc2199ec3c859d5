"""The score every stage shares: tracks of notes in beats, a tempo map, a metre and chords.

Times are in beats (quarter notes) so quantisation, bars and tokens are exact; the tempo map turns
beats into seconds and back. MIDI reading and writing live in :mod:`vidscore.music.midi`.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field

import numpy as np

from vidscore.music.chords import ChordSpan


@dataclass(frozen=True, order=True)
class Note:
    """One note: MIDI pitch, start and end in beats, velocity 1-127."""

    start: float
    end: float
    pitch: int
    velocity: int = 80


@dataclass
class Track:
    """A named part: its notes, General MIDI program, and whether it is a drum kit."""

    name: str
    notes: list[Note] = field(default_factory=list)
    program: int = 0
    is_drum: bool = False


@dataclass
class Score:
    """Tracks, tempo map ``[(beat, bpm), ...]`` (first at beat 0), the prevailing time signature
    (metrics count bars by it), chords; the meter changes where bars differ from it
    (``[(beat, numerator, denominator), ...]``, one at beat 0 if the first bar does) and the key
    (``"D minor"``) when the composer knows them."""

    tracks: list[Track] = field(default_factory=list)
    tempos: list[tuple[float, float]] = field(default_factory=lambda: [(0.0, 120.0)])
    time_signature: tuple[int, int] = (4, 4)
    chords: list[ChordSpan] = field(default_factory=list)  # in beats
    meters: list[tuple[float, int, int]] = field(default_factory=list)
    key: str | None = None

    def track(self, name: str) -> Track:
        for t in self.tracks:
            if t.name == name:
                return t
        raise KeyError(name)

    def notes(self, *, drums: bool = False) -> list[Note]:
        """All pitched notes (and drums if asked), sorted by start."""
        return sorted(n for t in self.tracks if drums or not t.is_drum for n in t.notes)

    @property
    def end_beat(self) -> float:
        ends = [n.end for t in self.tracks for n in t.notes] + [c.end for c in self.chords]
        return max(ends, default=0.0)

    @property
    def beats_per_bar(self) -> float:
        num, den = self.time_signature
        return num * 4.0 / den

    def _anchors(self) -> tuple[list[float], list[float], list[float]]:
        beats = [b for b, _ in self.tempos]
        bpms = [t for _, t in self.tempos]
        secs = [0.0]
        for i in range(1, len(beats)):
            secs.append(secs[-1] + (beats[i] - beats[i - 1]) * 60.0 / bpms[i - 1])
        return beats, bpms, secs

    def seconds(self, beat: float | np.ndarray) -> float | np.ndarray:
        """Beats -> seconds through the tempo map."""
        beats, bpms, secs = self._anchors()
        b = np.asarray(beat, dtype=np.float64)
        i = np.clip(np.searchsorted(beats, b, side="right") - 1, 0, len(beats) - 1)
        out = np.asarray(secs)[i] + (b - np.asarray(beats)[i]) * 60.0 / np.asarray(bpms)[i]
        return float(out) if np.ndim(beat) == 0 else out

    def beats(self, seconds: float | np.ndarray) -> float | np.ndarray:
        """Seconds -> beats through the tempo map."""
        beats, bpms, secs = self._anchors()
        s = np.asarray(seconds, dtype=np.float64)
        i = np.clip(np.searchsorted(secs, s, side="right") - 1, 0, len(secs) - 1)
        out = np.asarray(beats)[i] + (s - np.asarray(secs)[i]) * np.asarray(bpms)[i] / 60.0
        return float(out) if np.ndim(seconds) == 0 else out

    def tempo_at(self, beat: float) -> float:
        i = bisect.bisect_right([b for b, _ in self.tempos], beat) - 1
        return self.tempos[max(i, 0)][1]


def bar_meters(downbeats: list[float], end: float, beats: int = 4) -> list[tuple[float, int, int]]:
    """Meter changes for bars starting at ``downbeats`` (beats; the last bar runs to ``end``)
    under a prevailing ``beats``/4: a bar of n beats is n/4, and a change is written only where
    a bar's length differs from the one before (a lead-in before the first bar line reads as a
    pickup)."""
    starts = sorted(downbeats)
    lengths = [max(1, round(b - a)) for a, b in zip(starts, [*starts[1:], end], strict=True)]
    meters, current = [], beats
    for start, n in zip(starts, lengths, strict=True):
        if n != current:
            meters.append((start, n, 4))
            current = n
    return meters
