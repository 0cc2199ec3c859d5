"""What size of Diff-BGM U-Net a CPU can sample and train (issue 13 sizing, before the system).

    python benchmarks/diffbgm_unet.py [--repeat 3]

Diff-BGM's U-Net (diffusers' ``UNet2DConditionModel`` laid out as the reference: widths w, 2w,
4w, 4w; two residual blocks down, three up; cross-attention at the two deepest levels and in the
middle; 32 condition tokens) on one 8-bar segment, for a few widths and pitch ranges (the
reference's 128 pitches, or the 64 around middle C that key-normalised POP909 mostly uses). For
each: parameters, one classifier-free-guided denoising step (a batch of 2: conditioned and null),
the seconds to sample a 60 s clip (four 8-bar segments at 120 BPM, 20 DDIM steps each), and one
training step on a batch of 8 (forward and backward). Wall-clock on this machine's threads.
Also: the share of POP909's training notes (key-normalised, as Diff-BGM trains) that a 64-pitch
roll keeps, for a few lowest pitches.

Writes benchmarks/results/diffbgm_unet.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from analyze import RESULTS, SHARED

CONFIGS = [(16, 128), (16, 64), (32, 64), (32, 128), (64, 128)]  # (width, pitches)
SEGMENTS_PER_MINUTE = 4  # 60 s at 120 BPM = 30 bars = four 8-bar segments
DDIM_STEPS = 20


def unet(width: int):
    from diffusers import UNet2DConditionModel

    return UNet2DConditionModel(
        sample_size=128,
        in_channels=2,
        out_channels=2,
        down_block_types=("DownBlock2D", "DownBlock2D", "CrossAttnDownBlock2D",
                          "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D", "UpBlock2D"),
        block_out_channels=(width, 2 * width, 4 * width, 4 * width),
        layers_per_block=2,
        cross_attention_dim=64,
        attention_head_dim=width,  # 4 heads at the deepest levels (4w / w)
        norm_num_groups=min(32, width // 2),
    )  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    import torch

    torch.manual_seed(0)
    rows = []
    for width, pitches in CONFIGS:
        model = unet(width).eval()
        x = torch.randn(2, 2, 128, pitches)
        cond = torch.randn(2, 32, 64)
        t = torch.tensor([500, 500])
        with torch.no_grad():
            model(x, t, cond)  # warm-up
            t0 = time.perf_counter()
            for _ in range(args.repeat):
                model(x, t, cond)
            step = (time.perf_counter() - t0) / args.repeat
        model.train()
        xb, cb = torch.randn(8, 2, 128, pitches), torch.randn(8, 32, 64)
        tb = torch.randint(0, 1000, (8,))
        t0 = time.perf_counter()
        for _ in range(args.repeat):
            model.zero_grad()
            model(xb, tb, cb).sample.square().mean().backward()
        train = (time.perf_counter() - t0) / args.repeat
        row = {
            "width": width,
            "pitches": pitches,
            "parameters_m": round(sum(p.numel() for p in model.parameters()) / 1e6, 2),
            "guided_step_s": round(step, 3),
            "sample_60s_clip_s": round(step * DDIM_STEPS * SEGMENTS_PER_MINUTE, 1),
            "train_step_batch8_s": round(train, 2),
        }
        rows.append(row)
        print(row, flush=True)
    from vidscore.systems.diffbgm.data import pitch_coverage
    from vidscore.systems.vmusprod.data import load_pieces
    from vidscore.systems.vmusprod.train import default_cache

    train = load_pieces([SHARED.parent / "data" / "POP909"], cache=default_cache())["train"]
    coverage = {str(low): round(pitch_coverage(train, low, 64), 4) for low in (24, 28, 32, 36)}
    print("share of POP909 training notes inside 64 pitches from", coverage, flush=True)
    doc = {"threads": torch.get_num_threads(), "ddim_steps": DDIM_STEPS, "rows": rows,
           "pop909_notes_in_64_pitches_from": coverage}  # fmt: skip
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "diffbgm_unet.json").write_text(json.dumps(doc, indent=1))


if __name__ == "__main__":
    main()
