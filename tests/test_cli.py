"""The command line: the main job, and one clear line with exit code 2 for every bad input."""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from tests.conftest import CLIPS
from tests.conftest import run_cli as vidscore
from vidscore.video.montage import build_montage

pytestmark = pytest.mark.shared


def sha(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def assert_clean_failure(r: subprocess.CompletedProcess, *needles: str) -> None:
    assert r.returncode == 2, r.stderr
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), r.stderr
    assert "Traceback" not in r.stderr
    for n in needles:
        assert n in lines[0], lines[0]


def test_version_and_help():
    r = vidscore("--version")
    assert r.returncode == 0 and r.stdout.startswith("vidscore ")
    r = vidscore("analyze", "--help")
    assert r.returncode == 0 and "--plot" in r.stdout


def test_bare_command_prints_its_help_once_and_the_choices_are_listed():
    from vidscore import cli
    from vidscore.systems.base import DEFAULT_SYSTEM, SYSTEMS
    from vidscore.systems.common.arrange import PRESETS
    from vidscore.types import EMOTIONS

    r = vidscore()
    assert r.returncode == 0 and r.stdout.count("Usage:") == 1
    r = vidscore("train")
    assert r.returncode == 0 and r.stdout.count("Usage:") == 1
    for names, listed in ((SYSTEMS, cli.SYSTEM_CHOICES), (EMOTIONS, cli.EMOTION_CHOICES),
                          (PRESETS, cli.INSTRUMENT_CHOICES)):  # fmt: skip
        assert set(listed.replace(" (default)", "").replace(" or ", ", ").split(", ")) == set(names)
    assert cli.SYSTEM_CHOICES.startswith(f"{DEFAULT_SYSTEM} (default)")
    assert cli.DEFAULT_SYSTEM == DEFAULT_SYSTEM  # what compose uses when --system is not given
    help_text = " ".join(vidscore("compose", "--help").stdout.split())
    assert "video2music" in help_text and "diffbgm" in help_text and "relaxing" in help_text
    assert "--overwrite Replace existing outputs" in help_text  # a flag: no <bool> type shown


def test_analyze_writes_json_npz_and_plot(tmp_path):
    src = CLIPS["bikes"]
    before = sha(src)
    r = vidscore(
        "analyze",
        src,
        "-o",
        tmp_path / "f.json",
        "--npz",
        tmp_path / "f.npz",
        "--plot",
        tmp_path / "f.png",
    )
    assert r.returncode == 0, r.stderr
    doc = json.loads((tmp_path / "f.json").read_text())
    assert doc["duration"] == pytest.approx(10.0) and len(doc["cuts"]) >= 3
    png = cv2.imread(str(tmp_path / "f.png"))
    assert png is not None and png.shape[0] > 500 and png.shape[1] > 800
    assert np.load(tmp_path / "f.npz")["motion.values"].shape == (10,)
    assert sha(src) == before  # the input is never touched
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "f.json",
        "f.npz",
        "f.png",
    ]  # no temp files


def test_existing_output_is_refused_unless_overwrite(tmp_path, small_clip):
    out = tmp_path / "f.json"
    out.write_text("precious")
    assert_clean_failure(vidscore("analyze", small_clip, "-o", out), "already exists")
    assert out.read_text() == "precious"
    r = vidscore("analyze", small_clip, "-o", out, "--overwrite")
    assert r.returncode == 0 and json.loads(out.read_text())["format"] == "vidscore.features/1"


def test_four_k_clip_is_analyzed(tmp_path):
    out = tmp_path / "uhd.mp4"
    build_montage([CLIPS["bigbuckbunny"]], out, segments=[1.0], size=(3840, 2160), fps=25)
    r = vidscore("analyze", out, "-o", tmp_path / "uhd.json")
    assert r.returncode == 0, r.stderr
    assert json.loads((tmp_path / "uhd.json").read_text())["info"]["width"] == 3840


def _encode(path: Path, codec: str, frames: list[np.ndarray], options: dict | None = None) -> None:
    """Write RGB ``frames`` at 25 fps with ``codec`` (pixel format yuv420p)."""
    h, w = frames[0].shape[:2]
    with av.open(str(path), "w", options=options or {}) as o:
        s = o.add_stream(codec, rate=25)
        s.width, s.height, s.pix_fmt = w, h, "yuv420p"
        for i, img in enumerate(frames):
            f = av.VideoFrame.from_ndarray(img, "rgb24")
            f.pts = i
            for p in s.encode(f):
                o.mux(p)
        for p in s.encode():
            o.mux(p)


def _bad_inputs(d: Path) -> dict[str, tuple[Path, str]]:
    bikes = CLIPS["bikes"].read_bytes()
    (d / "text.mp4").write_text("this is not a video\n")
    (d / "empty.mp4").write_bytes(b"")
    (d / "moov_lost.mp4").write_bytes(bikes[: len(bikes) // 2])  # index at the end, cut off
    head = bytearray(bikes)
    head[:4000] = bytes(4000)
    (d / "bad_header.mp4").write_bytes(bytes(head))
    _ok, png = cv2.imencode(".png", np.zeros((32, 32, 3), np.uint8))
    (d / "image.mp4").write_bytes(png.tobytes())
    # a truncated stream whose index survives (moov first): frames stop early
    fast = d / "fast.mp4"
    rng = np.random.default_rng(0)
    noise = [rng.integers(0, 256, (90, 160, 3), np.uint8) for _ in range(100)]
    _encode(fast, "libx264", noise, options={"movflags": "faststart"})
    data = fast.read_bytes()
    (d / "truncated.mp4").write_bytes(data[: len(data) // 3])
    with av.open(str(d / "audio.m4a"), "w", format="mp4") as o:
        s = o.add_stream("aac", rate=44100)
        x = (0.2 * np.sin(np.arange(44100) / 44100 * 2 * np.pi * 440)).astype(np.float32)
        for i in range(0, 44100, 1024):
            f = av.AudioFrame.from_ndarray(
                x[None, i : i + 1024].copy(), format="fltp", layout="mono"
            )
            f.sample_rate = 44100
            for p in s.encode(f):
                o.mux(p)
        for p in s.encode():
            o.mux(p)
    _encode(d / "one_frame.mp4", "libx264", [np.zeros((48, 64, 3), np.uint8)])
    _encode(d / "huge.mkv", "ffv1", [np.zeros((16, 8200, 3), np.uint8)] * 3)
    return {
        "missing": (d / "nope.mp4", "no such file"),
        "directory": (d, "is a directory"),
        "text": (d / "text.mp4", "not a readable video"),
        "image": (d / "image.mp4", "still image"),
        "empty": (d / "empty.mp4", "empty"),
        "moov_lost": (d / "moov_lost.mp4", "not a readable video"),
        "bad_header": (d / "bad_header.mp4", "not a readable video"),
        "truncated": (d / "truncated.mp4", "truncated"),
        "audio_only": (d / "audio.m4a", "audio-only"),
        "one_frame": (d / "one_frame.mp4", "single frame"),
        "huge": (d / "huge.mkv", "larger than vidscore accepts"),
    }


@pytest.fixture(scope="module")
def bad_inputs(tmp_path_factory):
    return _bad_inputs(tmp_path_factory.mktemp("bad"))


@pytest.mark.parametrize(
    "case",
    [
        "missing",
        "directory",
        "text",
        "image",
        "empty",
        "moov_lost",
        "bad_header",
        "truncated",
        "audio_only",
        "one_frame",
        "huge",
    ],
)
def test_bad_input_gives_one_line_and_exit_2(bad_inputs, tmp_path, case):
    path, needle = bad_inputs[case]
    before = sha(path) if path.is_file() else None
    r = vidscore("analyze", path, "-o", tmp_path / "f.json", "--plot", tmp_path / "f.png")
    assert_clean_failure(r, needle)
    assert list(tmp_path.iterdir()) == []  # nothing half-written
    if before is not None:
        assert sha(path) == before


def test_damaged_middle_of_stream_never_crashes(tmp_path):
    data = bytearray(CLIPS["bikes"].read_bytes())
    n = len(data)
    data[n // 3 : n // 3 + 20000] = np.random.default_rng(1).bytes(20000)
    bad = tmp_path / "garbage.mp4"
    bad.write_bytes(bytes(data))
    r = vidscore("analyze", bad, "-o", tmp_path / "f.json")
    assert "Traceback" not in r.stderr
    assert r.returncode in (0, 2)
    if r.returncode == 2:
        assert_clean_failure(r, "corrupt")
        assert not (tmp_path / "f.json").exists()


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--detector", "magic"], "--detector"),
        (["--hist-bins", "0"], "--hist-bins"),
        (["--hist-bins", "many"], "--hist-bins"),
        (["--beat-window", "-1"], "--beat-window"),
        (["--semantic", "word2vec"], "--semantic"),
        (["--semantic", "clip:/no/such/model"], "CLIP"),
        (["--bogus"], "--bogus"),
    ],
)
def test_wrong_options(small_clip, tmp_path, args, needle):
    assert_clean_failure(vidscore("analyze", small_clip, "-o", tmp_path / "f.json", *args), needle)
    assert not (tmp_path / "f.json").exists()


def test_output_problems(small_clip, tmp_path):
    assert_clean_failure(
        vidscore("analyze", small_clip, "-o", tmp_path / "no" / "f.json"), "does not exist"
    )
    assert_clean_failure(
        vidscore("analyze", small_clip, "-o", "/proc/vidscore.json"), "not writable"
    )
    assert_clean_failure(vidscore("analyze", small_clip), "say where to write")
    assert_clean_failure(
        vidscore("analyze", small_clip, "-o", small_clip, "--overwrite"), "overwrite the input"
    )


def test_debug_shows_the_traceback(tmp_path):
    r = vidscore("--debug", "analyze", tmp_path / "nope.mp4", "-o", tmp_path / "f.json")
    assert r.returncode != 0 and "Traceback" in r.stderr


def test_demo_clip_command(tmp_path):
    r = vidscore("data", "demo-clip", tmp_path / "demo.mp4", "--seconds", "6")
    assert r.returncode == 0, r.stderr
    r = vidscore("analyze", tmp_path / "demo.mp4", "-o", tmp_path / "demo.json")
    assert r.returncode == 0, r.stderr
    assert json.loads((tmp_path / "demo.json").read_text())["cuts"] == pytest.approx([3.0])


def test_bad_seed_soundfont_and_threshold_are_one_line_before_any_work(tmp_path):
    clip = CLIPS["bikes"]
    r = vidscore("compose", clip, "-o", tmp_path / "o.mp4", "--seed", "99999999999999999999")
    assert_clean_failure(r, "seed")
    notes = tmp_path / "notes.sf2"
    notes.write_text("not a soundfont")
    r = vidscore(
        "compose", tmp_path / "missing.mp4", "-o", tmp_path / "o.mp4", "--soundfont", notes
    )
    assert_clean_failure(r, "not a SoundFont")  # refused before the (missing) clip is looked at
    missing = tmp_path / "missing.mp4"  # each refused before the clip is even looked at
    assert_clean_failure(vidscore("compose", missing, "-o", tmp_path / "x.webm"), ".mp4, .mov")
    assert_clean_failure(vidscore("compose", missing, "-o", tmp_path / "noext"), ".mp4, .mov")
    r = vidscore("compose", missing, "-o", tmp_path / "o.mp4", "--synth", "bogus")
    assert_clean_failure(r, "--synth")
    for bad in ("-1", "nan"):
        r = vidscore("analyze", clip, "-o", tmp_path / "f.json", "--threshold", bad)
        assert_clean_failure(r, "--threshold")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.sf2"]


def test_hidden_files_in_a_folder_are_not_clips(tmp_path):
    from vidscore.batch import find_videos

    (tmp_path / "sub").mkdir()
    for name in ("a.mp4", ".a.mp4.x1y2.mp4", "sub/b.mkv"):
        (tmp_path / name).write_bytes(b"")
    (tmp_path / ".cache").mkdir()
    (tmp_path / ".cache" / "c.mp4").write_bytes(b"")
    assert [p.name for p in find_videos([str(tmp_path)])] == ["a.mp4", "b.mkv"]
