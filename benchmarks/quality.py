"""The systems table: compose every clip in ../shared/videos and two montages of them with each
system, measure everything `vidscore evaluate` measures, and print one table with a column per
system beside real POP909 and SymMV; then pick the default system from it.

Rows: the symbolic metrics (V-MusProd's SC, PE, PCE, EBR, IOI, GS; Diff-BGM's PCHE, GPS) and
their mean relative distance to POP909 ("closeness", lower is nearer real music); steering
(motion ~ onset-density Spearman r on the real clip, minus the same system fed the clip's
features shuffled in time, and swapped with the next clip's); AV-Align and its lift over
density-matched random onsets (VMAs); cut alignment (the share of long-scene cuts on a chord
change); emotion correspondence, as the clip's own emotion is read and when the user forces one
(sad, exciting, relaxing on bikes.mp4, three seeds; the last chord, the held tonic, left out);
compose time (the whole `vidscore compose`, analysis, render
and mux included) over the clips' length and over decoding them.

The default is the model (the rules-only baseline is the control, not a candidate) that is
faster than real time with the best mean rank over six criteria (ties, to three decimals,
share their places): closeness, steering lift over shuffled, AV-Align lift over random, cut
alignment, forced emotion correspondence, compose time.

    python benchmarks/quality.py [--systems all|video2music,baseline] [--reference-limit N]

Writes benchmarks/results/quality.json, quality.md and quality.png (the chart).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from analyze import RESULTS, SHARED, SOURCES, montages

DATA = SHARED.parent / "data"
REFERENCES = {"POP909": DATA / "POP909", "SymMV": DATA / "SymMV-train"}
SYMBOLIC = ["SC", "PE", "PCE", "EBR", "IOI", "GS", "PCHE", "GPS"]
#: criterion -> (row it reads, True when higher is better)
CRITERIA = {
    "closeness": ("closeness_to_POP909", False),
    "steering": ("steering_lift_over_shuffled", True),
    "av_align": ("av_align_lift_over_random", True),
    "cuts": ("cut_alignment", True),
    "emotion": ("forced_emotion_correspondence", True),
    "speed": ("compose_over_clip", False),
}


def compose_times(system: str, clips: list[Path], tmp: Path) -> dict[str, float]:
    """Seconds to decode each clip and to run the whole compose on it (first call warms the
    model load, as a second clip in a batch would find it)."""
    from vidscore.pipeline import compose, load_system
    from vidscore.video.io import decode_all, probe

    load_system(system)
    decode = compose_s = seconds = 0.0
    for i, clip in enumerate(clips):
        t = time.perf_counter()
        decode_all(clip)
        decode += time.perf_counter() - t
        t = time.perf_counter()
        compose(clip, tmp / f"{system}-{i}.mp4", system=system, overwrite=True)
        compose_s += time.perf_counter() - t
        seconds += probe(clip).duration
    return {"clip_s": seconds, "decode_s": decode, "compose_s": compose_s}


FORCED = ("sad", "exciting", "relaxing")


def forced_emotion(system: str, features, seeds: int = 3) -> float:
    """Video2Music's emotion correspondence of the chords when the user forces each emotion of
    FORCED on the clip of ``features``, mean over emotions and seeds (the last chord, a held
    tonic, left out)."""
    from vidscore.metrics.chords import emotion_correspondence
    from vidscore.systems.base import load_system, parse_params
    from vidscore.types import Controls

    model = load_system(system)
    values = []
    for emotion in FORCED:
        for seed in range(seeds):
            st = model.compose(features, Controls(emotion=emotion, seed=seed),
                               parse_params(model.Params, []))  # fmt: skip
            chords = [span.chord for span in st.score.chords[:-1]]
            values.append(emotion_correspondence(chords, [emotion] * len(chords)))
    return float(np.mean(values))


def rows_of(run, times: dict, pop909: dict) -> dict[str, float]:
    """The table's rows for one system."""
    from vidscore.metrics.report import summarize

    real, shuffled, swapped = (summarize(x) for x in (run.real, run.shuffled, run.swapped))
    row = {k: real.get(k, float("nan")) for k in SYMBOLIC}
    have = [k for k in SYMBOLIC if np.isfinite(row[k]) and pop909.get(k)]
    row["closeness_to_POP909"] = (
        float(np.mean([abs(row[k] - pop909[k]) / abs(pop909[k]) for k in have]))
        if have
        else float("nan")
    )
    r = real.get("density_motion_correlation", float("nan"))
    row["motion_onsets_r"] = r
    row["steering_lift_over_shuffled"] = r - shuffled.get("density_motion_correlation", np.nan)
    row["steering_lift_over_swapped"] = r - swapped.get("density_motion_correlation", np.nan)
    for k in ("av_align", "av_align_lift_over_random", "cut_alignment", "emotion_correspondence"):
        row[k] = real.get(k, float("nan"))
    row["compose_over_clip"] = times["compose_s"] / times["clip_s"]
    row["compose_over_decode"] = times["compose_s"] / times["decode_s"]
    return row


def choose_default(table: dict[str, dict[str, float]], controls: set[str]) -> tuple[str, dict]:
    """The candidate faster than real time with the best mean rank over CRITERIA."""
    candidates = [s for s in table if s not in controls and table[s]["compose_over_clip"] < 1.0]
    ranks: dict[str, list[float]] = {s: [] for s in candidates}
    for _, (row, higher) in CRITERIA.items():
        value = {s: round(table[s][row], 3) * (1 if higher else -1) for s in candidates}
        for s in candidates:  # 1 is best; tied values share the mean of their places
            better = sum(v > value[s] for v in value.values())
            ties = sum(v == value[s] for v in value.values())
            ranks[s].append(better + (ties + 1) / 2)
    mean = {s: float(np.mean(r)) for s, r in ranks.items()}
    return min(mean, key=lambda s: (mean[s], table[s]["compose_over_clip"])), {
        s: {"ranks": dict(zip(CRITERIA, ranks[s], strict=True)), "mean_rank": mean[s]}
        for s in candidates
    }


def markdown(table: dict, references: dict, choice: str, ranking: dict) -> str:
    from vidscore.metrics.report import compare_markdown

    lines = [compare_markdown(table, references)]
    lines += ["| candidate | " + " | ".join(CRITERIA) + " | mean rank |",
              "|---|" + "---|" * (len(CRITERIA) + 1)]  # fmt: skip
    for s, r in sorted(ranking.items(), key=lambda x: x[1]["mean_rank"]):
        lines.append(f"| {s} | " + " | ".join(f"{v:g}" for v in r["ranks"].values())
                     + f" | {r['mean_rank']:.2f} |")  # fmt: skip
    lines.append(f"\nDefault by this table: **{choice}**")
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--systems", default="all", help="all, or comma-separated names")
    ap.add_argument("--reference-limit", type=int, default=0, help="songs per corpus (0: all)")
    args = ap.parse_args()
    from vidscore import evaluation as ev
    from vidscore.features.analyze import analyze
    from vidscore.metrics.report import plot_systems
    from vidscore.systems.base import registered

    systems = registered() if args.systems == "all" else args.systems.split(",")
    t0 = time.perf_counter()
    table, runs = {}, {}
    references = {
        name: ev.reference_values(path, args.reference_limit) for name, path in REFERENCES.items()
    }
    with tempfile.TemporaryDirectory() as tmp:
        clips = [SHARED / s for s in SOURCES] + montages(Path(tmp))
        bikes = analyze(SHARED / "bikes.mp4")  # the forced-emotion clip, analysed once for all
        for system in systems:
            print(system, "...", flush=True)
            runs[system] = ev.evaluate_system(system, clips, dependence=True)
            times = compose_times(system, clips, Path(tmp))
            table[system] = rows_of(runs[system], times, references["POP909"])
            table[system]["forced_emotion_correspondence"] = forced_emotion(system, bikes)
            table[system].update({f"time_{k}": v for k, v in times.items()})
    choice, ranking = choose_default(table, controls={"baseline"})
    doc = {
        "clips": [c.name for c in clips],
        "references": references,
        "reference_songs": args.reference_limit or "all",
        "systems": table,
        "pieces": {s: [p.__dict__ for p in r.real] for s, r in runs.items()},
        "ranking": ranking,
        "default": choice,
        "wall_s": round(time.perf_counter() - t0, 1),
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "quality.json").write_text(json.dumps(doc, indent=1, default=float))
    text = markdown(table, references, choice, ranking)
    (RESULTS / "quality.md").write_text(text)
    plot_systems(table, references, RESULTS / "quality.png", overwrite=True)
    print(text)
    print(f"wrote {RESULTS / 'quality.json'}, quality.md and quality.png ({doc['wall_s']} s)")


if __name__ == "__main__":
    main()
