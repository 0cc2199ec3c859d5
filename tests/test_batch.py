"""Many clips: resumable, past bad clips, failures listed with exit 1; the same on Ray."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.conftest import CLIPS, run_cli
from vidscore.batch import analyze_many, find_videos, output_stem

pytestmark = pytest.mark.shared


@pytest.fixture
def corpus(tmp_path, small_clip) -> Path:
    d = tmp_path / "corpus"
    (d / "sub").mkdir(parents=True)
    os.symlink(small_clip, d / "a.mp4")
    os.symlink(CLIPS["carphone_pristine"], d / "sub" / "a.mp4")  # same stem, other folder
    (d / "broken.mp4").write_text("not a video")
    (d / "notes.txt").write_text("ignored: not a video extension")
    return d


def test_find_videos_and_unique_names(corpus):
    vids = find_videos([str(corpus)])
    assert [v.name for v in vids] == ["a.mp4", "broken.mp4", "a.mp4"]
    assert {output_stem(v, [corpus]) for v in vids} == {"a", "broken", "sub__a"}


def test_batch_goes_on_past_bad_clips_and_resumes(corpus, tmp_path):
    out = tmp_path / "features"
    r = run_cli("analyze", corpus, "--out-dir", out, "--formats", "json,png")
    assert r.returncode == 1
    assert "broken.mp4" in r.stderr and "not a readable video" in r.stderr
    assert "Traceback" not in r.stderr
    assert sorted(p.name for p in out.iterdir()) == ["a.json", "a.png", "sub__a.json", "sub__a.png"]
    first = (out / "a.json").stat().st_mtime_ns
    r = run_cli("analyze", corpus, "--out-dir", out)
    assert r.returncode == 1 and "0 analyzed, 2 already done, 1 failed" in r.stdout
    assert (out / "a.json").stat().st_mtime_ns == first


def test_batch_with_only_good_clips_exits_0(tmp_path, small_clip):
    r = run_cli("analyze", small_clip, "--out-dir", tmp_path / "o")
    assert r.returncode == 0, r.stderr
    assert json.loads((tmp_path / "o" / "small.json").read_text())["duration"] == pytest.approx(
        3.0, abs=0.05
    )


def test_batch_usage_errors(tmp_path, small_clip):
    r = run_cli("analyze", small_clip, "--out-dir", tmp_path / "o", "--executor", "spark")
    assert r.returncode == 2 and "--executor" in r.stderr
    r = run_cli("analyze", tmp_path / "empty_glob_*.mp4", "--out-dir", tmp_path / "o")
    assert r.returncode == 2 and "no videos found" in r.stderr


def test_ray_executor_runs_the_same_work(corpus, tmp_path):
    pytest.importorskip("ray")
    report = analyze_many([str(corpus)], tmp_path / "ray", executor="ray")
    assert sorted(Path(v).name for v in report.done) == ["a.mp4", "a.mp4"]
    assert [Path(v).name for v, _ in report.failed] == ["broken.mp4"]
    local = analyze_many([str(corpus)], tmp_path / "local")
    a = json.loads((tmp_path / "ray" / "sub__a.json").read_text())
    b = json.loads((tmp_path / "local" / "sub__a.json").read_text())
    assert a["cuts"] == b["cuts"] and a["series"]["motion"] == b["series"]["motion"]
    assert len(local.done) == 2


@pytest.mark.parametrize("command", ["analyze", "compose"])
def test_a_ray_address_with_nothing_listening_fails_in_seconds(corpus, tmp_path, command):
    import socket
    import time

    with socket.socket() as s:  # a port nothing listens on once this closes
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    t0 = time.monotonic()
    r = run_cli(command, corpus, "--out-dir", tmp_path / "o", "--executor", "ray",
                "--address", f"127.0.0.1:{port}")  # fmt: skip
    assert r.returncode == 2 and "no Ray cluster reachable" in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and time.monotonic() - t0 < 60
    assert not (tmp_path / "o").exists()  # refused before anything was made


def test_clips_that_share_a_name_get_an_output_each_and_resume(tmp_path, small_clip):
    """`a/clip.mp4` and `b/clip.mp4` given as files, and `clip.mp4` beside `clip.mkv`: one JSON
    each (issue 10 item 4), and a rerun skips all of them."""
    for sub in ("a", "b"):
        (tmp_path / sub).mkdir()
        os.symlink(small_clip, tmp_path / sub / "clip.mp4")
    os.symlink(CLIPS["carphone_pristine"], tmp_path / "a" / "clip.mkv")
    inputs = [str(tmp_path / "a"), str(tmp_path / "b" / "clip.mp4")]
    first = analyze_many(inputs, tmp_path / "o")
    assert len(first.done) == 3 and not first.failed
    assert len(list((tmp_path / "o").glob("*.json"))) == 3
    again = analyze_many(inputs, tmp_path / "o")
    assert len(again.skipped) == 3 and not again.done


def test_resumption_keys_on_the_clips_content_and_the_settings(tmp_path, small_clip):
    """A clip replaced under the same name, or other analysis settings, is analysed again; an
    unchanged clip is not (issue 10 item 4)."""
    from vidscore.features.analyze import AnalysisConfig

    clips = tmp_path / "clips"
    clips.mkdir()
    for name in ("one", "two"):
        (clips / f"{name}.mp4").write_bytes(small_clip.read_bytes())
    first = analyze_many([str(clips)], tmp_path / "o")
    assert len(first.done) == 2
    (clips / "two.mp4").write_bytes(CLIPS["carphone_pristine"].read_bytes())  # another clip
    again = analyze_many([str(clips)], tmp_path / "o")
    assert [Path(v).name for v in again.done] == ["two.mp4"]
    assert [Path(v).name for v in again.skipped] == ["one.mp4"]
    doc = json.loads((tmp_path / "o" / "two.json").read_text())
    assert doc["info"]["width"] == 176  # the new clip's features replaced the old ones
    other = analyze_many([str(clips)], tmp_path / "o", AnalysisConfig(cut_threshold=5.0))
    assert len(other.done) == 2 and not other.skipped


def test_compose_batch_scores_the_good_clips_lists_the_bad_one_and_resumes(corpus, tmp_path):
    """`compose DIR --out-dir OUT` (issue 14 item 3): each good clip gets its scored MP4, cues
    and the formats asked for; the broken one is listed with its reason (exit 1); a rerun
    skips the finished clips; a clip scored with other controls is scored again."""
    out = tmp_path / "scored"
    r = run_cli("compose", corpus, "--out-dir", out, "--formats", "mp4,json,mid",
                "--system", "baseline")  # fmt: skip
    assert r.returncode == 1, r.stderr
    assert "broken.mp4" in r.stderr and "not a readable video" in r.stderr
    assert "Traceback" not in r.stderr
    assert "2 scored, 0 already done, 1 failed" in r.stdout
    names = sorted(p.name for p in out.iterdir())
    assert names == ["a.cues.json", "a.mid", "a.mp4", "sub__a.cues.json", "sub__a.mid",
                     "sub__a.mp4"]  # fmt: skip
    cues = json.loads((out / "sub__a.cues.json").read_text())
    assert cues["system"] == "baseline" and cues["duration"] == pytest.approx(4.0, abs=0.05)
    from vidscore.video.io import probe

    info = probe(out / "sub__a.mp4")
    assert info.has_audio and info.duration == pytest.approx(4.0, abs=0.1)
    first = (out / "a.mp4").stat().st_mtime_ns
    r = run_cli("compose", corpus, "--out-dir", out, "--formats", "mp4,json,mid",
                "--system", "baseline")  # fmt: skip
    assert r.returncode == 1 and "0 scored, 2 already done, 1 failed" in r.stdout
    assert (out / "a.mp4").stat().st_mtime_ns == first
    r = run_cli("compose", corpus / "sub", "--out-dir", out, "--system", "baseline",
                "--seed", "3")  # fmt: skip
    assert r.returncode == 0 and "1 scored, 0 already done" in r.stdout, r.stdout + r.stderr


def test_compose_batch_refuses_single_clip_outputs_and_one_take_rewrites(corpus, tmp_path):
    for extra in (["-o", str(tmp_path / "x.mp4")], ["--midi", str(tmp_path / "x.mid")]):
        r = run_cli("compose", corpus, "--out-dir", tmp_path / "o", *extra)
        assert r.returncode == 2 and "--formats" in r.stderr, r.stderr
    r = run_cli("compose", corpus, "--out-dir", tmp_path / "o", "--formats", "mp4,flac")
    assert r.returncode == 2 and "--formats flac" in r.stderr
    r = run_cli("compose", corpus, tmp_path / "more.mp4", "-o", tmp_path / "x.mp4")
    assert r.returncode == 2 and "--out-dir" in r.stderr
    assert not (tmp_path / "o").exists() and not (tmp_path / "x.mp4").exists()


@pytest.mark.parametrize(
    ("extra", "says"),
    [
        (["--system", "nosuch"], "--system"),
        (["--param", "temperature=hot"], "temperature"),
        (["--system", "baseline", "--weights", "nowhere"], "--weights"),
        (["--key", "H major"], "H major"),
        (["--instruments", "kazoo"], "--instruments"),
        (["--synth", "moog"], "--synth"),
    ],
)
def test_compose_batch_refuses_bad_settings_before_any_clip(corpus, tmp_path, extra, says):
    """A setting no clip can be scored with stops the batch at once (exit 2, one line, no
    folder made) instead of failing every clip one by one."""
    r = run_cli("compose", corpus, "--out-dir", tmp_path / "o", *extra)
    assert r.returncode == 2, r.stdout + r.stderr
    assert says in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "o").exists()


def test_compose_batch_key_changes_when_the_weights_are_retrained(tmp_path):
    """Weights retrained into the same folder are other settings: the key follows the manifest."""
    import shutil

    from vidscore.batch import ComposeJob
    from vidscore.systems.base import system_class

    shipped = system_class("video2music").weights_folder(None)
    mine = tmp_path / "w"
    shutil.copytree(shipped, mine)
    job = ComposeJob(system="video2music", weights=str(mine))
    before = job.settings()
    manifest = json.loads((mine / "manifest.json").read_text())
    manifest["metrics"] = {"retrained": True}
    (mine / "manifest.json").write_text(json.dumps(manifest))
    assert job.settings()["weights_manifest"] != before["weights_manifest"]
    assert ComposeJob(system="baseline").settings()["weights_manifest"] is None


def test_compose_batch_on_ray_scores_like_the_local_run(corpus, tmp_path):
    pytest.importorskip("ray")
    from vidscore.batch import ComposeJob, run_many

    job = ComposeJob(system="baseline")
    report = run_many([str(corpus)], tmp_path / "ray", job, executor="ray")
    assert sorted(Path(v).name for v in report.done) == ["a.mp4", "a.mp4"]
    assert [Path(v).name for v, _ in report.failed] == ["broken.mp4"]
    local = run_many([str(corpus)], tmp_path / "local", job)
    assert len(local.done) == 2
    a = json.loads((tmp_path / "ray" / "sub__a.cues.json").read_text())
    b = json.loads((tmp_path / "local" / "sub__a.cues.json").read_text())
    assert a["chords"] == b["chords"] and a["downbeats"] == b["downbeats"]
    again = run_many([str(corpus)], tmp_path / "ray", job, executor="ray")
    assert len(again.skipped) == 2 and not again.done
