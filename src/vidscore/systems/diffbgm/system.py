"""Diff-BGM as a vidscore system: a piano texture diffused over the clip's bars.

The shared set-up (:mod:`vidscore.systems.common.plan`) fixes the tempo, the bar lines on cuts
and markers, the clip's control curves per beat, the tonic and the preset. The bars are laid out
in model time (:mod:`vidscore.systems.common.bars`); the denoiser writes the roll segment by
segment (:mod:`.inference`), each beat's cross-attention limited to its own shot (SAC-Att), in
C major / A minor; the notes are transposed to the key, whose mode is what their chords read as
(unless ``--key`` names one).

``--keep previous.mid --regenerate A-B`` keeps the kept file's notes that start outside A-B
seconds exactly and inpaints the roll inside the range, conditioned on the kept music around it
(which must come from the same clip at the same tempo: its bars are read on this plan).

Rules that remain (not learnt): the bar plan on cuts, the key's tonic and the mode read from the
chords, and, with ``dynamics`` on, the velocity of each note from the intensity curve of its beat
(the roll has no velocity; the reference plays everything at 80).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from vidscore.errors import InputError
from vidscore.music.beats import BeatGrid
from vidscore.music.chord_recognition import recognize_notes
from vidscore.music.key import mode_of, normalizing_shift, relative, signature_key
from vidscore.music.midi import read_midi
from vidscore.music.score import Note
from vidscore.soundtrack import Soundtrack
from vidscore.systems.base import FeatureNeeds, System
from vidscore.systems.common.arrange import velocity
from vidscore.systems.common.bars import BarLayout, plan_layout, score_on_plan
from vidscore.systems.common.plan import SETUP_NEEDS, PieceSetup, beat_spans, finish, setup
from vidscore.systems.diffbgm.inference import SAMPLERS
from vidscore.systems.diffbgm.sacatt import MASKS
from vidscore.types import Controls, VideoFeatures

WEIGHTS = Path(__file__).resolve().parents[2] / "weights" / "diffbgm"
FILE = "diffbgm.safetensors"
#: preset -> General MIDI program of the texture
PROGRAMS = {"piano": 0, "strings": 48, "band": 4}


@dataclass(frozen=True)
class DiffBGMParams:
    """Sampling the denoiser (see :mod:`.inference`) and the velocity rule."""

    steps: int = field(default=10, metadata={"help": "denoising steps per 8-bar segment"})
    sampler: str = field(default="dpm", metadata={"help": "dpm (DPM-Solver++) or ddim"})
    guidance: float = field(
        default=2.0, metadata={"help": "classifier-free guidance on the curves (1: none)"}
    )
    overlap_bars: int = field(
        default=2, metadata={"help": "bars a segment inpaints from the one before"}
    )
    mask: str = field(
        default="shots", metadata={"help": "SAC-Att: shots (cut plan), two_block or none"}
    )
    dynamics: bool = field(
        default=True, metadata={"help": "note velocity from the intensity curve (a rule)"}
    )

    def __post_init__(self) -> None:
        if not 1 <= self.steps <= 1000:
            raise ValueError(f"steps {self.steps}: 1 to 1000")
        if not 0 <= self.guidance <= 10:
            raise ValueError(f"guidance {self.guidance}: 0 to 10")
        if not 0 <= self.overlap_bars <= 6:
            raise ValueError(f"overlap_bars {self.overlap_bars}: 0 to 6")
        if self.sampler not in SAMPLERS:
            raise ValueError(f"sampler {self.sampler!r}: one of {', '.join(SAMPLERS)}")
        if self.mask not in MASKS:
            raise ValueError(f"mask {self.mask!r}: one of {', '.join(MASKS)}")


class DiffBGMSystem(System):
    name = "diffbgm"
    summary = "Diff-BGM: piano-roll diffusion with segment-aware cross-attention on control curves"
    needs = FeatureNeeds(SETUP_NEEDS)
    Params = DiffBGMParams
    weight_files = ("manifest.json", FILE)
    default_weights = WEIGHTS
    regenerates = True

    def __init__(self, model) -> None:
        self.model = model

    @classmethod
    def load(cls, weights: str | os.PathLike | None = None) -> DiffBGMSystem:
        from vidscore.modules.checkpoint import load_from_folder
        from vidscore.systems.diffbgm.model import DiffBGM, DiffBGMConfig
        from vidscore.systems.diffbgm.train import KIND

        model = load_from_folder(
            cls.weights_folder(weights), FILE, lambda c: DiffBGM(DiffBGMConfig(**c)),
            kind=KIND, system="diffbgm",
        )  # fmt: skip
        if model.cfg.conditions != "curves":
            raise InputError(
                f"{cls.weights_folder(weights)}: weights trained on BGM909's video features; "
                "composing needs the clip's CLIP2Video and caption features, which vidscore "
                "does not compute (train on the curves to compose)"
            )
        return cls(model)

    def compose(
        self, features: VideoFeatures, controls: Controls, params: DiffBGMParams | None = None
    ) -> Soundtrack:
        from vidscore.systems.diffbgm.data import split_curves
        from vidscore.systems.diffbgm.inference import DiffusionSampling, roll_notes, sample_roll

        params = params or DiffBGMParams()
        piece = setup(features, controls)
        kept = None
        if controls.keep is not None:
            kept = read_midi(controls.keep)
            if controls.key is None:  # the kept music's key, so the two halves agree
                piece = replace(piece, key=signature_key(kept.notes()))
        layout = plan_layout(piece)
        dynamic, semantic = split_curves(layout.model_cond())
        cfg = self.model.cfg
        if kept is not None:
            known, kept_notes = _known(kept, controls.regenerate, piece, layout, cfg)
        else:  # the model writes the music that leads into a held tonic chord
            known = _cadence(layout, cfg, minor=piece.key.mode == "minor")
        s = DiffusionSampling(
            params.steps, params.guidance, params.overlap_bars, params.mask, params.sampler
        )
        roll = sample_roll(
            self.model, dynamic, semantic, layout.model_sections(), s, controls.seed, known
        )
        notes = roll_notes(roll, cfg.low_pitch)
        if kept is not None:
            a, b = model_beats(piece, layout)(np.asarray(controls.regenerate))
            notes = [n for n in notes if a <= n.start < b]
        if params.dynamics:
            intensity = layout.model_cond()[:, _curve("intensity")]
            notes = [replace(n, velocity=_velocity(n, intensity)) for n in notes]
        if kept is not None:
            notes += kept_notes
        chords = _chords(notes, len(dynamic))
        if controls.key is None and kept is not None:  # the mode the notes' chords read as
            piece = replace(piece, key=relative(piece.key, mode_of(c.chord for c in chords)))
        program = PROGRAMS.get(piece.preset, 0)
        score = score_on_plan(piece, layout, [("piano", sorted(notes), program, 21, 108)], chords)
        return finish(score, piece, features, {"notes": len(notes)})


def _curve(name: str) -> int:
    from vidscore.curves.contract import CURVES

    return CURVES.index(name)


def _velocity(n: Note, intensity: np.ndarray) -> int:
    beat = min(int(n.start), len(intensity) - 1)
    return velocity(float(intensity[beat]))


def _chords(notes: list[Note], n_beats: int):
    """Chord spans (model beats) of the notes, a downbeat every four beats."""
    beats = np.arange(n_beats, dtype=np.float64)
    grid = BeatGrid(beats, beats, beats % 4 == 0, 120.0)
    return recognize_notes(notes, grid)


def model_beats(piece: PieceSetup, layout: BarLayout):
    """Seconds -> model beats on the plan (a function of a number or an array), through the
    time plan's beat times; before the first beat is beat 0, after the last the end."""
    starts, ends = beat_spans(piece.slots)
    seconds_at = np.append(starts, ends[-1])
    beat_at = np.arange(len(seconds_at), dtype=np.float64)

    def convert(seconds):
        real = np.interp(seconds, seconds_at, beat_at)
        bar = np.searchsorted(layout.starts, real, side="right") - 1
        return 4 * bar + (real - layout.starts[bar])

    return convert


def _cadence(layout: BarLayout, cfg, *, minor: bool):
    """The last bar held as the tonic triad (C major or A minor, the model's keys: bass an
    octave below a close root-position chord), everything before it left to the model, so the
    piece ends resolved on every clip."""
    from vidscore.systems.diffbgm.inference import STEPS_PER_BEAT, Known, notes_roll

    steps = layout.n_bars * 4 * STEPS_PER_BEAT
    start = 4.0 * (layout.n_bars - 1)
    root = 45 if minor else 48  # A2 / C3
    pitches = [root, root + 12, root + 12 + (3 if minor else 4), root + 19]
    chord = [Note(start, start + 4.0, p, 80) for p in pitches]
    roll = notes_roll(chord, steps, cfg.low_pitch, cfg.pitches)
    mask = np.zeros(roll.shape, dtype=bool)
    mask[:, round(start * STEPS_PER_BEAT) :] = True
    return Known(roll, mask)


def _known(kept, span, piece: PieceSetup, layout: BarLayout, cfg):
    """The kept file on the plan: the known roll (every cell outside the range, plus the held
    rest of kept notes that ring into it) and the kept notes that start outside the range, in
    model beats, C major / A minor."""
    from vidscore.systems.diffbgm.inference import STEPS_PER_BEAT, Known, notes_roll

    to_model = model_beats(piece, layout)
    a, b = to_model(np.asarray(span))
    shift = normalizing_shift(piece.key)
    steps = layout.n_bars * 4 * STEPS_PER_BEAT
    notes = kept.notes()
    starts = to_model(kept.seconds(np.array([n.start for n in notes])))
    ends = to_model(kept.seconds(np.array([n.end for n in notes])))
    model_notes = [
        Note(float(start), float(end), n.pitch + shift, n.velocity)
        for n, start, end in zip(notes, starts, ends, strict=True)
        if end > start and start < steps / STEPS_PER_BEAT
    ]
    if not model_notes:
        raise InputError("--keep: the file has no notes inside this clip's time")
    outside = [n for n in model_notes if not a <= n.start < b]
    roll = notes_roll(outside, steps, cfg.low_pitch, cfg.pitches)
    mask = np.ones(roll.shape, dtype=bool)
    lo, hi = round(a * STEPS_PER_BEAT), round(b * STEPS_PER_BEAT)
    mask[:, lo:hi] = False
    for n in outside:  # a kept note ringing into the range stays as it was
        p = n.pitch - cfg.low_pitch
        if n.start < a < n.end and 0 <= p < cfg.pitches:
            mask[:, lo : min(hi, round(n.end * STEPS_PER_BEAT)), p] = True
    return Known(roll, mask), outside
