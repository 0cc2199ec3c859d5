"""The time plan of a symbolic piece: chord slots whose boundaries fall on the video's cuts.

Music runs at one tempo (from the clip's motion, or the user's), one chord slot per two beats
(half a 4/4 bar, Video2Music's chord rate). Every cut becomes an anchor: the beats between two
anchors are stretched or squeezed by at most ``tolerance`` (10%) so that a whole number of beats
fills the gap exactly, and a new bar (downbeat and chord change) starts on the cut. The beats
between anchors make bars of four; where one beat is left over the last two bars are 3 + 2, so
a bar of one beat is written only where two anchors are one beat apart. A cut that
cannot be reached within the tolerance (two cuts less than about two beats apart) is skipped,
choosing which to skip so that the most cuts, and first those opening long scenes, are kept; so
is a cut within one beat of the end. User markers are anchors like cuts that outweigh them all.
Before the first cut the music may enter after a rest shorter than a beat (a lead-in), so a short
opening shot does not cost its cut. The last stretch runs at the base tempo and its final chord
rings to the end of the clip.
"""

from __future__ import annotations

from dataclasses import dataclass, field

BEATS_PER_SLOT = 2
BEATS_PER_BAR = 4


@dataclass(frozen=True)
class Slot:
    """One chord slot: seconds, beats, and whether it starts a bar or follows a cut."""

    start: float
    end: float
    beats: int
    downbeat: bool
    at_cut: bool

    @property
    def seconds_per_beat(self) -> float:
        return (self.end - self.start) / self.beats


def _fit(gap: float, beat: float, tolerance: float) -> int | None:
    """Whole beats that fill ``gap`` with a tempo change within ``tolerance``, or None."""
    best = None
    for n in range(
        max(1, int(gap / beat / (1 + tolerance))), int(gap / beat / (1 - tolerance)) + 2
    ):
        ratio = gap / (n * beat)
        if 1 - tolerance - 1e-9 <= ratio <= 1 + tolerance + 1e-9 and (
            best is None or abs(ratio - 1) < abs(gap / (best * beat) - 1)
        ):
            best = n
    return best


def choose_cuts(
    duration: float,
    cuts: list[float],
    beat: float,
    tolerance: float,
    markers: tuple[float, ...] = (),
) -> list[tuple[float, int]]:
    """The anchors to align and the beats before each: first every marker that can be reached,
    then as many cuts that open a scene of two seconds or more as possible, then as many others
    (dynamic programming with weights 1000, 10 and 1; a greedy pass would let a short scene
    block the long one after it)."""
    points = [c for c in sorted({*cuts, *markers}) if 0 < c <= duration - beat]
    nexts = [*points[1:], duration][: len(points)]
    weight = [
        1000.0 if c in markers else 10.0 if n - c >= 2.0 else 1.0
        for c, n in zip(points, nexts, strict=True)
    ]
    anchors = [0.0, *points]
    best = [0.0] + [float("-inf")] * len(points)
    back: list[tuple[int, int]] = [(-1, 0)] * len(anchors)
    for j in range(1, len(anchors)):
        for i in range(j):
            if best[i] == float("-inf"):
                continue
            gap = anchors[j] - anchors[i]
            n = _fit(gap, beat, tolerance)
            if n is None and i == 0 and gap >= beat:
                n = int(gap // beat)  # the music enters after a rest shorter than a beat
            if n is not None and best[i] + weight[j - 1] > best[j]:
                best[j], back[j] = best[i] + weight[j - 1], (i, n)
    j = max(range(len(anchors)), key=lambda k: (best[k], k))
    chosen = []
    while j > 0:
        i, n = back[j]
        chosen.append((anchors[j], n))
        j = i
    return chosen[::-1]


@dataclass(frozen=True)
class TimePlan:
    """The slots of a piece and what they were aligned to."""

    tempo_bpm: float
    slots: list[Slot]
    anchors: list[float]  # every cut and marker a bar line was placed on
    aligned_cuts: list[float]  # the cuts among them
    dropped_markers: list[float] = field(default_factory=list)  # markers that could not be placed

    @property
    def downbeats(self) -> list[float]:
        return [s.start for s in self.slots if s.downbeat]


def plan(
    duration: float,
    cuts: list[float],
    tempo_bpm: float,
    *,
    markers: tuple[float, ...] = (),
    tolerance: float = 0.10,
) -> TimePlan:
    """Chord slots covering ``[0, duration)``, aligned to the cuts and markers it could reach."""
    beat = 60.0 / tempo_bpm
    segments: list[tuple[float, float, int, bool]] = []
    t0 = 0.0
    markers = snap(markers, cuts)
    chosen = choose_cuts(duration, cuts, beat, tolerance, markers)
    for c, n in chosen:
        if t0 == 0.0 and _fit(c, beat, tolerance) != n:  # lead-in rest, then n beats at tempo
            t0 = c - n * beat
        segments.append((t0, c, n, t0 > 0 and bool(segments)))
        t0 = c
    anchors = [c for c, _ in chosen]
    tail_beats = max(1, round((duration - t0) / beat))
    segments.append((t0, duration, tail_beats, t0 > 0))
    slots: list[Slot] = []
    for start, end, n, after_cut in segments:
        step = (end - start) / n
        b = 0
        for length in bar_lengths(n):
            o = 0
            while o < length:
                k = min(BEATS_PER_SLOT, length - o)
                slots.append(
                    Slot(
                        start + (b + o) * step,
                        start + (b + o + k) * step,
                        k,
                        downbeat=o == 0,
                        at_cut=after_cut and b + o == 0,
                    )
                )
                o += k
            b += length
    # the final slot ends exactly at the end of the clip
    last = slots[-1]
    slots[-1] = Slot(last.start, duration, last.beats, last.downbeat, last.at_cut)
    cut_set = set(cuts)
    dropped = [m for m in markers if m not in anchors]
    return TimePlan(tempo_bpm, slots, anchors, [a for a in anchors if a in cut_set], dropped)


def bar_lengths(beats: int) -> list[int]:
    """Bars of four beats filling ``beats``; a beat left over is not a bar of its own: the last
    two bars become 3 + 2 instead of 4 + 1 (a one-beat bar only where two anchors are one beat
    apart)."""
    full, rest = divmod(beats, BEATS_PER_BAR)
    if rest == 1 and full:
        return [BEATS_PER_BAR] * (full - 1) + [3, 2]
    return [BEATS_PER_BAR] * full + ([rest] if rest else [])


def snap(markers: tuple[float, ...], cuts: list[float], within: float = 0.05) -> tuple[float, ...]:
    """Markers moved onto a cut less than ``within`` seconds away (a time typed from a rounded
    cut means that cut, not a bar line a frame beside it)."""
    out = []
    for m in markers:
        near = min(cuts, key=lambda c: abs(c - m), default=None)
        out.append(near if near is not None and abs(near - m) < within else m)
    return tuple(sorted(set(out)))
