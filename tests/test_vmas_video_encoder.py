"""VMAs' Hiera-style video encoder: Table 2's token grids at the paper's size (arithmetic and a
meta-device forward), and a tiny config's forward, locality, errors and training."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from vidscore.systems.vmas.video_encoder import (
    MaskUnitAttention,
    VideoEncoder,
    VideoEncoderConfig,
    parameter_count,
    sample_times,
)

TINY = VideoEncoderConfig.tiny()  # 8x64x64 -> 4x16x16 -> 4x4x4 -> 4x2x2 -> 4x1x1, width 128


@pytest.fixture(autouse=True)
def one_thread():
    # small ops on a loaded machine: intra-op threads waiting on busy cores cost 50x
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_paper_config_matches_table_2():
    cfg = VideoEncoderConfig()
    assert cfg.patch_grid == (48, 56, 56)
    assert [cfg.grid(s) for s in range(4)] == [(48, 56, 56), (48, 14, 14), (48, 2, 2), (48, 1, 1)]
    assert [cfg.dim(s) for s in range(4)] == [96, 192, 384, 768]
    assert [cfg.num_heads(s) for s in range(4)] == [1, 2, 4, 8]
    assert (cfg.out_dim, cfg.tokens, cfg.clip_seconds) == (768, 48, pytest.approx(10.0))
    assert VideoEncoderConfig.from_dict(cfg.to_dict()) == cfg
    # about Hiera-Base's size (51M); shapes only, nothing allocated
    assert 45e6 < parameter_count(cfg) < 56e6


def test_paper_config_forward_shapes_on_meta_device():
    cfg = VideoEncoderConfig()
    with torch.device("meta"):
        model = VideoEncoder(cfg)
        video = torch.empty(1, 96, 3, 224, 224)
        grids = [tuple(x.shape[1:]) for x in model.forward_features(video)]
        out = model(video)
    assert grids == [(48, 56, 56, 96), (48, 14, 14, 192), (48, 2, 2, 384), (48, 1, 1, 768)]
    assert tuple(out.shape) == (1, 48, 768)


def test_tiny_forward_shape_determinism_and_dependence():
    torch.manual_seed(0)
    model = VideoEncoder(TINY).eval()
    video = torch.rand(2, TINY.frames, 3, TINY.size, TINY.size)
    with torch.no_grad():
        out = model(video)
        assert out.shape == (2, TINY.frames // 2, TINY.out_dim)
        assert torch.isfinite(out).all()
        assert torch.equal(out, model(video))
        changed = video.clone()
        changed[0, 0] = torch.rand_like(changed[0, 0])
        diff = (model(changed) - out).abs().amax(dim=-1)
    # global attention in the last two stages: every temporal token of clip 0 sees the change
    assert (diff[0] > 1e-4).all()
    assert (diff[1] == 0).all()  # the other clip of the batch is untouched


def test_mask_unit_attention_is_local():
    # mask units of one frame at every stage: a temporal token sees only its conv's frames
    # (kernel 3, stride 2, padding 1: token i reads frames 2i-1 .. 2i+1; frame 0 -> token 0)
    cfg = dataclasses.replace(TINY, mask_unit=(1, 16, 16), mask_unit_attn=(True,) * 4)
    assert [cfg.unit(s) for s in range(4)] == [(1, 16, 16), (1, 4, 4), (1, 2, 2), (1, 1, 1)]
    torch.manual_seed(0)
    model = VideoEncoder(cfg).eval()
    video = torch.rand(1, cfg.frames, 3, cfg.size, cfg.size)
    changed = video.clone()
    changed[0, 0] = torch.rand_like(changed[0, 0])
    with torch.no_grad():
        diff = (model(changed) - model(video)).abs().amax(dim=-1)[0]
    assert diff[0] > 1e-4
    assert (diff[1:] == 0).all()


def test_pooling_attention_matches_a_window_computed_by_hand():
    # 1x4x4 mask units pooled 1x2x2: the queries of one unit are its 2x2 max-pooled queries and
    # attend to that unit's 16 unpooled keys/values only
    torch.manual_seed(0)
    attn = MaskUnitAttention(8, 16, 2, q_stride=(1, 2, 2), window=(1, 4, 4))
    x = torch.randn(1, 2, 8, 8, 8)
    with torch.no_grad():
        out = attn(x)  # (1, 2, 4, 4, 16)
        q, k, v = attn.qkv(x[:, 1, 4:8, 0:4]).reshape(1, 4, 4, 3, 2, 8).unbind(3)
        q = q.reshape(1, 2, 2, 2, 2, 2, 8).amax(dim=(2, 4))
        heads_first = [t.reshape(1, -1, 2, 8).transpose(1, 2) for t in (q, k, v)]
        ref = torch.nn.functional.scaled_dot_product_attention(*heads_first)
        ref = attn.proj(ref.transpose(1, 2).reshape(1, 2, 2, 16))
    torch.testing.assert_close(out[:, 1, 2:4, 0:2], ref)


def test_window_covering_the_grid_equals_global_attention():
    # one mask unit spanning the whole token grid is global attention, pooling blocks included
    local = dataclasses.replace(TINY, mask_unit=(4, 16, 16), mask_unit_attn=(True,) * 4)
    glob = dataclasses.replace(TINY, mask_unit_attn=(False,) * 4)
    torch.manual_seed(0)
    a = VideoEncoder(local).eval()
    b = VideoEncoder(glob).eval()
    b.load_state_dict(a.state_dict())
    video = torch.rand(2, TINY.frames, 3, TINY.size, TINY.size)
    with torch.no_grad():
        torch.testing.assert_close(a(video), b(video), rtol=1e-5, atol=1e-5)


def test_bad_configs_raise():
    with pytest.raises(ValueError, match="q_strides do not divide the token grid"):
        VideoEncoderConfig(size=64)  # 16 tokens cannot be pooled by 4 then 7
    with pytest.raises(ValueError, match="q_strides do not divide the token grid"):
        dataclasses.replace(TINY, q_strides=((1, 3, 3), (1, 2, 2), (1, 2, 2)))
    with pytest.raises(ValueError, match="pools 1x7x7 inside mask units of 1x2x2"):
        VideoEncoderConfig(mask_unit_attn=(True, True, True, False))
    with pytest.raises(ValueError, match="q_strides"):
        dataclasses.replace(TINY, q_strides=((1, 4, 4),))
    with pytest.raises(ValueError, match="expected video"):
        VideoEncoder(TINY)(torch.rand(1, TINY.frames, 3, 32, 32))


def test_sample_times():
    cfg = VideoEncoderConfig()
    t = sample_times(10.0, cfg)
    np.testing.assert_allclose(t, np.arange(96) / 9.6)  # the paper's 9.6 fps over 10 s
    assert len(sample_times(4.0, cfg)) == 96 and sample_times(4.0, cfg)[-1] < 4.0
    with pytest.raises(ValueError):
        sample_times(0.0, cfg)


def test_training_lowers_a_loss_through_the_q_pooling_blocks():
    # regress each temporal token's mean brightness (frames 2i, 2i+1) from random videos whose
    # brightness varies per frame; the loss must fall well below the best constant's
    torch.manual_seed(0)
    model = VideoEncoder(TINY)
    head = torch.nn.Linear(TINY.out_dim, 1)
    level = torch.rand(8, TINY.frames, 1, 1, 1)
    video = (level + 0.1 * torch.randn(8, TINY.frames, 3, TINY.size, TINY.size)).clamp(0, 1)
    target = video.mean(dim=(2, 3, 4)).view(8, -1, 2).mean(-1)
    baseline = target.var(unbiased=False).item()  # the loss of predicting the mean
    opt = torch.optim.Adam([*model.parameters(), *head.parameters()], lr=5e-4)
    losses = []
    for _ in range(30):
        loss = torch.nn.functional.mse_loss(head(model(video)).squeeze(-1), target)
        opt.zero_grad()
        loss.backward()
        if not losses:  # gradients reach the pooling blocks' Q and residual projections
            for stage in model.stages[1:]:
                block = stage[0]
                assert block.attn.qkv.weight.grad.abs().sum() > 0
                assert block.proj.weight.grad.abs().sum() > 0
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]
    assert np.mean(losses[-5:]) < 0.5 * baseline  # about 0.25 here (0.25-0.35 over seeds)
