"""ITU-R BS.1770-4 loudness, measured as the sound streams past in blocks.

pyloudnorm's meter needs the whole signal in memory; this one carries the K-weighting filter state
(pyloudnorm's filter design: a 1.5 kHz high shelf of +4 dB and a 38 Hz high pass) from block to
block and keeps only the filtered mean square of every 100 ms step, so an hour of sound costs
36 000 floats. From the steps come the momentary loudness (400 ms blocks, 75 % overlap) and the
integrated loudness with the absolute (-70 LUFS) and relative (-10 LU) gates.
"""

from __future__ import annotations

import math

import numpy as np
from pyloudnorm.iirfilter import IIRfilter
from scipy.signal import sosfilt

from vidscore.audio.windows import WindowSums

STEP = 0.1  # seconds per mean-square step; a gating block is four steps
BLOCK_STEPS = 4
ABSOLUTE_GATE = -70.0
RELATIVE_GATE = -10.0


def _lufs(power: np.ndarray | float) -> np.ndarray | float:
    with np.errstate(divide="ignore"):
        return -0.691 + 10.0 * np.log10(power)


class LoudnessMeter:
    """Feed ``(samples, channels)`` float blocks with :meth:`push`; read :meth:`integrated` and
    :meth:`momentary` at any time. Channels weigh 1 (mono, or left and right)."""

    def __init__(self, rate: int, channels: int) -> None:
        stages = [
            IIRfilter(4.0, 1 / np.sqrt(2), 1500.0, rate, "high_shelf"),
            IIRfilter(0.0, 0.5, 38.0, rate, "high_pass"),
        ]
        self.sos = np.array([np.concatenate([f.b, f.a]) for f in stages])
        self.zi = np.zeros((len(stages), 2, channels))
        self.steps = WindowSums(round(STEP * rate))  # filtered squares, summed over channels

    def push(self, block: np.ndarray) -> None:
        x = np.asarray(block, dtype=np.float64)
        if x.ndim == 1:
            x = x[:, None]
        y, self.zi = sosfilt(self.sos, x, axis=0, zi=self.zi)
        self.steps.add((y * y).sum(axis=1))

    def block_power(self) -> np.ndarray:
        """Mean square of each 400 ms gating block, one block starting every 100 ms."""
        s = self.steps.full_means()
        if len(s) < BLOCK_STEPS:
            return s[:0]
        c = np.concatenate([[0.0], np.cumsum(s)])
        return (c[BLOCK_STEPS:] - c[:-BLOCK_STEPS]) / BLOCK_STEPS

    def momentary(self) -> np.ndarray:
        """Loudness (LUFS) of each gating block; block ``j`` is centred at ``0.1 j + 0.2`` s."""
        return np.asarray(_lufs(self.block_power()), dtype=np.float64)

    def integrated(self) -> float:
        """Gated integrated loudness in LUFS; ``-inf`` for silence or sound under 0.4 s."""
        z = self.block_power()
        loud = _lufs(z)
        kept = z[loud > ABSOLUTE_GATE]
        if not len(kept):
            return -math.inf
        gate = float(_lufs(kept.mean())) + RELATIVE_GATE
        kept = z[(loud > ABSOLUTE_GATE) & (loud > gate)]
        return float(_lufs(kept.mean())) if len(kept) else -math.inf
