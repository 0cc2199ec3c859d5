"""Probe and stream-decode videos with PyAV, in bounded memory whatever their length.

Each consumer asks for frames with a :class:`FrameRequest` (a rate and a size); one decode pass
serves every request, converting a frame only for the requests due at its timestamp. Timestamps
come from the stream's presentation times, so variable-frame-rate files keep true times, and the
display rotation stored in the file is applied to every delivered frame.
"""

from __future__ import annotations

import math
import os
import queue
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import av
import numpy as np

from vidscore.audio.windows import WindowSums
from vidscore.errors import CorruptVideoError, InputError, NotAVideoError, UnsupportedVideoError
from vidscore.types import VideoInfo

#: Largest frame we accept (8K UHD). Bigger frames are refused rather than risking memory.
MAX_PIXELS = 7680 * 4320
MAX_SIDE = 8192
#: Demuxers that open still images; a picture renamed to .mp4 must not pass as a video.
IMAGE_FORMATS = {"image2", "png_pipe", "jpeg_pipe", "bmp_pipe", "webp_pipe", "gif", "tiff_pipe"}


@dataclass(frozen=True)
class FrameRequest:
    """Frames one consumer wants: every frame (``fps=None``) or ``fps`` per second, at most
    ``max_side`` pixels on the longer side (never upscaled), RGB or grey. ``interpolation`` is
    swscale's scaler: AREA is the cleanest downscale; FAST_BILINEAR is twice as fast, for the
    every-frame streams where only coarse statistics are taken."""

    name: str
    fps: float | None = None
    max_side: int = 256
    gray: bool = False
    interpolation: str = "AREA"


@dataclass
class Frame:
    """One decoded frame: its index in the stream, its time in seconds, and the images due now."""

    index: int
    time: float
    images: dict[str, np.ndarray] = field(default_factory=dict)


def _check_file(path: Path) -> None:
    if not path.exists():
        raise InputError(f"{path}: no such file")
    if path.is_dir():
        raise InputError(f"{path}: is a directory, not a video (use --out-dir for many clips)")
    if not os.access(path, os.R_OK):
        raise InputError(f"{path}: cannot be read (permission denied)")
    if path.stat().st_size == 0:
        raise InputError(f"{path}: is empty (0 bytes)")


def _open(path: Path) -> av.container.InputContainer:
    try:
        return av.open(str(path), mode="r")
    except (av.FFmpegError, UnicodeDecodeError, ValueError) as exc:
        raise NotAVideoError(f"{path}: not a readable video ({_reason(exc)})") from exc


def _reason(exc: BaseException) -> str:
    msg = getattr(exc, "strerror", None) or str(exc)
    return msg.split(":")[0].strip() if msg else type(exc).__name__


def _display_size(width: int, height: int, rotation: int) -> tuple[int, int]:
    return (height, width) if rotation % 180 else (width, height)


def probe(path: str | os.PathLike) -> VideoInfo:
    """Read the header and first frame; raise :class:`InputError` for anything unusable."""
    p = Path(path)
    _check_file(p)
    with _open(p) as container:
        if container.format.name in IMAGE_FORMATS:
            raise NotAVideoError(f"{p}: is a still image ({container.format.name}), not a video")
        if not container.streams.video:
            kind = "audio-only file" if container.streams.audio else "file with no video stream"
            raise NotAVideoError(f"{p}: is an {kind}; vidscore needs a picture")
        stream = container.streams.video[0]
        ctx = stream.codec_context
        width, height = int(ctx.width or 0), int(ctx.height or 0)
        if width <= 0 or height <= 0:
            raise CorruptVideoError(f"{p}: video stream has no frame size (corrupt header)")
        if width * height > MAX_PIXELS or max(width, height) > MAX_SIDE:
            raise UnsupportedVideoError(
                f"{p}: {width}x{height} is larger than vidscore accepts (8K, {MAX_SIDE} px a side)"
            )
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        fps = float(rate) if rate else 0.0
        duration = 0.0
        if stream.duration is not None and stream.time_base is not None:
            duration = float(stream.duration * stream.time_base)
        if duration <= 0 and container.duration:
            duration = container.duration / av.time_base
        first = _first_frame(container, stream, p)
        rotation = round(first.rotation or 0) % 360
        n_frames = int(stream.frames or 0) or round(duration * fps)
        if n_frames < 2 or duration <= 0 or fps <= 0:
            raise UnsupportedVideoError(
                f"{p}: has a single frame or no duration; vidscore needs a moving picture"
            )
        base = stream.base_rate
        vfr = bool(base and rate and abs(float(base) - float(rate)) > 0.01 * float(rate))
        pix_fmt = ctx.pix_fmt or first.format.name
        try:
            bit_depth = int(av.VideoFormat(pix_fmt).components[0].bits)
        except (ValueError, av.FFmpegError, IndexError):
            bit_depth = 8
        audio = container.streams.audio[0] if container.streams.audio else None
        w, h = _display_size(width, height, rotation)
        return VideoInfo(
            path=str(p),
            container=container.format.name,
            codec=ctx.name,
            pix_fmt=pix_fmt,
            bit_depth=bit_depth,
            width=w,
            height=h,
            rotation=rotation,
            fps=fps,
            duration=duration,
            n_frames=n_frames,
            has_audio=audio is not None,
            audio_codec=audio.codec_context.name if audio is not None else None,
            variable_frame_rate=vfr,
        )


def _first_frame(container, stream, path: Path) -> av.VideoFrame:
    try:
        for frame in container.decode(stream):
            return frame
    except av.FFmpegError as exc:
        raise CorruptVideoError(f"{path}: video stream cannot be decoded ({_reason(exc)})") from exc
    raise CorruptVideoError(f"{path}: video stream holds no decodable frame")


def fit_size(width: int, height: int, max_side: int) -> tuple[int, int]:
    """Size with the same aspect, longer side at most ``max_side``, both sides even and >= 2."""
    scale = min(1.0, max_side / max(width, height))
    w = max(2, round(width * scale / 2) * 2)
    h = max(2, round(height * scale / 2) * 2)
    return w, h


class _Schedule:
    """Picks, for one request, the first frame at or after each multiple of 1/fps."""

    def __init__(self, fps: float | None) -> None:
        self.step = 1.0 / fps if fps else 0.0
        self.next_due = 0.0

    def due(self, t: float) -> bool:
        if not self.step:
            return True
        if t + 1e-6 < self.next_due:
            return False
        self.next_due = (math.floor((t + 1e-6) / self.step) + 1) * self.step
        return True


def iter_frames(
    path: str | os.PathLike,
    requests: Iterable[FrameRequest],
    *,
    info: VideoInfo | None = None,
    prefetch: int = 8,
) -> Iterator[Frame]:
    """Decode ``path`` once and yield each frame for which some request is due.

    Images are ``(H, W, 3)`` uint8 RGB, or ``(H, W)`` uint8 for grey requests, already rotated
    for display. With ``prefetch > 0`` decoding and scaling run in a background thread at most
    ``prefetch`` frames ahead of the consumer (FFmpeg and swscale release the GIL, so the two
    overlap on two cores); memory stays bounded either way. Raises
    :class:`CorruptVideoError` when the stream breaks off or ends well before its stated duration.
    """
    p = Path(path)
    info = info or probe(p)
    frames = _decode(p, list(requests), info)
    return _prefetched(frames, prefetch) if prefetch > 0 else frames


_DONE = object()


def _prefetched(frames: Iterator[Frame], size: int) -> Iterator[Frame]:
    """Run ``frames`` in a daemon thread through a queue of ``size``; re-raise its errors here."""
    q: queue.Queue = queue.Queue(maxsize=size)
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in frames:
                while not stop.is_set():
                    try:
                        q.put(item, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            q.put(_DONE)
        except BaseException as exc:  # handed to the consumer, raised there
            q.put(exc)
        finally:
            frames.close()

    thread = threading.Thread(target=produce, name="vidscore-decode", daemon=True)
    thread.start()
    try:
        while True:
            item = q.get()
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        thread.join(timeout=5)


def _decode(p: Path, reqs: list[FrameRequest], info: VideoInfo) -> Iterator[Frame]:
    """The decode loop behind :func:`iter_frames`."""
    schedules = [_Schedule(r.fps) for r in reqs]
    k = (info.rotation // 90) % 4
    sizes = {}
    for r in reqs:
        w, h = fit_size(info.width, info.height, r.max_side)
        sizes[r.name] = _display_size(w, h, info.rotation)  # size to ask swscale for (coded axes)
    last_t = -1.0
    index = -1
    with _open(p) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        start = float(stream.start_time * stream.time_base) if stream.start_time else 0.0
        try:
            for vf in container.decode(stream):
                index += 1
                t = (float(vf.time) - start) if vf.time is not None else index / info.fps
                if t <= last_t:  # guard against repeated / unordered timestamps
                    t = last_t + 1.0 / max(info.fps, 1.0)
                last_t = t
                due = [r for r, s in zip(reqs, schedules, strict=False) if s.due(t)]
                if not due:
                    continue
                images = {}
                for r in due:
                    w, h = sizes[r.name]
                    fmt = "gray" if r.gray else "rgb24"
                    img = vf.to_ndarray(
                        width=w, height=h, format=fmt, interpolation=r.interpolation
                    )
                    if k:
                        img = np.ascontiguousarray(np.rot90(img, k))
                    images[r.name] = img
                yield Frame(index=index, time=t, images=images)
        except av.FFmpegError as exc:
            raise CorruptVideoError(
                f"{p}: video stream is corrupt at {max(last_t, 0):.2f} s ({_reason(exc)})"
            ) from exc
    if index < 1:
        raise CorruptVideoError(f"{p}: fewer than two frames could be decoded")
    end = last_t + 1.0 / info.fps
    if end < 0.9 * info.duration - 1.0:
        raise CorruptVideoError(
            f"{p}: stream ends at {end:.2f} s, header says {info.duration:.2f} s (truncated?)"
        )


def thumbnails(
    path: str | os.PathLike,
    times: Iterable[float],
    *,
    max_side: int = 160,
    info: VideoInfo | None = None,
) -> list[tuple[float, np.ndarray]]:
    """One RGB frame at or just after each of ``times`` (seconds), found by seeking to the key
    frame before it, so a picture strip of a long clip costs a few GOPs, not a decode pass.
    Returns ``(time shown, image)`` pairs; a time past the last frame gives none."""
    p = Path(path)
    info = info or probe(p)
    w, h = _display_size(*fit_size(info.width, info.height, max_side), info.rotation)
    k = (info.rotation // 90) % 4
    out = []
    with _open(p) as container:
        stream = container.streams.video[0]
        start = float(stream.start_time * stream.time_base) if stream.start_time else 0.0
        for want in sorted(times):
            try:
                container.seek(int((want + start) / stream.time_base), stream=stream)
                for vf in container.decode(stream):
                    t = float(vf.time) - start if vf.time is not None else want
                    if t + 0.5 / max(info.fps, 1.0) >= want:
                        img = vf.to_ndarray(width=w, height=h, format="rgb24", interpolation="AREA")
                        out.append((t, np.ascontiguousarray(np.rot90(img, k)) if k else img))
                        break
            except av.FFmpegError as exc:
                raise CorruptVideoError(
                    f"{p}: no picture at {want:.2f} s ({_reason(exc)})"
                ) from exc
    return out


def decode_all(path: str | os.PathLike) -> int:
    """Decode every frame and discard it: the baseline the benchmarks compare against."""
    n = 0
    with _open(Path(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        for _ in container.decode(stream):
            n += 1
    return n


@dataclass
class SoundDamage:
    """What :func:`iter_audio` had to skip: packets that would not decode (their time is filled
    with silence, so the rest stays in sync) and whether the stream broke off early."""

    packets: int = 0
    skipped: int = 0
    skipped_seconds: float = 0.0
    broken_at: float | None = None

    def __str__(self) -> str:
        parts = []
        if self.skipped:
            parts.append(
                f"{self.skipped} of {self.packets} sound packets could not be decoded "
                f"({self.skipped_seconds:.2f} s replaced by silence)"
            )
        if self.broken_at is not None:
            parts.append(f"the sound breaks off at {self.broken_at:.2f} s")
        return "; ".join(parts)


#: a decoded frame this far after the sound so far (seconds) means packets were lost before it
GAP_TOLERANCE = 0.02


def iter_audio(
    path: str | os.PathLike,
    *,
    rate: int,
    layout: str = "mono",
    strict: bool = False,
    damage: SoundDamage | None = None,
) -> Iterator[np.ndarray]:
    """The first audio stream, resampled, as ``(channels, samples)`` float32 chunks; nothing if
    the file has no sound. A packet that does not decode is skipped as FFmpeg does and its time
    filled with silence; a stream that breaks off ends the chunks. Either is counted in
    ``damage``, or with ``strict`` raises :class:`CorruptVideoError`. One chunk is held at a
    time."""
    p = Path(path)
    damage = damage if damage is not None else SoundDamage()
    with _open(p) as container:
        if not container.streams.audio:
            return
        stream = container.streams.audio[0]
        # time zero is the picture's start, as in the muxed output (else the sound's own start)
        ref = container.streams.video[0] if container.streams.video else stream
        start = float(ref.start_time * ref.time_base) if ref.start_time else 0.0
        channels = 1 if layout == "mono" else 2
        resampler = av.AudioResampler(format="fltp", layout=layout, rate=rate)
        emitted = 0  # samples handed out so far

        def chunks(frames) -> Iterator[np.ndarray]:
            nonlocal emitted
            for frame in frames:
                if frame is not None and frame.time is not None:
                    gap = round((frame.time - start) * rate) - emitted
                    if gap > GAP_TOLERANCE * rate:
                        emitted += gap
                        if damage.skipped:
                            damage.skipped_seconds += gap / rate
                        yield np.zeros((channels, gap), dtype=np.float32)
                for out in resampler.resample(frame):
                    x = out.to_ndarray()
                    emitted += x.shape[1]
                    yield x

        packets = container.demux(stream)
        while True:
            try:
                packet = next(packets)
            except StopIteration:
                break
            except av.FFmpegError as exc:
                if strict:
                    reason = _reason(exc)
                    raise CorruptVideoError(f"{p}: sound stream is corrupt ({reason})") from exc
                damage.broken_at = emitted / rate
                break
            damage.packets += packet.size > 0
            try:
                frames = packet.decode()
            except av.FFmpegError as exc:
                if strict:
                    raise CorruptVideoError(
                        f"{p}: sound packet at {emitted / rate:.2f} s cannot be decoded "
                        f"({_reason(exc)})"
                    ) from exc
                damage.skipped += 1
                continue
            yield from chunks(frames)
        yield from chunks([None])  # flush the resampler


def read_audio(
    path: str | os.PathLike, *, rate: int, layout: str = "mono", strict: bool = False
) -> np.ndarray | None:
    """The whole sound as ``(channels, samples)`` float32 (see :func:`iter_audio`); None if the
    file has none."""
    chunks = list(iter_audio(path, rate=rate, layout=layout, strict=strict))
    return np.concatenate(chunks, axis=1) if chunks else None


def window_rms(chunks: Iterable[np.ndarray], hop: int) -> np.ndarray:
    """RMS over consecutive windows of ``hop`` samples of ``(channels, n)`` chunks, the channels
    averaged first (the last window may be shorter); streams, holding one chunk at a time."""
    squares = WindowSums(hop)
    for chunk in chunks:
        squares.add(np.asarray(chunk, dtype=np.float64).mean(axis=0) ** 2)
    return np.sqrt(squares.means()).astype(np.float32)


def audio_rms(
    path: str | os.PathLike, *, rate: float = 1.0, sample_rate: int = 48000
) -> np.ndarray:
    """RMS of the first audio stream (stereo at ``sample_rate``, channels averaged, as the mix
    spools it) in windows of ``1/rate`` s; empty if there is none. A damaged audio track only
    loses the sound-energy cue, not the analysis."""
    chunks = iter_audio(path, rate=sample_rate, layout="stereo")
    return window_rms(chunks, round(sample_rate / rate))
