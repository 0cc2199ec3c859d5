"""Every command and option the README documents, run on small inputs (one invocation each at
least), so a documented option that does not work fails here. The option list is read from the
README itself: documenting a new option without a run below fails the first test."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest

from tests.conftest import CLIPS, SHARED
from vidscore.cli import main

pytestmark = pytest.mark.shared

README = Path(__file__).resolve().parents[1] / "README.md"
TWO_WORD = {"data", "train"}
#: options the README documents that a dedicated test runs (file, the string it must contain)
ELSEWHERE = {
    ("analyze", "--executor"): ("test_batch.py", 'executor="ray"'),
    # only the refusal of an address with nothing behind it: a Ray head started in this sandbox
    # advertises an address its own clients cannot reach, so joining one is not tested here
    ("analyze", "--address"): ("test_batch.py", '"--address"'),
    ("compose", "--executor"): ("test_batch.py", 'executor="ray"'),
    ("compose", "--address"): ("test_batch.py", '"--address"'),
    # the web app runs until stopped: its test starts it, drives it in Chromium and stops it
    **{
        ("serve", opt): ("test_serve.py", '"serve",')
        for opt in (
            "",
            "--host",
            "--port",
            "--max-upload-mb",
            "--max-seconds",
            "--concurrency",
            "--keep-hours",
            "--work-dir",
            "--example",
        )
    },
}


def documented() -> set[tuple[str, str]]:
    """(command, option) for every option of every ``vidscore`` line in the README's bash blocks."""
    text = README.read_text()
    found = set()
    for block in re.findall(r"```bash\n(.*?)```", text, flags=re.S):
        for line in block.replace("\\\n", " ").splitlines():
            words = shlex.split(line.split("#")[0].replace("[", " ").replace("]", " "))
            if "vidscore" not in words:
                continue
            rest = words[words.index("vidscore") + 1 :]
            if not rest or rest[0].startswith("-") or "/" in rest[0]:
                continue
            command = " ".join(rest[:2]) if rest[0] in TWO_WORD else rest[0]
            found.add((command, ""))
            for w in rest:
                m = re.match(r"^(-o|--[a-z][a-z-]*)", w)
                if m:
                    found.add((command, m.group(1)))
    return found


def covered(argvs: list[list[str]]) -> set[tuple[str, str]]:
    out = set()
    for argv in argvs:
        command = " ".join(argv[:2]) if argv[0] in TWO_WORD else argv[0]
        out.add((command, ""))
        out |= {(command, w.split("=")[0]) for w in argv if w.startswith("-")}
    return out


@pytest.fixture(scope="module")
def workdir(tmp_path_factory, small_clip):
    """Inputs the runs share: the small clip, tiny trained weights, real MIDI and audio."""
    d = tmp_path_factory.mktemp("readme")
    song = SHARED / "data" / "POP909" / "001" / "001.mid"
    return {"dir": d, "clip": str(small_clip), "song": str(song)}


def runs(w: dict) -> list[list[str]]:
    d, clip = w["dir"], w["clip"]
    weights = str(d / "weights")
    videos = str(d / "videos")
    return [
        ["systems"],
        ["data", "demo-clip", str(d / "demo.mp4"), "--seconds", "3"],
        ["train", "video2music", "--data", str(SHARED / "data" / "POP909"), "--out", weights,
         "--epochs", "1", "--gru-epochs", "1", "--limit", "12", "--device", "cpu"],
        ["train", "video2music", "--data", str(SHARED / "data" / "POP909"), "--out", weights,
         "--epochs", "1", "--gru-epochs", "1", "--limit", "12", "--device", "cpu", "--overwrite",
         "--batch-size", "4", "--lr", "1e-3"],
        ["compose", clip, "-o", str(d / "a.scored.mp4"), "--midi", str(d / "a.mid"),
         "--wav", str(d / "a.wav"), "--cues", str(d / "a.cues.json"), "--plot", str(d / "a.png"),
         "--emotion", "sad", "--key", "D minor", "--tempo", "100", "--instruments", "strings",
         "--seed", "7", "--markers", "1.2"],
        ["compose", clip, "-o", str(d / "b.mp4"), "--system", "video2music",
         "--weights", weights, "--param", "temperature=0.8"],
        ["compose", clip, "-o", str(d / "c.mp4"), "--system", "baseline", "--ignore-cuts",
         "--markers", "1.0", "--stems", str(d / "stems")],
        *[["train", "vmusprod", "--data", str(SHARED / "data" / "SymMV-train"), "--data",
           str(SHARED / "data" / "POP909"), "--out", str(d / "vmp"), "--stage", stage,
           "--epochs", "1", "--limit", "8", "--cache", str(d / "cache"), "--device", "cpu"]
          for stage in ("chord", "melody", "accompaniment")],
        ["compose", clip, "-o", str(d / "v.mp4"), "--system", "vmusprod",
         "--weights", str(d / "vmp"), "--midi", str(d / "v.mid")],
        ["train", "diffbgm", "--data", str(SHARED / "data" / "POP909"), "--out", str(d / "dbgm"),
         "--epochs", "1", "--batch-size", "8", "--lr", "1e-3", "--hop-bars", "8", "--limit", "4",
         "--cache", str(d / "cache"), "--device", "cpu"],
        ["compose", clip, "-o", str(d / "d.mp4"), "--system", "diffbgm",
         "--weights", str(d / "dbgm"), "--midi", str(d / "d.mid")],
        ["compose", clip, "-o", str(d / "d2.mp4"), "--system", "diffbgm", "--weights",
         str(d / "dbgm"), "--keep", str(d / "d.mid"), "--regenerate", "0.5-1.5"],
        ["analyze", clip, "-o", str(d / "f.json"), "--plot", str(d / "f.png"),
         "--npz", str(d / "f.npz")],
        ["analyze", videos, "--out-dir", str(d / "feats"), "--formats", "json,png"],
        ["compose", videos, "--out-dir", str(d / "scored"), "--formats", "mp4,json,mid,wav,png"],
        ["data", "annotate", w["song"], "-o", str(d / "ann")],
        ["evaluate", str(d / "a.scored.mp4"), "--reference", str(Path(w["song"]).parent),
         "-o", str(d / "r1.json"), "--markdown", str(d / "r1.md"), "--plot", str(d / "r1.png"),
         "--audio-reference", str(d / "real"), "--embedder", "melstats"],
        ["evaluate", "--system", "video2music", "--videos", videos, "--dependence",
         "-o", str(d / "r2.json"), "--weights", weights, "--param", "top_p=0.9"],
        ["evaluate", "--system", "baseline", "--videos", videos, "--dependence",
         "-o", str(d / "r3.json")],
        ["evaluate", "--compare", str(d / "r2.json"), str(d / "r3.json"),
         "--plot", str(d / "systems.png"), "--markdown", str(d / "systems.md")],
    ]  # fmt: skip


def test_every_documented_option_has_a_run(workdir):
    missing = documented() - covered(runs(workdir)) - set(ELSEWHERE)
    assert not missing, f"README options never run by this test: {sorted(missing)}"
    for (_, _), (name, needle) in ELSEWHERE.items():
        assert needle in (Path(__file__).parent / name).read_text()


def test_the_documented_commands_run(workdir):
    import shutil

    d = workdir["dir"]
    (d / "videos").mkdir()
    shutil.copy(workdir["clip"], d / "videos" / "small.mp4")
    shutil.copy(CLIPS["carphone_pristine"], d / "videos" / "carphone.mp4")
    (d / "real").mkdir()
    shutil.copy(CLIPS["bigbuckbunny"], d / "real" / "bbb.mp4")  # a clip with real sound
    for argv in runs(workdir):
        assert main(argv) == 0, argv
    cues = json.loads((d / "a.cues.json").read_text())
    assert cues["key"] == "D minor" and cues["instruments"] == "strings"
    assert cues["markers"] == [1.2] and cues["tempo_bpm"] == pytest.approx(100, abs=11)
    assert any(abs(s["start"] - 1.2) < 1e-6 for s in cues["sections"])
    report = json.loads((d / "r1.json").read_text())
    assert report["audio_quality"]["embedder"] == "melstats" and "FAD" in report["summary"]
    assert report["closeness"] and "cut_alignment" in report["summary"]
    assert json.loads((d / "r2.json").read_text())["weights"] == str(d / "weights")
    systems = (d / "systems.md").read_text()
    assert "| measure | video2music | baseline |" in systems and "steering_lift" in systems
    assert (d / "systems.png").stat().st_size > 10_000
    for r in ("r2.json", "r3.json"):
        doc = json.loads((d / r).read_text())
        assert doc["shuffled_video"] and doc["swapped_video"]
    assert (d / "feats").is_dir() and len(list((d / "feats").glob("*.json"))) == 2
    manifest = json.loads((d / "vmp" / "manifest.json").read_text())
    assert set(manifest["stages"]) == {"chord", "melody", "accompaniment"}
    assert (d / "v.mid").stat().st_size > 100
    assert (d / "ann").is_dir() and any((d / "ann").iterdir())
