"""What every system returns: a :class:`Soundtrack`, notes or sound plus one :class:`Timeline`.

A symbolic system (Video2Music, V-MusProd, Diff-BGM, the baseline) hands back a
:class:`~vidscore.music.score.Score`; a waveform system (VMAs) hands back audio. Either way the
timeline says, in seconds, what the music does against the picture: its tempo map, downbeats,
chords (where there are chords), sections and the cuts it aligned to. Cues, plots and evaluation
read the timeline only, so none of them needs to know which system made the music.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from vidscore.curves.contract import CurveSet
from vidscore.music.chords import Chord, merge_repeats
from vidscore.music.score import Score


@dataclass(frozen=True)
class TimedChord:
    """A chord held from ``start`` to ``end`` seconds."""

    start: float
    end: float
    chord: Chord


@dataclass(frozen=True)
class Section:
    """A stretch of the music (``start`` to ``end`` seconds) that opens on a cut or a marker."""

    start: float
    end: float
    label: str


@dataclass
class Timeline:
    """The music's structure in seconds, whatever made it."""

    duration: float
    tempo_map: list[tuple[float, float]]  # (seconds, BPM from there on); first at 0
    downbeats: list[float]  # seconds of each bar line
    chords: list[TimedChord] = field(default_factory=list)  # one per change; empty for audio
    sections: list[Section] = field(default_factory=list)
    aligned_cuts: list[float] = field(default_factory=list)  # cuts a bar line was placed on
    beats: list[float] = field(default_factory=list)  # detected in generated audio (audio only)

    @property
    def tempo_bpm(self) -> float:
        """The tempo that plays: the median of the tempo map weighted by how long each tempo
        holds within the clip (the opening tempo can be a short lead-in bar stretched to a
        cut)."""
        if not self.tempo_map:
            return float("nan")
        starts = [t for t, _ in self.tempo_map]
        ends = [*starts[1:], max(self.duration, starts[-1])]
        held = np.clip(np.minimum(ends, self.duration) - np.asarray(starts), 0, None)
        bpms = np.array([b for _, b in self.tempo_map])
        if held.sum() <= 0:
            return float(bpms[0])
        order = np.argsort(bpms)
        cum = np.cumsum(held[order])
        return float(bpms[order][np.searchsorted(cum, cum[-1] / 2)])

    def chord_changes(self) -> list[float]:
        """Seconds where the chord changes (the first chord's start excluded)."""
        return [b.start for a, b in itertools.pairwise(self.chords) if a.chord != b.chord]

    @classmethod
    def from_score(
        cls,
        score: Score,
        *,
        duration: float,
        downbeats: list[float],
        aligned_cuts: list[float],
        section_starts: list[float] | None = None,
    ) -> Timeline:
        """The timeline of a score: its tempo map and chords (repeats merged) in seconds, cut at
        ``duration``; sections open at ``section_starts`` (default: 0 and the aligned cuts)."""
        tempo_map = [(round(float(score.seconds(b)), 6), float(t)) for b, t in score.tempos]
        chords = []
        for span in merge_repeats(score.chords):
            a = float(score.seconds(span.start))
            b = min(float(score.seconds(span.end)), duration)
            if b > a:
                chords.append(TimedChord(a, b, span.chord))
        starts = section_starts if section_starts is not None else [0.0, *aligned_cuts]
        return cls(
            duration=duration,
            tempo_map=tempo_map,
            downbeats=[d for d in downbeats if d < duration],
            chords=chords,
            sections=sections_between(starts, duration),
            aligned_cuts=list(aligned_cuts),
        )


def sections_between(starts: list[float], duration: float) -> list[Section]:
    """Sections from each start to the next (labelled A, B, ..., Z, A2, ...)."""
    points = sorted({0.0, *(s for s in starts if 0 <= s < duration)})
    ends = [*points[1:], duration]
    out = []
    for i, (a, b) in enumerate(zip(points, ends, strict=True)):
        letter = chr(ord("A") + i % 26)
        out.append(Section(a, b, letter if i < 26 else f"{letter}{i // 26 + 1}"))
    return out


@dataclass
class Soundtrack:
    """A system's music for one clip: a ``score`` or ``audio`` (exactly one), and its timeline.

    ``audio`` is float32, ``(n,)`` mono or ``(n, channels)``, at ``sample_rate``. ``key`` and
    ``instruments`` are what the system chose (None where it has no such notion); ``curves`` the
    control curves it composed from (per beat, :mod:`vidscore.curves`); ``meta`` holds
    whatever else it decided (per-slot emotions, predicted density), for the cues file.
    """

    timeline: Timeline
    score: Score | None = None
    audio: np.ndarray | None = None
    sample_rate: int | None = None
    key: str | None = None
    instruments: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    curves: CurveSet | None = None

    def __post_init__(self) -> None:
        if (self.score is None) == (self.audio is None):
            raise ValueError("a Soundtrack holds a score or audio, exactly one")
        if not self.timeline.tempo_map:
            raise ValueError("a Soundtrack's timeline needs a tempo map")
        if self.audio is not None:
            self.audio = np.asarray(self.audio, dtype=np.float32)
            if self.sample_rate is None or self.sample_rate <= 0:
                raise ValueError("audio needs a sample rate")
            if self.audio.ndim not in (1, 2) or (self.audio.ndim == 2 and self.audio.shape[1] > 8):
                raise ValueError(f"audio of shape {self.audio.shape}: (n,) or (n, channels)")

    @property
    def kind(self) -> str:
        """``"score"`` or ``"audio"``."""
        return "score" if self.score is not None else "audio"
