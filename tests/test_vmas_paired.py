"""VMAs trained as the paper trains it: decoder and Hiera-style video encoder end to end on a
DISCO-MV-style paired layout (the fixture: the real clips with rendered music muxed under them)."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest
import torch

from vidscore.modules.checkpoint import load_from_folder, save_module
from vidscore.modules.trainer import TrainConfig
from vidscore.systems.vmas import model as model_mod
from vidscore.systems.vmas.codec_train import FILE as CODEC_FILE
from vidscore.systems.vmas.codec_train import KIND as CODEC_KIND
from vidscore.systems.vmas.codec_train import update_manifest
from vidscore.systems.vmas.model import VMAsConfig
from vidscore.systems.vmas.train import KIND, VMAsTraining
from vidscore.systems.vmas.video_encoder import VideoEncoderConfig

VIDEO = VideoEncoderConfig(frames=8, fps=4.0, size=64, embed_dim=16, stages=(1, 1, 1, 1),
                           q_strides=((1, 4, 4), (1, 2, 2), (1, 2, 2)))  # fmt: skip


@pytest.mark.shared
def test_decoder_and_video_encoder_train_on_a_paired_layout(
    tmp_path, paired_layout, tiny_codec_and_clip
):
    from vidscore.data.discomv import load_clip, scan
    from vidscore.systems.vmas.paired_train import build_items, collate, run

    root, _ = paired_layout
    codec, _ = tiny_codec_and_clip
    out = tmp_path / "weights"
    out.mkdir()
    config = codec.cfg.to_dict()
    sha = save_module(codec, out / CODEC_FILE, kind=CODEC_KIND, config=config)
    update_manifest(out, CODEC_FILE, sha, "codec", {"config": config})

    # Eq. 3-4 read the clip's real video beats against its music's onsets
    clip = load_clip(scan(root)[0], fps=VIDEO.fps, size=VIDEO.size, rate=codec.sample_rate)
    (item,) = build_items([clip], codec, window=5)
    assert item.beats.sum() > 0 and item.onsets.sum() > 0
    opts = VMAsTraining(floor=0.25, cond_drop=0.0)
    batch = collate(VIDEO, codec.frame_rate, opts)([item, item], random.Random(0))
    assert batch["cond"].shape == (2, VIDEO.frames, 3, VIDEO.size, VIDEO.size)
    assert set(np.unique(batch["weights"].numpy())) <= {0.25, 1.0}

    torch.manual_seed(0)
    metrics = run(
        root, out, model_cfg=VMAsConfig(d_model=32, layers=1, heads=2, d_ff=64),
        video_cfg=VIDEO, cfg=TrainConfig(epochs=40, batch_size=2, lr=3e-3, device="cpu"),
        opts=VMAsTraining(cond_drop=0.2),
    )  # fmt: skip
    # trained: held-out tokens far likelier than uniform over the 32-entry codebooks
    assert metrics["real"]["token_ce"] < 0.8 * np.log(32)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["decoder"]["config"]["video"]["frames"] == VIDEO.frames
    assert "codec" in manifest  # the codec's entry is kept
    decoder = load_from_folder(out, "decoder.safetensors", model_mod.build, kind=KIND,
                               system="vmas")  # fmt: skip
    frames = torch.rand(1, VIDEO.frames, 3, VIDEO.size, VIDEO.size)
    assert decoder.memory(frames).shape == (1, VIDEO.tokens, 32)
    assert "does not yet read a decoder with a video encoder" in (out / "CARD.md").read_text()


def test_paired_training_refuses_bad_options_and_a_missing_layout_in_one_line(tmp_path):
    from tests.conftest import run_cli

    r = run_cli("train", "vmas-paired", "--data", tmp_path, "--out", tmp_path / "w",
                "--video", "huge")  # fmt: skip
    assert r.returncode == 2 and "--video 'huge'" in r.stderr
    assert "Traceback" not in r.stderr
    r = run_cli("train", "vmas-paired", "--data", tmp_path / "absent", "--out", tmp_path / "w")
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1, r.stderr
