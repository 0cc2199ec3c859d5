"""``vidscore evaluate`` on compose's outputs, with a reference and with shuffled video."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.conftest import CLIPS, SHARED, run_cli

pytestmark = pytest.mark.shared


def test_evaluate_composed_outputs_against_real_music(tmp_path):
    base = tmp_path / "bikes"
    r = run_cli(
        "compose",
        CLIPS["bikes"],
        "-o",
        f"{base}.scored.mp4",
        "--midi",
        f"{base}.mid",
        "--cues",
        f"{base}.cues.json",
    )
    assert r.returncode == 0, r.stderr
    r = run_cli(
        "evaluate",
        f"{base}.scored.mp4",
        "-o",
        tmp_path / "report.json",
        "--markdown",
        tmp_path / "report.md",
        "--plot",
        tmp_path / "report.png",
        "--reference",
        SHARED / "data" / "POP909",
        "--reference-limit",
        "5",
    )
    assert r.returncode == 0, r.stderr
    doc = json.loads((tmp_path / "report.json").read_text())
    s = doc["summary"]
    for k in (
        "SC",
        "PE",
        "PCE",
        "EBR",
        "IOI",
        "GS",
        "PCHE",
        "GPS",
        "av_align",
        "av_align_random",
        "cut_alignment",
        "emotion_correspondence",
        "density_motion_correlation",
    ):
        assert k in s, k
    assert s["cut_alignment"] >= 0.5 and 0 <= s["av_align"] <= 1
    assert set(doc["closeness"]) == {"SC", "PE", "PCE", "EBR", "IOI", "GS", "PCHE", "GPS"}
    assert "| SC |" in (tmp_path / "report.md").read_text()
    assert (tmp_path / "report.png").stat().st_size > 1000


def test_evaluate_system_with_shuffled_video(tmp_path, montage):
    r = run_cli(
        "evaluate",
        "--system",
        "video2music",
        "--videos",
        montage[0],
        "--dependence",
        "-o",
        tmp_path / "r.json",
    )
    assert r.returncode == 0, r.stderr
    doc = json.loads((tmp_path / "r.json").read_text())
    real, fake = doc["summary"], doc["shuffled_video"]
    assert real["cut_alignment"] > fake["cut_alignment"] + 0.3


def test_evaluate_usage_errors(tmp_path):
    r = run_cli("evaluate", "-o", tmp_path / "r.json")
    assert r.returncode == 2 and "give outputs" in r.stderr
    wav = tmp_path / "x.wav"
    wav.write_bytes(b"RIFF")
    r = run_cli("evaluate", wav, "-o", tmp_path / "r.json")
    assert r.returncode == 2 and "--videos" in r.stderr
    r = run_cli("evaluate", wav, "-o", tmp_path / "r.json", "--markdown", tmp_path / "r.json")
    assert r.returncode == 2 and "different files" in r.stderr


def test_shuffling_a_clip_moves_every_series_with_its_second():
    """The ablation scrambles everything the video says: a per-frame series (flow, which the
    accent curve reads) moves with the second it falls in, like the per-second ones."""
    from vidscore.evaluation import shuffled
    from vidscore.types import Series, VideoFeatures, VideoInfo

    info = VideoInfo("x.mp4", "mp4", "h264", "yuv420p", 8, 64, 64, 0, 10.0, 6.0, 60, False)
    motion = Series("motion", np.arange(6.0), np.arange(6.0), 1.0)
    t = np.arange(60) / 10
    flow = Series("flow", t, np.floor(t), 10.0)  # each frame carries its second's number
    f = VideoFeatures(info, [2.5], {"motion": motion, "flow": flow})
    g = shuffled(f, seed=3)
    assert sorted(g["motion"].values) == list(range(6)) and list(g["motion"].values) != list(
        range(6)
    )
    # every frame now sits in the second whose motion says where it came from
    second = np.floor(g["flow"].times).astype(int)
    assert np.array_equal(g["flow"].values, g["motion"].values[second])
    assert np.all(np.diff(g["flow"].times) >= 0) and len(g["flow"]) == 60
