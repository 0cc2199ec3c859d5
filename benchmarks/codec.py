"""VMAs' codec on held-out renders, at 1-4 codebooks, beside mu-law at the same bit rate.

The test split's renders (POP909 and SymMV excerpts through vidscore's synthesiser, the presets
by piece; the codec trained on the train split), their first ``--seconds`` seconds: SI-SNR,
multi-scale log-mel distance and chroma correlation between input and reconstruction
(:mod:`vidscore.metrics.codec`). The baseline spends the same bits per second the naive way:
resample to ``bitrate / bits`` Hz and mu-law quantise to ``bits`` bits, for bits in 1-8, keeping
the best by mel distance (so the baseline is as strong as that family gets). Silence is the floor.
Also: encode + decode time per second of audio on this machine (4 codebooks, timed alone).

    python benchmarks/codec.py [--weights DIR] [--clips 40] [--seconds 5]

Writes benchmarks/results/codec.json, codec.md and codec.png.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from analyze import RESULTS, SHARED

from vidscore.metrics.codec import mulaw_codec
from vidscore.systems.vmas.codec_train import evaluate, mean_scores, scores
from vidscore.systems.vmas.renders import load_renders
from vidscore.systems.vmas.system import WEIGHTS
from vidscore.systems.vmas.train import load_codec

DATA = [SHARED.parent / "data" / "POP909", SHARED.parent / "data" / "SymMV-train"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--weights", type=Path, default=WEIGHTS)
    ap.add_argument("--clips", type=int, default=40)
    ap.add_argument("--seconds", type=float, default=5.0)
    args = ap.parse_args()
    torch.set_num_threads(2)
    codec, _ = load_codec(args.weights)
    cfg = codec.cfg
    renders = [r for r in load_renders(DATA, rate=cfg.sample_rate) if r.split == "test"]
    clips = [r.audio[: round(args.seconds * cfg.sample_rate)] for r in renders[: args.clips]]
    rate = cfg.sample_rate
    ours = evaluate(codec, clips, rate)  # the trainer's held-out scores, on the test split
    t0 = time.perf_counter()
    with torch.no_grad():
        for clip in clips:
            codec.decode(codec.encode(torch.from_numpy(clip)[None]))
    elapsed = time.perf_counter() - t0
    seconds_coded = sum(len(c) for c in clips) / rate
    rows = []
    for k in range(1, cfg.codebooks + 1):
        bitrate = cfg.bitrate(k)
        best = None
        for bits in range(1, 9):
            m = mean_scores([scores(c, mulaw_codec(c, rate, bitrate, bits), rate) for c in clips])
            if best is None or m["mel_distance"] < best[1]["mel_distance"]:
                best = (bits, m)
        rows.append(
            {"codebooks": k, "kbps": bitrate / 1000, "codec": ours[f"{k} codebooks"],
             "mulaw": {"bits": best[0], "rate_hz": round(bitrate / best[0], 1), **best[1]}}
        )  # fmt: skip
        print(f"{k} codebooks, {bitrate / 1000:g} kbps: codec {rows[-1]['codec']}, "
              f"mu-law {rows[-1]['mulaw']}", flush=True)  # fmt: skip
    silence = ours["silence"]
    result = {
        "clips": len(clips),
        "seconds": args.seconds,
        "sample_rate": rate,
        "rows": rows,
        "silence": silence,
        "codec_seconds_per_audio_second": round(elapsed / seconds_coded, 4),
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "codec.json").write_text(json.dumps(result, indent=1) + "\n")
    md = [
        f"{len(clips)} held-out renders (test split), first {args.seconds:g} s each, "
        f"{rate // 1000} kHz.",
        "",
        "| codebooks | bit rate | codec SI-SNR dB | codec mel dist. | codec chroma r | "
        "mu-law (bits @ rate) | mu-law SI-SNR dB | mu-law mel dist. | mu-law chroma r |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        c, m = r["codec"], r["mulaw"]
        md.append(
            f"| {r['codebooks']} | {r['kbps']:g} kbps | {c['si_snr_db']} | {c['mel_distance']} | "
            f"{c['chroma_r']} | {m['bits']} bits @ {m['rate_hz']:g} Hz | {m['si_snr_db']} | "
            f"{m['mel_distance']} | {m['chroma_r']} |"
        )
    md.append(f"| silence | 0 | undefined | {silence['mel_distance']} | {silence['chroma_r']} "
              "| | | | |")  # fmt: skip
    md += [
        "",
        f"Encode + decode: {result['codec_seconds_per_audio_second']} s per second of audio.",
    ]
    (RESULTS / "codec.md").write_text("\n".join(md) + "\n")
    plot(rows, silence, RESULTS / "codec.png")
    print("\n".join(md))


def plot(rows: list[dict], silence: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    kbps = [r["kbps"] for r in rows]
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.4))
    for ax, key, label in zip(
        axes, ("si_snr_db", "mel_distance", "chroma_r"),
        ("SI-SNR (dB, higher is better)", "mel distance (lower is better)",
         "chroma correlation (higher is better)"), strict=True,
    ):  # fmt: skip
        ax.plot(kbps, [r["codec"][key] for r in rows], "o-", label="codec")
        ax.plot(kbps, [r["mulaw"][key] for r in rows], "s--", label="mu-law, same bit rate")
        if key != "si_snr_db":
            ax.axhline(silence[key], color="grey", lw=0.8, label="silence")
        ax.set_xlabel("kbps")
        ax.set_title(label, fontsize=9)
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


if __name__ == "__main__":
    main()
