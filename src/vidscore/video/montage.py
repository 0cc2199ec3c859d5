"""Build test and demo videos whose cut times are known exactly.

``build_montage`` splices segments of real clips (scaled, looped) at chosen frame counts, so tests
and benchmarks can check cut detection against ground truth at any length. ``synth_clip`` draws
a clip from nothing (coloured scenes with moving shapes), so the README's demo works for users
who have no clip at hand.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

from vidscore.outputs import atomic_path


def _loop_frames(path: str, width: int, height: int) -> Iterator[np.ndarray]:
    """Frames of ``path`` at ``width`` x ``height`` RGB, looping forever."""
    while True:
        n = 0
        with av.open(path) as c:
            stream = c.streams.video[0]
            stream.thread_type = "AUTO"
            for f in c.decode(stream):
                n += 1
                yield f.to_ndarray(width=width, height=height, format="rgb24")
        if n == 0:
            raise ValueError(f"{path}: no frames")


def _open_writer(
    path: Path,
    width: int,
    height: int,
    fps: int,
    codec: str,
    pix_fmt: str,
    crf: int | None,
    fmt: str | None = None,
):
    out = av.open(str(path), mode="w", format=fmt)
    stream = out.add_stream(codec, rate=fps)
    stream.width, stream.height, stream.pix_fmt = width, height, pix_fmt
    stream.time_base = Fraction(1, fps)
    opts = {}
    if codec in ("libx264", "libx265"):
        opts = {"preset": "ultrafast", "crf": str(crf if crf is not None else 23)}
        if codec == "libx265":
            opts["x265-params"] = "log-level=error"
    elif codec in ("libvpx-vp9", "libvpx"):
        opts = {"deadline": "realtime", "cpu-used": "8", "b": "1M"}
    stream.options = opts
    return out, stream


def _encode(out, stream, rgb: np.ndarray, pts: int) -> None:
    frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
    frame.pts = pts
    for packet in stream.encode(frame):
        out.mux(packet)


def build_montage(
    sources: Sequence[str | os.PathLike],
    out: str | os.PathLike,
    *,
    segments: Sequence[float],
    size: tuple[int, int] = (640, 360),
    fps: int = 25,
    codec: str = "libx264",
    pix_fmt: str = "yuv420p",
    crf: int | None = None,
    overwrite: bool = False,
) -> list[float]:
    """Splice ``len(segments)`` pieces (durations in seconds) of ``sources`` in turn into ``out``.

    Each piece continues its source where that source's previous piece ended (looping at the
    end), so no two pieces show the same frames. Returns the splice times in seconds: the
    presentation time of the first frame of every piece after the first.
    """
    width, height = size
    gens = [_loop_frames(str(s), width, height) for s in sources]
    splices: list[float] = []
    pts = 0
    with atomic_path(out, overwrite=overwrite) as tmp:
        container, stream = _open_writer(
            tmp, width, height, fps, codec, pix_fmt, crf, fmt=_format_for(Path(out))
        )
        with container:
            for i, seconds in enumerate(segments):
                if i:
                    splices.append(pts / fps)
                for _ in range(round(seconds * fps)):
                    _encode(container, stream, next(gens[i % len(gens)]), pts)
                    pts += 1
            for packet in stream.encode():
                container.mux(packet)
    return splices


def _format_for(path: Path) -> str | None:
    """Container name from the final suffix (the temporary file's suffix may differ)."""
    return {".mkv": "matroska", ".webm": "webm", ".mov": "mov", ".avi": "avi", ".mp4": "mp4"}.get(
        path.suffix.lower()
    )


def synth_clip(
    out: str | os.PathLike,
    *,
    scenes: Sequence[float] = (3.0, 2.5, 3.5, 3.0),
    size: tuple[int, int] = (640, 360),
    fps: int = 25,
    seed: int = 0,
    overwrite: bool = False,
) -> list[float]:
    """Draw a clip of coloured scenes with moving shapes; return its cut times in seconds."""
    rng = np.random.default_rng(seed)
    width, height = size
    cuts: list[float] = []
    pts = 0
    with atomic_path(out, overwrite=overwrite) as tmp:
        container, stream = _open_writer(
            tmp, width, height, fps, "libx264", "yuv420p", 23, fmt=_format_for(Path(out))
        )
        with container:
            for i, seconds in enumerate(scenes):
                if i:
                    cuts.append(pts / fps)
                top, bottom = rng.integers(0, 256, 3), rng.integers(0, 256, 3)
                ramp = np.linspace(0, 1, height)[:, None, None]
                background = ((1 - ramp) * top + ramp * bottom).astype(np.uint8)
                background = np.repeat(background, width, axis=1)
                shapes = [
                    (
                        rng.uniform(0, width),
                        rng.uniform(0, height),
                        rng.uniform(-6, 6) * (i + 1),
                        rng.uniform(-4, 4) * (i + 1),
                        int(rng.integers(15, 60)),
                        tuple(int(c) for c in rng.integers(0, 256, 3)),
                    )
                    for _ in range(6)
                ]
                for k in range(round(seconds * fps)):
                    img = background.copy()
                    for x, y, vx, vy, r, colour in shapes:
                        cx = int((x + vx * k) % width)
                        cy = int((y + vy * k) % height)
                        cv2.circle(img, (cx, cy), r, colour, -1)
                    _encode(container, stream, img, pts)
                    pts += 1
            for packet in stream.encode():
                container.mux(packet)
    return cuts
