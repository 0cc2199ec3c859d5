"""A rules-only baseline: the control that every steering and quality table compares with.

No model and no weights. The shared set-up (:mod:`vidscore.systems.common.plan`) fixes tempo,
bar lines on cuts and markers, emotion per slot, key and instruments, exactly as for the learnt
systems. Then, per section (a stretch between two aligned cuts or markers), the section's
dominant emotion picks a diatonic progression in the key (:data:`PROGRESSIONS`, chosen among a
few by the seed) that restarts on the section's first slot; its chords take the qualities that
emotion favours (:data:`COLOURS`). It reads the same control curves as the learnt systems
(:mod:`vidscore.curves`): note density follows the slot's activity curve and loudness its
intensity curve, each through a straight line, and the mode the valence curve (set-up's rule);
the shared arrangement turns it into parts. Every link
from picture to sound here is a hand rule, which is the point: a learnt system earns its place
only where it beats this.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vidscore.music.chords import Chord
from vidscore.soundtrack import Soundtrack
from vidscore.systems.base import FeatureNeeds, NoParams, System
from vidscore.systems.common.plan import SETUP_NEEDS, PieceSetup, arrange_piece, setup
from vidscore.types import EMOTIONS, Controls, VideoFeatures

#: (semitones above the tonic, triad quality) per scale degree
MAJOR = {"I": (0, "maj"), "ii": (2, "min"), "iii": (4, "min"), "IV": (5, "maj"),
         "V": (7, "maj"), "vi": (9, "min"), "vii": (11, "dim")}  # fmt: skip
MINOR = {"i": (0, "min"), "ii": (2, "dim"), "III": (3, "maj"), "iv": (5, "min"),
         "V": (7, "maj"), "VI": (8, "maj"), "VII": (10, "maj")}  # fmt: skip
#: mode -> emotion -> progressions (one chord per slot), each a well-worn pop / film shape
PROGRESSIONS: dict[str, dict[str, tuple[tuple[str, ...], ...]]] = {
    "major": {
        "exciting": (("I", "V", "vi", "IV"), ("I", "IV", "V", "IV")),
        "relaxing": (("I", "IV", "I", "V"), ("I", "vi", "IV", "V")),
        "neutral": (("I", "vi", "IV", "V"), ("I", "IV", "vi", "V")),
        "sad": (("vi", "IV", "I", "V"), ("vi", "iii", "IV", "I")),
        "tense": (("I", "vii", "vi", "V"), ("IV", "V", "iii", "vi")),
        "fearful": (("vi", "vii", "V", "vi"), ("ii", "vii", "iii", "vi")),
    },
    "minor": {
        "sad": (("i", "VI", "III", "VII"), ("i", "iv", "VI", "V")),
        "fearful": (("i", "ii", "V", "i"), ("i", "VI", "ii", "V")),
        "tense": (("i", "iv", "V", "i"), ("i", "VII", "VI", "V")),
        "exciting": (("i", "VII", "VI", "VII"), ("i", "III", "VII", "iv")),
        "relaxing": (("i", "III", "VI", "VII"), ("VI", "III", "iv", "i")),
        "neutral": (("i", "iv", "VII", "III"), ("i", "VI", "iv", "V")),
    },
}
#: emotion -> triad quality -> the quality used (Video2Music's emotion-quality table in spirit)
COLOURS: dict[str, dict[str, str]] = {
    "exciting": {"maj": "maj", "min": "min", "dim": "dim"},
    "relaxing": {"maj": "maj7", "min": "min7", "dim": "hdim7"},
    "neutral": {"maj": "maj", "min": "min", "dim": "dim"},
    "sad": {"maj": "maj", "min": "min7", "dim": "hdim7"},
    "tense": {"maj": "sus4", "min": "min7", "dim": "dim"},
    "fearful": {"maj": "maj", "min": "min", "dim": "dim7"},
}
#: the dominant (V) takes a seventh when the emotion wants drive or pull
DOMINANT_SEVENTH = frozenset({"exciting", "tense", "fearful"})


@dataclass(frozen=True)
class Progression:
    """The chords of one piece and the section each slot belongs to."""

    chords: list[Chord]
    section_of_slot: list[int]


def progression(piece: PieceSetup, seed: int) -> Progression:
    """One chord per slot: each section's dominant emotion picks a progression that restarts on
    the section's first slot, shifted by one chord when it would open on the chord the previous
    section ended with (a cut must bring a new chord)."""
    rng = np.random.default_rng(seed)
    degrees = MAJOR if piece.key.mode == "major" else MINOR
    bank = PROGRESSIONS[piece.key.mode]
    slots = piece.slots
    starts = [i for i, s in enumerate(slots) if i == 0 or s.at_cut]
    ends = [*starts[1:], len(slots)]
    chords: list[Chord] = []
    section_of_slot: list[int] = []
    for k, (a, b) in enumerate(zip(starts, ends, strict=True)):
        emotion = EMOTIONS[int(piece.emotion[a:b].sum(axis=0).argmax())]
        options = bank[emotion]
        shape = options[int(rng.integers(len(options)))]
        offset = 0
        if chords and _chord(shape[0], degrees, piece, emotion) == chords[-1]:
            offset = 1  # a cut must bring a new chord
        for i in range(b - a):
            chords.append(_chord(shape[(i + offset) % len(shape)], degrees, piece, emotion))
            section_of_slot.append(k)
    return Progression(chords, section_of_slot)


def _chord(numeral: str, degrees: dict, piece: PieceSetup, emotion: str) -> Chord:
    step, triad = degrees[numeral]
    quality = COLOURS[emotion][triad]
    if numeral == "V" and emotion in DOMINANT_SEVENTH:
        quality = "7"
    return Chord((piece.key.tonic + step) % 12, quality)


def played(activity: np.ndarray, intensity: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The baseline's rule from curves to the arrangement: density 0.15 + 0.9 x activity,
    loudness 0.2 + 0.6 x intensity."""
    return 0.15 + 0.9 * np.asarray(activity), 0.2 + 0.6 * np.asarray(intensity)


class BaselineSystem(System):
    name = "baseline"
    summary = "rules only: emotion -> a diatonic progression, curves -> density and loudness"
    needs = FeatureNeeds(SETUP_NEEDS)
    Params = NoParams

    def compose(
        self, features: VideoFeatures, controls: Controls, params: NoParams | None = None
    ) -> Soundtrack:
        piece = setup(features, controls)
        prog = progression(piece, controls.seed)
        curves = piece.slot_curves
        density, loudness = played(curves["activity"], curves["intensity"])
        return arrange_piece(piece, features, prog.chords, density=density, loudness=loudness)
