#!/usr/bin/env bash
# Set everything up and run the main job on a real clip: bash scripts/demo.sh [CLIP]
# Without CLIP it uses ../shared/videos/bikes.mp4 when present, else draws a demo clip.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
mkdir -p out
clip=${1:-}
if [ -z "$clip" ]; then
  if [ -f ../shared/videos/bikes.mp4 ]; then
    clip=../shared/videos/bikes.mp4
  else
    clip=out/demo.mp4
    [ -f "$clip" ] || .venv/bin/vidscore data demo-clip "$clip"
  fi
fi
name=$(basename "${clip%.*}")
.venv/bin/vidscore analyze "$clip" -o "out/$name.features.json" --plot "out/$name.timeline.png" --overwrite
echo "Features: out/$name.features.json   Timeline plot: out/$name.timeline.png"
