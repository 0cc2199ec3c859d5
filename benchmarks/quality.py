"""The quality table: compose every clip in ../shared/videos and two montages of them with each
system (default: every registered one, the rules-only baseline among them), measure everything
`vidscore evaluate` measures, and print it beside POP909's real values (SC, PE, PCE, EBR, IOI,
GS, PCHE of the real songs), and beside the same system fed the clips' features shuffled in time
or swapped with the next clip's.

    python benchmarks/quality.py [--reference-limit N] [--systems video2music,baseline]

Writes benchmarks/results/quality.json and quality.md (one table per system).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from analyze import RESULTS, SHARED, SOURCES, montages

POP909 = SHARED.parent / "data" / "POP909"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reference-limit", type=int, default=0, help="POP909 songs (0: all 909)")
    ap.add_argument("--systems", default="", help="comma-separated (default: all registered)")
    args = ap.parse_args()
    from vidscore import evaluation as ev
    from vidscore.metrics.report import markdown, summarize
    from vidscore.systems.base import registered

    systems = [s for s in args.systems.split(",") if s] or registered()
    results = {}

    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        clips = [SHARED / s for s in SOURCES] + montages(Path(tmp))
        for system in systems:
            results[system] = ev.evaluate_system(
                system,
                clips,
                dependence=True,
                progress=lambda n, s=system: print(s, "composing", n, flush=True),
            )
    reference = ev.reference_values(POP909, args.reference_limit)
    doc = {
        "clips": [str(c.name) for c in clips],
        "pop909_reference": reference,
        "reference_songs": args.reference_limit or 909,
        "systems": {},
    }
    tables = []
    for system, run in results.items():
        real = run.real
        summary, shuffled = summarize(real), summarize(run.shuffled)
        swapped_summary = summarize(run.swapped)
        doc["systems"][system] = {
            "pieces": [p.__dict__ for p in real],
            "summary": summary,
            "shuffled_video": shuffled,
            "swapped_video": swapped_summary,
        }
        table = markdown(summary, reference, shuffled, swapped_summary)
        tables.append(f"### {system}\n\n{table}")
    doc["wall_s"] = round(time.perf_counter() - t0, 1)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "quality.json").write_text(json.dumps(doc, indent=1, default=float))
    text = "\n".join(tables)
    (RESULTS / "quality.md").write_text(text)
    print(text)
    print(f"wrote {RESULTS / 'quality.json'} and quality.md ({doc['wall_s']} s)")


if __name__ == "__main__":
    main()
