"""Outputs are claimed for a run, written atomically and never clobbered (issue 10 item 5)."""

from __future__ import annotations

import pytest

from tests.conftest import CLIPS, run_cli
from vidscore.errors import OutputError
from vidscore.outputs import atomic_path, claim


def test_a_file_that_appears_during_the_write_is_not_replaced(tmp_path):
    out = tmp_path / "o.json"
    with pytest.raises(OutputError, match="appeared"), atomic_path(out) as tmp:
        tmp.write_text("ours")
        out.write_text("theirs")  # another program wrote the name meanwhile
    assert out.read_text() == "theirs"
    assert [p.name for p in tmp_path.iterdir()] == ["o.json"]  # our temporary file is gone


def test_overwrite_replaces(tmp_path):
    out = tmp_path / "o.json"
    out.write_text("old")
    with atomic_path(out, overwrite=True) as tmp:
        tmp.write_text("new")
    assert out.read_text() == "new"


@pytest.mark.shared
def test_a_second_run_to_a_claimed_output_stops_at_once(tmp_path):
    out = tmp_path / "same.mp4"
    with claim([out]):  # as a first run holds it while it works
        r = run_cli("compose", CLIPS["bikes"], "-o", out)
        assert r.returncode == 2 and "another vidscore run is writing" in r.stderr, r.stderr
        again = claim([out])
        with pytest.raises(OutputError, match="another vidscore run"), again:
            pass
    assert list(tmp_path.iterdir()) == []  # the claim leaves nothing behind
    r = run_cli("compose", CLIPS["carphone_pristine"], "-o", out)
    assert r.returncode == 0, r.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["same.mp4"]


@pytest.mark.shared
def test_sigterm_mid_compose_is_one_line_and_leaves_nothing(tmp_path, montage):
    """SIGTERM (as a job scheduler sends) unwinds like Ctrl-C: exit 143, one line, no partial
    output, no lock file, no temporary folder (issue 10 item 6)."""
    import os
    import signal
    import subprocess
    import sys
    import time

    out_dir, tmp_dir = tmp_path / "out", tmp_path / "tmp"
    out_dir.mkdir()
    tmp_dir.mkdir()
    out = out_dir / "same.mp4"
    proc = subprocess.Popen(
        [sys.executable, "-m", "vidscore", "compose", str(montage[0]), "-o", str(out),
         "--wav", str(out_dir / "m.wav")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "TMPDIR": str(tmp_dir)},
    )  # fmt: skip
    lock = out_dir / ".same.mp4.vidscore-lock"
    deadline = time.monotonic() + 120
    while not lock.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(0.3)  # into the analysis
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 143, stderr
    lines = [ln for ln in stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "interrupted (SIGTERM)" in lines[0], stderr
    assert list(out_dir.iterdir()) == [] and list(tmp_dir.iterdir()) == []
