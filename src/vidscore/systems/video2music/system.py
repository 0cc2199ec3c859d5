"""Video2Music as a vidscore system: AMT chords on the clip's cuts, arranged by the biGRU.

The shared set-up (:mod:`vidscore.systems.common.plan`) fixes tempo, bar lines on cuts, the
clip's control curves per slot, the tonic and instruments; the AMT samples one chord per slot in
C major / A minor from the curves (:mod:`.inference`); the mode is read from those chords
(:func:`~vidscore.music.key.mode_of`) unless ``--key`` names one, and the chords are transposed
to the key; the biGRU maps the same curves to each slot's note density and loudness, played at their
rank among the training music's steps (:func:`~.inference.played`), and the shared arrangement
turns them into parts. Torch and the weights load in
:meth:`Video2MusicSystem.load`, so the class itself is cheap to import.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path

from vidscore.music.key import Key, denormalizing_shift
from vidscore.soundtrack import Soundtrack
from vidscore.systems.base import FeatureNeeds, System
from vidscore.systems.common.plan import SETUP_NEEDS, arrange_piece, setup
from vidscore.types import Controls, VideoFeatures

WEIGHTS = Path(__file__).resolve().parents[2] / "weights" / "video2music"


@dataclass(frozen=True)
class AMTParams:
    """Sampling the AMT."""

    temperature: float = field(default=0.9, metadata={"help": "softmax temperature"})
    top_p: float = field(default=0.85, metadata={"help": "nucleus mass kept"})
    affect_strength: float = field(
        default=0.0,
        metadata={"help": "rule: logit pull towards the emotion's chord qualities (0: off)"},
    )
    guidance: float = field(
        default=1.0, metadata={"help": "classifier-free guidance on the controls (1: none)"}
    )
    max_repeat: int = field(default=4, metadata={"help": "most slots one chord may hold"})
    window: int = field(default=256, metadata={"help": "chords the model sees at once"})
    context: int = field(default=32, metadata={"help": "chords carried into the next window"})

    def __post_init__(self) -> None:
        if not 0.05 <= self.temperature <= 5:
            raise ValueError(f"temperature {self.temperature}: must be 0.05 to 5")
        if not 0 < self.top_p <= 1:
            raise ValueError(f"top_p {self.top_p}: must be in (0, 1]")
        if not 0 <= self.affect_strength <= 10:
            raise ValueError(f"affect_strength {self.affect_strength}: must be 0 to 10")
        if not 0 <= self.guidance <= 10:
            raise ValueError(f"guidance {self.guidance}: must be 0 to 10")
        if self.max_repeat < 1:
            raise ValueError(f"max_repeat {self.max_repeat}: must be >= 1")
        if not 1 <= self.context < self.window:
            raise ValueError(f"context {self.context}: must be 1 to window - 1 ({self.window})")


class Video2MusicSystem(System):
    name = "video2music"
    summary = "Video2Music: AMT chords + biGRU density/loudness from control curves, arranged"
    needs = FeatureNeeds(SETUP_NEEDS | {"semantic"})
    Params = AMTParams
    weight_files = ("manifest.json", "amt.safetensors", "bigru.safetensors")
    default_weights = WEIGHTS

    def __init__(self, amt, gru, scale: dict | None = None) -> None:
        self.amt, self.gru, self.scale = amt, gru, scale

    @classmethod
    def load(cls, weights: str | os.PathLike | None = None) -> Video2MusicSystem:
        from vidscore.systems.video2music.inference import load_models, load_scale

        folder = cls.weights_folder(weights)
        return cls(*load_models(folder), load_scale(folder))

    def compose(
        self, features: VideoFeatures, controls: Controls, params: AMTParams | None = None
    ) -> Soundtrack:
        from vidscore.music.key import mode_of
        from vidscore.systems.video2music.inference import descriptors, played, sample_chords
        from vidscore.systems.video2music.inputs import clip_rows

        params = params or AMTParams()
        piece = setup(features, controls)
        cond = clip_rows(features, piece, self.amt.cfg.semantic_dim)
        chords = sample_chords(
            self.amt,
            cond,
            [s.at_cut for s in piece.slots],
            seed=controls.seed,
            temperature=params.temperature,
            top_p=params.top_p,
            window=params.window,
            context=params.context,
            max_repeat=params.max_repeat,
            affect_strength=params.affect_strength,
            guidance=params.guidance,
        )
        if controls.key is None:  # the mode the model's chords read as, on the drawn tonic
            piece = replace(piece, key=Key(piece.key.tonic, mode_of(chords)))
        density, loudness = played(descriptors(self.gru, cond), self.scale)
        shift = denormalizing_shift(piece.key)
        return arrange_piece(
            piece,
            features,
            [c.transpose(shift) for c in chords],
            density=density,
            loudness=loudness,
        )
