"""Outputs are claimed for a run, written atomically and never clobbered (issue 10 item 5)."""

from __future__ import annotations

import contextlib

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
def test_analyze_and_evaluate_claim_their_outputs_too(tmp_path):
    out = tmp_path / "f.json"
    with claim([out]):
        r = run_cli("analyze", CLIPS["bikes"], "-o", out)
        assert r.returncode == 2 and "another vidscore run is writing" in r.stderr, r.stderr
        r = run_cli("evaluate", "--system", "baseline", "--videos", CLIPS["bikes"], "-o", out)
        assert r.returncode == 2 and "another vidscore run is writing" in r.stderr, r.stderr
    assert list(tmp_path.iterdir()) == []


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


def test_a_killed_runs_partial_output_goes_when_the_output_is_next_claimed(tmp_path):
    out = tmp_path / "o.mp4"
    partial = tmp_path / ".o.mp4.vidscore-part-k1ll3d.mp4"  # as atomic_path names them
    partial.write_bytes(b"\0" * 1024)
    other = tmp_path / ".o.mp4.notes"  # not ours: kept
    other.write_text("mine")
    with claim([out]):
        assert not partial.exists()
    assert other.exists()


def test_work_folders_of_dead_runs_are_swept_and_live_ones_kept(tmp_path, monkeypatch):
    import os
    import subprocess
    import sys

    from vidscore.outputs import work_folder

    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    gone = tmp_path / f"vidscore-{dead.stdout.strip()}-abc123"
    live = tmp_path / f"vidscore-{os.getpid()}-abc123"
    for d in (gone, live):
        d.mkdir()
        (d / "music.f32").write_bytes(b"\0" * 64)
    with work_folder() as work:
        assert work.parent == tmp_path and work.is_dir()
        assert not gone.exists() and live.exists()
    assert not work.exists()


@pytest.mark.shared
def test_kill_9_leftovers_are_removed_by_the_next_run(tmp_path, montage):
    """A run killed with SIGKILL cannot clean up; the next one does (issue 10 item 6)."""
    import os
    import subprocess
    import sys
    import time

    out_dir, tmp_dir = tmp_path / "out", tmp_path / "tmp"
    out_dir.mkdir()
    tmp_dir.mkdir()
    env = {**os.environ, "TMPDIR": str(tmp_dir)}
    out = out_dir / "o.mp4"
    proc = subprocess.Popen([sys.executable, "-m", "vidscore", "compose", str(montage[0]),
                             "-o", str(out)], env=env, stderr=subprocess.DEVNULL)  # fmt: skip
    deadline = time.monotonic() + 120
    while not list(tmp_dir.glob("vidscore-*")) and time.monotonic() < deadline:
        time.sleep(0.02)
    proc.kill()
    proc.wait(timeout=60)
    assert list(tmp_dir.glob("vidscore-*"))  # the killed run's work folder is left ...
    (out_dir / ".o.mp4.vidscore-part-abcdef.mp4").write_bytes(b"\0" * 4096)  # ... as a partial
    r = run_cli("compose", CLIPS["carphone_pristine"], "-o", out, env={"TMPDIR": str(tmp_dir)})
    assert r.returncode == 0, r.stderr
    assert list(tmp_dir.iterdir()) == []  # ... and the next run removes them
    assert sorted(p.name for p in out_dir.iterdir()) == ["o.mp4"]


@pytest.fixture
def full_disk(tmp_path):
    """A 1 MiB tmpfs, filled; skips where this user may not mount."""
    import subprocess

    mnt = tmp_path / "full"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mnt)],
                       capture_output=True, text=True)  # fmt: skip
    if r.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs to fill ({r.stderr.strip()})")
    try:
        with open(mnt / "filler", "wb") as f, contextlib.suppress(OSError):
            while True:
                f.write(b"\0" * 65536)
        (mnt / "filler").unlink()
        (mnt / "filler").write_bytes(b"\0" * (1024 * 1024 - 8 * 1024))  # 8 KiB left
        yield mnt
    finally:
        subprocess.run(["umount", str(mnt)], check=False)


@pytest.mark.shared
def test_a_full_disk_is_one_line_naming_the_place(full_disk, tmp_path):
    for args in (
        ("compose", CLIPS["bikes"], "-o", full_disk / "o.mp4", "--system", "baseline"),
        ("analyze", CLIPS["bikes"], "-o", full_disk / "o.json", "--npz", full_disk / "o.npz"),
    ):
        r = run_cli(*args)
        lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
        assert r.returncode == 2 and len(lines) == 1, r.stderr
        assert "no space left" in lines[0] and str(full_disk) in lines[0], r.stderr
        assert sorted(p.name for p in full_disk.iterdir()) == ["filler"]  # no partial left
    r = run_cli("compose", CLIPS["bikes"], "-o", tmp_path / "o.mp4", "--system", "baseline",
                env={"TMPDIR": str(full_disk)})  # fmt: skip
    assert r.returncode == 2 and "no space left" in r.stderr and "TMPDIR" in r.stderr, r.stderr
