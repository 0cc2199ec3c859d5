"""Motion as mean absolute RGB difference, at Video2Music's and V-MusProd's rates, and its tempo.

* ``motion``: mean |frame_t - frame_(t-1)| over pixels and RGB channels (0-255), averaged per
  second (Video2Music's 1 Hz motion feature).
* ``motion_0.2s``: the same difference between frames 0.2 s apart (V-MusProd: "intervals of 5
  frames"; we use 0.2 s of time so the rate holds at any frame rate).
* ``tempo_bpm``: V-MusProd maps the clip's mean 0.2 s difference linearly from [min, max] to
  [90, 130] BPM. The paper takes min and max over SymMV, which we do not have; our defaults
  (:data:`MOTION_RANGE`) come from the clips in ../shared/videos and montages of them, and are
  parameters.
"""

from __future__ import annotations

from array import array

import numpy as np

from vidscore.features.base import DENSE, DENSE_REQUEST, Context
from vidscore.features.timeline import bin_mean, grid
from vidscore.types import Series, VideoInfo
from vidscore.video.io import Frame, FrameRequest

TEMPO_RANGE = (90.0, 130.0)
MOTION_RANGE = (2.0, 40.0)  # mean 0.2 s RGB difference mapped to the ends of TEMPO_RANGE
VMUSPROD_STEP = 0.2


def motion_to_tempo(
    mean_diff: float,
    *,
    motion_range: tuple[float, float] = MOTION_RANGE,
    tempo_range: tuple[float, float] = TEMPO_RANGE,
) -> float:
    """V-MusProd's linear map from a clip's mean RGB difference to a tempo, clipped to the range."""
    lo, hi = motion_range
    x = float(np.clip((mean_diff - lo) / (hi - lo), 0.0, 1.0))
    return tempo_range[0] + x * (tempo_range[1] - tempo_range[0])


def _mad(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.mean(np.abs(a.astype(np.int16) - b.astype(np.int16))))


class MotionExtractor:
    """Consecutive-frame and 0.2 s RGB differences, on the shared dense frames."""

    name = "motion"

    def __init__(self, *, motion_range: tuple[float, float] = MOTION_RANGE) -> None:
        self.motion_range = motion_range
        self._prev: np.ndarray | None = None
        self._pair_t = array("d")  # 8 bytes a frame, not a boxed float
        self._pair_v = array("d")  # 8 bytes a frame, not a boxed float
        self._coarse_prev: np.ndarray | None = None
        self._coarse_t = array("d")  # 8 bytes a frame, not a boxed float
        self._coarse_v = array("d")  # 8 bytes a frame, not a boxed float
        self._next_coarse = 0.0

    @property
    def requests(self) -> list[FrameRequest]:
        return [DENSE_REQUEST]

    def start(self, info: VideoInfo) -> None:
        pass

    def push(self, frame: Frame) -> None:
        img = frame.images[DENSE]
        if self._prev is not None:
            self._pair_t.append(frame.time)
            self._pair_v.append(_mad(img, self._prev))
        self._prev = img
        if frame.time + 1e-6 >= self._next_coarse:
            if self._coarse_prev is not None:
                self._coarse_v.append(_mad(img, self._coarse_prev))
            self._coarse_t.append(frame.time)
            self._coarse_prev = img
            self._next_coarse = (np.floor((frame.time + 1e-6) / VMUSPROD_STEP) + 1) * VMUSPROD_STEP

    def finish(self, ctx: Context) -> dict[str, Series]:
        d = ctx.duration
        per_sec = bin_mean(np.array(self._pair_t), np.array(self._pair_v), rate=1.0, duration=d)
        # each 0.2 s difference belongs to the interval that starts at its earlier frame
        coarse = bin_mean(
            np.array(self._coarse_t[: len(self._coarse_v)]),
            np.array(self._coarse_v),
            rate=1 / VMUSPROD_STEP,
            duration=d,
        )
        mean_coarse = float(np.mean(self._coarse_v)) if len(self._coarse_v) else 0.0
        ctx.meta["tempo_bpm"] = round(
            motion_to_tempo(mean_coarse, motion_range=self.motion_range), 3
        )
        ctx.meta["motion_range"] = list(self.motion_range)
        return {
            "motion": Series(
                "motion",
                grid(d, 1.0),
                per_sec,
                1.0,
                "RGB 0-255",
                "mean abs difference of consecutive frames, per second (Video2Music)",
            ),
            "motion_0.2s": Series(
                "motion_0.2s",
                grid(d, 1 / VMUSPROD_STEP),
                coarse,
                1 / VMUSPROD_STEP,
                "RGB 0-255",
                "mean abs difference of frames 0.2 s apart (V-MusProd)",
            ),
        }
