"""Writing outputs safely: refuse to clobber, write to a temporary file, rename into place.

A crash or a bad input never leaves a half-written output behind, and an existing file is only
replaced when the user said ``--overwrite``.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from vidscore.errors import OutputError


def check_output(path: str | os.PathLike, *, overwrite: bool = False) -> Path:
    """Fail early, before any work, if ``path`` cannot be written."""
    p = Path(path)
    if p.is_dir():
        raise OutputError(f"{p}: is a directory; give a file name")
    if p.exists() and not overwrite:
        raise OutputError(f"{p}: already exists (use --overwrite to replace it)")
    parent = p.parent if str(p.parent) else Path(".")
    if not parent.is_dir():
        raise OutputError(f"{parent}: output folder does not exist")
    if not os.access(parent, os.W_OK | os.X_OK) or not _can_create(parent):
        raise OutputError(f"{parent}: output folder is not writable")
    return p


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
            prefix=f".{p.name}.", suffix=p.suffix if suffix is None else suffix, dir=p.parent
        )
    except OSError as exc:
        raise OutputError(f"{p.parent}: cannot write there ({exc.strerror})") from exc
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        try:
            os.chmod(tmp_path, 0o644)
            os.replace(tmp_path, p)
        except OSError as exc:
            raise OutputError(f"{p}: cannot write ({exc.strerror})") from exc
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()
