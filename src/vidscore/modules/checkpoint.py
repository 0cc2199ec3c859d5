"""Checkpoint I/O for every model: safetensors with the config in the metadata, a manifest of
sha256 digests beside them, hashes checked on load, files written atomically.

A weights folder holds one ``.safetensors`` file per model and ``manifest.json``::

    {"format": "vidscore.weights/1", "system": "video2music",
     "files": {"amt.safetensors": "<sha256>", ...}, "metrics": {...}, "train": {...}, ...}

Each safetensors file's metadata carries ``kind`` (which model) and ``config`` (JSON of the
arguments its builder takes), so the file alone rebuilds the model (audiocraft's habit).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from vidscore.errors import ModelLoadError
from vidscore.outputs import atomic_path

MANIFEST = "manifest.json"
FORMAT = "vidscore.weights/1"


def file_sha256(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def save_module(
    model: nn.Module,
    path: str | os.PathLike,
    *,
    kind: str,
    config: dict[str, Any],
    overwrite: bool = False,
) -> str:
    """Write ``model``'s weights (CPU, contiguous) with ``kind`` and ``config``; return sha256."""
    from safetensors.torch import save_file

    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    with atomic_path(path, overwrite=overwrite, suffix=".safetensors") as tmp:
        save_file(state, str(tmp), metadata={"kind": kind, "config": json.dumps(config)})
        digest = file_sha256(tmp)
    return digest


def read_state(
    path: str | os.PathLike, *, kind: str, sha256: str | None = None
) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """(config, state dict) of a checkpoint, after checking its hash and kind."""
    from safetensors import safe_open

    p = Path(path)
    if not p.is_file():
        raise ModelLoadError(f"{p}: weights not found")
    if sha256 is not None and file_sha256(p) != sha256:
        raise ModelLoadError(f"{p}: sha256 does not match its manifest (corrupt or replaced file)")
    try:
        with safe_open(str(p), "pt") as f:
            meta = f.metadata() or {}
            state = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118  (not a dict)
    except Exception as exc:
        raise ModelLoadError(f"{p}: not a readable safetensors file ({exc})") from exc
    if meta.get("kind") != kind:
        raise ModelLoadError(f"{p}: holds {meta.get('kind')!r} weights, expected {kind!r}")
    try:
        config = json.loads(meta["config"])
    except (KeyError, ValueError) as exc:
        raise ModelLoadError(f"{p}: no model config in its metadata") from exc
    return config, state


def load_module(
    path: str | os.PathLike,
    build: Callable[[dict[str, Any]], nn.Module],
    *,
    kind: str,
    sha256: str | None = None,
) -> nn.Module:
    """Rebuild a model with ``build(config)`` and load its weights; eval mode."""
    config, state = read_state(path, kind=kind, sha256=sha256)
    try:
        model = build(config)
        model.load_state_dict(state)
    except (TypeError, RuntimeError) as exc:
        raise ModelLoadError(f"{path}: weights do not fit the {kind} model ({exc})") from exc
    return model.eval()


def write_manifest(
    folder: str | os.PathLike, data: dict[str, Any], *, overwrite: bool = False
) -> Path:
    """Write ``manifest.json`` (``data`` must hold ``system`` and ``files``) atomically."""
    if "system" not in data or "files" not in data:
        raise ValueError("a manifest names its system and its files")
    path = Path(folder) / MANIFEST
    with atomic_path(path, overwrite=overwrite) as tmp:
        tmp.write_text(json.dumps({"format": FORMAT, **data}, indent=2) + "\n")
    return path


def read_manifest(folder: str | os.PathLike, *, system: str | None = None) -> dict[str, Any]:
    """The manifest of a weights folder, checked to be ours (and ``system``'s)."""
    path = Path(folder) / MANIFEST
    if not path.is_file():
        raise ModelLoadError(f"{folder}: no {MANIFEST} (not a vidscore weights folder)")
    try:
        data = json.loads(path.read_text())
    except ValueError as exc:
        raise ModelLoadError(f"{path}: not valid JSON ({exc})") from exc
    if data.get("format") != FORMAT or not isinstance(data.get("files"), dict):
        raise ModelLoadError(f"{path}: not a {FORMAT} manifest")
    if system is not None and data.get("system") != system:
        raise ModelLoadError(f"{folder}: weights for {data.get('system')!r}, not {system!r}")
    return data


def load_from_folder(
    folder: str | os.PathLike,
    file: str,
    build: Callable[[dict[str, Any]], nn.Module],
    *,
    kind: str,
    system: str,
) -> nn.Module:
    """One model of a weights folder, its hash checked against the folder's manifest."""
    manifest = read_manifest(folder, system=system)
    if file not in manifest["files"]:
        raise ModelLoadError(f"{folder}: the manifest lists no {file}")
    return load_module(Path(folder) / file, build, kind=kind, sha256=manifest["files"][file])
