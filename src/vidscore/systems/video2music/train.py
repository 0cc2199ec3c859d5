"""Training the AMT and the biGRU on the shared trainer, their held-out scores, and the weights.

``vidscore train video2music --data PATH --out DIR`` reads POP909 (music-derived conditioning,
see :mod:`.data`) or a MuVi-Sync folder (the paper's setting), trains AMT with the affective loss
and the biGRU with MSE, scores held-out Hits@1/3/5 teacher-forced (per piece, then averaged, as
Video2Music evaluates) beside the same decoder trained without video input, and writes
``amt.safetensors``, ``bigru.safetensors``, ``manifest.json`` and ``CARD.md``. Training runs on
:class:`~vidscore.modules.trainer.Trainer` (CPU or GPU, torchrun for several, resumable
from ``DIR/.resume`` after an interruption).
"""

from __future__ import annotations

import math
import os
import random
import shutil
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch

from vidscore.metrics.chords import hits_at_k as chord_hits
from vidscore.modules.checkpoint import MANIFEST, save_module, write_manifest
from vidscore.modules.trainer import (
    Progress,
    TrainConfig,
    Trainer,
    claim_main,
    leave_distributed,
    resolve_device,
)
from vidscore.outputs import atomic_path, check_output_folder
from vidscore.systems.common.card import ModelFacts, WeightCard
from vidscore.systems.video2music.data import (
    ChordSequence,
    is_muvisync,
    load_sequences,
    semantic_dim,
)
from vidscore.systems.video2music.loss import END, PAD, affective_loss
from vidscore.systems.video2music.model import AMT, AMTConfig, DescriptorGRU

ROOT_PAD, QUALITY_PAD = 14, 15  # factored PAD ids (12 = N, 13 = END)
FILES = ("amt.safetensors", "bigru.safetensors", MANIFEST, "CARD.md")


@dataclass(frozen=True)
class Video2MusicTraining:
    """What ``vidscore train video2music`` takes besides the shared :class:`TrainConfig`."""

    gru_epochs: int = 30
    gru_lr: float = 2e-3
    max_len: int = 300
    lam: float = 0.4  # affective loss: lambda * CE + (1 - lambda) * BCE
    limit: int = 0  # use only the first N pieces (smoke runs)

    def __post_init__(self) -> None:
        if self.gru_epochs < 1 or self.gru_lr <= 0 or self.max_len < 8:
            raise ValueError("gru_epochs >= 1, gru_lr > 0 and max_len >= 8")
        if not 0 <= self.lam <= 1:
            raise ValueError(f"lam {self.lam}: must be 0 to 1")


def collate(seqs: list[ChordSequence], max_len: int, rng: random.Random, train: bool):
    """Pad a batch. Inputs are chords 0..L-2, targets 1..L-1 with END after the last chord;
    pieces longer than ``max_len`` are cropped (at random when training)."""
    crops = []
    for s in seqs:
        n = len(s.chords)
        if n > max_len:
            a = rng.randrange(0, n - max_len + 1) if train else 0
            crops.append((s, a, a + max_len))
        else:
            crops.append((s, 0, n))
    length = max(b - a for _, a, b in crops)
    dim = seqs[0].cond.shape[1]
    b = len(seqs)
    roots = torch.full((b, length), ROOT_PAD, dtype=torch.long)
    quals = torch.full((b, length), QUALITY_PAD, dtype=torch.long)
    tgt = torch.full((b, length), PAD, dtype=torch.long)
    emo = torch.zeros((b, length), dtype=torch.long)
    video = torch.zeros((b, length, dim))
    vmask = torch.ones((b, length), dtype=torch.bool)
    dens = torch.zeros((b, length, 2))
    for i, (s, a, e) in enumerate(crops):
        n = e - a
        roots[i, :n] = torch.from_numpy(s.roots[a:e])
        quals[i, :n] = torch.from_numpy(s.qualities[a:e])
        tgt[i, :n] = torch.from_numpy(np.append(s.chords[a + 1 : e], END))
        emo[i, :n] = torch.from_numpy(np.append(s.emotion[a + 1 : e], s.emotion[e - 1]))
        video[i, :n] = torch.from_numpy(s.cond[a:e])
        vmask[i, :n] = False
        dens[i, :n, 0] = torch.from_numpy(s.density[a:e])
        dens[i, :n, 1] = torch.from_numpy(s.loudness[a:e])
    pad = roots == ROOT_PAD
    return video, vmask, roots, quals, tgt, emo, pad, dens


def train_amt(
    trainer: Trainer,
    train: list[ChordSequence],
    model_cfg: AMTConfig,
    opts: Video2MusicTraining,
    seed: int,
) -> AMT:
    torch.manual_seed(seed)
    use_video = model_cfg.use_video

    def loss_fn(model, batch) -> torch.Tensor:
        video, vmask, roots, quals, tgt, emo, pad, _ = batch
        logits = model(video if use_video else None, roots, quals, pad, vmask)
        return affective_loss(logits, tgt, emo, lam=opts.lam)

    return trainer.fit(
        AMT(model_cfg),
        train,
        lambda items, rng: collate(items, opts.max_len, rng, True),
        loss_fn,
        name="amt" if use_video else "amt_no_video",
    )


def train_gru(
    trainer: Trainer, train: list[ChordSequence], in_dim: int, opts: Video2MusicTraining, seed: int
) -> DescriptorGRU:
    torch.manual_seed(seed)

    def loss_fn(model, batch) -> torch.Tensor:
        video, vmask, *_, dens = batch
        return ((model(video) - dens) ** 2)[~vmask].mean()

    return trainer.fit(
        DescriptorGRU(in_dim),
        train,
        lambda items, rng: collate(items, opts.max_len, rng, True),
        loss_fn,
        name="bigru",
    )


@torch.no_grad()
def hits_at_k(model: AMT, seqs: list[ChordSequence], ks=(1, 3, 5), max_len: int = 300) -> dict:
    """Teacher-forced Hits@k per piece (END excluded), averaged over pieces."""
    rng = random.Random(0)
    per_piece: dict[str, list[float]] = {f"hits@{k}": [] for k in ks}
    for s in seqs:
        video, vmask, roots, quals, tgt, _, pad, _ = collate([s], max_len, rng, False)
        logits = model(video if model.cfg.use_video else None, roots, quals, pad, vmask)[0]
        t = tgt[0]
        keep = (t != PAD) & (t != END)
        if not keep.any():
            continue
        for name, value in chord_hits(logits[keep].numpy(), t[keep].numpy(), ks).items():
            per_piece[name].append(value)
    return {name: round(float(np.mean(v)), 4) for name, v in per_piece.items()}


@torch.no_grad()
def gru_rmse(model: DescriptorGRU, seqs: list[ChordSequence]) -> dict:
    err_d, err_l = [], []
    rng = random.Random(0)
    for s in seqs:
        video, _vmask, *_, dens = collate([s], 10**6, rng, False)
        pred = model(video)[0]
        err_d.append(float(((pred[:, 0] - dens[0, :, 0]) ** 2).mean()))
        err_l.append(float(((pred[:, 1] - dens[0, :, 1]) ** 2).mean()))
    return {
        "density_rmse": round(math.sqrt(np.mean(err_d)), 4),
        "loudness_rmse": round(math.sqrt(np.mean(err_l)), 4),
    }


def run(
    data: str | os.PathLike,
    out: str | os.PathLike,
    *,
    model_cfg: AMTConfig | None = None,
    cfg: TrainConfig | None = None,
    opts: Video2MusicTraining | None = None,
    command: str = "vidscore train video2music",
    progress: Progress | None = None,
    overwrite: bool = False,
) -> dict | None:
    """Train everything and write weights, manifest and card into ``out``; return the metrics
    (None on the other processes of a multi-process run, which write nothing)."""
    cfg = cfg or TrainConfig()
    opts = opts or Video2MusicTraining()
    resolve_device(cfg.device)  # a missing GPU is refused before any work
    out_dir = check_output_folder(out, FILES, overwrite=overwrite)
    with claim_main([out_dir / f for f in FILES]):  # one run writes a folder at a time
        seqs = load_sequences(data, limit=opts.limit)
        sem = semantic_dim(seqs)
        model_cfg = model_cfg or AMTConfig()
        model_cfg = replace(
            model_cfg, semantic_dim=sem, max_len=max(model_cfg.max_len, opts.max_len)
        )
        state = out_dir / ".resume"
        trainer = Trainer(cfg, state_dir=state, progress=progress)
        gru_cfg = replace(cfg, epochs=opts.gru_epochs, lr=opts.gru_lr)
        gru_trainer = Trainer(gru_cfg, state_dir=state, progress=progress)
        train = seqs["train"]
        amt = train_amt(trainer, train, model_cfg, opts, cfg.seed)
        no_video = train_amt(trainer, train, replace(model_cfg, use_video=False), opts, cfg.seed)
        gru = train_gru(gru_trainer, train, model_cfg.input_dim, opts, cfg.seed)
        try:
            if not trainer.world.is_main:
                return None  # the main process alone scores and writes
            held = seqs["test"] or seqs["val"]
            metrics = {
                "amt": hits_at_k(amt, held, max_len=opts.max_len),
                "amt_no_video": hits_at_k(no_video, held, max_len=opts.max_len),
                "bigru": gru_rmse(gru, held),
                "pieces": {k: len(v) for k, v in seqs.items()},
                "held_out": "test" if seqs["test"] else "val",
            }
            amt_sha = save_module(
                amt,
                out_dir / "amt.safetensors",
                kind="amt",
                config=model_cfg.to_dict(),
                overwrite=overwrite,
            )
            gru_sha = save_module(
                gru,
                out_dir / "bigru.safetensors",
                kind="bigru",
                config=gru.config,
                overwrite=overwrite,
            )
            models = [
                ModelFacts.of("amt.safetensors", "AMT", amt, model_cfg.to_dict(), amt_sha),
                ModelFacts.of("bigru.safetensors", "biGRU", gru, gru.config, gru_sha),
            ]
            training = {**asdict(cfg), **asdict(opts), "world_size": trainer.world.size}
            write_manifest(
                out_dir,
                {
                    "system": "video2music",
                    "files": {m.file: m.sha256 for m in models},
                    "metrics": metrics,
                    "model": model_cfg.to_dict(),
                    "train": training,
                    "command": command,
                },
                overwrite=overwrite,
            )
            with atomic_path(out_dir / "CARD.md", overwrite=overwrite) as tmp:
                tmp.write_text(card(data, command, metrics, models, training, sem).markdown())
            shutil.rmtree(state, ignore_errors=True)
            return metrics
        finally:
            leave_distributed()


def card(
    data, command: str, metrics: dict, models: list[ModelFacts], training: dict, sem: int
) -> WeightCard:
    muvi = is_muvisync(Path(data))
    if muvi:
        source = f"MuVi-Sync (Video2Music's release), {metrics['pieces']} pieces per split."
        licence = "MuVi-Sync's own terms (see its release)."
    else:
        source = (
            f"POP909, hash-of-id 80/10/10 split, {metrics['pieces']} usable pieces per split. "
            "POP909 has no video: each chord step's conditioning is derived from the music "
            "(phrase starts for scene offset, onset density for motion, mode, chord qualities, "
            "density and velocity for the six emotions; vidscore/systems/video2music/data.py). "
            f"Semantic input width {sem}."
        )
        licence = "POP909: MIT."
    a, b = metrics["amt"], metrics["amt_no_video"]
    g = metrics["bigru"]
    table = "\n".join(
        [
            f"Teacher-forced on the {metrics['held_out']} split, per piece then averaged.",
            "",
            "| model | Hits@1 | Hits@3 | Hits@5 |",
            "|---|---|---|---|",
            f"| AMT (video conditioning) | {a['hits@1']} | {a['hits@3']} | {a['hits@5']} |",
            f"| same decoder, no video input | {b['hits@1']} | {b['hits@3']} | {b['hits@5']} |",
            "",
            f"biGRU: note density RMSE {g['density_rmse']} (notes per s / 14), loudness RMSE "
            f"{g['loudness_rmse']} (velocity / 127).",
        ]
    )
    return WeightCard(
        title="Video2Music AMT and biGRU",
        system="video2music",
        data=source,
        data_licence=licence,
        command=command,
        models=models,
        training=training,
        metrics_markdown=table,
        intended_use=(
            "Chord progressions and arrangement density/loudness for background music under "
            "short videos, on a CPU, through `vidscore compose`."
        ),
        limitations=[
            "Trained without paired video unless the data is MuVi-Sync: on POP909 the "
            "conditioning comes from the music itself, so how the video steers the chords "
            "rests on those proxies (see docs/compose.md for what is measured).",
            "The AMT and the no-video decoder are trained separately; the gap between their "
            "Hits@k includes run-to-run variance.",
            "Chords only (plus density and loudness): melody and texture come from the "
            "shared rule-based arrangement.",
        ],
    )
