"""What every symbolic system decides before it writes a note, and how it hands the piece back.

:func:`setup` turns a clip's features and the user's controls into a :class:`PieceSetup`: the
tempo (the user's, else V-MusProd's motion map), the time plan (bar lines on cuts and markers),
each slot's emotion probabilities (the user's forced emotion, else the video's), the key (the
user's, else C major, or A minor when the clip is mostly sad, fearful or tense) and the
instrument preset (the user's, else by emotion). :func:`arrange_piece` turns a chord, a note
density and a loudness per slot into parts, and :func:`finish` wraps a score into a
:class:`~vidscore.soundtrack.Soundtrack` with its timeline.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vidscore.errors import UsageError
from vidscore.features.timeline import bin_mean
from vidscore.music.chords import Chord
from vidscore.music.key import Key
from vidscore.music.score import Score
from vidscore.soundtrack import Soundtrack, Timeline
from vidscore.systems.common.arrange import PRESET_FOR_EMOTION, PRESETS, arrange
from vidscore.systems.common.timeplan import Slot, TimePlan, plan
from vidscore.types import EMOTIONS, Controls, Series, VideoFeatures

#: the series :func:`setup` reads (motion for the tempo, emotion for key, preset and slots)
SETUP_NEEDS = frozenset({"motion", "emotion"})
MINOR_EMOTIONS = frozenset({"sad", "fearful", "tense"})
DEFAULT_TEMPO = 110.0
#: video motion (mean RGB difference, 0-255) mapped to activity 0..1 between these
MOTION_ACTIVITY = (2.0, 20.0)


@dataclass
class PieceSetup:
    """The frame a symbolic piece is written into."""

    plan: TimePlan
    emotion: np.ndarray  # (slots, 6) probabilities, forced one-hot when the user chose
    dominant: str  # the emotion with the most probability mass over the clip
    key: Key
    preset: str

    @property
    def slots(self) -> list[Slot]:
        return self.plan.slots

    @property
    def slot_emotions(self) -> list[str]:
        return [EMOTIONS[i] for i in self.emotion.argmax(axis=1)]

    @property
    def tonic(self) -> Chord:
        return Chord(self.key.tonic, "min" if self.key.mode == "minor" else "maj")


def slot_means(series: Series, slots: list[Slot], duration: float) -> np.ndarray:
    """``(slots, ...)``: the mean of a series over each slot's seconds (10 Hz bins)."""
    fine = bin_mean(series.times, series.values, rate=10.0, duration=duration)
    out = []
    for s in slots:
        a = int(s.start * 10)
        b = max(a + 1, int(np.ceil(s.end * 10)))
        out.append(fine[a:b].mean(axis=0))
    return np.array(out)


def motion_activity(motion: np.ndarray) -> np.ndarray:
    """Mean absolute RGB difference (0-255) -> activity in [0, 1] (2 -> 0, 20 -> 1)."""
    lo, hi = MOTION_ACTIVITY
    return np.clip((np.asarray(motion, dtype=np.float64) - lo) / (hi - lo), 0, 1)


def parse_key(text: str) -> Key:
    try:
        return Key.parse(text)
    except ValueError as exc:
        raise UsageError(f"--key {text!r}: say e.g. 'D minor' or 'Eb'") from exc


def setup(features: VideoFeatures, controls: Controls) -> PieceSetup:
    """Tempo, time plan, emotion per slot, key and preset (see the module docstring)."""
    tempo = controls.tempo or float(features.meta.get("tempo_bpm", DEFAULT_TEMPO))
    time_plan = plan(features.duration, features.cuts, tempo, markers=controls.markers)
    if controls.emotion is not None:
        emotion = np.zeros((len(time_plan.slots), len(EMOTIONS)))
        emotion[:, EMOTIONS.index(controls.emotion)] = 1.0
    else:
        emotion = slot_means(features["emotion"], time_plan.slots, features.duration)
    dominant = EMOTIONS[int(emotion.sum(axis=0).argmax())]
    if controls.key is not None:
        key = parse_key(controls.key)
    else:
        key = Key(9, "minor") if dominant in MINOR_EMOTIONS else Key(0, "major")
    preset = controls.instruments or PRESET_FOR_EMOTION[dominant]
    if preset not in PRESETS:
        raise UsageError(f"--instruments {preset!r}: choose from {', '.join(PRESETS)}")
    return PieceSetup(time_plan, emotion.astype(np.float32), dominant, key, preset)


def arrange_piece(
    piece: PieceSetup,
    features: VideoFeatures,
    chords: list[Chord],
    *,
    density: np.ndarray,
    loudness: np.ndarray,
) -> Soundtrack:
    """One chord, note density and loudness per slot -> the arranged soundtrack (the last chord
    resolves to the tonic; see :mod:`~vidscore.systems.common.arrange`)."""
    score = arrange(
        piece.slots, chords, density=density, loudness=loudness, preset=piece.preset,
        tonic=piece.tonic,
    )  # fmt: skip
    meta = {"density": np.round(density, 3).tolist(), "loudness": np.round(loudness, 3).tolist()}
    return finish(score, piece, features, meta)


def finish(score: Score, piece: PieceSetup, features: VideoFeatures, meta: dict) -> Soundtrack:
    """The soundtrack of an arranged ``score`` written on ``piece``'s time plan."""
    timeline = Timeline.from_score(
        score,
        duration=features.duration,
        downbeats=piece.plan.downbeats,
        aligned_cuts=piece.plan.aligned_cuts,
        section_starts=[0.0, *piece.plan.anchors],
    )
    return Soundtrack(
        timeline,
        score=score,
        key=str(piece.key),
        instruments=piece.preset,
        meta={
            "dominant_emotion": piece.dominant,
            "slot_emotion": piece.slot_emotions,
            "markers_not_placed": piece.plan.dropped_markers,
            **meta,
        },
    )
