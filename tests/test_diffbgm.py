"""Diff-BGM's parts built so far: SAC-Att masks from a cut plan, the denoiser, windows, training."""

from __future__ import annotations

import numpy as np
import pytest

from tests.conftest import SHARED
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


def test_cross_attention_under_the_shot_mask_ignores_other_shots_tokens():
    import torch
    from diffusers.models.attention_processor import Attention

    from vidscore.systems.diffbgm.model import MaskedCrossAttention

    torch.manual_seed(0)
    attn = Attention(query_dim=16, cross_attention_dim=8, heads=2, dim_head=8,
                     processor=MaskedCrossAttention())  # fmt: skip
    shots = np.repeat([0, 1], [12, 20])  # a cut on beat 12
    mask = torch.from_numpy(shot_mask(shots))[None]
    rows, cols = 16, 4  # a deep level of a 128 x 32 roll: two beats a row
    x, tokens = torch.randn(1, rows * cols, 16), torch.randn(1, 32, 8)
    moved = tokens.clone()
    moved[:, 12:] += 1.0  # only the second shot's condition changes
    kw = {"beat_mask": mask, "roll_rows": 128, "roll_cols": 32}
    with torch.no_grad():
        a = attn(x, tokens, **kw).view(rows, cols, 16)
        b = attn(x, moved, **kw).view(rows, cols, 16)
        unmasked = attn(x, moved, roll_rows=128, roll_cols=32).view(rows, cols, 16)
    assert torch.allclose(a[:6], b[:6])  # rows 0-5 hold beats 0-11: the first shot only
    assert not torch.allclose(a[6:], b[6:], atol=1e-3)
    assert not torch.allclose(a[:6], unmasked[:6], atol=1e-3)  # without SAC-Att they would move


def test_the_condition_switch_and_the_null_token():
    import torch

    from vidscore.systems.diffbgm.model import DiffBGM, DiffBGMConfig

    torch.manual_seed(0)
    model = DiffBGM(DiffBGMConfig(width=8, pitches=32, cond_dim=16)).eval()
    dyn, sem = torch.rand(3, 32, 4), torch.rand(3, 32, 2)
    t = torch.tensor([900, 201, 200])
    tokens = model.condition(t, dyn, sem, dropped=torch.tensor([False, False, True]))
    assert torch.allclose(tokens[0], model.semantic(sem[0]))  # early (noisy) steps: semantic
    assert torch.allclose(tokens[1], model.semantic(sem[1]))
    assert torch.allclose(tokens[2], model.null.expand(32, 16))  # dropped: the null token
    assert torch.allclose(model.condition(t[2:], dyn[2:], sem[2:])[0], model.dynamic(dyn[2]))
    x = torch.randn(3, 2, 128, 32)
    with torch.no_grad():
        out = model(x, t, dyn, sem, beat_mask=torch.ones(3, 32, 32, dtype=torch.bool))
    assert out.shape == x.shape


def _pop909_windows(count: int, cfg):
    from vidscore.curves.contract import Calibration
    from vidscore.systems.diffbgm.data import windows
    from vidscore.systems.vmusprod.data import pop909_piece

    pieces = [
        pop909_piece(str(SHARED / "data" / "POP909" / f"{i:03d}")) for i in range(1, count + 1)
    ]
    cal = Calibration.fit(np.concatenate([p.raw for p in pieces]))
    for p in pieces:
        p.cond = cal.apply(p.raw)
    return pieces, [w for p in pieces for w in windows(p, cfg, hop_bars=4)]


@pytest.mark.shared
def test_windows_hold_the_music_and_its_own_curves():
    from vidscore.music.pianoroll import from_pianoroll
    from vidscore.systems.diffbgm.model import DiffBGMConfig

    cfg = DiffBGMConfig(pitches=64, low_pitch=32)
    (piece,), found = _pop909_windows(1, cfg)
    w = found[1]  # bars 5-12
    assert w.start_beat == 16 and w.roll.shape == (2, 128, 64)
    # every onset inside the window and the pitch range, once (a melody note doubled by the
    # accompaniment is one cell of the roll)
    inside = {(n.start - 16, n.pitch) for n in piece.melody + piece.accompaniment
              if 16 <= n.start < 48 and 32 <= n.pitch < 96}  # fmt: skip
    decoded = [(n.start, n.pitch + 32) for n in from_pianoroll(w.roll)]
    assert len(decoded) == len(set(decoded)) and set(decoded) == inside
    assert np.allclose(w.dynamic[:, 0], piece.cond[16:48, 0])  # activity, the window's own
    assert w.shots[0] == 0 and np.all(np.diff(w.shots) >= 0)


@pytest.mark.shared
def test_a_tiny_denoiser_trains_on_pop909_windows():
    import random

    import torch

    from vidscore.modules.trainer import TrainConfig, Trainer
    from vidscore.systems.diffbgm.model import DiffBGM, DiffBGMConfig, scheduler
    from vidscore.systems.diffbgm.train import DiffBGMTraining, collate, denoising_loss, fit

    cfg = DiffBGMConfig(width=8, pitches=64, low_pitch=32, cond_dim=16)
    _, found = _pop909_windows(3, cfg)
    batch = collate(found[:8], random.Random(1), cfg, cond_drop=0.0)
    trainer = Trainer(TrainConfig(epochs=4, batch_size=8, lr=3e-3, seed=0, device="cpu"))
    torch.manual_seed(0)
    untrained = DiffBGM(cfg).eval()
    model = fit(trainer, found, cfg, DiffBGMTraining())
    noise = scheduler(cfg, "ddpm")
    with torch.no_grad():
        before = float(denoising_loss(untrained, batch, noise))
        after = float(denoising_loss(model, batch, noise))
    assert after < 0.5 * before, (before, after)
