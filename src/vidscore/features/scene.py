"""Scene cuts (PySceneDetect) and Video2Music's scene offset: seconds since the last cut.

Frames are fed to PySceneDetect's detectors directly from our single decode pass, so cut times are
the presentation times of the first frame of each new shot (exact to the frame, also for
variable frame rates). AdaptiveDetector is the default, as in Video2Music.
"""

from __future__ import annotations

from array import array

import numpy as np
from scenedetect import AdaptiveDetector, ContentDetector
from scenedetect.common import FrameTimecode

from vidscore.errors import UsageError
from vidscore.features.base import DENSE, DENSE_REQUEST, Context
from vidscore.features.timeline import grid
from vidscore.types import Series, VideoInfo
from vidscore.video.io import Frame, FrameRequest

DETECTORS = ("adaptive", "content")


class SceneExtractor:
    """Detect cuts on every (dense, 256 px) frame; emit cut times and the 1 Hz scene offset."""

    name = "scene"

    def __init__(
        self,
        detector: str = "adaptive",
        *,
        threshold: float | None = None,
        min_scene_len: float = 0.25,
    ) -> None:
        if detector not in DETECTORS:
            raise UsageError(
                f"unknown cut detector {detector!r}; choose from {', '.join(DETECTORS)}"
            )
        self.detector_name = detector
        self.threshold = threshold
        self.min_scene_len = min_scene_len
        self._detector = None
        self._times = array("d")  # 8 bytes a frame, not a boxed float
        self._cut_frames: list[int] = []

    @property
    def requests(self) -> list[FrameRequest]:
        return [DENSE_REQUEST]

    def _make(self, fps: float):
        min_len = max(1, round(self.min_scene_len * fps))
        if self.detector_name == "adaptive":
            kw = {} if self.threshold is None else {"adaptive_threshold": self.threshold}
            return AdaptiveDetector(min_scene_len=min_len, **kw)
        kw = {} if self.threshold is None else {"threshold": self.threshold}
        return ContentDetector(min_scene_len=min_len, **kw)

    def start(self, info: VideoInfo) -> None:
        self._fps = info.fps
        self._detector = self._make(info.fps)

    def push(self, frame: Frame) -> None:
        self._times.append(frame.time)
        # PySceneDetect expects BGR; the channel order only matters for its HSV conversion.
        img = np.ascontiguousarray(frame.images[DENSE][:, :, ::-1])
        tc = FrameTimecode(len(self._times) - 1, fps=self._fps)
        for cut in self._detector.process_frame(tc, img):
            self._cut_frames.append(cut.frame_num)

    def finish(self, ctx: Context) -> dict[str, Series]:
        if self._detector is not None and self._times:
            end = FrameTimecode(len(self._times) - 1, fps=self._fps)
            for cut in self._detector.post_process(end):
                self._cut_frames.append(cut.frame_num)
        frames = sorted({f for f in self._cut_frames if 0 < f < len(self._times)})
        cuts = [float(self._times[f]) for f in frames]
        ctx.cuts = cuts
        ctx.meta["scene_detector"] = self.detector_name
        g = grid(ctx.duration, 1.0)
        return {
            "scene_offset": Series(
                "scene_offset",
                g,
                scene_offset(cuts, g),
                1.0,
                "s",
                "seconds since the last cut (Video2Music)",
            )
        }


def scene_offset(cuts: list[float], times: np.ndarray) -> np.ndarray:
    """Seconds since the most recent cut (or the start) at each time."""
    starts = np.concatenate([[0.0], np.asarray(cuts, dtype=np.float64)])
    idx = np.searchsorted(starts, times + 1e-9, side="right") - 1
    return (times - starts[np.clip(idx, 0, None)]).astype(np.float32)
