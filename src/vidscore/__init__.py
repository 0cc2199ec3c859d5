"""vidscore: compose background music that follows a video's mood, pace and cuts.

Public API: :func:`analyze` turns a clip into a :class:`~vidscore.types.VideoFeatures` timeline;
:func:`compose` writes the clip back with music; :func:`load_system` gives a system by name.
"""

from __future__ import annotations

from vidscore.version import __version__

__all__ = ["__version__", "analyze", "compose", "load_system"]


def analyze(path, config=None, *, progress=None):
    """Analyze one clip (see :func:`vidscore.features.analyze.analyze`)."""
    from vidscore.features.analyze import analyze as _analyze

    return _analyze(path, config, progress=progress)


def compose(video, output, **kwargs):
    """Compose music for a clip (see :func:`vidscore.pipeline.compose`)."""
    from vidscore.pipeline import compose as _compose

    return _compose(video, output, **kwargs)


def load_system(name: str | None = None, weights=None):
    """A registered system (default: the default system), from ``weights`` (a folder ``vidscore
    train`` wrote) or its shipped weights (see :func:`vidscore.systems.base.load_system`)."""
    from vidscore.systems.base import DEFAULT_SYSTEM
    from vidscore.systems.base import load_system as _load

    return _load(name or DEFAULT_SYSTEM, weights)
