"""The time plan's bars in *model time*: four beats a bar, whatever a bar's real length.

Symbolic models of 4/4 music (V-MusProd's tokens, Diff-BGM's 16-step bars) write every bar as
four beats. The shared time plan starts a bar on every downbeat and on every cut, so the bar
before a cut may be short: :class:`BarLayout` lays the plan's bars out four model beats each and
maps model time back to real beats (a short bar simply loses what the model wrote past its end).
:func:`plan_layout` reads the bars off a :class:`~vidscore.systems.common.plan.PieceSetup`, and
:func:`score_on_plan` turns model-time notes and chords into a score on the plan's beats, key and
tempo map.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from vidscore.music.chords import ChordSpan
from vidscore.music.key import denormalizing_shift
from vidscore.music.score import Note, Score, Track, bar_meters
from vidscore.systems.common.plan import PieceSetup


@dataclass
class BarLayout:
    """The clip's bars: their real lengths in beats, which open on an anchor, the curves."""

    lengths: list[int]
    anchors: list[bool]
    cond: np.ndarray | None  # (real beats, len(CURVES)) ranked; None = the null condition
    tempo: float
    video: dict[str, np.ndarray] = field(default_factory=dict)  # stream -> (real beats, D)

    def __post_init__(self) -> None:
        if not self.lengths or min(self.lengths) < 1 or max(self.lengths) > 4:
            raise ValueError(f"bar lengths {self.lengths}: 1 to 4 beats each, at least one bar")
        #: real beat where each bar starts
        self.starts = np.concatenate([[0], np.cumsum(self.lengths)[:-1]]).astype(int)
        self._lengths = np.asarray(self.lengths)

    @property
    def n_bars(self) -> int:
        return len(self.lengths)

    @property
    def total_beats(self) -> int:
        return int(sum(self.lengths))

    def real_beat(self, model_beat):
        """Model time -> real beats (a time past a short bar's end sits on that end); a number
        or an array of them."""
        t = np.asarray(model_beat, dtype=np.float64)
        bar = np.minimum(t // 4, self.n_bars - 1).astype(int)
        out = self.starts[bar] + np.minimum(t - 4 * bar, self._lengths[bar])
        return float(out) if out.ndim == 0 else out

    def per_model_beat(self, rows: np.ndarray) -> np.ndarray:
        """Rows per real beat -> per model beat (a short bar's missing beats repeat its last)."""
        beat = np.minimum(np.arange(4)[None, :], self._lengths[:, None] - 1) + self.starts[:, None]
        return rows[np.minimum(beat.reshape(-1), len(rows) - 1)]

    def model_cond(self) -> np.ndarray | None:
        """The curves per model beat."""
        return None if self.cond is None else self.per_model_beat(self.cond).astype(np.float32)

    def model_video(self) -> dict[str, np.ndarray]:
        """The paired video streams per model beat (none unless the controller reads them)."""
        return {k: self.per_model_beat(v) for k, v in self.video.items()}

    def model_sections(self) -> np.ndarray:
        """Per model beat, the number of the section it is in: a new one at each anchor (cut or
        marker) bar."""
        return np.repeat(np.cumsum([0, *map(int, self.anchors[1:])]), 4)


def plan_layout(piece: PieceSetup, video: dict[str, np.ndarray] | None = None) -> BarLayout:
    """The plan's bars (downbeat to downbeat) with the clip's curves per beat."""
    lengths: list[int] = []
    anchors: list[bool] = []
    for slot in piece.slots:
        if slot.downbeat or not lengths:
            lengths.append(0)
            anchors.append(slot.at_cut)
        lengths[-1] += slot.beats
    return BarLayout(lengths, anchors, piece.curves.values, piece.plan.tempo_bpm, video or {})


def score_on_plan(
    piece: PieceSetup,
    layout: BarLayout,
    parts: list[tuple[str, list[Note], int, int, int]],
    chords: list[ChordSpan],
) -> Score:
    """Model-time ``parts`` (name, notes, program, lowest and highest pitch) and chords, written
    in C major / A minor, -> a score on the plan's beats, transposed to the piece's key (octaves
    folded into each part's range) with the plan's tempo map."""
    shift = denormalizing_shift(piece.key)
    slots = piece.slots
    lead_in = slots[0].start / slots[0].seconds_per_beat  # beats of rest before the music
    end = layout.total_beats

    def real(t: float) -> float:
        return lead_in + min(layout.real_beat(t), end)

    def notes(ns: list[Note], low: int, high: int) -> list[Note]:
        out = []
        for n in ns:
            a, b = real(n.start), real(n.end)
            p = n.pitch + shift
            while p < low:
                p += 12
            while p > high:
                p -= 12
            if b > a:
                out.append(Note(a, b, p, n.velocity))
        return out

    tracks = [Track(name, notes(ns, low, high), program) for name, ns, program, low, high in parts]
    tempos: list[tuple[float, float]] = []
    bar_lines: list[float] = []
    beat = lead_in
    for slot in slots:
        bpm = 60.0 / slot.seconds_per_beat
        if not tempos:
            tempos.append((0.0, bpm))
        elif abs(tempos[-1][1] - bpm) > 1e-6:
            tempos.append((beat, bpm))
        if slot.downbeat:
            bar_lines.append(beat)
        beat += slot.beats
    spans = [
        ChordSpan(real(c.start), real(c.end), c.chord.transpose(shift))
        for c in chords
        if real(c.end) > real(c.start)
    ]
    return Score(tracks, tempos, (4, 4), spans, bar_meters(bar_lines, beat))
