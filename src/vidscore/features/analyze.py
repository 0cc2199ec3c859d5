"""One decode pass over a clip, every extractor fed from it, one :class:`VideoFeatures` out.

The order of ``finish`` matters and lives here only: cuts and motion first, then the cues built
on them (semantic descriptor, affect), then the clip-level frame similarity.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import asdict, dataclass

from vidscore import __version__
from vidscore.errors import UsageError
from vidscore.features.affect import AffectExtractor
from vidscore.features.base import Context
from vidscore.features.color import ColourExtractor
from vidscore.features.faces import FaceExtractor
from vidscore.features.flow import FlowExtractor
from vidscore.features.motion import MotionExtractor
from vidscore.features.scene import DETECTORS, SceneExtractor
from vidscore.features.semantic import frame_similarity, make_semantic
from vidscore.types import VideoFeatures
from vidscore.video.io import FrameRequest, audio_rms, iter_frames, probe

DISCO_MV_THRESHOLD = 0.7

#: progress(seconds decoded, clip duration)
Progress = Callable[[float, float], None]


@dataclass(frozen=True)
class AnalysisConfig:
    """Every knob of ``analyze``; validated on creation, stored in the output's ``meta``."""

    detector: str = "adaptive"
    cut_threshold: float | None = None
    semantic: str = "handcrafted"
    hist_bins: int = 16
    beat_window: float = 0.5
    flow_side: int = 96

    def __post_init__(self) -> None:
        if self.detector not in DETECTORS:
            raise UsageError(f"--detector {self.detector!r}: choose from {', '.join(DETECTORS)}")
        if not 4 <= self.hist_bins <= 64:
            raise UsageError(f"--hist-bins {self.hist_bins}: must be between 4 and 64")
        if not 0.04 <= self.beat_window <= 5.0:
            raise UsageError(f"--beat-window {self.beat_window}: must be 0.04 to 5 seconds")
        if not 32 <= self.flow_side <= 1024:
            raise UsageError(f"flow_side {self.flow_side}: must be 32 to 1024 pixels")


def _merge_requests(extractors) -> list[FrameRequest]:
    merged: dict[str, FrameRequest] = {}
    for ex in extractors:
        for r in ex.requests:
            if r.name in merged and merged[r.name] != r:
                raise ValueError(f"frame request {r.name!r} asked for with two settings")
            merged[r.name] = r
    return list(merged.values())


def analyze(
    path: str | os.PathLike,
    config: AnalysisConfig | None = None,
    *,
    progress: Progress | None = None,
) -> VideoFeatures:
    """Analyze one clip into its feature timeline (see docs/features.md)."""
    config = config or AnalysisConfig()
    semantic = make_semantic(config.semantic)  # before probing: a bad --semantic fails fast
    info = probe(path)
    extractors = [
        SceneExtractor(config.detector, threshold=config.cut_threshold),
        MotionExtractor(),
        FlowExtractor(max_side=config.flow_side, beat_window=config.beat_window),
        ColourExtractor(bins=config.hist_bins),
        FaceExtractor(),
        semantic,
        AffectExtractor(),
    ]
    for ex in extractors:
        ex.start(info)
    requests = _merge_requests(extractors)
    for frame in iter_frames(path, requests, info=info):
        for ex in extractors:
            ex.push(frame)
        if progress is not None:
            progress(min(frame.time, info.duration), info.duration)
    ctx = Context(info=info, duration=info.duration)
    if info.has_audio:
        ctx.audio_rms = audio_rms(path, rate=1.0)
    for ex in extractors:
        ctx.series.update(ex.finish(ctx))
    sim = frame_similarity(ctx.series["semantic"].values)
    ctx.meta["frame_similarity"] = None if sim != sim else round(sim, 6)
    ctx.meta["disco_mv_keep"] = bool(sim == sim and sim < DISCO_MV_THRESHOLD)
    ctx.meta["config"] = asdict(config)
    ctx.meta["vidscore_version"] = __version__
    if progress is not None:
        progress(info.duration, info.duration)
    return VideoFeatures(info=info, cuts=ctx.cuts, series=ctx.series, meta=ctx.meta)
