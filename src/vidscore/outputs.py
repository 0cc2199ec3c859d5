"""Writing outputs safely: refuse to clobber, claim the name, write to a temporary file, rename
into place.

A crash or a bad input never leaves a half-written output behind, and an existing file is only
replaced when the user said ``--overwrite``: the check happens before the work, the outputs are
claimed for the run (:func:`claim`, so a second run to the same name stops at once), and the final
rename refuses a file that appeared meanwhile. What a killed run (``kill -9``, power loss) could
not remove is named so the next run can: partial outputs ``.NAME.vidscore-part-*`` beside an
output are removed when that output is next claimed, and work folders ``vidscore-PID-*`` in
TMPDIR whose process is gone are removed when the next work folder is made. A full disk is one
line naming the place that is full.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import re
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

from vidscore.errors import OutputError

PART = ".vidscore-part-"
WORK = re.compile(r"vidscore-(\d+)-[A-Za-z0-9_]+")


def no_space(exc: BaseException) -> bool:
    """Whether ``exc`` (an OSError, or an FFmpeg error carrying errno) says the disk is full."""
    return isinstance(exc, OSError) and exc.errno == errno.ENOSPC


def check_output(path: str | os.PathLike, *, overwrite: bool = False) -> Path:
    """Fail early, before any work, if ``path`` cannot be written."""
    p = Path(path)
    if p.is_dir():
        raise OutputError(f"{p}: is a directory; give a file name")
    if p.exists() and not overwrite:
        raise OutputError(f"{p}: already exists (use --overwrite to replace it)")
    _check_writable(p.parent if str(p.parent) else Path("."))
    return p


def _check_writable(folder: Path) -> None:
    """An existing folder a run can create files in, or one OutputError line."""
    if not folder.is_dir():
        raise OutputError(f"{folder}: output folder does not exist")
    if not os.access(folder, os.W_OK | os.X_OK) or not _can_create(folder):
        raise OutputError(f"{folder}: output folder is not writable")


def check_output_folder(
    folder: str | os.PathLike, names: tuple[str, ...], *, overwrite: bool = False
) -> Path:
    """Fail early if ``folder`` (created if missing) cannot take the files ``names``."""
    d = Path(folder)
    if d.exists() and not d.is_dir():
        raise OutputError(f"{d}: not a folder")
    try:
        d.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"{d}: cannot create this folder ({exc.strerror})") from exc
    for name in names:
        check_output(d / name, overwrite=overwrite)
    return d


def check_stems_folder(folder: str | os.PathLike, *, overwrite: bool = False) -> Path:
    """Fail early if ``folder`` cannot take a run's WAV stems (whose names the system decides
    later): not a file, no WAVs already there unless ``overwrite``, made in a writable place."""
    d = Path(folder)
    if d.exists() and not d.is_dir():
        raise OutputError(f"{d}: not a folder")
    if d.is_dir() and not overwrite and any(d.glob("*.wav")):
        raise OutputError(f"{d}: already holds WAV files (use --overwrite to replace them)")
    _check_writable(d if d.is_dir() else (d.parent if str(d.parent) else Path(".")))
    return d


def _can_create(folder: Path) -> bool:
    """Really try to create a file: permission bits say nothing to root or on read-only mounts."""
    try:
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".vidscore-probe-"):
            return True
    except OSError:
        return False


@contextlib.contextmanager
def atomic_path(
    path: str | os.PathLike, *, overwrite: bool = False, suffix: str | None = None
) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success rename it to ``path``, else delete it."""
    p = check_output(path, overwrite=overwrite)
    try:
        fd, tmp = tempfile.mkstemp(
            prefix=f".{p.name}{PART}", suffix=p.suffix if suffix is None else suffix, dir=p.parent
        )
    except OSError as exc:
        raise OutputError(f"{p.parent}: cannot write there ({exc.strerror})") from exc
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        try:
            yield tmp_path
        except OSError as exc:
            if no_space(exc):
                raise OutputError(f"{p}: no space left on the device of {p.parent}") from exc
            raise
        try:
            os.chmod(tmp_path, 0o644)
            if overwrite:
                os.replace(tmp_path, p)
            else:
                _link_no_clobber(tmp_path, p)
        except FileExistsError as exc:
            raise OutputError(f"{p}: appeared while vidscore was writing; left as it is") from exc
        except OSError as exc:
            raise OutputError(f"{p}: cannot write ({exc.strerror})") from exc
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()


def _link_no_clobber(tmp: Path, p: Path) -> None:
    """Move ``tmp`` to ``p`` unless ``p`` exists (a hard link fails on an existing name)."""
    try:
        os.link(tmp, p)
    except FileExistsError:
        raise
    except OSError:  # a filesystem without hard links: check, then rename
        if p.exists():
            raise FileExistsError(p) from None
        os.replace(tmp, p)


@contextlib.contextmanager
def claim(paths: Iterable[str | os.PathLike]) -> Iterator[None]:
    """Hold each output for this run: an exclusive lock on ``.NAME.vidscore-lock`` beside it,
    released (and the lock file removed) on every exit; the system frees it if the process
    dies. A second run to the same output fails at once with one line."""
    held: list[tuple[int, Path]] = []
    try:
        for path in paths:
            p = Path(path)
            lock = p.with_name(f".{p.name}.vidscore-lock")
            try:
                fd = os.open(lock, os.O_CREAT | os.O_RDWR, 0o644)
            except OSError as exc:
                raise OutputError(f"{p.parent}: cannot write there ({exc.strerror})") from exc
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(fd)
                raise OutputError(f"{p}: another vidscore run is writing it") from None
            held.append((fd, lock))
            for stale in p.parent.glob(f".{glob_escape(p.name)}{PART}*"):
                with contextlib.suppress(OSError):  # ours, from a run that was killed
                    stale.unlink()
        yield
    finally:
        for fd, lock in held:
            with contextlib.suppress(OSError):
                lock.unlink()
            os.close(fd)


def glob_escape(name: str) -> str:
    return re.sub(r"([*?\[])", r"[\1]", name)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def sweep_work_folders(root: str | os.PathLike | None = None) -> list[Path]:
    """Remove ``vidscore-PID-*`` folders of ours in ``root`` (TMPDIR) whose process is gone."""
    gone = []
    for d in Path(root or tempfile.gettempdir()).glob("vidscore-*-*"):
        m = WORK.fullmatch(d.name)
        try:
            mine = d.is_dir() and d.stat().st_uid == os.getuid()
        except OSError:
            continue
        if m and mine and not _alive(int(m[1])):
            shutil.rmtree(d, ignore_errors=True)
            gone.append(d)
    return gone


def user_cache() -> Path:
    """vidscore's folder in the user's cache (``$XDG_CACHE_HOME/vidscore``, else
    ``~/.cache/vidscore``): what is kept between runs, unlike :func:`work_folder`."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "vidscore"


@contextlib.contextmanager
def work_folder() -> Iterator[Path]:
    """A private folder in TMPDIR for one run's spooled sound, removed on every exit; named
    ``vidscore-PID-*`` so a later run removes it if this process is killed."""
    sweep_work_folders()
    try:
        d = Path(tempfile.mkdtemp(prefix=f"vidscore-{os.getpid()}-"))
    except OSError as exc:
        raise OutputError(
            f"{tempfile.gettempdir()}: cannot make a work folder there ({exc.strerror}); "
            "set TMPDIR to a writable disk"
        ) from exc
    try:
        yield d
    except OSError as exc:
        if no_space(exc):
            raise OutputError(
                f"{d.parent}: no space left for the run's spooled sound; set TMPDIR to a disk "
                "with more room"
            ) from exc
        raise
    finally:
        shutil.rmtree(d, ignore_errors=True)
