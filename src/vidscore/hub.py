"""Loading pretrained Hugging Face models offline: a local folder or the local hub cache, never a
download. Used by the CLIP semantic features and the CLAP audio embedder."""

from __future__ import annotations

import os
from pathlib import Path

from vidscore.errors import ModelLoadError


def resolve_local(spec: str, what: str) -> str:
    """A local folder, or a hub id already in the local cache."""
    if Path(spec).expanduser().is_dir():
        return str(Path(spec).expanduser())
    try:
        from huggingface_hub import snapshot_download
    except ImportError as exc:  # pragma: no cover - transformers depends on huggingface_hub
        raise ModelLoadError(
            f"{what} {spec!r}: not a folder and huggingface_hub is missing"
        ) from exc
    try:
        return snapshot_download(spec, local_files_only=True)
    except Exception as exc:
        raise ModelLoadError(
            f"{what} {spec!r}: not a local folder and not in the local hub cache "
            f"({os.environ.get('HF_HOME', '~/.cache/huggingface')}); vidscore never downloads"
        ) from exc


def load_pretrained(model_cls, processor_cls, spec: str, what: str):
    """``(model in eval mode, processor, resolved path)``; transformers kept quiet on stderr."""
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()  # keep the CLI's stderr to our own lines
    hf_logging.disable_progress_bar()
    path = resolve_local(spec, what)
    try:
        model = model_cls.from_pretrained(path, local_files_only=True).eval()
        processor = processor_cls.from_pretrained(path, local_files_only=True)
    except Exception as exc:
        raise ModelLoadError(f"{what} {spec!r}: cannot load from {path} ({exc})") from exc
    return model, processor, path
