"""VMCP on paired data the test synthesises: it learns real pairs, and scores chance on noise."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from vidscore.metrics.retrieval import embed, precision_at_k, ranks, train, vmcp  # noqa: E402

A = np.random.default_rng(100).normal(size=(6, 12))  # hidden state -> video segment features
B = np.random.default_rng(101).normal(size=(6, 20))  # hidden state -> music segment features


def synth_pairs(n: int, seed: int, paired: bool = True):
    """Video and music segment sequences driven by one hidden state per clip (or, unpaired,
    by two independent ones)."""
    rng = np.random.default_rng(seed)
    videos, music = [], []
    for _ in range(n):
        z = rng.normal(size=(int(rng.integers(4, 9)), 6)) + rng.normal(size=6) * 2
        zm = z if paired else rng.normal(size=z.shape) + rng.normal(size=6) * 2
        videos.append((z @ A + 0.3 * rng.normal(size=(len(z), 12))).astype(np.float32))
        music.append((zm @ B + 0.3 * rng.normal(size=(len(z), 20))).astype(np.float32))
    return videos, music


def held_out_scores(paired: bool, epochs: int) -> dict:
    model = train(*synth_pairs(200, 0, paired), epochs=epochs, seed=0)
    v_test, m_test = synth_pairs(80, 1, paired)
    v = embed(model, v_test, "video").numpy()
    m = embed(model, m_test, "music").numpy()
    return {**vmcp(m, v, candidates=70), "diffbgm": precision_at_k(m, v)}


def test_vmcp_learns_paired_data():
    score = held_out_scores(paired=True, epochs=40)
    assert score["candidates"] == 70
    assert score["P@5"] > 0.5 and score["AR"] < 10  # chance: P@5 = 0.07, AR = 35.5
    assert score["diffbgm"]["P@10"] > 0.5


def test_vmcp_is_chance_on_unpaired_data():
    assert held_out_scores(paired=False, epochs=20)["AR"] > 20


def test_ranks():
    sim = np.array([[0.9, 0.1, 0.5], [0.8, 0.2, 0.1], [0.0, 0.0, 1.0]])
    assert list(ranks(sim)) == [1, 2, 1]


def test_train_vmcp_command_on_clips(tmp_path):
    import json

    from tests.conftest import run_cli
    from vidscore.audio.synth import write_wav
    from vidscore.video.montage import synth_clip

    data = tmp_path / "pairs"
    data.mkdir()
    sr = 22050
    for i in range(5):
        synth_clip(data / f"c{i}.mp4", scenes=[1.5, 1.5], size=(160, 90), seed=i)
        t = np.arange(3 * sr) / sr
        write_wav(0.3 * np.sin(2 * np.pi * (220 + 60 * i) * t), data / f"c{i}.wav", sample_rate=sr)
    r = run_cli("train", "vmcp", "--data", data, "--out", tmp_path / "w", "--epochs", "3")
    assert r.returncode == 0, r.stderr
    manifest = json.loads((tmp_path / "w" / "manifest.json").read_text())
    assert manifest["system"] == "vmcp" and manifest["metrics"]["pairs"] == 5
    from vidscore.errors import ModelLoadError
    from vidscore.metrics.retrieval import load

    assert load(tmp_path / "w").cfg.music_dim == 130
    again = run_cli("train", "vmcp", "--data", data, "--out", tmp_path / "w", "--epochs", "3")
    assert again.returncode == 2 and "already exists" in again.stderr
    (tmp_path / "file").write_text("x")
    r = run_cli("train", "vmcp", "--data", data, "--out", tmp_path / "file")
    assert r.returncode == 2 and "not a folder" in r.stderr
    # V-MusProd's outputs ranked by it, each clip's video among the five, via evaluate --system
    r = run_cli("evaluate", "--system", "vmusprod", "--videos", data, "--vmcp", tmp_path / "w",
                "-o", tmp_path / "r.json")  # fmt: skip
    assert r.returncode == 0, r.stderr
    scores = json.loads((tmp_path / "r.json").read_text())["retrieval"]
    assert set(scores) == {"composed"}  # no shuffled music without --dependence
    vmcp, p_at = scores["composed"]["vmcp"], scores["composed"]["diffbgm_precision"]
    assert vmcp["candidates"] == 5 and 1 <= vmcp["AR"] <= 5
    assert p_at["P@5"] == 1.0 and p_at["mean_rank"] <= 5
    assert "VMCP P@5" in r.stdout
    r = run_cli("evaluate", data / "c0.mp4", "--vmcp", tmp_path / "w", "-o", tmp_path / "x.json")
    assert r.returncode == 2 and "--vmcp need --system" in r.stderr
    weights = tmp_path / "w" / "vmcp.safetensors"
    weights.write_bytes(weights.read_bytes()[:-1] + b" ")
    with pytest.raises(ModelLoadError, match="sha256"):
        load(tmp_path / "w")
