"""What VMAs' decoder trains on: each rendered excerpt as codec tokens, a frame-rate condition
(its control curves and its beat pulse) and the Eq. 3-4 beat weights.

* Tokens: the excerpt through the codec (cached beside the renders, keyed by the codec's hash).
* Condition, per codec frame: the six control curves of the piece (the V-MusProd corpus builder
  computes and calibrates them per beat, :func:`vidscore.systems.vmusprod.data.load_pieces`),
  each frame taking its beat's values, the **beat pulse**: the frames whose onset strength
  is the maximum of a ``±window`` and above the excerpt's mean, and its **accent**: a decay of
  ``window`` frames from each pulse, so every frame knows how long ago the last beat was (to a
  count model that is worth four times the bare pulse, ``benchmarks/vmas_condition.py``). At
  compose time the pulse is VMAs' video beats, the window maxima of the optical-flow magnitude
  (:func:`pulse`), the strongest kept up to the training pulse's rate (:func:`pulse_rate`), so
  that the model puts strong onsets where the pulse is, once it has learnt to.
* Weights (Eq. 3-4): music beats are the detected onsets; their overlap with the pulse within
  ``±window`` frames gets weight 1, every other frame the floor.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from vidscore.curves.contract import CURVES
from vidscore.systems.vmas.alignment import beat_weights, window_peaks
from vidscore.systems.vmas.renders import Render

PULSE = len(CURVES)  # the condition's columns: the six curves, the beat pulse, its accent
COND_DIM = len(CURVES) + 2


@dataclass
class Clip:
    """One excerpt as the decoder reads it (``T`` codec frames)."""

    piece_id: str
    split: str
    codes: np.ndarray  # (K, T) int64
    cond: np.ndarray  # (T, COND_DIM) float32
    onsets: np.ndarray  # (T,) 0/1: music beats (detected onsets)


def pulse(strength: np.ndarray, window: int, count: int | None = None) -> np.ndarray:
    """The beat pulse of a frame-rate strength curve (onset strength from music, optical-flow
    magnitude from video): 1 at window maxima above the curve's mean or, given ``count``, at
    the ``count`` strongest window maxima (fewer where the curve has fewer)."""
    x = np.asarray(strength, dtype=np.float64)
    if not len(x):
        return np.zeros(0, np.float32)
    peaks = window_peaks(x, window).astype(bool)
    if count is None:
        return (peaks & (x > x.mean())).astype(np.float32)
    at = np.flatnonzero(peaks)
    keep = at[np.argsort(-x[at], kind="stable")[: max(0, count)]]
    out = np.zeros(len(x), np.float32)
    out[keep] = 1.0
    return out


def pulse_rate(clips: list[Clip], frame_rate: float) -> float:
    """Mean beat pulses per second over ``clips``: the rate a video's pulse is calibrated to."""
    frames = sum(len(c.cond) for c in clips)
    return float(sum(c.cond[:, PULSE].sum() for c in clips) * frame_rate / max(frames, 1))


def beat_condition(beats: np.ndarray, window: int) -> np.ndarray:
    """``(T, 2)``: the 0/1 beat pulse and its accent, ``exp(-frames since the last pulse /
    window)`` (0 before the first pulse)."""
    beats = np.asarray(beats, dtype=np.float32)
    idx = np.where(beats > 0, np.arange(len(beats)), -1)
    last = np.maximum.accumulate(idx) if len(idx) else idx
    accent = np.where(last >= 0, np.exp(-(np.arange(len(beats)) - last) / window), 0.0)
    return np.stack([beats, accent.astype(np.float32)], axis=1)


def moved_pulse(cond: np.ndarray, frame_rate: float, window: int, seed: int = 0) -> np.ndarray:
    """``cond`` with its beat pulse moved in one-second blocks (its accent redrawn): the same
    curves and number of beats, elsewhere. Beat guidance's contrast and the benchmarks'
    ablation."""
    out = np.array(cond, dtype=np.float32, copy=True)
    n = max(1, round(frame_rate))
    blocks = [out[i : i + n, PULSE].copy() for i in range(0, len(out), n)]
    order = np.random.default_rng(seed).permutation(len(blocks))
    moved = np.concatenate([blocks[i] for i in order])[: len(out)] if blocks else out[:, PULSE]
    out[:, PULSE:] = beat_condition(moved, window)
    return out


def onset_frames(
    audio: np.ndarray, rate: int, hop: int, frames: int
) -> tuple[np.ndarray, np.ndarray]:
    """(onset strength, detected onsets 0/1), both ``frames`` long at the codec's frame rate."""
    import librosa

    env = librosa.onset.onset_strength(y=audio, sr=rate, hop_length=hop)
    hits = librosa.onset.onset_detect(onset_envelope=env, sr=rate, hop_length=hop)
    env = np.pad(env, (0, max(0, frames - len(env))))[:frames]
    on = np.zeros(frames, np.float32)
    on[hits[hits < frames]] = 1.0
    return env.astype(np.float32), on


def curves_per_frame(
    cond: np.ndarray, beat_seconds: np.ndarray, start: float, frames: int, frame_rate: float
) -> np.ndarray:
    """``(frames, len(CURVES))``: the per-beat curves ``cond`` in force at each frame of an
    excerpt starting ``start`` seconds into the piece."""
    t = start + np.arange(frames) / frame_rate
    idx = np.clip(np.searchsorted(beat_seconds, t, side="right") - 1, 0, len(cond) - 1)
    return cond[idx].astype(np.float32)


def weights_of(clip: Clip, window: int, floor: float) -> np.ndarray:
    """Eq. 4's weights of a clip: its onsets against its pulse (condition column ``PULSE``)."""
    return beat_weights(clip.onsets, clip.cond[:, PULSE], window, floor)


def build_clips(
    renders: list[Render],
    codec,
    curves: dict[str, tuple[np.ndarray, np.ndarray, float]],
    *,
    window: int,
    cache: str | os.PathLike | None,
    codec_sha: str,
) -> list[Clip]:
    """Clips of the renders whose piece has curves (``piece_id -> (cond per beat, beat
    seconds, excerpt start)``); codes are cached under ``cache`` by the codec's hash."""
    use = [r for r in renders if r.piece_id in curves]
    codes = _codes(use, codec, cache, codec_sha)
    hop = round(codec.sample_rate / codec.frame_rate)
    out = []
    for r, c in zip(use, codes, strict=True):
        frames = c.shape[1]
        env, on = onset_frames(r.audio, r.rate, hop, frames)
        cond, beats, start = curves[r.piece_id]
        per_frame = curves_per_frame(cond, beats, start, frames, codec.frame_rate)
        full = np.concatenate([per_frame, beat_condition(pulse(env, window), window)], axis=1)
        out.append(Clip(r.piece_id, r.split, c.astype(np.int64), full, on))
    return out


def _codes(renders: list[Render], codec, cache, codec_sha: str) -> list[np.ndarray]:
    key = hashlib.sha256((codec_sha + "".join(r.piece_id for r in renders)).encode()).hexdigest()
    file = Path(cache) / f"vmas-codes-{key[:16]}.npy" if cache is not None else None
    if file is not None and file.is_file():
        return list(np.load(file))
    out = []
    for i in range(0, len(renders), 16):
        batch = torch.from_numpy(np.stack([r.audio for r in renders[i : i + 16]]))
        out += list(codec.encode(batch).numpy().astype(np.int16))
    if file is not None:
        from vidscore.outputs import atomic_path

        file.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(file, overwrite=True, suffix=".npy") as tmp:
            np.save(tmp, np.stack(out))
    return out
