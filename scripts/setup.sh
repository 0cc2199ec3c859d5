#!/usr/bin/env bash
# Install vidscore and everything it needs into ./.venv (idempotent; no network beyond PyPI).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_PROGRESS_BAR=off
# FluidSynth and a full General MIDI SoundFont from Debian when we can install system packages;
# without them vidscore renders with midirenderer and pretty_midi's small SoundFont.
# Chromium too: the web app's test drives it (skipped, saying why, where it cannot be installed).
if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && \
   ! { ldconfig -p 2>/dev/null | grep libfluidsynth.so.3 >/dev/null && \
       [ -f /usr/share/sounds/sf2/FluidR3_GM.sf2 ] && command -v chromium >/dev/null; }; then
  apt-get update -qq || true
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libfluidsynth3 fluid-soundfont-gm \
     >/dev/null || echo "note: FluidSynth not installed; using midirenderer"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null \
     || echo "note: Chromium not installed; the web app's browser test will be skipped"
fi
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
# Skip the Python installs when nothing they depend on changed since the last set-up.
STAMP=.venv/.vidscore-setup
WANT=$(cat pyproject.toml scripts/setup.sh | sha256sum | cut -d' ' -f1)
if [ -x .venv/bin/vidscore ] && [ "$(cat "$STAMP" 2>/dev/null)" = "$WANT" ]; then
  echo "set-up: .venv is up to date"
  exit 0
fi
# Torch first, pinned: this exact CPU build lies on local disk here; a bare "torch" would pull CUDA.
.venv/bin/pip install -q "torch==2.13.0"
.venv/bin/pip install -q -e ".[clip,ray,transcribe,compare,serve,dev]"
# basic-pitch's metadata demands TensorFlow on Python 3.11; we run its bundled ONNX model instead.
.venv/bin/pip install -q --no-deps "basic-pitch==0.4.0"
echo "$WANT" > "$STAMP"
