"""Peak memory and wall time of analyze and compose against clip length (1, 10, 30 minutes).

The clips are 1280x720 at 30 fps with stereo sound: a one-minute montage of ../shared/videos
(benchmarks/analyze.py's), its picture looped packet by packet to the length, with stereo pink
noise and a tone encoded as AAC beside it. Each measurement runs in a fresh process: plain PyAV
decoding (the reference for wall time), `analyze` and `compose` (default system). Prints a table
and writes benchmarks/results/memory.json. Targets: compose's and analyze's peak at 30 minutes
within 1.25x of the one-minute peak and under 1 GiB; wall time linear in length.

    python benchmarks/memory.py [--minutes 1 10 30]
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from analyze import RESULTS, build, peak_rss_bytes

RATE = 48000


def sound_frames(seconds: float, seed: int = 0):
    """Stereo pink-ish noise plus a 220 Hz tone, 1024 samples a frame, for ``seconds``."""
    import av
    from scipy.signal import lfilter

    rng = np.random.default_rng(seed)
    total, pts, state = round(seconds * RATE), 0, np.zeros((2, 1))
    while pts < total:
        n = min(1024, total - pts)
        white = rng.standard_normal((2, n)) * 0.01  # one-pole low pass: warmer than white
        pink, state = lfilter([1.0], [1.0, -0.97], white, axis=1, zi=state)
        t = (pts + np.arange(n)) / RATE
        x = (pink + 0.05 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(x), format="fltp", layout="stereo")
        frame.sample_rate, frame.pts = RATE, pts
        pts += n
        yield frame


def extend(base: Path, out: Path, minutes: float) -> None:
    """``base``'s picture looped to ``minutes``, with stereo sound, interleaved by time."""
    import av

    seconds = minutes * 60
    with av.open(str(base)) as inp:
        vin = inp.streams.video[0]
        packets = [p for p in inp.demux(vin) if p.dts is not None]
        tb = vin.time_base
        frame = round(1 / (vin.average_rate * tb))
        span = max(p.pts for p in packets) - min(p.pts for p in packets) + frame  # one loop
        loops = int(np.ceil(seconds / float(span * tb)))
        with av.open(str(out), "w", format="mp4") as c:
            vout = c.add_stream_from_template(vin)
            aout = c.add_stream("aac", rate=RATE, layout="stereo")
            aout.time_base = Fraction(1, RATE)
            audio = sound_frames(loops * float(span * tb))
            sound_t = 0.0
            for k in range(loops):
                for p in packets:
                    t = float((p.dts + k * span) * tb)
                    while sound_t <= t:
                        f = next(audio, None)
                        if f is None:
                            break
                        sound_t = (f.pts + f.samples) / RATE
                        for q in aout.encode(f):
                            c.mux(q)
                    q = av.Packet(bytes(p))
                    q.stream, q.time_base = vout, tb
                    q.pts, q.dts = p.pts + k * span, p.dts + k * span
                    q.is_keyframe = p.is_keyframe
                    c.mux(q)
            for f in audio:
                for q in aout.encode(f):
                    c.mux(q)
            for q in aout.encode():
                c.mux(q)


def worker(kind: str, path: str, out: str) -> None:
    t0 = time.perf_counter()
    if kind == "decode":
        from vidscore.video.io import decode_all

        decode_all(path)
    elif kind == "analyze":
        from vidscore import analyze

        analyze(path)
    else:
        from vidscore.pipeline import compose

        compose(path, out, overwrite=True)
    print(json.dumps({"wall_s": time.perf_counter() - t0, "peak_rss_bytes": peak_rss_bytes()}))


def measure(kind: str, path: Path, out: Path) -> dict:
    r = subprocess.run(
        [sys.executable, __file__, "--worker", kind, str(path), str(out)],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(r.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, nargs="+", default=[1, 10, 30])
    ap.add_argument("--worker", nargs=3, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        worker(*args.worker)
        return
    rows = []
    with tempfile.TemporaryDirectory(prefix="vidscore-bench-") as tmp:
        base = Path(tmp) / "base.mp4"
        build(base, 60.0)
        for minutes in args.minutes:
            clip = Path(tmp) / f"clip{minutes:g}.mp4"
            extend(base, clip, minutes)
            row = {"minutes": minutes}
            for kind in ("decode", "analyze", "compose"):
                m = measure(kind, clip, Path(tmp) / "out.mp4")
                row[kind] = m
                print(
                    f"{minutes:>5g} min {kind:>8}: {m['wall_s']:8.1f} s, "
                    f"peak {m['peak_rss_bytes'] / 2**20:7.0f} MiB",
                    flush=True,
                )
            for kind in ("analyze", "compose"):
                row[kind]["x_decode"] = row[kind]["wall_s"] / row["decode"]["wall_s"]
            rows.append(row)
            clip.unlink()
    first = rows[0]
    summary = {
        kind: {
            "peak_ratio_longest_to_shortest": rows[-1][kind]["peak_rss_bytes"]
            / first[kind]["peak_rss_bytes"],
            "max_peak_mib": max(r[kind]["peak_rss_bytes"] for r in rows) / 2**20,
            "x_decode": [round(r[kind]["x_decode"], 2) for r in rows],
        }
        for kind in ("analyze", "compose")
    }
    print()
    print("minutes | decode s | analyze s (x decode) MiB | compose s (x decode) MiB")
    for r in rows:
        a, c = r["analyze"], r["compose"]
        print(
            f"{r['minutes']:>7g} | {r['decode']['wall_s']:8.1f} | {a['wall_s']:7.1f} "
            f"({a['x_decode']:.2f}) {a['peak_rss_bytes'] / 2**20:5.0f} | {c['wall_s']:7.1f} "
            f"({c['x_decode']:.2f}) {c['peak_rss_bytes'] / 2**20:5.0f}"
        )
    for kind, s in summary.items():
        print(
            f"{kind}: peak {s['peak_ratio_longest_to_shortest']:.2f}x from the shortest to the "
            f"longest clip, at most {s['max_peak_mib']:.0f} MiB"
        )
    RESULTS.mkdir(parents=True, exist_ok=True)
    result = {"machine": platform.platform(), "rows": rows, "summary": summary}
    (RESULTS / "memory.json").write_text(json.dumps(result, indent=2))
    print(f"wrote {RESULTS / 'memory.json'}")


if __name__ == "__main__":
    main()
