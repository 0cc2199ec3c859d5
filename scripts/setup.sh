#!/usr/bin/env bash
# Install vidscore and everything it needs into ./.venv (idempotent; no network beyond PyPI).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_PROGRESS_BAR=off
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
# Torch first, pinned: this exact CPU build lies on local disk here; a bare "torch" would pull CUDA.
.venv/bin/pip install -q "torch==2.13.0"
.venv/bin/pip install -q -e ".[clip,ray,transcribe,compare,dev]"
# basic-pitch's metadata demands TensorFlow on Python 3.11; we run its bundled ONNX model instead.
.venv/bin/pip install -q --no-deps "basic-pitch==0.4.0"
