"""What every symbolic system decides before it writes a note, and how it hands the piece back.

:func:`setup` turns a clip's features and the user's controls into a :class:`PieceSetup`: the
tempo (the user's, else V-MusProd's motion map), the time plan (bar lines on cuts and markers),
the clip's control curves on the plan's beats (:mod:`vidscore.curves.video`), each slot's
emotion probabilities (the user's forced emotion, else the video's), the key (the user's, else a
tonic drawn from the seed and the clip, so clips differ, in the mode the valence curve leans to;
a learnt system may re-decide the mode from its own chords) and the instrument preset (the
user's, else by emotion). :func:`arrange_piece` turns a chord, a note
density and a loudness per slot into parts, and :func:`finish` wraps a score into a
:class:`~vidscore.soundtrack.Soundtrack` with its timeline.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, replace

import numpy as np

from vidscore.curves.contract import CurveSet
from vidscore.curves.video import VIDEO_NEEDS, span_means, video_curves
from vidscore.errors import UsageError
from vidscore.music.chords import Chord
from vidscore.music.key import Key
from vidscore.music.score import Score
from vidscore.soundtrack import Soundtrack, Timeline
from vidscore.systems.common.arrange import PRESET_FOR_EMOTION, PRESETS, arrange
from vidscore.systems.common.timeplan import Slot, TimePlan, plan
from vidscore.types import EMOTIONS, Controls, Series, VideoFeatures

#: the series :func:`setup` reads (motion for the tempo, emotion for the slots and preset, and
#: the control curves' inputs)
SETUP_NEEDS = frozenset({"motion", "emotion"}) | VIDEO_NEEDS
DEFAULT_TEMPO = 110.0


@dataclass
class PieceSetup:
    """The frame a symbolic piece is written into."""

    plan: TimePlan
    emotion: np.ndarray  # (slots, 6) probabilities, forced one-hot when the user chose
    dominant: str  # the emotion with the most probability mass over the clip
    key: Key
    preset: str
    curves: CurveSet  # per beat of the plan
    forced_emotion: bool = False  # the user chose the emotion (--emotion)

    @property
    def slots(self) -> list[Slot]:
        return self.plan.slots

    @property
    def slot_emotions(self) -> list[str]:
        return [EMOTIONS[i] for i in self.emotion.argmax(axis=1)]

    @property
    def tonic(self) -> Chord:
        return Chord(self.key.tonic, "min" if self.key.mode == "minor" else "maj")

    @property
    def slot_curves(self) -> CurveSet:
        """The curves merged per slot (means; a slot holds a boundary if any beat does)."""
        return self.curves.group([s.beats for s in self.slots])


def beat_spans(slots: list[Slot]) -> tuple[np.ndarray, np.ndarray]:
    """``(starts, ends)`` seconds of every beat of the slots."""
    starts, ends = [], []
    for s in slots:
        step = s.seconds_per_beat
        for b in range(s.beats):
            starts.append(s.start + b * step)
            ends.append(s.start + (b + 1) * step)
    return np.array(starts), np.array(ends)


def drawn_tonic(features: VideoFeatures, seed: int) -> int:
    """A tonic pitch class drawn from the seed and the clip (its length and cuts): the same clip
    and seed give the same key, other clips or seeds other keys. No picture cue claims a key."""
    clip = f"{features.duration:.3f}:" + ",".join(f"{c:.3f}" for c in features.cuts)
    rng = np.random.default_rng([seed, zlib.crc32(clip.encode())])
    return int(rng.integers(12))


def slot_means(series: Series, slots: list[Slot], duration: float) -> np.ndarray:
    """``(slots, ...)``: the mean of a series over each slot's seconds (:func:`span_means`)."""
    starts = np.array([s.start for s in slots])
    return span_means(series, starts, np.array([s.end for s in slots]), duration)


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
    starts, ends = beat_spans(time_plan.slots)
    curves = video_curves(
        features, starts, ends, boundaries=time_plan.anchors, emotion=controls.emotion
    )
    if controls.key is not None:
        key = parse_key(controls.key)
    else:
        mode = "minor" if float(curves["valence"].mean()) < 0.5 else "major"
        key = Key(drawn_tonic(features, controls.seed), mode)
    preset = controls.instruments or PRESET_FOR_EMOTION[dominant]
    if preset not in PRESETS:
        raise UsageError(f"--instruments {preset!r}: choose from {', '.join(PRESETS)}")
    return PieceSetup(
        time_plan, emotion.astype(np.float32), dominant, key, preset, curves,
        controls.emotion is not None,
    )  # fmt: skip


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
    score = replace(score, key=str(piece.key))  # a key signature in the MIDI
    return Soundtrack(
        timeline,
        score=score,
        key=str(piece.key),
        instruments=piece.preset,
        curves=piece.curves,
        meta={
            "dominant_emotion": piece.dominant,
            "emotion_forced": piece.forced_emotion,
            "slot_emotion": piece.slot_emotions,
            "markers_not_placed": piece.plan.dropped_markers,
            **meta,
        },
    )
