"""V-MusProd as a vidscore system: chords, then a melody, then an accompaniment, on the clip's bars.

The shared set-up (:mod:`vidscore.systems.common.plan`) fixes the tempo (V-MusProd's motion map
into 90-130 BPM, or the user's), bar lines on cuts and markers, the clip's control curves per
beat, the tonic and the instruments. The Chord Transformer writes the chords from the curves
(through its controller and its timing rows), the Melody Transformer a melody over them, the
Accompaniment Transformer an accompaniment over both (:mod:`.inference`), all in C major /
A minor; the mode is what the chords read as (unless ``--key`` names one) and everything is
transposed to the key. Melody and accompaniment are two named tracks (a DAW user can mute one):
the melody on a lead voice, the accompaniment on piano or strings, by the preset.

Weights trained on paired video (:mod:`.data`) also read the clip's semantic descriptor and
colour histogram per beat through the controller; :meth:`VMusProdSystem.feature_needs` asks the
analysis for them.

Rules that remain (not learnt): the bar plan and chord change on cuts, the tonic in the last bar
(the grammar of :mod:`.inference`), the mode read from the chords, the instruments from the
emotion preset.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path

from vidscore.errors import UsageError
from vidscore.music.chords import ChordSpan
from vidscore.music.key import Key, mode_of
from vidscore.music.score import Note, Score
from vidscore.soundtrack import Soundtrack
from vidscore.systems.base import FeatureNeeds, System
from vidscore.systems.common.bars import BarLayout, plan_layout, score_on_plan
from vidscore.systems.common.plan import SETUP_NEEDS, PieceSetup, beat_spans, finish, setup
from vidscore.systems.vmusprod.sampling import Sampling
from vidscore.types import Controls, VideoFeatures

WEIGHTS = Path(__file__).resolve().parents[2] / "weights" / "vmusprod"
FILES = ("chord.safetensors", "melody.safetensors", "accompaniment.safetensors")
#: preset -> (melody program, accompaniment program): a lead voice over piano or strings
VOICES = {"piano": (73, 0), "strings": (40, 48), "band": (80, 0)}


@dataclass(frozen=True)
class VMusProdParams:
    """Sampling the three transformers (defaults: :class:`Sampling`)."""

    temperature: float = field(
        default=Sampling.temperature, metadata={"help": "softmax temperature"}
    )
    top_p: float = field(default=Sampling.top_p, metadata={"help": "nucleus mass kept"})
    guidance: float = field(
        default=Sampling.guidance,
        metadata={"help": "classifier-free guidance on the curves (1: none)"},
    )
    window: int = field(default=Sampling.window, metadata={"help": "bars the models see at once"})
    context: int = field(
        default=Sampling.context, metadata={"help": "bars carried into the next window"}
    )
    max_voices: int = field(
        default=Sampling.max_voices, metadata={"help": "accompaniment notes per onset"}
    )

    def __post_init__(self) -> None:
        if not 0.05 <= self.temperature <= 5:
            raise ValueError(f"temperature {self.temperature}: must be 0.05 to 5")
        if not 0 < self.top_p <= 1:
            raise ValueError(f"top_p {self.top_p}: must be in (0, 1]")
        if not 0 <= self.guidance <= 10:
            raise ValueError(f"guidance {self.guidance}: must be 0 to 10")
        if not 2 <= self.window <= 16 or not 1 <= self.context < self.window:
            raise ValueError("window 2 to 16 bars, context 1 to window - 1")
        if not 1 <= self.max_voices <= 12:
            raise ValueError(f"max_voices {self.max_voices}: 1 to 12")


def load_stages(folder: str | os.PathLike, stages: tuple[str, ...]) -> dict:
    """The named stages of a weights folder, each checked against its manifest."""
    from vidscore.modules.checkpoint import load_from_folder
    from vidscore.systems.vmusprod.model import VMPConfig, build

    def one(stage: str):
        return load_from_folder(
            folder, f"{stage}.safetensors", lambda c: build(VMPConfig(**c)),
            kind=f"vmusprod-{stage}", system="vmusprod",
        )  # fmt: skip

    return {stage: one(stage) for stage in stages}


def bar_layout(
    piece: PieceSetup, features: VideoFeatures | None = None, streams: dict[str, int] | None = None
) -> BarLayout:
    """The time plan's bars with the clip's curves per beat, and the paired video ``streams``
    (name -> size) that weights trained on paired video read."""
    from vidscore.systems.vmusprod.data import VIDEO_STREAMS, video_per_beat

    video = {}
    if streams:
        for name, size in streams.items():
            series = features[VIDEO_STREAMS[name]]
            got = series.values.shape[1] if series.values.ndim == 2 else 1
            if got != size:
                raise UsageError(
                    f"these weights read a {size}-value {series.name} per second and this "
                    f"clip's has {got}: analyse it the way the training videos were"
                )
        video = video_per_beat(features, *beat_spans(piece.slots), tuple(streams))
    return plan_layout(piece, video)


class VMusProdSystem(System):
    name = "vmusprod"
    summary = "V-MusProd: chord, melody and accompaniment transformers on control curves"
    needs = FeatureNeeds(SETUP_NEEDS)
    Params = VMusProdParams
    weight_files = ("manifest.json", *FILES)
    default_weights = WEIGHTS

    def __init__(self, models: dict) -> None:
        self.models = models
        #: the paired video streams the controller reads (weights trained on paired video)
        self.streams = models["chord"].cfg.video_dims

    @classmethod
    def feature_needs(cls, weights: str | os.PathLike | None = None) -> FeatureNeeds:
        """``needs``, plus the semantic and colour series when the chord stage was trained on
        paired video (read from the folder's manifest)."""
        from vidscore.modules.checkpoint import read_manifest
        from vidscore.systems.vmusprod.data import VIDEO_STREAMS
        from vidscore.systems.vmusprod.model import VMPConfig

        manifest = read_manifest(cls.weights_folder(weights), system="vmusprod")
        cfg = manifest.get("stages", {}).get("chord", {}).get("config", {})
        if cfg and VMPConfig(**cfg).video_dims:
            return FeatureNeeds(cls.needs.series | set(VIDEO_STREAMS.values()))
        return cls.needs

    @classmethod
    def load(cls, weights: str | os.PathLike | None = None) -> VMusProdSystem:
        from vidscore.systems.vmusprod.model import STAGES

        return cls(load_stages(cls.weights_folder(weights), STAGES))

    def compose(
        self, features: VideoFeatures, controls: Controls, params: VMusProdParams | None = None
    ) -> Soundtrack:
        from vidscore.systems.vmusprod.inference import write_parts

        params = params or VMusProdParams()
        piece = setup(features, controls)
        layout = bar_layout(piece, features, self.streams)
        s = Sampling(params.temperature, params.top_p, params.guidance, params.window,
                     params.context, params.max_voices)  # fmt: skip
        chords, melody, accomp = write_parts(self.models, layout, s, controls.seed)
        if controls.key is None:  # the mode the chords read as, on the drawn tonic
            piece = replace(piece, key=Key(piece.key.tonic, mode_of(c.chord for c in chords)))
        score = to_score(piece, layout, chords, melody, accomp)
        meta = {"chords_per_bar": round(len(chords) / max(1, layout.n_bars), 3)}
        return finish(score, piece, features, meta)


def to_score(
    piece: PieceSetup,
    layout: BarLayout,
    chords: list[ChordSpan],
    melody: list[Note],
    accomp: list[Note],
) -> Score:
    """Model-time stages -> a score on the plan's beats: melody on a lead voice, accompaniment
    on the preset's bed."""
    lead, bed = VOICES.get(piece.preset, VOICES["piano"])
    parts = [("melody", melody, lead, 55, 96), ("accompaniment", accomp, bed, 28, 88)]
    return score_on_plan(piece, layout, parts, chords)
