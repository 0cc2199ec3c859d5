"""V-MusProd's sampling settings chosen on the validation split, then scored on the test split.

    python benchmarks/vmusprod_sampling.py [--pieces 30] [--bars 16] [--weights DIR]

The paper samples each transformer "with temperature"; it gives no value. The shipped weights
are scored (SC, PE, PCE, EBR as benchmarks/vmusprod.py) on SymMV's validation split for each
temperature x top-p of a small grid, fed the pieces' own curves. Each setting's distance from
real SymMV is the largest of its gaps, each divided by the paper's tolerance (PE 0.3, PCE 0.1,
EBR 0.02, SC 0.02: a setting inside every tolerance has distance < 1). The closest setting is
then scored once on the test split, which played no part in choosing it.

Writes benchmarks/results/vmusprod_sampling.json and vmusprod_sampling.md.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from analyze import RESULTS
from vmusprod import COLUMNS, SYMMV, corpus_arguments, corpus_table, held_out, shipped

TEMPERATURES = (1.0, 1.1)
TOP_PS = (0.9, 0.95, 1.0)
TOLERANCE = {"PE": 0.3, "PCE": 0.1, "EBR": 0.02, "SC": 0.02}


def distance(real: dict, generated: dict) -> float:
    """The largest gap from real, in units of the paper's tolerance."""
    return max(abs(generated[k] - real[k]) / t for k, t in TOLERANCE.items())


def markdown(doc: dict) -> str:
    head = "| temperature | top-p | " + " | ".join(COLUMNS) + " | distance |"
    lines = [
        f"## Sampling on SymMV's validation split ({doc['pieces']} pieces, {doc['bars']} bars)",
        "",
        head,
        "|---|---|" + "---|" * (len(COLUMNS) + 1),
        "| real | | " + " | ".join(str(doc["val_real"][k]) for k in COLUMNS) + " | |",
    ]
    for row in doc["grid"]:
        cells = " | ".join(str(row["metrics"][k]) for k in COLUMNS)
        lines.append(f"| {row['temperature']} | {row['top_p']} | {cells} | {row['distance']} |")
    best = doc["chosen"]
    lines += [
        "",
        f"Chosen: temperature {best['temperature']}, top-p {best['top_p']}.",
        "",
        "## The chosen setting on the test split",
        "",
        "| music | " + " | ".join(COLUMNS) + " | distance |",
        "|---|" + "---|" * (len(COLUMNS) + 1),
    ]
    for label in ("real", "generated"):
        m = doc["test"][label]
        d = doc["test"]["distance"] if label == "generated" else ""
        lines.append(f"| {label} | " + " | ".join(str(m[k]) for k in COLUMNS) + f" | {d} |")
    lines += ["", f"Run time {doc['seconds']} s."]
    return "\n".join(lines) + "\n"


def main() -> None:
    args = corpus_arguments(__doc__).parse_args()
    t0 = time.perf_counter()
    system, _, ranks = shipped(args.weights)
    val = held_out(SYMMV, "val", args.pieces, args.bars, ranks)
    grid = []
    real = None
    for temperature in TEMPERATURES:
        for top_p in TOP_PS:
            sampling = {"temperature": temperature, "top_p": top_p}
            t = corpus_table(system.models, val, args.bars, sampling=sampling, steering=False)
            real = t["metrics"]["real"]
            gen = t["metrics"]["generated"]
            grid.append({**sampling, "metrics": gen, "distance": round(distance(real, gen), 3)})
            print(grid[-1], flush=True)
    chosen = min(grid, key=lambda row: row["distance"])
    sampling = {"temperature": chosen["temperature"], "top_p": chosen["top_p"]}
    test = held_out(SYMMV, "test", args.pieces, args.bars, ranks)
    t = corpus_table(system.models, test, args.bars, sampling=sampling, steering=False)
    doc = {
        "pieces": args.pieces,
        "bars": args.bars,
        "val_real": real,
        "grid": grid,
        "chosen": sampling,
        "test": {
            **t["metrics"],
            "distance": round(distance(t["metrics"]["real"], t["metrics"]["generated"]), 3),
        },
        "seconds": round(time.perf_counter() - t0, 1),
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "vmusprod_sampling.json").write_text(json.dumps(doc, indent=1))
    (RESULTS / "vmusprod_sampling.md").write_text(markdown(doc))
    print(markdown(doc))


if __name__ == "__main__":
    main()
