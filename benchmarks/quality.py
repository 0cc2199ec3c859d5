"""The quality table: compose every clip in ../shared/videos and two montages of them with the
default system, measure everything `vidscore evaluate` measures, and print it beside POP909's
real values (SC, PE, PCE, EBR, IOI, GS, PCHE of the real songs), and beside the same system fed
the clips' features shuffled in time or swapped with the next clip's.

    python benchmarks/quality.py [--reference-limit N]

Writes benchmarks/results/quality.json and quality.md.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from analyze import RESULTS, SHARED, SOURCES

POP909 = SHARED.parent / "data" / "POP909"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reference-limit", type=int, default=0, help="POP909 songs (0: all 909)")
    args = ap.parse_args()
    from vidscore.metrics import report as rep
    from vidscore.video.montage import build_montage

    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        clips = [SHARED / s for s in SOURCES]
        for i, (segments, size) in enumerate(
            [
                ([2.4, 3.1, 4.0, 2.2, 3.6, 2.8] * 2, (640, 360)),
                ([5.0, 2.5, 3.3, 4.1, 2.9] * 3, (1280, 720)),
            ]
        ):
            path = Path(tmp) / f"montage{i + 1}.mp4"
            build_montage(
                [SHARED / s for s in SOURCES[i:] + SOURCES[:i]],
                path,
                segments=segments,
                size=size,
                fps=30,
            )
            clips.append(path)
        real, fake, swapped = rep.evaluate_system(
            "video2music",
            clips,
            dependence=True,
            progress=lambda n: print("composing", n, flush=True),
        )
    reference = rep.reference_values(POP909, args.reference_limit)
    summary, shuffled = rep.summarize(real), rep.summarize(fake)
    swapped_summary = rep.summarize(swapped)
    table = rep.markdown(summary, reference, shuffled, swapped_summary)
    doc = {
        "clips": [str(c.name) for c in clips],
        "pieces": [p.__dict__ for p in real],
        "summary": summary,
        "shuffled_video": shuffled,
        "swapped_video": swapped_summary,
        "pop909_reference": reference,
        "reference_songs": args.reference_limit or 909,
        "wall_s": round(time.perf_counter() - t0, 1),
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "quality.json").write_text(json.dumps(doc, indent=1, default=float))
    (RESULTS / "quality.md").write_text(table)
    print(table)
    print(f"wrote {RESULTS / 'quality.json'} and quality.md ({doc['wall_s']} s)")


if __name__ == "__main__":
    main()
