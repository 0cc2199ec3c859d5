"""Benchmark `vidscore compose` on a 60 s 1280x720 30 fps montage of ../shared/videos.

In one run, each in a fresh process: plain PyAV decoding of the clip, and compose (analysis,
AMT chords, arrangement, FluidSynth rendering, muxing). Also measured on the composed cues: the
share of splices (scenes >= 2 s) within 50 ms of a chord change, and the same after shuffling the
clip's cut times (the music should stop following the picture). Prints a table and writes
benchmarks/results/compose.json. Targets: compose <= 0.2x the clip's length and <= 6x decode.

    python benchmarks/compose.py [--seconds 60] [--system video2music]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from analyze import RESULTS, build, measure, peak_rss_bytes


def worker(path: str, out: str, system: str) -> None:
    from vidscore.pipeline import compose

    t0 = time.perf_counter()
    compose(path, out, system=system, cues_path=out + ".json", overwrite=True)
    print(
        json.dumps(
            {
                "kind": "compose",
                "wall_s": time.perf_counter() - t0,
                "peak_rss_bytes": peak_rss_bytes(),
            }
        )
    )


def long_scene_splices(splices: list[float], detected: list[float], duration: float) -> list[float]:
    """Splices that open a scene of 2 s or more. A scene ends at the next splice or at the next
    cut inside a source clip (bikes.mp4 has its own cuts), which only detection knows; a
    detected cut within 0.1 s of the splice is the splice itself."""
    out = []
    for i, s in enumerate(splices):
        ends = [*splices[i + 1 : i + 2], duration, *(c for c in detected if c > s + 0.1)]
        if min(ends) - s >= 2.0:
            out.append(s)
    return out


def alignment(changes: np.ndarray, splices: list[float]) -> float:
    """Share of ``splices`` within 50 ms of a chord change (NaN for music without chords: an
    audio system's)."""
    if len(changes) == 0:
        return float("nan")
    return float(np.mean([np.min(np.abs(changes - s)) <= 0.05 for s in splices]))


def shuffled_alignment(path: Path, splices: list[float], system: str, seed: int = 0) -> float:
    """Compose from the same features with the cut times replaced by random ones."""
    import dataclasses

    from vidscore import analyze
    from vidscore.systems.base import load_system
    from vidscore.types import Controls

    feats = analyze(path)
    rng = np.random.default_rng(seed)
    fake = dataclasses.replace(feats, cuts=sorted(rng.uniform(0, feats.duration, len(feats.cuts))))
    changes = np.array(load_system(system).compose(fake, Controls()).timeline.chord_changes())
    return alignment(changes, long_scene_splices(splices, feats.cuts, feats.duration))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--system", default="video2music")
    ap.add_argument("--worker", nargs=2, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        worker(*args.worker, args.system)
        return
    with tempfile.TemporaryDirectory() as tmp:
        clip = Path(tmp) / "montage.mp4"
        splices = build(clip, args.seconds)
        decode = measure("decode", clip)
        out = Path(tmp) / "scored.mp4"
        run = subprocess.run(
            [sys.executable, __file__, "--worker", str(clip), str(out), "--system", args.system],
            check=True,
            capture_output=True,
            text=True,
        )
        comp = json.loads(run.stdout.strip().splitlines()[-1])
        cues = json.loads(Path(str(out) + ".json").read_text())
        changes = np.array([c["start"] for c in cues["chords"]])
        long = long_scene_splices(splices, cues["cuts"], cues["duration"])
        real = alignment(changes, long)
        every = alignment(changes, splices)
        fake = shuffled_alignment(clip, splices, args.system) if len(changes) else float("nan")
    row = {
        "system": args.system,
        "clip_seconds": args.seconds,
        "decode_s": round(decode["wall_s"], 3),
        "compose_s": round(comp["wall_s"], 3),
        "compose_over_clip": round(comp["wall_s"] / args.seconds, 4),
        "compose_over_decode": round(comp["wall_s"] / decode["wall_s"], 3),
        "compose_peak_rss_mib": round(comp["peak_rss_bytes"] / 2**20, 1),
        "splices": len(splices),
        "splices_opening_scenes_of_2s_or_more": len(long),
        "those_on_a_chord_change": round(real, 4),
        "all_splices_on_a_chord_change": round(every, 4),
        "those_on_a_chord_change_with_shuffled_cuts": round(fake, 4),
        "targets": "compose <= 0.2x clip and <= 6x decode; >= 90% splices on chord changes",
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    name = "compose.json" if args.system == "video2music" else f"compose.{args.system}.json"
    (RESULTS / name).write_text(json.dumps(row, indent=2))
    for k, v in row.items():
        print(f"{k:>40}: {v}")
    print(f"wrote {RESULTS / name}")


if __name__ == "__main__":
    main()
