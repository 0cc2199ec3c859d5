"""Training the AMT and the biGRU, their held-out scores, and the safetensors checkpoints.

``vidscore train video2music --data PATH --out DIR`` reads POP909 (music-derived conditioning,
see :mod:`.data`) or a MuVi-Sync folder (the paper's setting), trains AMT with the affective loss
and the biGRU with MSE, scores held-out Hits@1/3/5 teacher-forced (per piece, then averaged, as
Video2Music evaluates) beside a plain transformer trained the same way without video input, and
writes ``amt.safetensors``, ``bigru.safetensors`` (config in the metadata) and ``CARD.md``.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import random
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch import nn

from vidscore.errors import InputError, ModelLoadError
from vidscore.metrics.chords import hits_at_k as chord_hits
from vidscore.systems.video2music.data import ChordSequence, factor, pop909_sequence
from vidscore.systems.video2music.loss import END, PAD, affective_loss
from vidscore.systems.video2music.model import AMT, AMTConfig, DescriptorGRU

ROOT_PAD, QUALITY_PAD = 14, 15  # factored PAD ids (12 = N, 13 = END)
Progress = Callable[[str, int, int, float], None]  # (stage, epoch, epochs, loss)


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 30
    gru_epochs: int = 30
    batch_size: int = 16
    lr: float = 5e-4
    weight_decay: float = 0.01
    max_len: int = 300
    seed: int = 0
    lam: float = 0.4
    limit: int = 0  # use only the first N pieces (smoke runs)


def load_sequences(data: str | os.PathLike, *, limit: int = 0) -> dict[str, list[ChordSequence]]:
    """Train / val / test sequences from POP909 or MuVi-Sync, told apart by layout."""
    root = Path(data)
    if (root / "vevo_chord").is_dir():
        return _muvisync_sequences(root, limit)
    from vidscore.data.pop909 import songs

    all_songs = songs(root)
    if limit:
        all_songs = all_songs[:limit]
    out: dict[str, list[ChordSequence]] = {"train": [], "val": [], "test": []}
    for song in all_songs:
        seq = pop909_sequence(song)
        if seq is not None:
            out[song.split].append(seq)
    if not out["train"]:
        raise InputError(f"{root}: no usable training pieces")
    return out


def _muvisync_sequences(root: Path, limit: int) -> dict[str, list[ChordSequence]]:
    from vidscore.data.muvisync import MuViSync

    ds = MuViSync(root)
    out = {}
    for split in ("train", "val", "test"):
        items = ds.items(split)[: limit or None]
        seqs = []
        for it in items:
            n = min(
                len(it.chords),
                len(it.emotion),
                len(it.motion),
                len(it.scene_offset),
                len(it.semantic),
            )
            if n < 4:
                continue
            idx, roots, quals = factor(it.chords[:n])
            cond = np.column_stack(
                [
                    it.semantic[:n],
                    np.minimum(it.scene_offset[:n], 16) / 16,
                    np.clip(it.motion[:n] / 20.0, 0, 1),
                    it.emotion[:n, :6],
                ]
            ).astype(np.float32)
            seqs.append(
                ChordSequence(
                    it.video_id,
                    idx,
                    roots,
                    quals,
                    cond,
                    it.note_density[:n].astype(np.float32) / 14.0,
                    it.loudness[:n].astype(np.float32),
                )
            )
        out[split] = seqs
    return out


def _batch(seqs: list[ChordSequence], max_len: int, rng: random.Random, train: bool):
    """Pad a batch. Inputs are chords 0..L-2, targets 1..L-1 with END after the last chord."""
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
        nxt = np.append(s.chords[a + 1 : e], END)
        tgt[i, :n] = torch.from_numpy(nxt)
        emo_idx = np.append(s.emotion[a + 1 : e], s.emotion[e - 1])
        emo[i, :n] = torch.from_numpy(emo_idx)
        video[i, :n] = torch.from_numpy(s.cond[a:e])
        vmask[i, :n] = False
        dens[i, :n, 0] = torch.from_numpy(s.density[a:e])
        dens[i, :n, 1] = torch.from_numpy(s.loudness[a:e])
    pad = roots == ROOT_PAD
    return video, vmask, roots, quals, tgt, emo, pad, dens


def _batches(seqs, cfg: TrainConfig, rng: random.Random, train: bool):
    order = list(range(len(seqs)))
    if train:
        rng.shuffle(order)
    for i in range(0, len(order), cfg.batch_size):
        yield _batch([seqs[j] for j in order[i : i + cfg.batch_size]], cfg.max_len, rng, train)


def train_amt(
    train: list[ChordSequence],
    model_cfg: AMTConfig,
    cfg: TrainConfig,
    progress: Progress | None = None,
) -> AMT:
    torch.manual_seed(cfg.seed)
    rng = random.Random(cfg.seed)
    model = AMT(model_cfg)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    steps = cfg.epochs * math.ceil(len(train) / cfg.batch_size)
    warm = max(1, steps // 20)

    def lr_at(step: int) -> float:  # linear warm-up, then cosine decay to zero
        if step < warm:
            return (step + 1) / warm
        return 0.5 * (1 + math.cos(math.pi * min(1.0, (step - warm) / max(1, steps - warm))))

    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_at)
    name = "amt" if model_cfg.use_video else "baseline"
    for epoch in range(cfg.epochs):
        model.train()
        total, count = 0.0, 0
        for video, vmask, roots, quals, tgt, emo, pad, _ in _batches(train, cfg, rng, True):
            logits = model(video if model_cfg.use_video else None, roots, quals, pad, vmask)
            loss = affective_loss(logits, tgt, emo, lam=cfg.lam)
            opt.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            sched.step()
            total += loss.item() * len(tgt)
            count += len(tgt)
        if progress is not None:
            progress(name, epoch + 1, cfg.epochs, total / max(count, 1))
    return model.eval()


@torch.no_grad()
def hits_at_k(model: AMT, seqs: list[ChordSequence], ks=(1, 3, 5), max_len: int = 300) -> dict:
    """Teacher-forced Hits@k per piece (END excluded), averaged over pieces."""
    rng = random.Random(0)
    per_piece: dict[str, list[float]] = {f"hits@{k}": [] for k in ks}
    for s in seqs:
        video, vmask, roots, quals, tgt, _, pad, _ = _batch([s], max_len, rng, False)
        logits = model(video if model.cfg.use_video else None, roots, quals, pad, vmask)[0]
        t = tgt[0]
        keep = (t != PAD) & (t != END)
        if not keep.any():
            continue
        for name, value in chord_hits(logits[keep].numpy(), t[keep].numpy(), ks).items():
            per_piece[name].append(value)
    return {name: round(float(np.mean(v)), 4) for name, v in per_piece.items()}


def train_gru(
    train: list[ChordSequence], in_dim: int, cfg: TrainConfig, progress: Progress | None = None
) -> DescriptorGRU:
    torch.manual_seed(cfg.seed)
    rng = random.Random(cfg.seed)
    model = DescriptorGRU(in_dim)
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3)
    for epoch in range(cfg.gru_epochs):
        model.train()
        total, count = 0.0, 0
        for video, vmask, *_, dens in _batches(train, cfg, rng, True):
            pred = model(video)
            keep = ~vmask
            loss = ((pred - dens) ** 2)[keep].mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item()
            count += 1
        if progress is not None:
            progress("bigru", epoch + 1, cfg.gru_epochs, total / max(count, 1))
    return model.eval()


@torch.no_grad()
def gru_rmse(model: DescriptorGRU, seqs: list[ChordSequence]) -> dict:
    err_d, err_l = [], []
    rng = random.Random(0)
    for s in seqs:
        video, _vmask, *_, dens = _batch([s], 10**6, rng, False)
        pred = model(video)[0]
        err_d.append(float(((pred[:, 0] - dens[0, :, 0]) ** 2).mean()))
        err_l.append(float(((pred[:, 1] - dens[0, :, 1]) ** 2).mean()))
    return {
        "density_rmse": round(math.sqrt(np.mean(err_d)), 4),
        "loudness_rmse": round(math.sqrt(np.mean(err_l)), 4),
    }


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def save_checkpoint(model: nn.Module, path: Path, kind: str, config: dict) -> str:
    state = {k: v.contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(path), metadata={"kind": kind, "config": json.dumps(config)})
    return sha256(path)


def load_amt(path: str | os.PathLike, expected_sha256: str | None = None) -> AMT:
    """Rebuild an AMT from its safetensors file (config in the metadata); check the hash."""
    p = Path(path)
    cfg, state = _read_checkpoint(p, "amt", expected_sha256)
    model = AMT(AMTConfig(**cfg))
    model.load_state_dict(state)
    return model.eval()


def load_gru(path: str | os.PathLike, expected_sha256: str | None = None) -> DescriptorGRU:
    p = Path(path)
    cfg, state = _read_checkpoint(p, "bigru", expected_sha256)
    model = DescriptorGRU(**cfg)
    model.load_state_dict(state)
    return model.eval()


def _read_checkpoint(p: Path, kind: str, expected: str | None):
    if not p.is_file():
        raise ModelLoadError(f"{p}: weights not found")
    if expected is not None and sha256(p) != expected:
        raise ModelLoadError(f"{p}: sha256 does not match its card (corrupt or replaced file)")
    from safetensors import safe_open

    try:
        with safe_open(str(p), "pt") as f:
            meta = f.metadata() or {}
        state = load_file(str(p))
    except Exception as exc:
        raise ModelLoadError(f"{p}: not a readable safetensors file ({exc})") from exc
    if meta.get("kind") != kind:
        raise ModelLoadError(f"{p}: holds {meta.get('kind')!r} weights, expected {kind!r}")
    return json.loads(meta["config"]), state


def run(
    data: str | os.PathLike,
    out: str | os.PathLike,
    *,
    model_cfg: AMTConfig | None = None,
    cfg: TrainConfig | None = None,
    command: str = "",
    progress: Progress | None = None,
) -> dict:
    """Train everything and write the checkpoints and card into ``out``; return the metrics."""
    cfg = cfg or TrainConfig()
    seqs = load_sequences(data, limit=cfg.limit)
    dim = seqs["train"][0].cond.shape[1]
    model_cfg = model_cfg or AMTConfig(semantic_dim=dim - 8)
    model_cfg = replace(
        model_cfg, semantic_dim=dim - 8, max_len=max(model_cfg.max_len, cfg.max_len)
    )
    out_dir = Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    amt = train_amt(seqs["train"], model_cfg, cfg, progress)
    base = train_amt(seqs["train"], replace(model_cfg, use_video=False), cfg, progress)
    gru = train_gru(seqs["train"], dim, cfg, progress)
    held = seqs["test"] or seqs["val"]
    metrics = {
        "amt": hits_at_k(amt, held, max_len=cfg.max_len),
        "baseline_no_video": hits_at_k(base, held, max_len=cfg.max_len),
        "bigru": gru_rmse(gru, held),
        "pieces": {k: len(v) for k, v in seqs.items()},
    }
    hashes = {
        "amt.safetensors": save_checkpoint(
            amt, out_dir / "amt.safetensors", "amt", model_cfg.to_dict()
        ),
        "bigru.safetensors": save_checkpoint(
            gru, out_dir / "bigru.safetensors", "bigru", {"in_dim": dim}
        ),
    }
    (out_dir / "metrics.json").write_text(
        json.dumps(
            {
                "metrics": metrics,
                "train": asdict(cfg),
                "model": model_cfg.to_dict(),
                "sha256": hashes,
                "command": command,
            },
            indent=2,
        )
    )
    (out_dir / "CARD.md").write_text(card(data, command, metrics, hashes, model_cfg, cfg))
    return metrics


def card(
    data, command: str, metrics: dict, hashes: dict, model_cfg: AMTConfig, cfg: TrainConfig
) -> str:
    pop909 = not (Path(data) / "vevo_chord").is_dir()
    source = (
        "POP909 (MIT licence; ../shared/data/POP909), 909 songs, hash-of-id 80/10/10 "
        "split. POP909 has no video: each chord step's conditioning is derived from the "
        "music (phrase starts for scene offset, onset density for motion, mode, chord "
        "qualities, density and velocity for the six emotions; see "
        "vidscore/systems/video2music/data.py). The semantic input is disabled "
        "(semantic_dim 0)."
        if pop909
        else "MuVi-Sync (Video2Music's release)."
    )
    a, b = metrics["amt"], metrics["baseline_no_video"]
    lines = [
        "# Video2Music AMT-small and biGRU (vidscore default weights)",
        "",
        f"**Data.** {source}",
        "",
        f"**Command.** `{command}`",
        "",
        f"**Model.** AMT d_model {model_cfg.d_model}, {model_cfg.n_heads} heads, "
        f"{model_cfg.encoder_layers} + {model_cfg.decoder_layers} layers, relative attention; "
        f"affective loss lambda {cfg.lam}; {cfg.epochs} epochs, batch {cfg.batch_size}, "
        f"AdamW lr {cfg.lr}, seed {cfg.seed}. biGRU 2 x 64, bidirectional, {cfg.gru_epochs} "
        "epochs.",
        "",
        "**Held-out metrics** (test split, teacher-forced, per piece then averaged):",
        "",
        "| model | Hits@1 | Hits@3 | Hits@5 |",
        "|---|---|---|---|",
        f"| AMT-small (video conditioning) | {a['hits@1']} | {a['hits@3']} | {a['hits@5']} |",
        f"| same decoder, no video input | {b['hits@1']} | {b['hits@3']} | {b['hits@5']} |",
        "",
        f"biGRU: note density RMSE {metrics['bigru']['density_rmse']} (density / 14 notes "
        f"per s), loudness RMSE {metrics['bigru']['loudness_rmse']} (velocity / 127).",
        "",
        f"Pieces: {metrics['pieces']}.",
        "",
        "**sha256**",
        "",
        *[f"- `{name}`: `{digest}`" for name, digest in hashes.items()],
        "",
    ]
    return "\n".join(lines)
