"""Every failure a user can cause, as one exception family.

The CLI turns a :class:`VidscoreError` into one line on stderr and its ``exit_code``; anything else
is a bug and keeps its traceback.
"""

from __future__ import annotations


class VidscoreError(Exception):
    """Base of all user-facing failures; ``exit_code`` is what the CLI returns."""

    exit_code = 2


class InputError(VidscoreError):
    """The input is missing, unreadable, or not something vidscore can use."""


class NotAVideoError(InputError):
    """The file exists but holds no decodable video stream."""


class CorruptVideoError(InputError):
    """The video stream is truncated or damaged."""


class UnsupportedVideoError(InputError):
    """The video is valid but outside what vidscore handles (too short, too large)."""


class OutputError(VidscoreError):
    """An output cannot be written (exists without --overwrite, folder not writable)."""


class UsageError(VidscoreError):
    """Options that do not fit together or are out of range."""


class ModelLoadError(VidscoreError):
    """A local model (e.g. CLIP) could not be found or loaded."""
