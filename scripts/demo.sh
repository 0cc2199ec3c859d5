#!/usr/bin/env bash
# Set everything up and score a real clip: bash scripts/demo.sh [CLIP]
# Without CLIP it uses ../shared/videos/bikes.mp4 when present, else draws a demo clip.
set -euo pipefail
clip=${1:-}
# the clip's path is the caller's: make it absolute before changing folder
if [ -n "$clip" ] && [ "${clip#/}" = "$clip" ]; then clip="$PWD/$clip"; fi
cd "$(dirname "$0")/.."
bash scripts/setup.sh
mkdir -p out
if [ -z "$clip" ]; then
  if [ -f ../shared/videos/bikes.mp4 ]; then
    clip=../shared/videos/bikes.mp4
  else
    clip=out/demo.mp4
    [ -f "$clip" ] || .venv/bin/vidscore data demo-clip "$clip"
  fi
fi
name=$(basename "${clip%.*}")
.venv/bin/vidscore compose "$clip" -o "out/$name.scored.mp4" --midi "out/$name.mid" \
  --wav "out/$name.wav" --cues "out/$name.cues.json" --plot "out/$name.chords.png" --overwrite
.venv/bin/vidscore analyze "$clip" -o "out/$name.features.json" --plot "out/$name.timeline.png" \
  --overwrite >/dev/null
echo "Scored clip: out/$name.scored.mp4  (music: out/$name.wav, out/$name.mid;" \
  "cues: out/$name.cues.json; plots: out/$name.chords.png, out/$name.timeline.png)"
