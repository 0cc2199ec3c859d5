"""DISCO-MV-style paired video-music clips: the layout VMAs' video encoder trains on.

DISCO-MV (Lin et al. 2024, section 3) is 2.2 M web music videos (DISCO-10M and YouTube-8M ids,
CC BY 4.0), each video's soundtrack being its music (vocals removed with Demucs), filtered to
keep videos whose frames vary (mean pairwise frame similarity below 0.7). It is distributed as
ids, not files; whoever downloads it (or any paired collection) lays it out as

    ROOT/train/*.mp4   ROOT/val/*.mp4   ROOT/test/*.mp4   (any container FFmpeg reads)

and vidscore reads each video's picture and its sound as one pair. :func:`load_clip` runs the
project's single analysis pass (optical flow for the Eq. 3 video beats, plus the dense frames
the video encoder asks for) and decodes the sound at the codec's rate.

The paper's similarity filter used features it does not name; :func:`frame_similarity` uses the
Pearson correlation of small grey thumbnails (plain pixel cosine is near 1 for any two natural
images, so it would filter everything).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vidscore.errors import InputError

SPLITS = ("train", "val", "test")
VIDEO_SUFFIXES = (".mp4", ".mkv", ".mov", ".webm", ".avi")
SIMILARITY_LIMIT = 0.7  # the paper's filter: keep videos below it


@dataclass(frozen=True)
class PairedVideo:
    """One video of the layout: its id (file stem), split and path."""

    clip_id: str
    split: str
    path: Path


@dataclass
class PairedClip:
    """A decoded pair: frames for the video encoder, the flow curve, the music."""

    clip_id: str
    split: str
    frames: np.ndarray  # (T, S, S, 3) uint8, square, at the encoder's rate
    frame_times: np.ndarray  # (T,) seconds
    flow: np.ndarray  # (F,) optical-flow magnitude per decoded frame
    flow_times: np.ndarray  # (F,) seconds
    audio: np.ndarray  # (samples,) mono float32
    rate: int

    @property
    def duration(self) -> float:
        return len(self.audio) / self.rate


def scan(root: str | os.PathLike) -> list[PairedVideo]:
    """Every video under ``ROOT/{train,val,test}``, sorted; one clear error if there is none."""
    base = Path(root)
    if not base.is_dir():
        raise InputError(f"{base}: no such folder (expected ROOT/train, ROOT/val, ROOT/test)")
    found = [
        PairedVideo(p.stem, split, p)
        for split in SPLITS
        for p in sorted((base / split).glob("*"))
        if p.suffix.lower() in VIDEO_SUFFIXES and p.is_file()
    ]
    if not found:
        raise InputError(f"{base}: no videos in train/, val/ or test/")
    return found


def frame_similarity(frames: np.ndarray, side: int = 32) -> float:
    """Mean pairwise correlation of ``frames (T, H, W, 3)`` as grey ``side``-px thumbnails: near
    1 for a still or slide-show video, low for a varied one (NaN for fewer than two frames)."""
    import cv2

    if len(frames) < 2:
        return float("nan")
    thumbs = np.stack([
        cv2.resize(cv2.cvtColor(f, cv2.COLOR_RGB2GRAY), (side, side), interpolation=cv2.INTER_AREA)
        for f in frames
    ]).reshape(len(frames), -1).astype(np.float64)  # fmt: skip
    thumbs -= thumbs.mean(axis=1, keepdims=True)
    norm = np.linalg.norm(thumbs, axis=1, keepdims=True)
    z = thumbs / np.where(norm > 0, norm, 1.0)
    sim = z @ z.T
    n = len(z)
    return float((sim.sum() - np.trace(sim)) / (n * (n - 1)))


def square(frames: np.ndarray, size: int) -> np.ndarray:
    """Centre-crop ``frames (T, H, W, 3)`` to a square and resize it to ``size`` px."""
    import cv2

    if not len(frames):
        return np.zeros((0, size, size, 3), np.uint8)
    h, w = frames.shape[1:3]
    s = min(h, w)
    top, left = (h - s) // 2, (w - s) // 2
    crop = frames[:, top : top + s, left : left + s]
    return np.stack([cv2.resize(f, (size, size), interpolation=cv2.INTER_AREA) for f in crop])


def load_clip(item: PairedVideo, *, fps: float, size: int, rate: int) -> PairedClip:
    """Decode one pair: frames at ``fps`` (square, ``size`` px) and the flow curve in the one
    analysis pass, the sound as mono at ``rate``. Raises InputError if it has no sound."""
    from vidscore.features.analyze import AnalysisConfig, analyze
    from vidscore.video.io import FrameRequest, read_audio

    request = FrameRequest("vmas", fps=fps, max_side=max(size * 2, 64))
    features = analyze(item.path, AnalysisConfig(series=("flow",), frames=(request,)))
    sound = read_audio(item.path, rate=rate)
    if sound is None or not sound.shape[1]:
        raise InputError(f"{item.path}: no sound; a paired clip's soundtrack is its music")
    frames = features.frames["vmas"]
    flow = features["flow"]
    return PairedClip(
        item.clip_id, item.split, square(frames.images, size), np.asarray(frames.times),
        np.asarray(flow.values), np.asarray(flow.times), sound[0].astype(np.float32), rate,
    )  # fmt: skip
