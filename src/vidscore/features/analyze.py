"""One decode pass over a clip, every extractor fed from it, one :class:`VideoFeatures` out.

The order of ``finish`` matters and lives here only: cuts and motion first, then the cues built
on them (semantic descriptor, affect), then the clip-level frame similarity. A caller that needs
only some series (a system declares them) names them in ``AnalysisConfig.series``: only the
extractors that make them, and those they build on, run. Dense frames a system asks for
(``AnalysisConfig.frames``) are kept from the same pass, in ``VideoFeatures.frames``.
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

import numpy as np

from vidscore.errors import UsageError
from vidscore.features.affect import AffectExtractor
from vidscore.features.base import Context
from vidscore.features.color import ColourExtractor
from vidscore.features.faces import FaceExtractor
from vidscore.features.flow import FlowExtractor
from vidscore.features.motion import MotionExtractor
from vidscore.features.scene import DETECTORS, SceneExtractor
from vidscore.features.semantic import frame_similarity, make_semantic
from vidscore.types import Frames, VideoFeatures, VideoInfo
from vidscore.version import __version__
from vidscore.video.io import Frame, FrameRequest, audio_rms, iter_frames, probe, window_rms

if TYPE_CHECKING:  # the spool's module loads scipy: only compose, which mixes, pays for it
    from vidscore.audio.spool import Spool

DISCO_MV_THRESHOLD = 0.7
#: extractor -> the series it makes (``cuts`` stands for the cut list)
PROVIDES: dict[str, tuple[str, ...]] = {
    "scene": ("cuts", "scene_offset"),
    "motion": ("motion", "motion_0.2s"),
    "flow": ("flow", "flow_1hz", "video_beat"),
    "colour": ("rgb_uv_hist", "brightness", "saturation", "colourfulness", "warmth"),
    "faces": ("faces", "face_area", "smiles"),
    "semantic": ("semantic",),
    "affect": ("valence", "arousal", "emotion"),
}
#: extractor -> the extractors whose series it reads in ``finish``
DEPENDS: dict[str, tuple[str, ...]] = {
    "semantic": ("faces", "motion", "flow"),
    "affect": ("scene", "flow", "colour", "faces"),
}
SERIES = frozenset(s for names in PROVIDES.values() for s in names)

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
    series: tuple[str, ...] | None = None  # None: every series
    frames: tuple[FrameRequest, ...] = ()  # dense frames to keep (not saved to JSON)

    def __post_init__(self) -> None:
        if self.series is not None:
            unknown = sorted(set(self.series) - SERIES)
            if unknown:
                raise UsageError(f"unknown feature series {', '.join(unknown)}")
            object.__setattr__(self, "series", tuple(sorted(set(self.series))))
        if self.cut_threshold is not None and not (
            math.isfinite(self.cut_threshold) and self.cut_threshold > 0
        ):
            raise UsageError(f"--threshold {self.cut_threshold}: must be a number above 0")
        if self.detector not in DETECTORS:
            raise UsageError(f"--detector {self.detector!r}: choose from {', '.join(DETECTORS)}")
        if not 4 <= self.hist_bins <= 64:
            raise UsageError(f"--hist-bins {self.hist_bins}: must be between 4 and 64")
        if not 0.04 <= self.beat_window <= 5.0:
            raise UsageError(f"--beat-window {self.beat_window}: must be 0.04 to 5 seconds")
        if not 32 <= self.flow_side <= 1024:
            raise UsageError(f"flow_side {self.flow_side}: must be 32 to 1024 pixels")


def extractors_for(series: tuple[str, ...] | None) -> list[str]:
    """The extractors (in finishing order) that make ``series`` and what they build on."""
    if series is None:
        return list(PROVIDES)
    wanted = {name for name, made in PROVIDES.items() if set(made) & set(series)}
    wanted.add("scene")  # cuts are always part of the timeline
    stack = list(wanted)
    while stack:
        for dep in DEPENDS.get(stack.pop(), ()):
            if dep not in wanted:
                wanted.add(dep)
                stack.append(dep)
    return [name for name in PROVIDES if name in wanted]


class FrameCollector:
    """Keeps the frames of one request (a system's dense frames) as one uint8 array. The request
    is renamed ``system:NAME`` in the decode pass, so it never collides with an extractor's."""

    def __init__(self, request: FrameRequest) -> None:
        self.key = request.name
        self.request = dataclasses.replace(request, name=f"system:{request.name}")
        self.name = self.request.name
        self._t: list[float] = []
        self._images: list[np.ndarray] = []

    @property
    def requests(self) -> list[FrameRequest]:
        return [self.request]

    def start(self, info: VideoInfo) -> None:
        pass

    def push(self, frame: Frame) -> None:
        image = frame.images.get(self.request.name)
        if image is not None:
            self._t.append(frame.time)
            self._images.append(image)

    def result(self) -> Frames:
        images = np.stack(self._images) if self._images else np.zeros((0, 0, 0, 3), np.uint8)
        return Frames(self.key, np.array(self._t), images, self.request.fps or 0.0)


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
    info: VideoInfo | None = None,
    sound: Spool | None = None,
) -> VideoFeatures:
    """Analyze one clip into its feature timeline (see docs/features.md); ``info`` is the
    clip's probe and ``sound`` its spooled sound when the caller already has them."""
    config = config or AnalysisConfig()
    names = extractors_for(config.series)
    # before probing: a bad --semantic fails fast
    semantic = make_semantic(config.semantic) if "semantic" in names else None
    info = info or probe(path)
    make = {
        "scene": lambda: SceneExtractor(config.detector, threshold=config.cut_threshold),
        "motion": MotionExtractor,
        "flow": lambda: FlowExtractor(max_side=config.flow_side, beat_window=config.beat_window),
        "colour": lambda: ColourExtractor(bins=config.hist_bins),
        "faces": FaceExtractor,
        "semantic": lambda: semantic,
        "affect": AffectExtractor,
    }
    extractors = [make[name]() for name in names]
    collectors = [FrameCollector(r) for r in config.frames]
    for ex in [*extractors, *collectors]:
        ex.start(info)
    requests = _merge_requests([*extractors, *collectors])
    for frame in iter_frames(path, requests, info=info):
        for ex in extractors:
            ex.push(frame)
        for c in collectors:
            c.push(frame)
        if progress is not None:
            progress(min(frame.time, info.duration), info.duration)
    ctx = Context(info=info, duration=info.duration)
    if sound is not None:  # the caller decoded the sound already (compose spools it once)
        ctx.audio_rms = window_rms((b.T for b in sound.blocks()), sound.rate)
    elif info.has_audio:
        ctx.audio_rms = audio_rms(path, rate=1.0)
    for ex in extractors:
        ctx.series.update(ex.finish(ctx))
    if "semantic" in ctx.series:
        sim = frame_similarity(ctx.series["semantic"].values)
        ctx.meta["frame_similarity"] = None if sim != sim else round(sim, 6)
        ctx.meta["disco_mv_keep"] = bool(sim == sim and sim < DISCO_MV_THRESHOLD)
    ctx.meta["config"] = {k: v for k, v in asdict(config).items() if k != "frames"}
    ctx.meta["vidscore_version"] = __version__
    if progress is not None:
        progress(info.duration, info.duration)
    return VideoFeatures(
        info=info,
        cuts=ctx.cuts,
        series=ctx.series,
        meta=ctx.meta,
        frames={c.key: c.result() for c in collectors},
    )
