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


def test_compare_puts_systems_side_by_side_and_refuses_what_is_not_a_report(tmp_path):
    """`evaluate --compare A.json B.json`: a column per system (named by the report), the
    steering lift over the shuffled video derived from each report, the chart written; one
    report alone, a file that is not a report, or an output over a report get one line."""

    def report(system, r, shuffled_r):
        doc = {"system": system, "summary": {"PCE": 2.5, "density_motion_correlation": r},
               "shuffled_video": {"density_motion_correlation": shuffled_r},
               "reference": {"PCE": 2.8}}  # fmt: skip
        path = tmp_path / f"{system}.json"
        path.write_text(json.dumps(doc))
        return path

    a, b = report("video2music", 0.6, 0.1), report("baseline", 0.5, 0.4)
    r = run_cli("evaluate", "--compare", a, b, "--plot", tmp_path / "c.png",
                "--markdown", tmp_path / "c.md")  # fmt: skip
    assert r.returncode == 0, r.stderr
    table = (tmp_path / "c.md").read_text()
    assert "| measure | video2music | baseline | real (reference) |" in table
    assert "| steering_lift_over_shuffled | 0.500 | 0.100 |  |" in table
    assert "| PCE | 2.500 | 2.500 | 2.800 |" in table
    assert (tmp_path / "c.png").stat().st_size > 5000
    notes = tmp_path / "notes.json"
    notes.write_text("[1, 2]")
    for args, says in (
        ([a], "two reports"),
        ([a, notes], "not a report"),
        ([a, tmp_path / "none.json"], "no such report"),
        ([a, b, "--markdown", b, "--overwrite"], "overwrite one of the reports"),
    ):
        r = run_cli("evaluate", "--compare", *args)
        assert r.returncode == 2 and says in r.stderr and "Traceback" not in r.stderr, r.stderr


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
