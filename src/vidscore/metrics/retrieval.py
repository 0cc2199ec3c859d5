"""VMCP: V-MusProd's video-music CLIP and its retrieval precision, and Diff-BGM's P@k.

The model (after the video-music retrieval design V-MusProd adopts): each modality is cut into
fixed-length segments, each segment becomes a feature vector, a transformer encoder per modality
reads the segment sequence, and the mean of its outputs, projected and L2-normalised, is the
clip's embedding. Training pulls paired video and music together with the symmetric InfoNCE
loss and a learnable temperature (CLIP's). VMCP ranks, for each generated piece, the cosine
similarity to its own video among M - 1 other videos (M = 70): P@K is the share ranked in the top
K (K = 5, 10, 20), AR the average rank. Diff-BGM's P@k is the same ranking over the whole test set.

Segment features (our choice, documented): video segments average the analysis timeline
(semantic embedding, motion, flow, colour statistics, valence, arousal); music segments are the
mean and spread of a 64-band log-mel spectrogram plus onset rate and loudness, computed on the
rendered audio. V-MusProd used CLIP and a music-tagging network, which do not ship offline; the
segment encoders take any feature size, so those can be plugged in.
"""

from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

SEGMENT_SECONDS = 2.0
VIDEO_SERIES = (
    "semantic",
    "motion",
    "flow_1hz",
    "brightness",
    "saturation",
    "colourfulness",
    "valence",
    "arousal",
)


@dataclass(frozen=True)
class VMCPConfig:
    video_dim: int
    music_dim: int
    d_model: int = 128
    n_heads: int = 4
    layers: int = 2
    embed_dim: int = 64
    max_segments: int = 128
    dropout: float = 0.1


def video_segments(features, seconds: float = SEGMENT_SECONDS) -> np.ndarray:
    """``(S, Dv)``: the per-second timeline averaged over consecutive segments."""
    from vidscore.features.timeline import bin_mean

    cols = []
    for name in VIDEO_SERIES:
        s = features[name]
        v = bin_mean(s.times, s.values, rate=1.0 / seconds, duration=features.duration)
        cols.append(v.reshape(len(v), -1))
    return np.concatenate(cols, axis=1).astype(np.float32)


def music_segments(y: np.ndarray, sr: int, seconds: float = SEGMENT_SECONDS) -> np.ndarray:
    """``(S, 130)``: log-mel mean and std (64 + 64), onset rate and RMS per segment."""
    import librosa

    hop = 512
    mel = librosa.power_to_db(
        librosa.feature.melspectrogram(y=y, sr=sr, n_mels=64, hop_length=hop) + 1e-10
    )
    onset = librosa.onset.onset_strength(y=y, sr=sr, hop_length=hop)
    rms = librosa.feature.rms(y=y, hop_length=hop)[0]
    per = max(1, round(seconds * sr / hop))
    n = max(1, math.ceil(mel.shape[1] / per))
    rows = []
    for i in range(n):
        sl = slice(i * per, (i + 1) * per)
        m = mel[:, sl]
        rows.append(
            np.concatenate(
                [m.mean(1) / 40.0, m.std(1) / 20.0, [onset[sl].mean() / 5.0, rms[sl].mean() * 5.0]]
            )
        )
    return np.asarray(rows, dtype=np.float32)


class SegmentEncoder(nn.Module):
    def __init__(self, in_dim: int, cfg: VMCPConfig) -> None:
        super().__init__()
        self.proj = nn.Linear(in_dim, cfg.d_model)
        self.pos = nn.Parameter(torch.zeros(cfg.max_segments, cfg.d_model))
        layer = nn.TransformerEncoderLayer(
            cfg.d_model,
            cfg.n_heads,
            2 * cfg.d_model,
            cfg.dropout,
            batch_first=True,
            norm_first=True,
        )
        self.encoder = nn.TransformerEncoder(layer, cfg.layers, enable_nested_tensor=False)
        self.out = nn.Linear(cfg.d_model, cfg.embed_dim)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """``x (B, S, D)``, ``mask (B, S)`` True at padding -> ``(B, E)`` unit vectors."""
        h = self.proj(x) + self.pos[: x.shape[1]]
        h = self.encoder(h, src_key_padding_mask=mask)
        keep = (~mask).unsqueeze(-1).float()
        pooled = (h * keep).sum(1) / keep.sum(1).clamp(min=1)
        return F.normalize(self.out(pooled), dim=-1)


class VMCP(nn.Module):
    """Video and music encoders into one space, with CLIP's learnable temperature."""

    def __init__(self, cfg: VMCPConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.video = SegmentEncoder(cfg.video_dim, cfg)
        self.music = SegmentEncoder(cfg.music_dim, cfg)
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1 / 0.07)))

    def forward(
        self, xv: torch.Tensor, mv: torch.Tensor, xm: torch.Tensor, mm: torch.Tensor
    ) -> torch.Tensor:
        """The training loss of a batch of padded pairs (forward, so DDP syncs every part)."""
        return self.loss(self.video(xv, mv), self.music(xm, mm))

    def loss(self, v: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
        """Symmetric InfoNCE over a batch of paired embeddings."""
        logits = self.logit_scale.exp().clamp(max=100) * v @ m.T
        target = torch.arange(len(v))
        return 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target))


def _pad(seqs: list[np.ndarray], max_len: int) -> tuple[torch.Tensor, torch.Tensor]:
    n = min(max(len(s) for s in seqs), max_len)
    x = torch.zeros(len(seqs), n, seqs[0].shape[1])
    mask = torch.ones(len(seqs), n, dtype=torch.bool)
    for i, s in enumerate(seqs):
        k = min(len(s), n)
        x[i, :k] = torch.from_numpy(s[:k])
        mask[i, :k] = False
    return x, mask


@torch.no_grad()
def embed(model: VMCP, seqs: list[np.ndarray], which: str) -> torch.Tensor:
    model.eval()
    x, mask = _pad(seqs, model.cfg.max_segments)
    return (model.video if which == "video" else model.music)(x, mask)


def train(
    videos: list[np.ndarray],
    music: list[np.ndarray],
    *,
    epochs: int = 60,
    batch_size: int = 16,
    lr: float = 1e-3,
    seed: int = 0,
    device: str = "auto",
    cfg: VMCPConfig | None = None,
) -> VMCP:
    """Fit VMCP on paired segment sequences (the shared trainer: CPU or GPU, torchrun)."""
    from vidscore.modules.trainer import TrainConfig, Trainer

    torch.manual_seed(seed)
    cfg = cfg or VMCPConfig(video_dim=videos[0].shape[1], music_dim=music[0].shape[1])
    model = VMCP(cfg)
    trainer = Trainer(
        TrainConfig(
            epochs=epochs, batch_size=batch_size, lr=lr, seed=seed, device=device, grad_clip=None
        )
    )

    def collate(pairs, _rng):
        xv, mv = _pad([v for v, _ in pairs], cfg.max_segments)
        xm, mm = _pad([m for _, m in pairs], cfg.max_segments)
        return xv, mv, xm, mm

    return trainer.fit(
        model, list(zip(videos, music, strict=True)), collate, lambda m, b: m(*b), name="vmcp"
    )


def ranks(sim: np.ndarray) -> np.ndarray:
    """Rank (1 = best) of the true video (the diagonal) in each row of a similarity matrix."""
    return 1 + (sim > np.diag(sim)[:, None]).sum(axis=1)


def vmcp(
    music_emb: np.ndarray,
    video_emb: np.ndarray,
    *,
    candidates: int = 70,
    ks=(5, 10, 20),
    seed: int = 0,
) -> dict[str, float]:
    """V-MusProd's VMCP: each piece against its video and ``candidates - 1`` random others."""
    rng = np.random.default_rng(seed)
    n = len(music_emb)
    pool = min(candidates, n)
    hits = {k: [] for k in ks}
    rank_list = []
    for i in range(n):
        others = rng.choice([j for j in range(n) if j != i], size=pool - 1, replace=False)
        cands = np.concatenate([[i], others])
        sims = video_emb[cands] @ music_emb[i]
        rank = 1 + int((sims[1:] > sims[0]).sum())
        rank_list.append(rank)
        for k in ks:
            hits[k].append(rank <= k)
    out = {f"P@{k}": float(np.mean(v)) for k, v in hits.items()}
    out["AR"] = float(np.mean(rank_list))
    out["candidates"] = pool
    return out


def precision_at_k(music_emb: np.ndarray, video_emb: np.ndarray, ks=(1, 5, 10)) -> dict:
    """Diff-BGM's retrieval precision: rank of the true video among all test videos."""
    r = ranks(music_emb @ video_emb.T)
    return {**{f"P@{k}": float(np.mean(r <= k)) for k in ks}, "mean_rank": float(r.mean())}


WEIGHTS_FILE = "vmcp.safetensors"


def save(model: VMCP, folder: str | os.PathLike, metrics: dict, *, overwrite: bool = False) -> None:
    """``vmcp.safetensors`` and its manifest (with ``metrics``) into ``folder``, atomically."""
    from vidscore.modules.checkpoint import save_module, write_manifest

    p = Path(folder)
    p.mkdir(parents=True, exist_ok=True)
    digest = save_module(
        model, p / WEIGHTS_FILE, kind="vmcp", config=asdict(model.cfg), overwrite=overwrite
    )
    write_manifest(
        p,
        {"system": "vmcp", "files": {WEIGHTS_FILE: digest}, "metrics": metrics},
        overwrite=overwrite,
    )


def load(folder: str | os.PathLike) -> VMCP:
    """The VMCP model of a folder ``save`` wrote, its hash checked against the manifest."""
    from vidscore.modules.checkpoint import load_from_folder

    return load_from_folder(
        folder, WEIGHTS_FILE, lambda c: VMCP(VMCPConfig(**c)), kind="vmcp", system="vmcp"
    )
