"""The README's commands, as a newcomer pastes them (issue 14 item 7): its ``bash`` blocks run
in order, exactly as written, from a folder laid out as a clone (``.venv`` and ``../shared``
beside it); and every option its ``text`` usage blocks list is run by those blocks or by a
dedicated test named below, so a documented option that does not work fails here."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import SHARED

pytestmark = pytest.mark.shared

README = Path(__file__).resolve().parents[1] / "README.md"
TWO_WORD = {"data", "train"}
#: lines the run leaves out, and why: the set-up itself (CI runs scripts/test.sh; demo.sh is
#: set-up plus one compose), and the web app, which runs until stopped (test_serve.py drives it)
NOT_RUN = ("bash scripts/", "vidscore serve")
#: options the README documents that a dedicated test runs (file, the string it must contain)
ELSEWHERE = {
    ("analyze", "--executor"): ("test_batch.py", 'executor="ray"'),
    # only the refusal of an address with nothing behind it: a Ray head started in this sandbox
    # advertises an address its own clients cannot reach, so joining one is not tested here
    ("analyze", "--address"): ("test_batch.py", '"--address"'),
    ("compose", "--executor"): ("test_batch.py", 'executor="ray"'),
    ("compose", "--address"): ("test_batch.py", '"--address"'),
    ("evaluate", "--vmcp"): ("test_retrieval.py", '"--vmcp"'),
    # paired training needs a paired corpus: its trainer is tested on the paired fixture through
    # run(), the command line through its refusals
    **{
        ("train vmas-paired", opt): ("test_vmas_paired.py", '"vmas-paired"')
        for opt in ("", "--data", "--out", "--video")
    },
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


def blocks(kind: str) -> list[str]:
    return re.findall(rf"```{kind}\n(.*?)```", README.read_text(), flags=re.S)


def commands(kind: str) -> list[str]:
    """Each ``vidscore`` command line of the README's ``kind`` blocks, continuations joined (a
    backslash in ``bash``, an indented line in the ``text`` usage blocks)."""
    lines: list[str] = []
    for block in blocks(kind):
        for line in block.replace("\\\n", " ").splitlines():
            if kind == "text" and line.startswith(" ") and lines:
                lines[-1] += " " + line
            else:
                lines.append(line)
    return [ln for ln in lines if "vidscore" in ln.split("#")[0]]


def options(line: str) -> set[tuple[str, str]]:
    """(command, option) for one ``vidscore`` line, optional brackets read as plain words."""
    words = shlex.split(line.split("#")[0].replace("[", " ").replace("]", " "))
    rest = words[words.index("vidscore") + 1 :]
    if not rest or rest[0].startswith("-") or "/" in rest[0]:
        return set()
    command = " ".join(rest[:2]) if rest[0] in TWO_WORD else rest[0]
    found = {(command, "")}
    for w in rest:
        m = re.match(r"^(-o|--[a-z][a-z-]*)", w)
        if m:
            found.add((command, m.group(1)))
    return found


def test_every_documented_option_is_run():
    documented = set().union(*map(options, commands("text") + commands("bash")))
    ran = set().union(*(options(ln) for ln in commands("bash") if not ln.startswith(NOT_RUN)))
    missing = documented - ran - set(ELSEWHERE)
    assert not missing, f"README options no README command or test runs: {sorted(missing)}"
    for name, needle in ELSEWHERE.values():
        assert needle in (Path(__file__).parent / name).read_text()
    assert ("compose", "--regenerate") in ran and ("evaluate", "--compare") in ran


def test_the_readme_blocks_run_as_pasted(tmp_path):
    """The bash blocks, verbatim and in order, in a clone-like folder; then what they wrote."""
    if sys.prefix == sys.base_prefix:
        pytest.skip("the README activates .venv: run the tests from the set-up's environment")
    clone = tmp_path / "vidscore"
    clone.mkdir()
    (clone / ".venv").symlink_to(sys.prefix)
    (tmp_path / "shared").symlink_to(SHARED)
    script = ["set -euo pipefail"]
    for block in blocks("bash"):
        script += [ln for ln in block.replace("\\\n", " ").splitlines()
                   if not ln.strip().startswith(NOT_RUN)]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"}
    env["XDG_CACHE_HOME"] = str(tmp_path / "cache")  # the trainers' piece caches
    r = subprocess.run(["bash", "-c", "\n".join(script)], cwd=clone, env=env, capture_output=True,
                       text=True, timeout=1500)  # fmt: skip
    assert r.returncode == 0, r.stderr[-3000:]
    out = clone / "out"
    sad = json.loads((out / "demo.sad.json").read_text())
    assert sad["key"] == "D minor" and sad["instruments"] == "strings" and sad["markers"] == [4.5]
    assert sad["tempo_bpm"] == pytest.approx(100, abs=11)
    assert any(abs(s["start"] - 4.5) < 1e-6 for s in sad["sections"])
    stems = list((out / "demo-stems").iterdir())
    assert stems and all(p.suffix == ".wav" for p in stems)
    for name in ("demo.scored.mp4", "demo.take2.mp4", "demo.v2m.mp4", "demo.mine.mp4"):
        assert (out / name).stat().st_size > 10_000, name
    clips = len(list((SHARED / "videos").glob("*.mp4")))
    assert len(list((out / "scored").glob("*.mp4"))) == clips
    report = json.loads((out / "report.json").read_text())
    assert report["audio_quality"]["embedder"] == "melstats" and "FAD" in report["summary"]
    assert report["closeness"] and "cut_alignment" in report["summary"]
    assert json.loads((out / "v2m.json").read_text())["weights"].endswith("my-v2m")
    systems = (out / "systems.md").read_text()
    assert "| measure | diffbgm | video2music | baseline |" in systems
    assert "steering_lift" in systems and (out / "systems.png").stat().st_size > 10_000
    for name in ("diffbgm.json", "v2m.json", "baseline.json"):
        doc = json.loads((out / name).read_text())
        assert doc["shuffled_video"] and doc["swapped_video"], name
    assert len(list((out / "features").glob("*.json"))) == clips
    manifest = json.loads((out / "my-vmusprod" / "manifest.json").read_text())
    assert set(manifest["stages"]) == {"chord", "melody", "accompaniment"}
    assert (out / "demo.vmp.mid").stat().st_size > 100
    assert any((out / "annotations").iterdir())
