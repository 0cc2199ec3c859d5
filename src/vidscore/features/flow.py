"""Optical-flow magnitude per frame pair (Farneback) and VMAs' video beats.

VMAs (Sec. 4.4) averages the optical-flow magnitude over all pixels of each consecutive frame
pair and marks a "video beat" at every step whose magnitude is the maximum of a temporal window
around it. VMAs uses RAFT; we use OpenCV's Farneback on frames downscaled to ``max_side`` px
(documented deviation: no learned flow model ships offline). Magnitudes are in percent of the
frame's longer side per frame, so they compare across resolutions.
"""

from __future__ import annotations

from array import array
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor

import cv2
import numpy as np

from vidscore.features.base import DENSE, DENSE_REQUEST, Context
from vidscore.features.timeline import bin_mean, grid
from vidscore.types import Series, VideoInfo
from vidscore.video.io import Frame, FrameRequest

#: pyr_scale, levels, winsize, iterations, poly_n, poly_sigma, flags: a light setting for small
#: frames (two pyramid levels suffice at 96 px); 0.45 ms a frame pair on one core.
FARNEBACK = (0.5, 2, 9, 2, 5, 1.1, 0)


MAX_PENDING = 16  # frame pairs queued for the flow thread; bounds memory


def _flow_magnitude(prev: np.ndarray, grey: np.ndarray) -> float:
    """Mean Farneback flow magnitude, in percent of the frame's longer side."""
    flow = cv2.calcOpticalFlowFarneback(prev, grey, None, *FARNEBACK)
    mag = np.sqrt(flow[..., 0] ** 2 + flow[..., 1] ** 2).mean()
    return 100.0 * float(mag) / max(grey.shape)


def video_beats(magnitude: np.ndarray, half_window: int) -> np.ndarray:
    """Boolean mask of steps whose value is the maximum of ``[i - w, i + w]`` (VMAs' video beats).

    Ties on a plateau mark only its first step; an all-zero signal has no beats.
    """
    m = np.asarray(magnitude, dtype=np.float64)
    n = len(m)
    beats = np.zeros(n, dtype=bool)
    for i in range(n):
        lo, hi = max(0, i - half_window), min(n, i + half_window + 1)
        window = m[lo:hi]
        if m[i] > 0 and m[i] >= window.max() and int(np.argmax(window)) + lo == i:
            beats[i] = True
    return beats


class FlowExtractor:
    """Farneback flow between consecutive dense frames, shrunk to ``max_side`` px grey."""

    name = "flow"

    def __init__(self, *, max_side: int = 96, beat_window: float = 0.5) -> None:
        self.max_side = max_side
        self.beat_window = beat_window  # seconds on each side of a candidate beat
        self._prev: np.ndarray | None = None
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="vidscore-flow")
        self._pending: deque[Future] = deque()
        self._t = array("d")  # 8 bytes a frame, not a boxed float
        self._v = array("d")  # 8 bytes a frame, not a boxed float

    @property
    def requests(self) -> list[FrameRequest]:
        return [DENSE_REQUEST]

    def start(self, info: VideoInfo) -> None:
        self._fps = info.fps

    def push(self, frame: Frame) -> None:
        img = frame.images[DENSE]
        h, w = img.shape[:2]
        scale = min(1.0, self.max_side / max(h, w))
        grey = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)
        if scale < 1.0:
            size = (max(8, round(w * scale)), max(8, round(h * scale)))
            grey = cv2.resize(grey, size, interpolation=cv2.INTER_AREA)
        if self._prev is not None:
            # OpenCV releases the GIL: flow runs beside decoding and the other extractors
            self._t.append(frame.time)
            self._pending.append(self._pool.submit(_flow_magnitude, self._prev, grey))
            while len(self._pending) > MAX_PENDING:
                self._v.append(self._pending.popleft().result())
        self._prev = grey

    def finish(self, ctx: Context) -> dict[str, Series]:
        while self._pending:
            self._v.append(self._pending.popleft().result())
        self._pool.shutdown()
        t = np.asarray(self._t)
        v = np.asarray(self._v, dtype=np.float32)
        half = max(1, round(self.beat_window * self._fps))
        beats = video_beats(v, half)
        ctx.meta["video_beats"] = [round(float(x), 6) for x in t[beats]]
        ctx.meta["beat_window_s"] = self.beat_window
        d = ctx.duration
        return {
            "flow": Series(
                "flow",
                t,
                v,
                self._fps,
                "% of frame per frame",
                "mean Farneback flow magnitude of each consecutive frame pair",
            ),
            "flow_1hz": Series(
                "flow_1hz",
                grid(d, 1.0),
                bin_mean(t, v, rate=1.0, duration=d),
                1.0,
                "% of frame per frame",
                "flow magnitude averaged per second",
            ),
            "video_beat": Series(
                "video_beat",
                t,
                beats.astype(np.float32),
                self._fps,
                "0/1",
                "1 where flow is the maximum of its window (VMAs video beats)",
            ),
        }
