"""``vidscore train vmas-paired``: VMAs' decoder and its Hiera-style video encoder trained end to
end on paired video-music clips (the DISCO-MV layout, :mod:`vidscore.data.discomv`), as the paper
trains them.

Each training window is one clip of the video encoder's length (``frames / fps`` seconds: 96
frames at 9.6 fps, 10 s, at the paper's size): the frames go through the encoder, the music
through the codec, and the loss is the music decoder's (:func:`.train.losses`): the token
cross-entropy weighted by Eq. 3-4, here with the **real video beats** (optical-flow window peaks
of the clip, above its mean, as at compose) against the music's detected onsets, plus Eq. 2's
contrastive term between the decoded music and the video tokens.

This is the path for people who have paired data. vidscore has none, so it ships no weights
trained this way; the test trains it on a fixture built from the real clips with rendered music
muxed under them. Composing with such a decoder (frames from the analysis pass, the windows of
:mod:`.inference` over video tokens) is not wired into ``compose`` yet.
"""

from __future__ import annotations

import os
import random
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch

from vidscore.errors import InputError
from vidscore.modules.trainer import Progress, TrainConfig, claim_main, leave_distributed
from vidscore.outputs import check_output_folder
from vidscore.systems.common.card import ModelFacts, WeightCard
from vidscore.systems.vmas.alignment import beat_weights
from vidscore.systems.vmas.data import onset_frames, pulse
from vidscore.systems.vmas.model import VMAsConfig, VMAsDecoder
from vidscore.systems.vmas.train import (
    FILE,
    VMAsTraining,
    fit_decoder,
    held_out,
    load_codec,
    save_decoder,
    token_scores,
)
from vidscore.systems.vmas.video_encoder import VideoEncoderConfig

CONDITIONS = ("real", "shuffled", "null")


@dataclass
class PairedItem:
    """One paired clip as the trainer reads it: frames, codes and per-frame Eq. 4 inputs."""

    clip_id: str
    split: str
    frames: np.ndarray  # (N, S, S, 3) uint8 at the encoder's fps
    codes: np.ndarray  # (K, T) int64 at the codec's frame rate
    onsets: np.ndarray  # (T,) music beats
    beats: np.ndarray  # (T,) video beats: flow window peaks above the mean


def build_items(clips, codec, window: int) -> list[PairedItem]:
    """Encode each :class:`~vidscore.data.discomv.PairedClip`'s music and place its video beats
    on the codec's frames."""
    out = []
    hop = round(codec.sample_rate / codec.frame_rate)
    for c in clips:
        with torch.no_grad():
            codes = codec.encode(torch.from_numpy(c.audio)[None])[0].numpy().astype(np.int64)
        frames = codes.shape[1]
        _, on = onset_frames(c.audio, c.rate, hop, frames)
        t = np.arange(frames) / codec.frame_rate
        flow = np.interp(t, c.flow_times, c.flow) if len(c.flow) else np.zeros(frames)
        out.append(PairedItem(c.clip_id, c.split, c.frames, codes, on, pulse(flow, window)))
    return out


def crop(item: PairedItem, vcfg: VideoEncoderConfig, frame_rate: float, start: float):
    """(frames ``(n, 3, S, S)`` float in [0, 1], codes, onsets, beats) of the window from
    ``start`` seconds; clips shorter than the window repeat their last frame and code."""
    n = vcfg.frames
    idx = np.minimum(round(start * vcfg.fps) + np.arange(n), len(item.frames) - 1)
    video = torch.from_numpy(item.frames[idx]).permute(0, 3, 1, 2).float() / 255.0
    steps = round(vcfg.clip_seconds * frame_rate)
    a = round(start * frame_rate)
    j = np.minimum(a + np.arange(steps), item.codes.shape[1] - 1)
    return video, item.codes[:, j], item.onsets[j], item.beats[j]


def collate(vcfg: VideoEncoderConfig, frame_rate: float, opts: VMAsTraining):
    """Random windows of the encoder's length, with Eq. 4 weights and condition-drop flags."""

    def run(items: list[PairedItem], rng: random.Random) -> dict[str, torch.Tensor]:
        video, codes, weights, drop = [], [], [], []
        for it in items:
            room = max(0.0, it.codes.shape[1] / frame_rate - vcfg.clip_seconds)
            v, c, on, beats = crop(it, vcfg, frame_rate, rng.uniform(0.0, room))
            video.append(v)
            codes.append(torch.from_numpy(c))
            weights.append(torch.from_numpy(beat_weights(on, beats, opts.beat_window, opts.floor)))
            drop.append(rng.random() < opts.cond_drop)
        return {"cond": torch.stack(video), "codes": torch.stack(codes),
                "weights": torch.stack(weights).float(), "drop": torch.tensor(drop)}  # fmt: skip

    return run


@torch.no_grad()
def evaluate(model: VMAsDecoder, items: list[PairedItem], vcfg: VideoEncoderConfig) -> dict:
    """Held-out token cross-entropy of the first window of each clip, fed its own frames, its
    frames in shuffled order (time broken, content kept), and the null condition."""
    model.eval()
    rng = np.random.default_rng(0)
    out = {}
    for name in CONDITIONS:
        ce = []
        for it in items:
            video, codes, _, _ = crop(it, vcfg, model.cfg.frame_rate, 0.0)
            if name == "shuffled":
                video = video[rng.permutation(len(video))]
            drop = torch.tensor([name == "null"])
            ce.append(token_scores(model, torch.from_numpy(codes)[None], video[None], drop)[0])
        out[name] = {"token_ce": round(float(np.mean(ce)), 4)}
    out["clips"] = len(items)
    return out


def run(
    root: str | os.PathLike,
    out: str | os.PathLike,
    *,
    model_cfg: VMAsConfig | None = None,
    video_cfg: VideoEncoderConfig | None = None,
    cfg: TrainConfig | None = None,
    opts: VMAsTraining | None = None,
    command: str = "vidscore train vmas-paired",
    progress: Progress | None = None,
    overwrite: bool = False,
) -> dict | None:
    """Train the decoder and its video encoder on the paired layout at ``root`` into ``out``
    (which holds the codec); return the held-out scores."""
    from vidscore.data.discomv import load_clip, scan

    cfg = cfg or TrainConfig()
    opts = opts or VMAsTraining()
    vcfg = video_cfg or VideoEncoderConfig()
    out_dir = check_output_folder(out, (FILE,), overwrite=overwrite)
    codec, _ = load_codec(out_dir)
    model_cfg = replace(
        model_cfg or VMAsConfig(), codebooks=codec.codebooks, cardinality=codec.cardinality,
        codec_dim=codec.cfg.dim, frame_rate=codec.frame_rate, video=vcfg.to_dict(),
    )  # fmt: skip
    with claim_main([out_dir / FILE]):
        clips = [
            load_clip(v, fps=vcfg.fps, size=vcfg.size, rate=codec.sample_rate) for v in scan(root)
        ]
        items = build_items(clips, codec, opts.beat_window)
        train, held = held_out(items)
        if not train or not held:
            raise InputError(f"{root}: need videos in train/ and in val/ or test/")
        batches = collate(vcfg, codec.frame_rate, opts)
        model, trainer = fit_decoder(model_cfg, codec, train, batches, cfg, opts,
                                     out_dir / ".resume", progress)  # fmt: skip
        try:
            if not trainer.world.is_main:
                return None
            metrics = evaluate(model, held, vcfg)
            metrics["split"] = {"train": len(train), "held_out": len(held)}
            training = {**asdict(cfg), **asdict(opts), "data": Path(root).name}
            save_decoder(model, out_dir, "VMAs decoder with video encoder", card,
                         metrics=metrics, training=training, command=command,
                         overwrite=overwrite)  # fmt: skip
            return metrics
        finally:
            leave_distributed()


def card(facts: ModelFacts, metrics: dict, training: dict, command: str) -> WeightCard:
    rows = "\n".join(f"| {c} | {metrics[c]['token_ce']} |" for c in CONDITIONS)
    return WeightCard(
        title="VMAs decoder with its Hiera-style video encoder (paired training)",
        system="vmas",
        data=f"{training['data']}: paired video-music clips, {metrics['split']}.",
        data_licence="That of the paired collection it was trained on.",
        command=command,
        models=[facts],
        training=training,
        metrics_markdown=(
            f"Held-out clips ({metrics['clips']}), first window each: per-token cross-entropy "
            "(nats) fed the clip's frames, its frames shuffled in time, and the null condition."
            "\n\n| condition | token cross-entropy |\n|---|---|\n" + rows
        ),
        intended_use="Research: VMAs' video encoder and decoder trained on paired data.",
        limitations=[
            "`vidscore compose` does not yet read a decoder with a video encoder.",
            "Trained from scratch: no pretrained Hiera-Base, MusicGen or EnCodec weights.",
        ],
    )
