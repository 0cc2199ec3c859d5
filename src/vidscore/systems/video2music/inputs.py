"""The AMT's and biGRU's input rows, one per chord step, built one way for training and compose.

One row per step::

    [semantic (semantic_dim, may be 0), activity, intensity, boundary, accent, valence, register,
     offset, present, six emotion probabilities]

* the six control curves (:mod:`vidscore.curves`), merged over the step's beats: from the
  target music at training, from the clip at compose time;
* offset: steps since the last boundary / 8, capped at 1 (Video2Music's scene offset, counted on
  the same boundaries);
* present: 1; 0 on the null condition (every column 0), which training puts in place of the
  controls at random so the model also composes unconditioned and guidance can strengthen them;
* emotion: Video2Music's six classes, from the step's own valence and intensity through the
  circumplex the video side uses (:func:`curve_emotion`; no smoothing across steps); a forced
  ``--emotion`` is one-hot.
"""

from __future__ import annotations

import numpy as np

from vidscore.curves.contract import CURVES
from vidscore.errors import UsageError
from vidscore.features.affect import emotion_probabilities
from vidscore.systems.common.plan import PieceSetup, slot_means
from vidscore.types import VideoFeatures

OFFSET_STEPS = 8.0
EMOTION_TEMPERATURE = 0.15
#: columns after the semantic part: the curves, offset, present, six emotions
FIXED_COLUMNS = len(CURVES) + 2 + 6
#: column of each named input inside the fixed part
COLUMN = {name: k for k, name in enumerate([*CURVES, "offset", "present"])}


def offsets(boundary: np.ndarray) -> np.ndarray:
    """Steps since the last step holding a boundary (the first step counts as one) -> 0..1."""
    out = np.zeros(len(boundary))
    last = 0
    for i, b in enumerate(np.asarray(boundary) > 0.5):
        if b:
            last = i
        out[i] = i - last
    return np.minimum(out, OFFSET_STEPS) / OFFSET_STEPS


def curve_emotion(valence: np.ndarray, intensity: np.ndarray) -> np.ndarray:
    """``(N, 6)`` emotion probabilities of 0-1 valence and intensity curves (0.5 is neutral)."""
    v = np.clip(2 * np.asarray(valence, dtype=np.float64) - 1, -1, 1)
    a = np.clip(2 * np.asarray(intensity, dtype=np.float64) - 1, -1, 1)
    return emotion_probabilities(v, a, EMOTION_TEMPERATURE)


def rows(
    semantic: np.ndarray | None, curves: np.ndarray, emotion: np.ndarray | None = None
) -> np.ndarray:
    """``(N, semantic_dim + FIXED_COLUMNS)`` float32 rows from per-step curve values
    ``(N, len(CURVES))``; the emotion defaults to the curves' own (:func:`curve_emotion`)."""
    curves = np.asarray(curves, dtype=np.float64)
    if emotion is None:
        emotion = curve_emotion(curves[:, COLUMN["valence"]], curves[:, COLUMN["intensity"]])
    cols = [curves, offsets(curves[:, COLUMN["boundary"]])[:, None], np.ones((len(curves), 1))]
    cols.append(np.asarray(emotion, dtype=np.float64))
    if semantic is not None and semantic.shape[1]:
        cols.insert(0, semantic)
    return np.column_stack(cols).astype(np.float32)


def clip_rows(features: VideoFeatures, piece: PieceSetup, semantic_dim: int) -> np.ndarray:
    """A clip's rows, one per slot of ``piece``: the clip's curves, and the forced emotion when
    the user chose one (else the curves' own)."""
    semantic = None
    if semantic_dim:
        semantic = slot_means(features["semantic"], piece.slots, features.duration)
        if semantic.shape[1] != semantic_dim:
            raise UsageError(
                f"these weights expect {semantic_dim}-d semantic features, the "
                f"clip has {semantic.shape[1]}-d ({features.meta.get('semantic')})"
            )
    forced = piece.emotion if piece.forced_emotion else None
    return rows(semantic, piece.slot_curves.values, forced)
