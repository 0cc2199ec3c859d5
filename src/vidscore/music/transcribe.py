"""Audio -> notes with Spotify's basic-pitch, run offline from the ONNX model it ships.

basic-pitch's package metadata asks for TensorFlow on Python 3.11 Linux; its inference code also
runs the bundled ``nmp.onnx`` through onnxruntime, which is all we install (``scripts/setup.sh``
installs basic-pitch with ``--no-deps`` beside the ``transcribe`` extra's dependencies).
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
from pathlib import Path

from vidscore.errors import InputError, ModelLoadError
from vidscore.music.score import Note, Score, Track


def _model_path() -> Path:
    logging.getLogger().setLevel(logging.ERROR)  # basic-pitch warns about every missing backend
    try:
        import basic_pitch
    except ImportError as exc:
        raise ModelLoadError(
            "audio transcription needs basic-pitch: bash scripts/setup.sh installs it"
        ) from exc
    path = Path(basic_pitch.__file__).parent / "saved_models" / "icassp_2022" / "nmp.onnx"
    if not path.is_file():
        raise ModelLoadError(f"basic-pitch's ONNX model is missing: {path}")
    return path


def transcribe(path: str | os.PathLike, *, tempo_bpm: float = 120.0) -> Score:
    """Notes of an audio file as a one-track score at ``tempo_bpm`` (beats = seconds x bpm / 60)."""
    p = Path(path)
    if not p.is_file():
        raise InputError(f"{p}: no such audio file")
    model = _model_path()
    from basic_pitch.inference import predict

    try:
        with contextlib.redirect_stdout(io.StringIO()):
            _, midi, _ = predict(str(p), str(model))
    except Exception as exc:
        raise InputError(f"{p}: cannot transcribe ({type(exc).__name__}: {exc})") from exc
    k = tempo_bpm / 60.0
    notes = sorted(
        Note(n.start * k, n.end * k, int(n.pitch), int(n.velocity))
        for inst in midi.instruments
        for n in inst.notes
        if n.end > n.start
    )
    return Score(tracks=[Track("transcription", notes)], tempos=[(0.0, tempo_bpm)])
