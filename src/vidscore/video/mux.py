"""Put music into a clip: the picture copied bit for bit when the output container takes its
codec, re-encoded as H.264 otherwise; the sound is the mix of :mod:`vidscore.audio.mix`.

Everything streams: the picture packet by packet, the sound in blocks from the spools, with
audio encoded just ahead of the picture so the two are interleaved by time from the start. MP4
and MOV outputs put their index first (``faststart``), so a player can start before the end has
arrived. The sound track is exactly as long as the video.
"""

from __future__ import annotations

import io
import math
import os
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from typing import Literal

import av
import numpy as np

from vidscore.audio.mix import MixPlan, mix_blocks, plan_mix
from vidscore.audio.source import MIX_RATE
from vidscore.audio.spool import Spool
from vidscore.errors import OutputError
from vidscore.outputs import atomic_path, no_space
from vidscore.types import VideoInfo

FORMATS = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska"}
FASTSTART = {"mp4", "mov"}
AAC_FRAME = 1024
#: x264 settings for pictures that must be re-encoded: visually close to the source
H264_OPTIONS = {"crf": "18", "preset": "veryfast"}

Picture = Literal["copy", "encode"]


def check_container(out: str | os.PathLike) -> str:
    """The container format for ``out``'s extension, or OutputError (checked before any work)."""
    fmt = FORMATS.get(Path(out).suffix.lower())
    if fmt is None:
        raise OutputError(f"{out}: output must be .mp4, .mov or .mkv")
    return fmt


def picture_plan(video: str | os.PathLike, out: str | os.PathLike) -> Picture:
    """``copy`` when ``out``'s container takes the clip's picture codec as it is, else
    ``encode``: decided before any work by writing the header to memory."""
    fmt = check_container(out)
    with av.open(str(video)) as inp:
        try:
            with av.open(io.BytesIO(), "w", format=fmt) as probe_out:
                probe_out.add_stream_from_template(inp.streams.video[0])
                probe_out.start_encoding()
        except (av.FFmpegError, ValueError):
            return "encode"
    return "copy"


def mux(
    video: str | os.PathLike,
    music: Spool,
    out: str | os.PathLike,
    *,
    info: VideoInfo,
    original: Spool | None = None,
    original_gain_db: float = -12.0,
    duck_db: float = 6.0,
    picture: Picture = "copy",
    overwrite: bool = False,
) -> MixPlan:
    """Write ``out``: ``video``'s picture (copied or re-encoded) with ``music`` mixed over
    ``original`` (the clip's own spooled sound, None to leave it out) as AAC."""
    src, dst = Path(video), Path(out)
    fmt = check_container(dst)
    frames = round(info.duration * MIX_RATE)
    plan = plan_mix(
        music, original, frames=frames, original_gain_db=original_gain_db, duck_db=duck_db
    )
    with atomic_path(dst, overwrite=overwrite) as tmp:
        sound = mix_blocks(music, original, plan, frames=frames)
        try:
            _write(src, tmp, fmt, sound, picture)
        except av.FFmpegError as exc:
            if no_space(exc):
                raise  # atomic_path says it in one line, naming the full place
            raise OutputError(f"{dst}: cannot write the scored clip ({exc})") from exc
    return plan


class _SoundFeed:
    """Encodes the mix as AAC on demand, up to a given time, so audio keeps pace with video."""

    def __init__(self, container, blocks: Iterator[np.ndarray]) -> None:
        self.container = container
        self.stream = container.add_stream("aac", rate=MIX_RATE, layout="stereo")
        self.stream.time_base = Fraction(1, MIX_RATE)
        self.blocks = blocks
        self.buf = np.zeros((0, 2), np.float32)
        self.pts = 0
        self.done = False

    def until(self, seconds: float) -> None:
        while not self.done and self.pts < seconds * MIX_RATE:
            while len(self.buf) < AAC_FRAME:
                block = next(self.blocks, None)
                if block is None:
                    break
                self.buf = np.concatenate([self.buf, block])
            if not len(self.buf):
                self._flush()
                return
            take, self.buf = self.buf[:AAC_FRAME], self.buf[AAC_FRAME:]
            frame = av.AudioFrame.from_ndarray(
                np.ascontiguousarray(take.T), format="fltp", layout="stereo"
            )
            frame.sample_rate = MIX_RATE
            frame.pts = self.pts
            self.pts += frame.samples
            for p in self.stream.encode(frame):
                self.container.mux(p)

    def _flush(self) -> None:
        for p in self.stream.encode():
            self.container.mux(p)
        self.done = True

    def finish(self) -> None:
        self.until(math.inf)


def _write(src: Path, tmp: Path, fmt: str, sound: Iterator[np.ndarray], picture: Picture) -> None:
    options = {"movflags": "+faststart"} if fmt in FASTSTART else {}
    with av.open(str(src)) as inp, av.open(str(tmp), "w", format=fmt, options=options) as outc:
        vin = inp.streams.video[0]
        copy = picture == "copy"
        vout = outc.add_stream_from_template(vin) if copy else _h264_stream(outc, vin)
        feed = _SoundFeed(outc, sound)  # after the picture: stream 0 stays the picture
        (_copy_picture if copy else _encode_picture)(inp, vin, vout, outc, feed)
        feed.finish()


def _copy_picture(inp, vin, vout, outc, feed: _SoundFeed) -> None:
    start = vin.start_time or 0
    for packet in inp.demux(vin):
        if packet.dts is None:
            continue
        packet.stream = vout
        if start:
            packet.pts = None if packet.pts is None else packet.pts - start
            packet.dts -= start
        feed.until(float(packet.dts * vin.time_base))
        outc.mux(packet)


def _h264_stream(outc, vin):
    ctx = vin.codec_context
    rate = vin.average_rate or vin.guessed_rate or Fraction(25)
    vout = outc.add_stream("libx264", rate=rate, options=dict(H264_OPTIONS))
    vout.width, vout.height = ctx.width - ctx.width % 2, ctx.height - ctx.height % 2
    vout.pix_fmt = "yuv420p"
    vout.time_base = vin.time_base
    vout.codec_context.time_base = vin.time_base
    return vout


def _encode_picture(inp, vin, vout, outc, feed: _SoundFeed) -> None:
    start = vin.start_time or 0
    last = None
    for frame in inp.decode(vin):
        if frame.pts is None:
            continue
        pts = frame.pts - start
        if last is not None and pts <= last:
            continue  # a repeated timestamp would stop the encoder
        last = pts
        out = frame.reformat(width=vout.width, height=vout.height, format="yuv420p")
        out.pts, out.time_base = pts, vin.time_base
        for p in vout.encode(out):
            feed.until(float(p.dts * p.time_base) if p.dts is not None else 0.0)
            outc.mux(p)
    for p in vout.encode():
        outc.mux(p)
