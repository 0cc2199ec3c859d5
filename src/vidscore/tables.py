"""Whitespace-separated annotation files (chord labs, beat and key lists, feature series).

:func:`read_rows` applies a row parser to every non-blank line and turns any parse failure into an
:class:`~vidscore.errors.InputError` that names the file and the line, so every dataset reader
reports malformed input the same way.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TypeVar

from vidscore.errors import InputError

T = TypeVar("T")


def fields(parts: list[str], count: int) -> list[str]:
    """``parts`` if it has exactly ``count`` fields, else a ValueError saying so."""
    if len(parts) != count:
        raise ValueError(f"expected {count} fields, got {len(parts)}")
    return parts


def read_rows(path: str | os.PathLike, parse: Callable[[list[str]], T | None]) -> list[T]:
    """``parse(line.split())`` for every non-blank line; ``None`` results are skipped."""
    out: list[T] = []
    try:
        with open(path, encoding="utf-8") as fh:
            for n, line in enumerate(fh, 1):
                parts = line.split()
                if not parts:
                    continue
                try:
                    row = parse(parts)
                except (ValueError, IndexError, KeyError) as exc:
                    raise InputError(f"{path}:{n}: {exc}") from exc
                if row is not None:
                    out.append(row)
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror})") from exc
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: not a text file") from exc
    return out
