"""Diff-BGM's segment-aware cross-attention (SAC-Att) masks, from the clip's cut plan.

The paper's idea: each music segment attends only to the condition of its own video shot. The
reference code never builds that; it applies a fixed two-block mask (the first four bars of a
segment see the first half of the 32 per-beat condition tokens, the last four the second half),
kept here as :func:`two_block_mask` for the ablation. :func:`shot_mask` is the paper's mask: the
shared time plan puts every reachable cut (and user marker) on a bar line, so every beat belongs
to one shot, and a beat may attend to the condition tokens of the beats of its shot.

The U-Net attends from feature-map positions, not beats: a ``rows x width`` map (time by pitch,
flattened time-major, as the reference flattens it) covers the segment's steps evenly, so a row
may attend to what any beat it covers may (:func:`query_mask`). The plan's bars restart at a cut,
so a cut can fall on any beat; at the deepest level a row covers two beats, and one that holds a
cut sees both shots.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise

import numpy as np

STEPS_PER_BEAT = 4
#: the masks a segment's cross-attention can take: the cut plan's shots, the reference's fixed
#: halves, or none
MASKS = ("shots", "two_block", "none")


def beat_shots(
    beat_starts: np.ndarray, boundaries: Sequence[float], tol: float = 1e-3
) -> np.ndarray:
    """Shot number of each beat: how many boundaries (cuts, markers; seconds) are at or before
    its start."""
    edges = np.sort(np.asarray(boundaries, dtype=np.float64))
    return np.searchsorted(edges, np.asarray(beat_starts, dtype=np.float64) + tol, side="right")


def shot_mask(shots: np.ndarray) -> np.ndarray:
    """``(beats, beats)``: beat ``i`` may attend to beat ``j``'s token iff they share a shot."""
    s = np.asarray(shots)
    return s[:, None] == s[None, :]


def two_block_mask(beats: int) -> np.ndarray:
    """The reference's fixed mask: the first half of the beats sees the first half of the tokens,
    the second half the second."""
    half = np.arange(beats) >= beats // 2
    return half[:, None] == half[None, :]


def row_cover(rows: int, beats: int) -> np.ndarray:
    """``(rows, beats)``: which beats each of ``rows`` evenly spaced feature-map rows covers."""
    edges = (np.arange(rows + 1) * beats) // rows
    cover = np.zeros((rows, beats), dtype=bool)
    for r, (a, b) in enumerate(pairwise(edges)):
        cover[r, a : max(b, a + 1)] = True
    return cover


def query_mask(beat_mask: np.ndarray, rows: int, width: int) -> np.ndarray:
    """``(rows * width, tokens)``: the beat mask for a ``rows x width`` feature map of the segment
    (time-major), each row allowed what any of the beats it covers is allowed."""
    cover = row_cover(rows, beat_mask.shape[0]).astype(np.int64)
    return np.repeat(cover @ beat_mask.astype(np.int64) > 0, width, axis=0)
