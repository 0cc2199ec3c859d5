"""The system contract and the registry ``--system NAME`` looks up.

A system is a class that declares, before any work:

* ``needs``: the feature series it reads (and any dense frames), so ``analyze`` computes exactly
  those in its one decode pass (``feature_needs(weights)`` when some weights read more);
* ``Params``: a frozen dataclass of its own generation parameters (AMT: temperature, top-p;
  diffusion: steps, guidance), validated in ``__post_init__``, set with ``--param name=value``;
* ``output``: ``"score"`` or ``"audio"``, so the pipeline knows before the work whether a MIDI
  file can be written;
* ``weight_files`` and ``default_weights``: what a weights folder holds and where the shipped one
  is (no files: the system needs no weights);

and implements ``load(weights)`` (build from a weights folder; heavy imports such as torch go
there, so validation stays fast) and ``compose(features, controls, params) -> Soundtrack``.

The registry maps each name to ``"module:Class"`` and imports it only when asked: adding a
system is one folder and one line in :data:`SYSTEMS`.
"""

from __future__ import annotations

import dataclasses
import importlib
import os
import typing
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from vidscore.errors import ModelLoadError, UsageError
from vidscore.soundtrack import Soundtrack
from vidscore.types import Controls, VideoFeatures
from vidscore.video.io import FrameRequest

#: name -> "module:Class"; the first is the default system, the one the systems table of
#: ``benchmarks/quality.py --systems all`` ranks first (docs/evaluation.md).
SYSTEMS: dict[str, str] = {
    "diffbgm": "vidscore.systems.diffbgm.system:DiffBGMSystem",
    "video2music": "vidscore.systems.video2music.system:Video2MusicSystem",
    "vmusprod": "vidscore.systems.vmusprod.system:VMusProdSystem",
    "vmas": "vidscore.systems.vmas.system:VMAsSystem",
    "baseline": "vidscore.systems.baseline.system:BaselineSystem",
}
DEFAULT_SYSTEM = next(iter(SYSTEMS))


@dataclass(frozen=True)
class FeatureNeeds:
    """The analysis a system reads: series names (see docs/features.md) and dense frames."""

    series: frozenset[str]
    frames: tuple[FrameRequest, ...] = ()


@dataclass(frozen=True)
class NoParams:
    """For a system without generation parameters."""


class System(ABC):
    """The base every system fills in (see the module docstring)."""

    name: ClassVar[str]
    summary: ClassVar[str]
    output: ClassVar[str] = "score"
    needs: ClassVar[FeatureNeeds]
    Params: ClassVar[type] = NoParams
    weight_files: ClassVar[tuple[str, ...]] = ()
    default_weights: ClassVar[Path | None] = None
    #: can rewrite a time range of an earlier take (``--keep TAKE.mid --regenerate A-B``)
    regenerates: ClassVar[bool] = False

    @classmethod
    def load(cls, weights: str | os.PathLike | None = None) -> System:
        """Build the system from ``weights`` (default: the shipped folder)."""
        cls.check_weights(weights)
        return cls()

    @classmethod
    def check_weights(cls, weights: str | os.PathLike | None) -> None:
        """Refuse, before any work, ``--weights`` this system cannot use."""
        if weights is None:
            return
        if not cls.weight_files:
            raise UsageError(f"--weights: the {cls.name} system has no weights")
        cls.weights_folder(weights)

    @classmethod
    def feature_needs(cls, weights: str | os.PathLike | None = None) -> FeatureNeeds:
        """What ``weights`` read (a cheap look at the folder, before loading): ``needs``."""
        return cls.needs

    @abstractmethod
    def compose(self, features: VideoFeatures, controls: Controls, params: Any) -> Soundtrack:
        """The music for one clip."""

    @classmethod
    def weights_folder(cls, weights: str | os.PathLike | None) -> Path:
        """The folder to load: ``weights`` or the shipped one, checked to hold every file."""
        folder = Path(weights) if weights is not None else cls.default_weights
        if folder is None:
            raise ModelLoadError(f"{cls.name}: no weights given and none shipped")
        if not folder.is_dir():
            raise ModelLoadError(f"--weights {folder}: not a folder")
        missing = [f for f in cls.weight_files if not (folder / f).is_file()]
        if missing:
            raise ModelLoadError(
                f"{folder}: missing {', '.join(missing)} (train with vidscore train {cls.name})"
            )
        return folder

    @classmethod
    def weights_status(cls) -> str:
        """``shipped``, ``missing`` (train them) or ``none needed``."""
        if not cls.weight_files:
            return "none needed"
        folder = cls.default_weights
        ok = folder is not None and all((folder / f).is_file() for f in cls.weight_files)
        return "shipped" if ok else "missing"


def registered() -> list[str]:
    """Names ``--system`` accepts, default first."""
    return list(SYSTEMS)


def system_class(name: str) -> type[System]:
    """The class registered as ``name``, imported on first use."""
    if name not in SYSTEMS:
        raise UsageError(f"--system {name!r}: available: {', '.join(SYSTEMS)}")
    module, _, attr = SYSTEMS[name].partition(":")
    return getattr(importlib.import_module(module), attr)


def load_system(name: str = DEFAULT_SYSTEM, weights: str | os.PathLike | None = None) -> System:
    """Build the system registered as ``name``, from ``weights`` or its shipped weights."""
    return system_class(name).load(weights)


@dataclass(frozen=True)
class ParamInfo:
    """One generation parameter, for ``vidscore systems`` and validation messages."""

    name: str
    type: str
    default: Any
    help: str


def param_info(params_cls: type) -> list[ParamInfo]:
    hints = typing.get_type_hints(params_cls)
    return [
        ParamInfo(
            f.name,
            getattr(hints[f.name], "__name__", str(hints[f.name])),
            f.default,
            f.metadata.get("help", ""),
        )
        for f in dataclasses.fields(params_cls)
    ]


def parse_params(params_cls: type, items: list[str] | dict[str, Any] | None) -> Any:
    """``["temperature=0.8", ...]`` (or a dict) -> a validated ``params_cls``; UsageError else."""
    if items is None:
        items = {}
    if isinstance(items, list):
        pairs: dict[str, Any] = {}
        for item in items:
            name, sep, value = item.partition("=")
            if not sep or not name.strip():
                raise UsageError(f"--param {item!r}: say name=value")
            pairs[name.strip()] = value.strip()
        items = pairs
    hints = typing.get_type_hints(params_cls)
    known = [f.name for f in dataclasses.fields(params_cls)]
    values = {}
    for name, raw in items.items():
        if name not in known:
            choices = ", ".join(known) if known else "none"
            raise UsageError(f"--param {name}: unknown parameter (this system takes: {choices})")
        values[name] = _convert(name, raw, hints[name])
    try:
        return params_cls(**values)
    except ValueError as exc:
        raise UsageError(f"--param: {exc}") from exc


def _convert(name: str, raw: Any, kind: Any) -> Any:
    if not isinstance(raw, str):
        ok = isinstance(raw, kind) and not (kind is int and isinstance(raw, bool))
        if kind is float and isinstance(raw, int) and not isinstance(raw, bool):
            return float(raw)
        if not ok:
            raise UsageError(f"--param {name}={raw!r}: not a {getattr(kind, '__name__', kind)}")
        return raw
    try:
        if kind is bool:
            if raw.lower() not in ("true", "false", "1", "0", "yes", "no"):
                raise ValueError(raw)
            return raw.lower() in ("true", "1", "yes")
        if kind in (int, float, str):
            return kind(raw)
    except ValueError:
        raise UsageError(f"--param {name}={raw}: not a {kind.__name__}") from None
    raise UsageError(f"--param {name}: cannot be set from the command line")
