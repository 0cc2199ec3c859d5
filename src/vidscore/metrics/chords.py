"""Chord prediction measures Video2Music reports: Hits@k, emotion correspondence, RMSE.

* Hits@k: share of steps whose true chord is among the model's k most likely (teacher-forced);
  Video2Music computes it per video and averages over videos.
* Emotion correspondence: share of chords whose quality Video2Music's table allows for the
  emotion of their step (neutral allows none, so neutral steps are left out).
* RMSE of the biGRU's note density and loudness against the music's.
"""

from __future__ import annotations

import numpy as np

from vidscore.music.chords import Chord
from vidscore.music.emotion import EMOTION_QUALITIES


def hits_at_k(logits: np.ndarray, targets: np.ndarray, ks=(1, 3, 5)) -> dict[str, float]:
    """``logits (L, V)``, ``targets (L,)`` -> ``{"hits@k": share}``."""
    logits = np.asarray(logits)
    targets = np.asarray(targets)
    if len(targets) == 0:
        return {f"hits@{k}": float("nan") for k in ks}
    order = np.argsort(-logits, axis=1)
    return {f"hits@{k}": float(np.mean((order[:, :k] == targets[:, None]).any(axis=1))) for k in ks}


def emotion_correspondence(chords: list[Chord], emotions: list[str]) -> float:
    """Share of chords (N and neutral steps excluded) whose quality suits the step's emotion."""
    pairs = [
        (c, e)
        for c, e in zip(chords, emotions, strict=True)
        if c.root is not None and EMOTION_QUALITIES[e]
    ]
    if not pairs:
        return float("nan")
    return float(np.mean([c.quality in EMOTION_QUALITIES[e] for c, e in pairs]))


def rmse(predicted: np.ndarray, actual: np.ndarray) -> float:
    p, a = np.asarray(predicted, float), np.asarray(actual, float)
    n = min(len(p), len(a))
    if n == 0:
        return float("nan")
    return float(np.sqrt(np.mean((p[:n] - a[:n]) ** 2)))
