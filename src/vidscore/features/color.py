"""Colour: HistoGAN's log-chroma (RGB-uv) histogram, and per-second brightness, saturation,
colourfulness and warmth.

The RGB-uv histogram (Afifi et al., HistoGAN, CVPR 2021) is V-MusProd's colour feature: for each
channel c, every pixel's log-chroma pair (log I_c - log I_c', log I_c - log I_c'') is binned,
weighted by the pixel's intensity sqrt(R^2 + G^2 + B^2), and the whole histogram is normalised to
sum to one. HistoGAN softens bins with an inverse-quadratic kernel (tau = 0.02); with bins 0.4
wide that kernel is all but a hard bin, so we bin hard (documented deviation, 20x faster).
"""

from __future__ import annotations

import math
from array import array

import cv2
import numpy as np

from vidscore.features.base import Context, Rows
from vidscore.features.timeline import bin_mean, grid
from vidscore.types import Series, VideoInfo
from vidscore.video.io import Frame, FrameRequest

UV_RANGE = 3.2  # HistoGAN's histogram spans [-3.2, 3.2] in each log-chroma axis
EPS = 1e-6


def rgb_uv_histogram(rgb: np.ndarray, bins: int = 16) -> np.ndarray:
    """``(3, bins, bins)`` log-chroma histogram of a uint8 RGB image; sums to 1."""
    x = rgb.reshape(-1, 3).astype(np.float32) / 255.0
    weight = np.sqrt((x**2).sum(axis=1))
    logs = np.log(x + EPS)
    edges = np.linspace(-UV_RANGE, UV_RANGE, bins + 1)
    hist = np.zeros((3, bins, bins), dtype=np.float64)
    for c in range(3):
        o1, o2 = [k for k in range(3) if k != c]
        u = logs[:, c] - logs[:, o1]
        v = logs[:, c] - logs[:, o2]
        hist[c], _, _ = np.histogram2d(u, v, bins=(edges, edges), weights=weight)
    total = hist.sum()
    return (hist / total if total > 0 else hist).astype(np.float32)


def colour_stats(rgb: np.ndarray) -> tuple[float, float, float, float]:
    """Brightness and saturation (HSV, 0-1), colourfulness (Hasler & Süsstrunk 2003, on 0-255 RGB)
    and warmth (mean (R - B) / 255, -1 cool to 1 warm) of one image."""
    hsv = cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV)
    sat = float(hsv[..., 1].mean()) / 255.0
    val = float(hsv[..., 2].mean()) / 255.0
    f = rgb.astype(np.float32)
    r, g, b = f[..., 0], f[..., 1], f[..., 2]
    rg = r - g
    yb = 0.5 * (r + g) - b
    colourfulness = float(
        np.sqrt(rg.std() ** 2 + yb.std() ** 2) + 0.3 * np.sqrt(rg.mean() ** 2 + yb.mean() ** 2)
    )
    warmth = float((r - b).mean()) / 255.0
    return val, sat, colourfulness, warmth


class ColourExtractor:
    """Histograms at ``hist_fps`` and colour statistics from frames at ``stats_fps``."""

    name = "colour"

    def __init__(
        self, *, bins: int = 16, hist_fps: float = 1.0, stats_fps: float = 4.0, max_side: int = 128
    ) -> None:
        self.bins = bins
        self.hist_fps = hist_fps
        self.stats_fps = stats_fps
        self.max_side = max_side
        self._hist_t, self._stat_t = array("d"), array("d")  # 8 bytes a sample
        self._hist = Rows(3 * bins * bins)
        self._stats = Rows(4, dtype=np.float64)

    @property
    def requests(self) -> list[FrameRequest]:
        return [
            FrameRequest("colour_hist", self.hist_fps, self.max_side),
            FrameRequest("colour_stats", self.stats_fps, self.max_side),
        ]

    def start(self, info: VideoInfo) -> None:
        hist, stats = (math.ceil(info.duration * f) + 2 for f in (self.hist_fps, self.stats_fps))
        self._hist = Rows(3 * self.bins**2, hist)  # sized for the clip: no growing, no copy
        self._stats = Rows(4, stats, np.float64)

    def push(self, frame: Frame) -> None:
        if "colour_hist" in frame.images:
            self._hist_t.append(frame.time)
            self._hist.append(rgb_uv_histogram(frame.images["colour_hist"], self.bins).ravel())
        if "colour_stats" in frame.images:
            self._stat_t.append(frame.time)
            self._stats.append(colour_stats(frame.images["colour_stats"]))

    def finish(self, ctx: Context) -> dict[str, Series]:
        d = ctx.duration
        g = grid(d, 1.0)
        st = bin_mean(np.asarray(self._stat_t), self._stats.array(), rate=1.0, duration=d)
        hist = bin_mean(
            np.asarray(self._hist_t), self._hist.array(), rate=self.hist_fps, duration=d
        )
        ctx.meta["rgb_uv_bins"] = self.bins
        return {
            "rgb_uv_hist": Series(
                "rgb_uv_hist",
                grid(d, self.hist_fps),
                hist,
                self.hist_fps,
                "fraction",
                f"HistoGAN RGB-uv histogram, 3x{self.bins}x{self.bins} flattened (channel, u, v)",
            ),
            "brightness": Series("brightness", g, st[:, 0], 1.0, "0-1", "mean HSV value"),
            "saturation": Series("saturation", g, st[:, 1], 1.0, "0-1", "mean HSV saturation"),
            "colourfulness": Series(
                "colourfulness",
                g,
                st[:, 2],
                1.0,
                "Hasler-Süsstrunk M",
                "colourfulness (Hasler & Süsstrunk 2003) on 0-255 RGB",
            ),
            "warmth": Series("warmth", g, st[:, 3], 1.0, "-1..1", "mean (R - B) / 255"),
        }
