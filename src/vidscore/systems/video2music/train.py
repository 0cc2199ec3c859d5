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

from vidscore.curves.contract import quantiles
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
from vidscore.music.chords import VIDEO2MUSIC
from vidscore.outputs import atomic_path, check_output_folder
from vidscore.systems.common.card import ModelFacts, WeightCard
from vidscore.systems.video2music.data import ChordSequence, is_muvisync, load_sequences
from vidscore.systems.video2music.loss import END, PAD, affective_loss
from vidscore.systems.video2music.model import AMT, AMTConfig, DescriptorGRU, guided
from vidscore.types import EMOTIONS

NONE_ROOT, NONE_QUALITY = 12, len(VIDEO2MUSIC.qualities)  # factored N
ROOT_PAD, QUALITY_PAD = 14, 15  # factored PAD ids (12 = N, 13 = END)
NEUTRAL = EMOTIONS.index("neutral")
FILES = ("amt.safetensors", "bigru.safetensors", MANIFEST, "CARD.md")


@dataclass(frozen=True)
class Video2MusicTraining:
    """What ``vidscore train video2music`` takes besides the shared :class:`TrainConfig`."""

    gru_epochs: int = 30
    gru_lr: float = 2e-3
    max_len: int = 300
    gru_window: int = 64  # the biGRU trains on excerpts of 8 to this many steps
    lam: float = 0.4  # affective loss: lambda * CE + (1 - lambda) * BCE
    cond_drop: float = 0.2  # share of pieces trained on the null condition (classifier-free)
    limit: int = 0  # use only the first N pieces (smoke runs)

    def __post_init__(self) -> None:
        if not 0 <= self.cond_drop < 1:
            raise ValueError(f"cond_drop {self.cond_drop}: must be 0 to below 1")
        if self.gru_epochs < 1 or self.gru_lr <= 0 or min(self.max_len, self.gru_window) < 8:
            raise ValueError("gru_epochs >= 1, gru_lr > 0, max_len and gru_window >= 8")
        if not 0 <= self.lam <= 1:
            raise ValueError(f"lam {self.lam}: must be 0 to 1")


def collate(
    seqs: list[ChordSequence],
    max_len: int,
    rng: random.Random,
    train: bool,
    drop: float = 0.0,
    cond: list[np.ndarray] | None = None,
):
    """Pad a batch. Position ``j`` reads the chord before step ``j`` (N before a piece's first
    step) and the control row of step ``j``, and predicts step ``j``'s chord; END follows the
    last. Pieces longer than ``max_len`` are cropped (at random when training); with probability
    ``drop`` a piece's rows are the null condition (all zeros) and its affective target neutral.
    ``cond`` replaces the pieces' rows (the ablations of :func:`hits_at_k`)."""
    crops = []
    for s in seqs:
        n = len(s.chords)
        a = rng.randrange(0, n - max_len + 2) if train and n + 1 > max_len else 0
        crops.append((s, a, min(n, a + max_len - 1)))
    length = max(e - a + (e == len(s.chords)) for s, a, e in crops)
    rows = cond or [s.cond for s in seqs]
    dim = rows[0].shape[1]
    b = len(seqs)
    roots = torch.full((b, length), ROOT_PAD, dtype=torch.long)
    quals = torch.full((b, length), QUALITY_PAD, dtype=torch.long)
    tgt = torch.full((b, length), PAD, dtype=torch.long)
    emo = torch.full((b, length), NEUTRAL, dtype=torch.long)
    video = torch.zeros((b, length, dim))
    vmask = torch.ones((b, length), dtype=torch.bool)
    for i, ((s, a, e), c) in enumerate(zip(crops, rows, strict=True)):
        prev_r, prev_q = (s.roots[a - 1], s.qualities[a - 1]) if a else (NONE_ROOT, NONE_QUALITY)
        in_r = np.concatenate([[prev_r], s.roots[a:e]])
        in_q = np.concatenate([[prev_q], s.qualities[a:e]])
        out = s.chords[a:e]
        rows_ = c[a:e]
        if e == len(s.chords):  # the piece ends here: predict END from its last step
            out = np.append(out, END)
            rows_ = np.concatenate([rows_, c[e - 1 : e]])
        else:
            in_r, in_q = in_r[:-1], in_q[:-1]
        n = len(out)
        roots[i, :n] = torch.from_numpy(in_r[:n])
        quals[i, :n] = torch.from_numpy(in_q[:n])
        tgt[i, :n] = torch.from_numpy(out)
        vmask[i, :n] = False
        if train and drop and rng.random() < drop:
            continue  # the null condition: rows stay zero, the affective target neutral
        video[i, :n] = torch.from_numpy(np.asarray(rows_, dtype=np.float32))
        emo[i, :n] = torch.from_numpy(rows_[:, -6:].argmax(axis=1))
    pad = roots == ROOT_PAD
    return video, vmask, roots, quals, tgt, emo, pad


def gru_batch(seqs: list[ChordSequence], max_len: int, rng: random.Random, train: bool):
    """``(rows (B, L, D), mask (B, L) True at padding, targets (B, L, 2))`` for the biGRU.

    Training batches are windows of one length drawn from 8 to ``max_len`` steps, each at a
    random place in its song: a clip is an excerpt, and on whole songs the bidirectional GRU
    learnt POP909's form instead (quiet intro and outro: fed the same curves at every step of
    a 10-step clip, its loudness fell by up to 0.1 towards the clip's end)."""
    crops = []
    size = rng.randint(min(8, max_len), max_len) if train else max_len
    for s in seqs:
        n = len(s.chords)
        a = rng.randrange(0, n - size + 1) if train and n > size else 0
        crops.append((s, a, min(n, a + size)))
    length = max(e - a for _, a, e in crops)
    rows = torch.zeros((len(seqs), length, seqs[0].cond.shape[1]))
    mask = torch.ones((len(seqs), length), dtype=torch.bool)
    dens = torch.zeros((len(seqs), length, 2))
    for i, (s, a, e) in enumerate(crops):
        rows[i, : e - a] = torch.from_numpy(s.cond[a:e])
        mask[i, : e - a] = False
        dens[i, : e - a, 0] = torch.from_numpy(s.density[a:e])
        dens[i, : e - a, 1] = torch.from_numpy(s.loudness[a:e])
    return rows, mask, dens


def train_amt(
    trainer: Trainer,
    train: list[ChordSequence],
    model_cfg: AMTConfig,
    opts: Video2MusicTraining,
    seed: int,
) -> AMT:
    torch.manual_seed(seed)

    def loss_fn(model, batch) -> torch.Tensor:
        video, vmask, roots, quals, tgt, emo, pad = batch
        logits = model(video, roots, quals, pad, vmask)
        return affective_loss(logits, tgt, emo, lam=opts.lam)

    return trainer.fit(
        AMT(model_cfg),
        train,
        lambda items, rng: collate(items, opts.max_len, rng, True, opts.cond_drop),
        loss_fn,
        name="amt",
    )


def train_gru(
    trainer: Trainer, train: list[ChordSequence], in_dim: int, opts: Video2MusicTraining, seed: int
) -> DescriptorGRU:
    torch.manual_seed(seed)

    def loss_fn(model, batch) -> torch.Tensor:
        rows, mask, dens = batch
        return ((model(rows) - dens) ** 2)[~mask].mean()

    return trainer.fit(
        DescriptorGRU(in_dim),
        train,
        lambda items, rng: gru_batch(items, opts.gru_window, rng, True),
        loss_fn,
        name="bigru",
    )


#: what the AMT is fed in the ablation: the piece's own controls, the same shuffled in time,
#: the null condition, another held-out piece's
CONDITIONS = ("real", "shuffled", "null", "other")


def ablated(seqs: list[ChordSequence], condition: str, seed: int = 0) -> list[np.ndarray]:
    """Each piece's rows under ``condition`` (see :data:`CONDITIONS`)."""
    rng = np.random.default_rng(seed)
    out = []
    for i, s in enumerate(seqs):
        if condition == "real":
            out.append(s.cond)
        elif condition == "shuffled":
            out.append(s.cond[rng.permutation(len(s.cond))])
        elif condition == "null":
            out.append(np.zeros_like(s.cond))
        elif condition == "other":
            other = seqs[(i + 1) % len(seqs)].cond
            reps = int(np.ceil(len(s.cond) / len(other)))
            out.append(np.tile(other, (reps, 1))[: len(s.cond)])
        else:
            raise ValueError(f"condition {condition!r}: one of {', '.join(CONDITIONS)}")
    return out


@torch.no_grad()
def hits_at_k(
    model: AMT,
    seqs: list[ChordSequence],
    ks=(1, 3, 5),
    max_len: int = 300,
    condition: str = "real",
    guidance: float = 1.0,
) -> dict:
    """Teacher-forced Hits@k per piece (END excluded), averaged over pieces, with the pieces'
    controls as ``condition`` says (:data:`CONDITIONS`); ``guidance`` != 1 scores the
    classifier-free logits ``free + guidance * (conditioned - free)``, as sampling does."""
    rng = random.Random(0)
    rows = ablated(seqs, condition)
    per_piece: dict[str, list[float]] = {f"hits@{k}": [] for k in ks}
    for s, c in zip(seqs, rows, strict=True):
        video, vmask, roots, quals, tgt, _, pad = collate([s], max_len, rng, False, cond=[c])
        logits = guided(model, video, roots, quals, guidance, pad, vmask)[0]
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
        rows, _mask, dens = gru_batch([s], 10**6, rng, False)
        pred = model(rows)[0]
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
        sem = seqs.semantic_dim
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
        gru = train_gru(gru_trainer, train, model_cfg.input_dim, opts, cfg.seed)
        try:
            if not trainer.world.is_main:
                return None  # the main process alone scores and writes
            held = seqs["test"] or seqs["val"]
            metrics = {
                "amt": hits_at_k(amt, held, max_len=opts.max_len),
                "amt_ablation": {
                    c: hits_at_k(amt, held, max_len=opts.max_len, condition=c)
                    for c in CONDITIONS[1:]
                },
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
                    "calibration": seqs.calibration.to_dict(),
                    "descriptor_quantiles": {
                        "density": quantiles(np.concatenate([q.density for q in train])),
                        "loudness": quantiles(np.concatenate([q.loudness for q in train])),
                    },
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
            "POP909 has no video: each chord step is conditioned on the control curves of the "
            "music it must produce (activity, intensity, boundaries, accents, valence, register; "
            "vidscore/curves), ranked by the training split's quantiles, with the six emotions "
            "derived from the step's own valence and intensity; 20% of pieces train on the null "
            "condition. At compose time the same curves come from the clip. "
            f"Semantic input width {sem}."
        )
        licence = "POP909: MIT."
    a, ab = metrics["amt"], metrics["amt_ablation"]
    g = metrics["bigru"]
    fed = {
        "real": "its own controls",
        "shuffled": "its controls shuffled in time",
        "null": "the null condition (no controls)",
        "other": "another piece's controls",
    }
    lines = [
        f"Teacher-forced on the {metrics['held_out']} split, per piece then averaged; one model "
        "fed:",
        "",
        "| controls | Hits@1 | Hits@3 | Hits@5 |",
        "|---|---|---|---|",
    ]
    for name, h in [("real", a), *ab.items()]:
        lines.append(f"| {fed[name]} | {h['hits@1']} | {h['hits@3']} | {h['hits@5']} |")
    lines += [
        "",
        f"biGRU: note density RMSE {g['density_rmse']} (notes per s / 14), loudness RMSE "
        f"{g['loudness_rmse']} (raw intensity: 0.6 x velocity / 127 + 0.4 x voices / 8).",
    ]
    table = "\n".join(lines)
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
            "Trained without paired video unless the data is MuVi-Sync: the model learnt to "
            "follow control curves of music; that the clip's curves (motion, arousal, colour, "
            "cuts, flow, brightness) are the right asks is a design choice, measured in "
            "benchmarks/steering.py (docs/compose.md), not learnt.",
            "Chords only (plus density and loudness): melody and texture come from the "
            "shared rule-based arrangement.",
        ],
    )
