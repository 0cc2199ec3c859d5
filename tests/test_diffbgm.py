"""Diff-BGM's parts built so far: the SAC-Att masks from a clip's cut plan."""

from __future__ import annotations

import numpy as np

from vidscore.systems.common.plan import beat_spans
from vidscore.systems.common.timeplan import plan
from vidscore.systems.diffbgm.sacatt import beat_shots, query_mask, shot_mask, two_block_mask


def test_each_beat_attends_to_its_own_shot_from_the_cut_plan():
    # 16 s at 120 BPM is one 8-bar segment of 32 beats; the cuts at 4 s and 11 s land on beats 8
    # and 22 (the plan starts a bar on each)
    tp = plan(16.0, [4.0, 11.0], 120)
    starts, _ = beat_spans(tp.slots)
    shots = beat_shots(starts[:32], tp.anchors)
    assert list(np.flatnonzero(np.diff(shots)) + 1) == [8, 22]
    mask = shot_mask(shots)
    assert mask.diagonal().all()  # no beat is left with nothing to attend to
    assert mask[0, 7] and not mask[0, 8] and mask[8, 21] and not mask[21, 22] and mask[22, 31]
    # the reference's fixed halves ignore where the cuts are
    fixed = two_block_mask(32)
    assert fixed[0, 15] and not fixed[15, 16] and fixed[8, 0]
    assert (fixed != mask).any()


def test_feature_map_rows_take_the_mask_of_the_beats_they_cover():
    shots = np.repeat([0, 1, 2], [8, 15, 9])  # cuts on beats 8 and 23 (23 is odd)
    mask = shot_mask(shots)
    full = query_mask(mask, rows=128, width=3)  # 4 rows a beat, 3 pitch columns
    assert full.shape == (384, 32)
    assert (full[::3][::4] == mask).all() and (full[0] == full[2]).all()
    deep = query_mask(mask, rows=16, width=2).reshape(16, 2, 32)[:, 0]
    assert (deep[3] == mask[6]).all()  # beats 6-7: one shot
    assert (deep[11] == (mask[22] | mask[23])).all()  # beats 22-23 hold the cut: both shots
