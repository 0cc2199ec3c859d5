"""`vidscore train video2music` end to end on a few POP909 songs and on MuVi-Sync's layout."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.conftest import SHARED
from tests.test_datasets import _write_muvisync

pytestmark = pytest.mark.shared


def test_train_on_pop909_writes_loadable_weights_and_a_card(tmp_path):
    out = tmp_path / "w"
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "vidscore",
            "train",
            "video2music",
            "--data",
            SHARED / "data" / "POP909",
            "--out",
            out,
            "--epochs",
            "1",
            "--gru-epochs",
            "1",
            "--limit",
            "12",
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert r.returncode == 0, r.stderr
    meta = json.loads((out / "metrics.json").read_text())
    assert set(meta["metrics"]) == {"amt", "baseline_no_video", "bigru", "pieces"}
    assert 0 <= meta["metrics"]["amt"]["hits@1"] <= meta["metrics"]["amt"]["hits@5"] <= 1
    card = (out / "CARD.md").read_text()
    assert "POP909" in card and "--limit 12" in card and meta["sha256"]["amt.safetensors"] in card
    from vidscore.systems.video2music.system import load_weights

    amt, gru = load_weights(out)
    assert amt.cfg.semantic_dim == 0 and gru.head.out_features == 2


def test_train_on_muvisync_layout(tmp_path):
    from vidscore.systems.video2music.model import AMTConfig
    from vidscore.systems.video2music.train import TrainConfig, run

    root = tmp_path / "muvi"
    _write_muvisync(root, ["001", "002", "003"])
    (root / "vevo_meta" / "split" / "v1" / "test.txt").write_text("003\n")
    (root / "vevo_meta" / "split" / "v1" / "train.txt").write_text("001\n002\n")
    (root / "vevo_meta" / "split" / "v1" / "val.txt").write_text("")
    metrics = run(
        root,
        tmp_path / "w",
        model_cfg=AMTConfig(d_model=32, n_heads=4, d_ff=64),
        cfg=TrainConfig(epochs=1, gru_epochs=1, batch_size=2),
    )
    assert metrics["pieces"] == {"train": 2, "val": 0, "test": 1}
    cfg = json.loads((tmp_path / "w" / "metrics.json").read_text())["model"]
    assert cfg["semantic_dim"] == 8  # MuVi-Sync's semantic features are used
