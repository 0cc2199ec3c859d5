"""The shape every feature extractor shares: frame requests in, named series out.

An extractor states which frames it needs (:class:`~vidscore.video.io.FrameRequest`), sees them
one at a time in ``push`` (so memory stays bounded), and turns what it kept into series in
``finish``. Extractors that build on others (affect reads motion and cuts) read them from the
:class:`Context`, which the analyzer fills in order.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from vidscore.types import Series, VideoInfo
from vidscore.video.io import Frame, FrameRequest

#: The shared every-frame request (RGB, 256 px): cuts, motion and flow all read it, so it is
#: converted once per frame.
DENSE = "dense"
DENSE_REQUEST = FrameRequest(DENSE, None, 256, interpolation="FAST_BILINEAR")


@dataclass
class Context:
    """What earlier extractors produced, for later ones to build on."""

    info: VideoInfo
    duration: float
    series: dict[str, Series] = field(default_factory=dict)
    cuts: list[float] = field(default_factory=list)
    audio_rms: np.ndarray | None = None  # per-second RMS of the clip's sound, if it has any
    meta: dict = field(default_factory=dict)


class Extractor(Protocol):
    """A feature extractor: ``requests``, ``start``, ``push`` per frame, ``finish`` once."""

    name: str

    @property
    def requests(self) -> list[FrameRequest]: ...

    def start(self, info: VideoInfo) -> None: ...

    def push(self, frame: Frame) -> None: ...

    def finish(self, ctx: Context) -> dict[str, Series]: ...


class Rows:
    """Fixed-width rows appended one at a time into one array, read back as a view: per-sample
    vectors (a histogram a second) without a list of small arrays and a copy at the end. Sized
    up front from the clip's length; grows by half if a clip has more samples than it said."""

    def __init__(self, width: int, capacity: int = 16, dtype: type = np.float32) -> None:
        self._a = np.empty((max(1, capacity), width), dtype=dtype)
        self.n = 0

    def append(self, row) -> None:
        if self.n == len(self._a):
            grown = np.empty(
                (len(self._a) + len(self._a) // 2 + 1, self._a.shape[1]), self._a.dtype
            )
            grown[: self.n] = self._a
            self._a = grown
        self._a[self.n] = row
        self.n += 1

    def __len__(self) -> int:
        return self.n

    def array(self) -> np.ndarray:
        return self._a[: self.n]
