"""How a scored clip streams: interleaving of sound and picture, and where the index sits.

Builds the memory benchmark's 720p clip with stereo sound at the given length (default 10
minutes), composes it with the default system, then reads the output's packets in file order
(no decoding): the largest distance in time between the latest audio and the latest video packet
(a player buffering from the start needs at most that much), and the byte offset of the MP4
index (`moov`; before the media data means a player can start before the file has arrived).
Prints the figures and writes benchmarks/results/layout.json. Target: under 1 s, index first.

    python benchmarks/layout.py [--minutes 10]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from analyze import RESULTS, build
from memory import extend


def layout(path: Path) -> dict:
    import av

    latest = {"audio": None, "video": None}
    worst, packets = 0.0, 0
    with av.open(str(path)) as c:
        for p in c.demux():
            if p.dts is None or not p.size:
                continue
            packets += 1
            latest[p.stream.type] = float(p.dts * p.time_base)
            if None not in latest.values():
                worst = max(worst, abs(latest["audio"] - latest["video"]))
    with open(path, "rb") as f:
        head = f.read(1 << 16)
    moov, mdat = head.find(b"moov"), head.find(b"mdat")
    return {
        "packets": packets,
        "max_audio_video_gap_s": worst,
        "moov_offset": moov,
        "index_first": moov != -1 and (mdat == -1 or moov < mdat),
        "bytes": path.stat().st_size,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=10.0)
    args = ap.parse_args()
    from vidscore.pipeline import compose

    with tempfile.TemporaryDirectory(prefix="vidscore-bench-") as tmp:
        base, clip, out = (Path(tmp) / n for n in ("base.mp4", "clip.mp4", "scored.mp4"))
        build(base, 60.0)
        extend(base, clip, args.minutes)
        compose(clip, out)
        result = {"minutes": args.minutes, **layout(out)}
    print(
        f"{args.minutes:g} min scored clip: {result['packets']} packets, largest audio-video gap "
        f"in file order {result['max_audio_video_gap_s']:.3f} s, index at byte "
        f"{result['moov_offset']} ({'before' if result['index_first'] else 'after'} the data)"
    )
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "layout.json").write_text(json.dumps(result, indent=2))
    print(f"wrote {RESULTS / 'layout.json'}")


if __name__ == "__main__":
    main()
