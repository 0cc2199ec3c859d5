"""`vidscore train video2music` end to end on a few POP909 songs and on MuVi-Sync's layout."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from scipy.stats import spearmanr

from tests.conftest import SHARED
from tests.test_datasets import _write_muvisync

pytestmark = pytest.mark.shared


def train_args(out, *extra, launcher=("-m", "vidscore")) -> list[str]:
    """``vidscore train video2music`` on the first 12 POP909 songs, one epoch each model."""
    args = [sys.executable, *launcher, "train", "video2music", "--data", SHARED / "data" / "POP909"]
    args += ["--out", out, "--epochs", "1", "--gru-epochs", "1", "--limit", "12", *extra]
    return list(map(str, args))


def train_cli(out, *extra, launcher=("-m", "vidscore")) -> subprocess.CompletedProcess:
    return subprocess.run(
        train_args(out, *extra, launcher=launcher), capture_output=True, text=True, timeout=600
    )


def test_train_on_pop909_writes_loadable_weights_and_a_card(tmp_path):
    out = tmp_path / "w"
    r = train_cli(out)
    assert r.returncode == 0, r.stderr
    meta = json.loads((out / "manifest.json").read_text())
    assert set(meta["metrics"]) == {"amt", "amt_ablation", "bigru", "pieces", "held_out"}
    assert set(meta["metrics"]["amt_ablation"]) == {"shuffled", "null", "other"}
    assert len(meta["calibration"]["quantiles"]["activity"]) == 101
    assert set(meta["descriptor_quantiles"]) == {"density", "loudness"}
    card = (out / "CARD.md").read_text()
    assert "POP909" in card and "--limit 12" in card and meta["files"]["amt.safetensors"] in card
    assert str(SHARED.resolve()) not in card  # no machine path in the command
    from vidscore.systems.video2music.inference import load_models

    amt, gru = load_models(out)
    assert amt.cfg.semantic_dim == 0 and gru.head.out_features == 2
    params = sum(p.numel() for p in amt.parameters())
    assert f"{params:,}" in card  # the card states the size of the model it describes
    assert not (out / ".resume").exists()  # the resume state goes once the weights are written
    before = (out / "amt.safetensors").read_bytes()
    again = train_cli(out)  # existing weights are refused before any work
    assert again.returncode == 2 and "already exists" in again.stderr
    assert (out / "amt.safetensors").read_bytes() == before


def test_compose_with_weights_the_user_trained(tmp_path, small_clip):
    from tests.conftest import run_cli

    out = tmp_path / "w"
    assert train_cli(out).returncode == 0
    v2m = ("--system", "video2music")
    r = run_cli("compose", small_clip, "-o", tmp_path / "a.mp4", *v2m, "--weights", out,
                "--cues", tmp_path / "a.json")  # fmt: skip
    assert r.returncode == 0, r.stderr
    shipped = run_cli(
        "compose", small_clip, "-o", tmp_path / "b.mp4", *v2m, "--cues", tmp_path / "b.json"
    )
    assert shipped.returncode == 0, shipped.stderr
    chords = [json.loads((tmp_path / f"{n}.json").read_text())["chords"] for n in "ab"]
    assert chords[0] != chords[1]  # a one-epoch model does not write the shipped chords
    r = run_cli("compose", small_clip, "-o", tmp_path / "c.mp4", *v2m, "--weights", tmp_path)
    assert r.returncode == 2 and "manifest" in r.stderr


def test_two_process_ddp_training_on_cpu(tmp_path):
    """torchrun with two CPU processes (gloo): one set of weights, written once, that loads."""
    out = tmp_path / "w"
    # --standalone: a local rendezvous on a free port
    launcher = ("-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2")
    launcher += ("-m", "vidscore")
    r = train_cli(out, "--device", "cpu", launcher=launcher)
    assert r.returncode == 0, r.stderr[-3000:]
    meta = json.loads((out / "manifest.json").read_text())
    assert meta["train"]["world_size"] == 2
    from vidscore.systems.video2music.inference import load_models

    amt, _ = load_models(out)
    assert amt.cfg.semantic_dim == 0


def test_train_on_muvisync_layout(tmp_path):
    from vidscore.modules.trainer import TrainConfig
    from vidscore.systems.video2music.model import AMTConfig
    from vidscore.systems.video2music.train import Video2MusicTraining, run

    root = tmp_path / "muvi"
    _write_muvisync(root, ["001", "002", "003"])
    (root / "vevo_meta" / "split" / "v1" / "test.txt").write_text("003\n")
    (root / "vevo_meta" / "split" / "v1" / "train.txt").write_text("001\n002\n")
    (root / "vevo_meta" / "split" / "v1" / "val.txt").write_text("")
    metrics = run(
        root,
        tmp_path / "w",
        model_cfg=AMTConfig(d_model=32, n_heads=4, d_ff=64),
        cfg=TrainConfig(epochs=1, batch_size=2),
        opts=Video2MusicTraining(gru_epochs=1),
    )
    assert metrics["pieces"] == {"train": 2, "val": 0, "test": 1}
    cfg = json.loads((tmp_path / "w" / "manifest.json").read_text())["model"]
    assert cfg["semantic_dim"] == 8  # MuVi-Sync's semantic features are used


def test_muvisync_rows_follow_the_control_contract(tmp_path):
    """MuVi-Sync's music descriptors become the curves (ranked), its scene offsets the
    boundaries, and its semantic features stay as the paired video input."""
    from vidscore.data.muvisync import MuViSync
    from vidscore.systems.video2music.data import load_sequences
    from vidscore.systems.video2music.inputs import COLUMN

    root = tmp_path / "muvi"
    _write_muvisync(root, ["001", "002"])
    for split in ("val", "test"):
        (root / "vevo_meta" / "split" / "v1" / f"{split}.txt").write_text("")
    (root / "vevo_meta" / "split" / "v1" / "train.txt").write_text("001\n002\n")
    for name, vals in (("note_density", (2, 9, 5, 1)), ("scene_offset", (0, 1, 0, 1))):
        lines = "".join(f"{t} {v}\n" for t, v in enumerate(vals))
        (root / f"vevo_{name}" / "all" / "001.lab").write_text(lines)
    item = MuViSync(root).items("train")[0]
    seqs = load_sequences(root)
    seq = seqs["train"][0]
    n = len(seq.chords)
    assert seqs.semantic_dim == item.semantic.shape[1]
    activity = seq.cond[:, seqs.semantic_dim + COLUMN["activity"]]
    assert spearmanr(activity, item.note_density[:n]).statistic == pytest.approx(1.0)
    boundary = seq.cond[:, seqs.semantic_dim + COLUMN["boundary"]]
    assert boundary.tolist() == (item.scene_offset[:n] < 1).astype(float).tolist()


def test_an_interrupted_training_run_resumes_to_the_same_weights(tmp_path):
    """Ctrl-C during `vidscore train`, then the same command again: the weights are exactly
    those of a run never interrupted (README: resumable from OUT/.resume)."""
    import signal
    import time

    whole = train_cli(tmp_path / "whole", "--epochs", "2", "--device", "cpu")
    assert whole.returncode == 0, whole.stderr
    out = tmp_path / "cut"
    args = train_args(out, "--epochs", "2", "--device", "cpu")

    # a shell running the tests in the background starts them with Ctrl-C ignored, and the child
    # would inherit that: give it the default, as a terminal would
    def ctrl_c_default() -> None:
        signal.signal(signal.SIGINT, signal.SIG_DFL)

    proc = subprocess.Popen(
        args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, preexec_fn=ctrl_c_default
    )
    deadline = time.monotonic() + 300
    while not (out / ".resume" / "amt.resume.pt").exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=300)
    assert proc.returncode != 0, stderr.decode()[-2000:]  # really cut short
    assert not (out / "amt.safetensors").exists()
    again = train_cli(out, "--epochs", "2", "--device", "cpu")
    assert again.returncode == 0, again.stderr
    from safetensors.torch import load_file

    for name in ("amt.safetensors", "bigru.safetensors"):
        a, b = load_file(out / name), load_file(tmp_path / "whole" / name)
        assert a.keys() == b.keys() and all(a[k].equal(b[k]) for k in a), name
