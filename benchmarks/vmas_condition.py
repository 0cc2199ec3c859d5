"""How much VMAs' beat condition can tell the decoder, and how the video's pulse compares.

Count models over the codec tokens of the decoder's encoded clips (the shipped codec, the
clips ``vidscore train vmas --clips 800`` uses): the held-out cross-entropy gain (nats) of
predicting a codebook's token, or whether it changes from the previous frame, from a per-frame
feature instead of nothing: the beat pulse, frames since the last pulse, the detected onsets.
That bounds what the pulse is worth to a decoder that learns from it. Then the pulse's rate
(per second) over the training clips beside the video's on each clip of ../shared/videos: by
the training pulse's own rule (flow window maxima above the clip's mean), and as VMAsSystem
computes it (the strongest maxima, up to the shipped decoder's ``pulse_rate``).

    python benchmarks/vmas_condition.py [--clips 800]

Writes benchmarks/results/vmas_condition.json.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from analyze import RESULTS, SHARED, SOURCES

from vidscore.systems.vmas.system import WEIGHTS

DATA = [SHARED.parent / "data" / "POP909", SHARED.parent / "data" / "SymMV-train"]
CARDINALITY_SMOOTHING = 0.5


def since(events: np.ndarray, buckets=(1, 2, 3, 6, 11, 26)) -> np.ndarray:
    """Frames since the last event, bucketed (the last bucket: none for 26 frames or ever)."""
    last, out = -(10**9), np.zeros(len(events), dtype=np.int64)
    for i, v in enumerate(events):
        if v:
            last = i
        out[i] = i - last
    return np.digitize(out, buckets)


def token_gain(train: tuple, held: tuple, vocab: int) -> float:
    """Held-out nats saved by p(token | feature) over p(token), both add-half counts."""
    (t, x), (vt, vx) = train, held
    uni = np.bincount(t, minlength=vocab) + CARDINALITY_SMOOTHING
    uni /= uni.sum()
    m = int(max(x.max(), vx.max())) + 1
    cond = np.stack([np.bincount(t[x == j], minlength=vocab) + CARDINALITY_SMOOTHING
                     for j in range(m)])  # fmt: skip
    cond /= cond.sum(axis=1, keepdims=True)
    return float(-np.log(uni[vt]).mean() + np.log(cond[vx, vt]).mean())


def change_rates(tokens: np.ndarray, starts: np.ndarray, x: np.ndarray) -> list[float]:
    """P(the token differs from the previous frame's) for each feature value."""
    changed = np.r_[True, tokens[1:] != tokens[:-1]] & ~starts
    return [round(float(changed[(x == j) & ~starts].mean()), 3) for j in range(int(x.max()) + 1)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--clips", type=int, default=800)
    args = ap.parse_args()

    from vidscore.features.analyze import analyze
    from vidscore.outputs import user_cache
    from vidscore.systems.vmas.data import PULSE, build_clips, pulse
    from vidscore.systems.vmas.renders import load_renders
    from vidscore.systems.vmas.system import VMAsSystem, flow_per_frame
    from vidscore.systems.vmas.train import (
        VMAsTraining,
        choose,
        held_out,
        load_codec,
        piece_curves,
    )
    from vidscore.systems.vmusprod.data import load_pieces
    from vidscore.types import Controls

    codec, sha = load_codec(WEIGHTS)
    renders = load_renders(DATA, rate=codec.sample_rate)
    curves = piece_curves(DATA, renders, load_pieces(DATA, cache=user_cache()), 20.0, 0)
    chosen = choose(renders, curves, VMAsTraining(clips=args.clips))
    clips = build_clips(chosen, codec, curves, window=5, cache=user_cache(), codec_sha=sha)
    train, held = held_out(clips)
    features = {
        "pulse": lambda c: c.cond[:, PULSE].astype(np.int64),
        "frames since pulse": lambda c: since(c.cond[:, PULSE]),
        "detected onset": lambda c: c.onsets.astype(np.int64),
        "frames since onset": lambda c: since(c.onsets),
    }

    def stack(group, k, f):
        tokens = np.concatenate([c.codes[k] for c in group])
        x = np.concatenate([f(c) for c in group])
        starts = np.concatenate([np.r_[True, np.zeros(c.codes.shape[1] - 1, bool)] for c in group])
        return tokens, x, starts

    rows = []
    for name, f in features.items():
        for k in range(codec.codebooks):
            t, x, _ = stack(train, k, f)
            vt, vx, vstarts = stack(held, k, f)
            gain = token_gain((t, x), (vt, vx), codec.cardinality)
            rows.append({"feature": name, "codebook": k, "token_gain_nats": round(gain, 4),
                         "p_change_by_value": change_rates(vt, vstarts, vx)})  # fmt: skip
            print(rows[-1], flush=True)
    rate = codec.frame_rate
    train_rate = float(np.concatenate([c.cond[:, PULSE] for c in train]).mean() * rate)
    system = VMAsSystem.load()
    video, held_rate = {}, {}
    for name in SOURCES:
        feats = analyze(SHARED / name)
        cond, _, beats = system.condition(feats, Controls(seed=0))
        magnitude = flow_per_frame(feats, len(cond), rate)
        video[name] = round(float(pulse(magnitude, system.beat_window).sum()) / feats.duration, 2)
        held_rate[name] = round(len(beats) / feats.duration, 2)
    print(f"pulse per second: training clips {train_rate:.2f}; video above its mean {video}; "
          f"video held to the decoder's rate {held_rate}")  # fmt: skip
    result = {
        "clips": {"train": len(train), "held_out": len(held)},
        "gains": rows,
        "pulse_per_second": {
            "training_clips": round(train_rate, 2),
            "video": video,
            "video_held_to_rate": held_rate,
        },
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "vmas_condition.json").write_text(json.dumps(result, indent=1))
    print(f"wrote {RESULTS / 'vmas_condition.json'}")


if __name__ == "__main__":
    main()
