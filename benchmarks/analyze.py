"""Benchmark `vidscore analyze` against merely decoding the same clip with PyAV.

Builds 1280x720 30 fps montages of ../shared/videos (60 s, and 10 min unless --quick), then, each
measurement in a fresh subprocess so peak RSS is its own: the wall time of decoding every frame
(PyAV, threaded, no conversion) and of analyze. Prints a table and writes
benchmarks/results/analyze.json.

    python benchmarks/analyze.py [--quick] [--repeat N]
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "videos"
RESULTS = ROOT / "benchmarks" / "results"
SOURCES = ["bikes.mp4", "bigbuckbunny.mp4", "carphone_pristine.mp4"]
PIECES = [2.4, 3.1, 4.0, 2.2, 3.6, 2.8, 5.0, 2.5]  # seconds; cycled to the wanted length


def build(path: Path, seconds: float) -> list[float]:
    from vidscore.video.montage import build_montage

    segments, total, i = [], 0.0, 0
    while total < seconds - 1e-6:
        piece = min(PIECES[i % len(PIECES)], seconds - total)
        segments.append(piece)
        total += piece
        i += 1
    return build_montage(
        [SHARED / s for s in SOURCES], path, segments=segments, size=(1280, 720), fps=30, crf=23
    )


def montages(tmp: Path) -> list[Path]:
    """The two montages the quality, steering and V-MusProd tables compose: the clips of
    ../shared/videos in two orders, 12 and 15 shots, 640x360 and 1280x720."""
    from vidscore.video.montage import build_montage

    paths = []
    for i, (segments, size) in enumerate(
        [
            ([2.4, 3.1, 4.0, 2.2, 3.6, 2.8] * 2, (640, 360)),
            ([5.0, 2.5, 3.3, 4.1, 2.9] * 3, (1280, 720)),
        ]
    ):
        path = tmp / f"montage{i + 1}.mp4"
        build_montage([SHARED / s for s in SOURCES[i:] + SOURCES[:i]], path, segments=segments,
                      size=size, fps=30)  # fmt: skip
        paths.append(path)
    return paths


def peak_rss_bytes() -> int:
    """This process's peak RSS. VmHWM belongs to the address space, so unlike ru_maxrss it does
    not inherit the parent's peak across fork + exec."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def worker(kind: str, path: str) -> None:
    """Run one measurement in this process and print its JSON."""
    t0 = time.perf_counter()
    if kind == "decode":
        from vidscore.video.io import decode_all

        frames = decode_all(path)
        extra = {"frames": frames}
    else:
        from vidscore import analyze

        f = analyze(path)
        extra = {"cuts": f.cuts, "duration": f.duration}
    wall = time.perf_counter() - t0
    rss = peak_rss_bytes()
    print(json.dumps({"kind": kind, "wall_s": wall, "peak_rss_bytes": rss, **extra}))


def measure(kind: str, path: Path) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--worker", kind, str(path)],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def bench(path: Path, seconds: float, splices: list[float], repeat: int) -> dict:
    decode = min((measure("decode", path) for _ in range(repeat)), key=lambda r: r["wall_s"])
    analyze = min((measure("analyze", path) for _ in range(repeat)), key=lambda r: r["wall_s"])
    return {
        "clip_seconds": seconds,
        "decode_s": round(decode["wall_s"], 3),
        "analyze_s": round(analyze["wall_s"], 3),
        "analyze_over_decode": round(analyze["wall_s"] / decode["wall_s"], 3),
        "analyze_s_per_video_minute": round(analyze["wall_s"] / (seconds / 60.0), 3),
        "realtime_factor": round(seconds / analyze["wall_s"], 2),
        "analyze_peak_rss_mib": round(analyze["peak_rss_bytes"] / 2**20, 1),
        "decode_peak_rss_mib": round(decode["peak_rss_bytes"] / 2**20, 1),
        "cuts_found": len(analyze["cuts"]),
        "splices": len(splices),
        "splices_found_within_1_frame": round(splice_recall(splices, analyze["cuts"], 1 / 30), 4),
    }


def splice_recall(splices: list[float], cuts: list[float], tolerance: float) -> float:
    """Share of known splice times with a detected cut within ``tolerance`` seconds."""
    if not splices:
        return float("nan")
    hits = sum(any(abs(c - s) <= tolerance + 1e-6 for c in cuts) for s in splices)
    return hits / len(splices)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="only the 60 s montage")
    ap.add_argument("--repeat", type=int, default=1, help="runs per measurement (best is kept)")
    ap.add_argument("--worker", nargs=2, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        worker(*args.worker)
        return
    lengths = [60.0] if args.quick else [60.0, 600.0]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for seconds in lengths:
            path = Path(tmp) / f"montage_{int(seconds)}s.mp4"
            t0 = time.perf_counter()
            splices = build(path, seconds)
            print(f"built {seconds:.0f} s montage in {time.perf_counter() - t0:.1f} s", flush=True)
            row = bench(path, seconds, splices, args.repeat)
            rows.append(row)
            print(json.dumps(row), flush=True)
    result = {
        "benchmark": "analyze",
        "machine": {
            "cpus": __import__("os").cpu_count(),
            "python": platform.python_version(),
            "processor": platform.processor() or platform.machine(),
        },
        "target": "analyze <= 4x decode (60 s); 10 min: peak RSS < 1 GiB, s/video-minute "
        "within 20% of the 60 s figure",
        "rows": rows,
    }
    if len(rows) == 2:
        a, b = rows
        result["minute_cost_ratio_10min_over_1min"] = round(
            b["analyze_s_per_video_minute"] / a["analyze_s_per_video_minute"], 3
        )
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "analyze.json").write_text(json.dumps(result, indent=2))
    print()
    print(
        f"{'clip':>8} {'decode s':>9} {'analyze s':>10} {'ratio':>6} {'s/min':>7} "
        f"{'x realtime':>10} {'peak RSS MiB':>13} {'splices found':>14}"
    )
    for r in rows:
        print(
            f"{r['clip_seconds']:>7.0f}s {r['decode_s']:>9.2f} {r['analyze_s']:>10.2f} "
            f"{r['analyze_over_decode']:>6.2f} {r['analyze_s_per_video_minute']:>7.2f} "
            f"{r['realtime_factor']:>10.1f} {r['analyze_peak_rss_mib']:>13.1f} "
            f"{r['splices_found_within_1_frame']:>14.1%}"
        )
    if "minute_cost_ratio_10min_over_1min" in result:
        print(
            f"10 min / 1 min cost per video-minute: {result['minute_cost_ratio_10min_over_1min']}"
        )
    print(f"wrote {RESULTS / 'analyze.json'}")


if __name__ == "__main__":
    main()
