"""Video2Music's Affective Multimodal Transformer (AMT) and its biGRU regressor, in PyTorch.

AMT (Kang et al. 2023): an encoder reads the per-second video features (semantic embedding, scene
offset, motion, six emotion probabilities); a decoder predicts the next chord from the previous
ones, each embedded as root embedding + quality embedding. Decoder self-attention uses relative
positions with Music Transformer's "skewing" (Huang et al. 2018), so chord patterns are learned
by distance rather than absolute place; cross-attention reads the video. Full size is 6 + 6
layers, d_model 512, 8 heads (:meth:`AMTConfig.full`); :meth:`AMTConfig.small` fits a CPU.

The biGRU (2 layers, hidden 64, bidirectional) maps the same video features to per-second note
density and loudness, which drive the arrangement.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from vidscore.music.chords import VIDEO2MUSIC


@dataclass(frozen=True)
class AMTConfig:
    """Every size of the model; stored beside the weights so a checkpoint rebuilds itself."""

    semantic_dim: int = 36
    emotion_dim: int = 6
    d_model: int = 128
    n_heads: int = 4
    encoder_layers: int = 2
    decoder_layers: int = 2
    d_ff: int = 256
    dropout: float = 0.1
    max_len: int = 300
    vocab_size: int = len(VIDEO2MUSIC)  # N + 156 chords + END + PAD
    n_roots: int = 13 + 2  # 12 roots, N, END, PAD
    n_qualities: int = len(VIDEO2MUSIC.qualities) + 3  # + N, END, PAD
    use_video: bool = True  # False: the same decoder with no video input (a baseline)

    def __post_init__(self) -> None:
        if self.d_model % self.n_heads:
            raise ValueError("d_model must be a multiple of n_heads")

    @classmethod
    def small(cls, **kw) -> AMTConfig:
        return cls(**kw)

    @classmethod
    def full(cls, **kw) -> AMTConfig:
        return cls(
            **{
                "d_model": 512,
                "n_heads": 8,
                "encoder_layers": 6,
                "decoder_layers": 6,
                "d_ff": 1024,
                **kw,
            }
        )

    def to_dict(self) -> dict:
        return asdict(self)


def skew(rel_logits: torch.Tensor) -> torch.Tensor:
    """Music Transformer's skewing: ``(..., L, L)`` logits against relative distances
    ``-(L-1) .. 0`` (column j is distance j - (L-1)) -> logits indexed by absolute key position."""
    *lead, length, _ = rel_logits.shape
    padded = F.pad(rel_logits, (1, 0))  # (..., L, L+1)
    padded = padded.reshape(*lead, length + 1, length)
    return padded[..., 1:, :]


class RelativeSelfAttention(nn.Module):
    """Causal multi-head self-attention with learned relative-position embeddings (skewed)."""

    def __init__(self, d_model: int, n_heads: int, max_len: int, dropout: float) -> None:
        super().__init__()
        self.h = n_heads
        self.d = d_model // n_heads
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.out = nn.Linear(d_model, d_model)
        self.rel = nn.Parameter(torch.randn(max_len, self.d) * 0.02)  # distances -(max_len-1)..0
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, pad_mask: torch.Tensor | None = None) -> torch.Tensor:
        b, length, _ = x.shape
        q, k, v = self.qkv(x).view(b, length, 3, self.h, self.d).permute(2, 0, 3, 1, 4)
        rel = self.rel[-length:]  # (L, d): distances -(L-1) .. 0
        logits = q @ k.transpose(-1, -2) + skew(q @ rel.T)
        logits = logits / math.sqrt(self.d)
        causal = torch.ones(length, length, dtype=torch.bool, device=x.device).triu(1)
        logits = logits.masked_fill(causal, float("-inf"))
        if pad_mask is not None:
            logits = logits.masked_fill(pad_mask[:, None, None, :], float("-inf"))
        attn = self.drop(torch.softmax(logits, dim=-1).nan_to_num(0.0))
        y = (attn @ v).transpose(1, 2).reshape(b, length, self.h * self.d)
        return self.out(y)


class DecoderLayer(nn.Module):
    """Relative self-attention, cross-attention to the video, feed-forward (pre-norm)."""

    def __init__(self, cfg: AMTConfig) -> None:
        super().__init__()
        self.self_attn = RelativeSelfAttention(cfg.d_model, cfg.n_heads, cfg.max_len, cfg.dropout)
        self.cross = nn.MultiheadAttention(
            cfg.d_model, cfg.n_heads, dropout=cfg.dropout, batch_first=True
        )
        self.ff = nn.Sequential(
            nn.Linear(cfg.d_model, cfg.d_ff),
            nn.GELU(),
            nn.Dropout(cfg.dropout),
            nn.Linear(cfg.d_ff, cfg.d_model),
        )
        self.n1, self.n2, self.n3 = (nn.LayerNorm(cfg.d_model) for _ in range(3))
        self.drop = nn.Dropout(cfg.dropout)

    def forward(self, x, memory, pad_mask=None, memory_mask=None):
        x = x + self.drop(self.self_attn(self.n1(x), pad_mask))
        if memory is not None:
            y, _ = self.cross(
                self.n2(x), memory, memory, key_padding_mask=memory_mask, need_weights=False
            )
            x = x + self.drop(y)
        return x + self.drop(self.ff(self.n3(x)))


def sinusoidal(length: int, dim: int, device=None) -> torch.Tensor:
    pos = torch.arange(length, device=device, dtype=torch.float32)[:, None]
    i = torch.arange(0, dim, 2, device=device, dtype=torch.float32)
    angle = pos / torch.pow(10000.0, i / dim)
    pe = torch.zeros(length, dim, device=device)
    pe[:, 0::2] = torch.sin(angle)
    pe[:, 1::2] = torch.cos(angle[:, : dim // 2])
    return pe


class VideoEncoder(nn.Module):
    """Per-second video features -> ``d_model`` memory (transformer encoder)."""

    def __init__(self, cfg: AMTConfig) -> None:
        super().__init__()
        in_dim = cfg.semantic_dim + 1 + 1 + cfg.emotion_dim
        self.proj = nn.Linear(in_dim, cfg.d_model)
        layer = nn.TransformerEncoderLayer(
            cfg.d_model, cfg.n_heads, cfg.d_ff, cfg.dropout, batch_first=True, norm_first=True
        )
        self.encoder = nn.TransformerEncoder(layer, cfg.encoder_layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(cfg.d_model)

    def forward(self, video: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        x = self.proj(video) + sinusoidal(video.shape[1], self.proj.out_features, video.device)
        return self.norm(self.encoder(x, src_key_padding_mask=mask))


class AMT(nn.Module):
    """Affective Multimodal Transformer: video features + chord history -> next-chord logits.

    Shapes: ``video (B, T, semantic_dim + 2 + emotion_dim)`` ordered [semantic, scene offset,
    motion, emotion]; ``roots, qualities (B, L)`` factored chord indices; output ``(B, L, V)``.
    """

    def __init__(self, cfg: AMTConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.root_emb = nn.Embedding(cfg.n_roots, cfg.d_model)
        self.quality_emb = nn.Embedding(cfg.n_qualities, cfg.d_model)
        self.encoder = VideoEncoder(cfg) if cfg.use_video else None
        self.layers = nn.ModuleList(DecoderLayer(cfg) for _ in range(cfg.decoder_layers))
        self.norm = nn.LayerNorm(cfg.d_model)
        self.head = nn.Linear(cfg.d_model, cfg.vocab_size)

    def forward(
        self,
        video: torch.Tensor | None,
        roots: torch.Tensor,
        qualities: torch.Tensor,
        pad_mask: torch.Tensor | None = None,
        video_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        x = self.root_emb(roots) + self.quality_emb(qualities)
        memory = None
        if self.encoder is not None and video is not None:
            memory = self.encoder(video, video_mask)
        for layer in self.layers:
            x = layer(x, memory, pad_mask, video_mask)
        return self.head(self.norm(x))


class DescriptorGRU(nn.Module):
    """Video2Music's biGRU: per-second video features -> (note density, loudness)."""

    def __init__(self, in_dim: int, hidden: int = 64, layers: int = 2, dropout: float = 0.1):
        super().__init__()
        self.gru = nn.GRU(
            in_dim,
            hidden,
            num_layers=layers,
            batch_first=True,
            bidirectional=True,
            dropout=dropout if layers > 1 else 0.0,
        )
        self.head = nn.Linear(2 * hidden, 2)

    def forward(self, video: torch.Tensor) -> torch.Tensor:
        y, _ = self.gru(video)
        return self.head(y)  # (B, T, 2): density, loudness
