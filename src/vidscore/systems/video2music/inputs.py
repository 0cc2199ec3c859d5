"""The AMT's and biGRU's input rows, built one way for training and for inference.

One row per chord step::

    [semantic (semantic_dim, may be 0), scene offset, motion activity, six emotion probabilities]

* scene offset: seconds since the last cut (or phrase start), clipped to 16 and divided by 16;
* motion activity in [0, 1]: from video, mean absolute RGB difference (0-255) mapped linearly
  (2 -> 0, 20 -> 1), the same for clips at inference and MuVi-Sync at
  training (:func:`~vidscore.systems.common.plan.motion_activity`); from POP909, which has no
  video, note-onset density (see :mod:`.data`);
* emotion: Video2Music's six classes (exciting, fearful, tense, sad, relaxing, neutral).
"""

from __future__ import annotations

import numpy as np

from vidscore.errors import UsageError
from vidscore.systems.common.plan import PieceSetup, motion_activity, slot_means
from vidscore.types import VideoFeatures

OFFSET_CLIP = 16.0
#: columns after the semantic part: scene offset, motion, six emotions
FIXED_COLUMNS = 8


def offset_input(seconds: np.ndarray) -> np.ndarray:
    """Seconds since the last cut -> [0, 1]."""
    return np.minimum(np.asarray(seconds, dtype=np.float64), OFFSET_CLIP) / OFFSET_CLIP


def rows(
    semantic: np.ndarray | None, offset: np.ndarray, activity: np.ndarray, emotion: np.ndarray
) -> np.ndarray:
    """``(N, semantic_dim + 8)`` float32 rows from inputs already in model units."""
    cols = [np.asarray(offset).reshape(-1, 1), np.asarray(activity).reshape(-1, 1), emotion]
    if semantic is not None and semantic.shape[1]:
        cols.insert(0, semantic)
    return np.column_stack(cols).astype(np.float32)


def clip_rows(features: VideoFeatures, piece: PieceSetup, semantic_dim: int) -> np.ndarray:
    """A clip's rows, one per slot of ``piece`` (emotion as the piece set it up)."""
    slots = piece.slots
    cuts = np.array([0.0, *features.cuts])
    starts = np.array([s.start for s in slots])
    last_cut = cuts[np.clip(np.searchsorted(cuts, starts + 1e-6, side="right") - 1, 0, None)]
    motion = slot_means(features["motion"], slots, features.duration)
    semantic = None
    if semantic_dim:
        semantic = slot_means(features["semantic"], slots, features.duration)
        if semantic.shape[1] != semantic_dim:
            raise UsageError(
                f"these weights expect {semantic_dim}-d semantic features, the "
                f"clip has {semantic.shape[1]}-d ({features.meta.get('semantic')})"
            )
    return rows(semantic, offset_input(starts - last_cut), motion_activity(motion), piece.emotion)
