"""Sums over consecutive fixed-size windows of a stream that arrives in chunks of any size: the
per-second RMS of a clip's sound and the loudness meter's 100 ms steps both count this way."""

from __future__ import annotations

import numpy as np


class WindowSums:
    """Feed 1-D chunks with :meth:`add`; window ``k`` holds values ``k * hop`` to
    ``(k + 1) * hop - 1`` of the whole stream, whatever the chunk boundaries."""

    def __init__(self, hop: int) -> None:
        self.hop = hop
        self.pos = 0  # values seen so far
        self.sums: list[float] = []
        self.counts: list[int] = []

    def add(self, x: np.ndarray) -> None:
        if not len(x):
            return
        idx = (self.pos + np.arange(len(x))) // self.hop
        first = int(idx[0])
        sums = np.bincount(idx - first, weights=x).tolist()
        counts = np.bincount(idx - first).tolist()
        if first < len(self.sums):  # the chunk goes on filling the last, unfinished window
            self.sums[first] += sums.pop(0)
            self.counts[first] += counts.pop(0)
        self.sums += sums
        self.counts += counts
        self.pos += len(x)

    def full_means(self) -> np.ndarray:
        """Mean of every finished window (an unfinished last one left out)."""
        return np.asarray(self.sums[: self.pos // self.hop], dtype=np.float64) / self.hop

    def means(self) -> np.ndarray:
        """Mean of every window, the last one over the values it got."""
        return np.asarray(self.sums, dtype=np.float64) / np.maximum(self.counts, 1)
