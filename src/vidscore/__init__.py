"""vidscore: compose background music that follows a video's mood, pace and cuts.

Public API: :func:`analyze` turns a clip into a :class:`~vidscore.types.VideoFeatures` timeline.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__", "analyze"]


def analyze(path, config=None, *, progress=None):
    """Analyze one clip (see :func:`vidscore.features.analyze.analyze`)."""
    from vidscore.features.analyze import analyze as _analyze

    return _analyze(path, config, progress=progress)
