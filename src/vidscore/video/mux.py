"""Put music into a clip: the picture stream is copied (never re-encoded), the sound is new.

The music sits under the clip's own sound: the original is kept at ``original_gain_db`` (default
-12 dB) and the music is ducked by up to ``duck_db`` where the original is louder than its median
(speech, effects), with a 0.3 s smoothing. ``replace_audio`` drops the original. The sound track is
exactly as long as the video.
"""

from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from vidscore.errors import OutputError
from vidscore.outputs import atomic_path
from vidscore.video.io import probe, read_audio

MIX_RATE = 48000
FORMATS = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska"}


def _original_audio(path: Path, n: int) -> np.ndarray | None:
    """The clip's own sound as ``(n, 2)`` float32 at MIX_RATE, or None; a damaged sound track
    keeps what decoded (it must not stop the music)."""
    x = read_audio(path, rate=MIX_RATE, layout="stereo")
    if x is None:
        return None
    y = np.zeros((n, 2), dtype=np.float32)
    m = min(n, x.shape[1])
    y[:m] = x[:, :m].T
    return y


def _envelope(x: np.ndarray, win: int) -> np.ndarray:
    """Centred moving RMS over ``win`` samples (cumulative sums: linear in the length)."""
    power = np.concatenate([[0.0], np.cumsum((x.astype(np.float64) ** 2).mean(axis=1))])
    n = len(x)
    lo = np.clip(np.arange(n) - win // 2, 0, n)
    hi = np.clip(np.arange(n) + win // 2 + 1, 0, n)
    return np.sqrt((power[hi] - power[lo]) / np.maximum(hi - lo, 1))


def mix(
    music: np.ndarray,
    original: np.ndarray | None,
    *,
    original_gain_db: float = -12.0,
    duck_db: float = 6.0,
) -> np.ndarray:
    """Music ``(n,)`` or ``(n, 2)`` under the original ``(n, 2)``; returns ``(n, 2)`` in [-1, 1]."""
    m = music if music.ndim == 2 else np.repeat(music[:, None], 2, axis=1)
    if original is None:
        return np.clip(m, -1, 1).astype(np.float32)
    g = 10 ** (original_gain_db / 20)
    env = _envelope(original, int(0.3 * MIX_RATE))
    ref = np.median(env) + 1e-9
    loud = np.clip((env / ref - 1.0), 0.0, 1.0)  # 0 at or below median, 1 at twice the median
    duck = 10 ** (-duck_db * loud / 20)
    out = m * duck[:, None] + g * original
    peak = np.abs(out).max()
    if peak > 1.0:
        out /= peak
    return out.astype(np.float32)


def check_container(out: str | os.PathLike) -> str:
    """The container format for ``out``'s extension, or OutputError (checked before any work)."""
    fmt = FORMATS.get(Path(out).suffix.lower())
    if fmt is None:
        raise OutputError(f"{out}: output must be .mp4, .mov or .mkv")
    return fmt


def mux(
    video: str | os.PathLike,
    music: np.ndarray,
    sample_rate: int,
    out: str | os.PathLike,
    *,
    original_gain_db: float = -12.0,
    replace_audio: bool = False,
    overwrite: bool = False,
) -> None:
    """Write ``out``: ``video``'s picture stream copied, the mixed sound encoded as AAC."""
    src, dst = Path(video), Path(out)
    fmt = check_container(dst)
    info = probe(src)
    n = round(info.duration * MIX_RATE)
    if sample_rate != MIX_RATE:
        import librosa

        music = librosa.resample(
            np.asarray(music, dtype=np.float32), orig_sr=sample_rate, target_sr=MIX_RATE
        )
    track = np.zeros(n, dtype=np.float32)
    track[: min(n, len(music))] = music[:n]
    original = None if replace_audio else _original_audio(src, n)
    audio = mix(track, original, original_gain_db=original_gain_db)
    with atomic_path(dst, overwrite=overwrite) as tmp:
        try:
            _write(src, tmp, fmt, audio)
        except (av.FFmpegError, ValueError) as exc:
            raise OutputError(
                f"{dst}: cannot copy this clip's {info.codec} picture into {dst.suffix} "
                f"({exc}); try an .mkv output"
            ) from exc


def _write(src: Path, tmp: Path, fmt: str, audio: np.ndarray) -> None:
    with av.open(str(src)) as inp, av.open(str(tmp), "w", format=fmt) as outc:
        vin = inp.streams.video[0]
        vout = outc.add_stream_from_template(vin)
        aout = outc.add_stream("aac", rate=MIX_RATE, layout="stereo")
        aout.time_base = Fraction(1, MIX_RATE)
        start = vin.start_time or 0
        for packet in inp.demux(vin):
            if packet.dts is None:
                continue
            packet.stream = vout
            if start:
                packet.pts = None if packet.pts is None else packet.pts - start
                packet.dts -= start
            outc.mux(packet)
        planar = np.ascontiguousarray(audio.T)
        pts = 0
        for i in range(0, planar.shape[1], 1024):
            frame = av.AudioFrame.from_ndarray(
                planar[:, i : i + 1024].copy(), format="fltp", layout="stereo"
            )
            frame.sample_rate = MIX_RATE
            frame.pts = pts
            pts += frame.samples
            for p in aout.encode(frame):
                outc.mux(p)
        for p in aout.encode():
            outc.mux(p)
