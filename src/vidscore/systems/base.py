"""What every system gives the pipeline, and the registry ``--system NAME`` looks up.

A system turns a clip's :class:`~vidscore.types.VideoFeatures` and the user's
:class:`~vidscore.types.Controls` into a :class:`Composition`: a score whose chord changes sit on
the clip's cuts, plus what it decided (tempo, key, emotion per slot) for the cues file. Rendering
and muxing are shared and know nothing of which system produced the score.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from vidscore.errors import UsageError
from vidscore.music.score import Score
from vidscore.render.timing import Slot
from vidscore.types import Controls, VideoFeatures


@dataclass
class Composition:
    score: Score
    slots: list[Slot]
    aligned_cuts: list[float]
    tempo_bpm: float
    key: str
    preset: str
    slot_emotion: list[str]
    meta: dict = field(default_factory=dict)


class System(Protocol):
    name: str

    def compose(self, features: VideoFeatures, controls: Controls) -> Composition: ...


_REGISTRY: dict[str, Callable[[], System]] = {}


def register(name: str):
    def wrap(factory: Callable[[], System]) -> Callable[[], System]:
        _REGISTRY[name] = factory
        return factory

    return wrap


def load_system(name: str) -> System:
    """Build the system registered as ``name`` (importing the built-in ones first)."""
    import vidscore.systems.video2music.system  # noqa: F401  (registers itself)

    if name not in _REGISTRY:
        raise UsageError(f"--system {name!r}: available: {', '.join(sorted(_REGISTRY))}")
    return _REGISTRY[name]()


#: Built-in systems, known without importing them (and torch).
BUILTIN = ("video2music",)


def registered() -> list[str]:
    """Names ``--system`` accepts."""
    return sorted({*BUILTIN, *_REGISTRY})
