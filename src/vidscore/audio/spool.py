"""Sound spooled to a raw float32 file and read back in blocks.

A clip's own sound and the rendered music can be longer than memory allows (an hour of 48 kHz
stereo is 1.4 GB as float32), so each goes to a file in the run's work folder as it is made, with
its peak and loudness measured on the way (:class:`SpoolWriter`); mixing and muxing then read
fixed-size blocks (:meth:`Spool.blocks`). Memory stays at a few blocks whatever the length.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from vidscore.audio.loudness import LoudnessMeter

BLOCK = 48000  # frames per block read back: one second at the mix rate


@dataclass(frozen=True)
class Spool:
    """``frames`` x ``channels`` float32 samples at ``rate`` in the raw file ``path``, with the
    absolute peak, the integrated loudness (LUFS, ``-inf`` if silent) and the momentary loudness
    per 100 ms step (:mod:`vidscore.audio.loudness`)."""

    path: Path
    rate: int
    channels: int
    frames: int
    peak: float
    loudness: float
    momentary: np.ndarray = field(repr=False)

    def blocks(self, frames: int | None = None, block: int = BLOCK) -> Iterator[np.ndarray]:
        """``(n, channels)`` blocks covering exactly ``frames`` frames (default: all of them):
        the spool's samples, then silence if it is shorter."""
        total = self.frames if frames is None else frames
        width = 4 * self.channels
        done = 0
        with open(self.path, "rb") as f:
            while done < total:
                n = min(block, total - done)
                raw = f.read(n * width) if done < self.frames else b""
                x = np.frombuffer(raw, dtype="<f4").reshape(-1, self.channels)
                if len(x) < n:
                    x = np.concatenate([x, np.zeros((n - len(x), self.channels), np.float32)])
                done += n
                yield x

    def read(self) -> np.ndarray:
        """The whole sound, ``(frames, channels)``: only for sound known to be short."""
        return np.fromfile(self.path, dtype="<f4").reshape(-1, self.channels)


class SpoolWriter:
    """Append ``(n, channels)`` blocks to ``path``; :meth:`finish` returns the :class:`Spool`."""

    def __init__(self, path: str | os.PathLike, *, rate: int, channels: int) -> None:
        self.path = Path(path)
        self.rate, self.channels = rate, channels
        self.meter = LoudnessMeter(rate, channels)
        self.frames, self.peak = 0, 0.0
        self.file = open(self.path, "wb")  # noqa: SIM115  (closed by finish or close)

    def write(self, block: np.ndarray) -> None:
        x = np.asarray(block, dtype=np.float32)
        if x.ndim == 1:
            x = x[:, None]
        if x.shape[1] != self.channels:
            raise ValueError(f"block has {x.shape[1]} channels, spool has {self.channels}")
        if not len(x):
            return
        self.file.write(np.ascontiguousarray(x, dtype="<f4").tobytes())
        self.meter.push(x)
        self.frames += len(x)
        self.peak = max(self.peak, float(np.abs(x).max()))

    def close(self) -> None:
        self.file.close()

    def finish(self) -> Spool:
        self.close()
        return Spool(
            path=self.path,
            rate=self.rate,
            channels=self.channels,
            frames=self.frames,
            peak=self.peak,
            loudness=self.meter.integrated(),
            momentary=self.meter.momentary(),
        )

    def __enter__(self) -> SpoolWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
