"""VMAs' music decoder: a causal transformer over the delayed codec streams, cross-attending to
the condition tokens, with a KV cache for sampling.

As MusicGen (which VMAs fine-tunes): each step's input is the sum of one embedding per codebook
of the previous step's tokens; K linear heads predict the K tokens of the step (delay pattern,
:mod:`.pattern`); pre-norm layers of causal self-attention, cross-attention to the condition and
a feed-forward block; sinusoidal positions, so a window of any length can be sampled.

The condition is a frame-rate sequence (the codec's 50 frames/s) of the control curves, the
beat pulse and its accent (:mod:`.data`), encoded by a small transformer
(:class:`~vidscore.modules.encoders.FeatureEncoder`): the "video tokens" of the paper, computed
from music at training and from the video at compose.
Departures from the paper, each for CPU-sized training from music alone:

* ``aligned``: the encoded condition of frame t is also added to the input of step t, so timing
  is learnt in minutes rather than days (the paper's decoder reads the video by cross-attention
  only; ``aligned=False`` is that);
* a learned null condition replaces the memory for classifier-free guidance (trained by dropping
  the condition), as MusicGen does for its text;
* the paper's Hiera-style video encoder (:mod:`.video_encoder`) replaces the curve encoder when
  ``video`` is set (trained on a paired layout, :mod:`.paired_train`); the shipped model has
  none (no paired video-music corpus here); see docs/vmas.md.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from vidscore.modules.encoders import FeatureEncoder, sinusoidal


@dataclass(frozen=True)
class VMAsConfig:
    """The decoder's shape; ``codebooks``, ``cardinality``, ``codec_dim`` and ``frame_rate``
    come from the codec it reads."""

    codebooks: int = 4
    cardinality: int = 256
    codec_dim: int = 128
    frame_rate: float = 50.0
    cond_dim: int = 8
    d_model: int = 128
    layers: int = 4
    heads: int = 4
    d_ff: int = 512
    cond_layers: int = 1
    dropout: float = 0.1
    contrast_dim: int = 128
    aligned: bool = True
    #: the video encoder's config (VideoEncoderConfig.to_dict()); None: the curve condition
    video: dict | None = None

    def __post_init__(self) -> None:
        if self.d_model % self.heads:
            raise ValueError(f"d_model {self.d_model} is not divisible by {self.heads} heads")
        if self.layers < 1 or self.codebooks < 1 or self.cardinality < 2:
            raise ValueError("layers, codebooks and cardinality must be positive")

    def to_dict(self) -> dict:
        return asdict(self)

    @property
    def memory_rate(self) -> float:
        """Condition tokens per second: one per codec frame, or the video encoder's."""
        if self.video is None:
            return self.frame_rate
        from vidscore.systems.vmas.video_encoder import VideoEncoderConfig

        v = VideoEncoderConfig.from_dict(self.video)
        return v.tokens / v.clip_seconds

    @property
    def special(self) -> int:
        """The token that fills the delay pattern's empty places (and starts a sequence)."""
        return self.cardinality


class Cache:
    """Per-layer keys and values of the steps decoded so far, and the cross-attention's."""

    def __init__(self) -> None:
        self.keys: list[torch.Tensor | None] = []
        self.values: list[torch.Tensor | None] = []
        self.memory: list[tuple[torch.Tensor, torch.Tensor] | None] = []
        self.length = 0


class Layer(nn.Module):
    """Pre-norm: causal self-attention, cross-attention to the memory, feed-forward."""

    def __init__(self, cfg: VMAsConfig) -> None:
        super().__init__()
        d = cfg.d_model
        self.h = cfg.heads
        self.norm1, self.norm2, self.norm3 = nn.LayerNorm(d), nn.LayerNorm(d), nn.LayerNorm(d)
        self.qkv = nn.Linear(d, 3 * d)
        self.self_out = nn.Linear(d, d)
        self.q = nn.Linear(d, d)
        self.kv = nn.Linear(d, 2 * d)
        self.cross_out = nn.Linear(d, d)
        self.ff = nn.Sequential(
            nn.Linear(d, cfg.d_ff), nn.GELU(), nn.Dropout(cfg.dropout), nn.Linear(cfg.d_ff, d)
        )
        self.drop = nn.Dropout(cfg.dropout)
        self.p = cfg.dropout

    def _heads(self, x: torch.Tensor) -> torch.Tensor:
        b, n, d = x.shape
        return x.view(b, n, self.h, d // self.h).transpose(1, 2)

    def _merge(self, x: torch.Tensor) -> torch.Tensor:
        b, h, n, e = x.shape
        return x.transpose(1, 2).reshape(b, n, h * e)

    def forward(
        self, x: torch.Tensor, memory: torch.Tensor, cache: Cache | None = None, i: int = 0
    ) -> torch.Tensor:
        p = self.p if self.training else 0.0
        q, k, v = (self._heads(t) for t in self.qkv(self.norm1(x)).chunk(3, dim=-1))
        if cache is not None:
            if cache.keys[i] is not None:
                k = torch.cat([cache.keys[i], k], dim=2)
                v = torch.cat([cache.values[i], v], dim=2)
            cache.keys[i], cache.values[i] = k, v
        causal = cache is None or x.shape[1] > 1
        a = F.scaled_dot_product_attention(q, k, v, dropout_p=p, is_causal=causal)
        x = x + self.drop(self.self_out(self._merge(a)))
        q = self._heads(self.q(self.norm2(x)))
        if cache is not None and cache.memory[i] is not None:
            mk, mv = cache.memory[i]
        else:
            mk, mv = (self._heads(t) for t in self.kv(memory).chunk(2, dim=-1))
            if cache is not None:
                cache.memory[i] = (mk, mv)
        a = F.scaled_dot_product_attention(q, mk, mv, dropout_p=p)
        x = x + self.drop(self.cross_out(self._merge(a)))
        return x + self.drop(self.ff(self.norm3(x)))


class VMAsDecoder(nn.Module):
    """Condition encoder + token decoder + the contrastive heads (see the module docstring)."""

    def __init__(self, cfg: VMAsConfig) -> None:
        super().__init__()
        self.cfg = cfg
        d = cfg.d_model
        self.embed = nn.ModuleList(
            nn.Embedding(cfg.cardinality + 1, d) for _ in range(cfg.codebooks)
        )
        if cfg.video is None:
            self.cond = FeatureEncoder(
                cfg.cond_dim, d, cfg.heads, cfg.cond_layers, cfg.d_ff, cfg.dropout
            )
        else:
            from vidscore.systems.vmas.video_encoder import VideoEncoder, VideoEncoderConfig

            vcfg = VideoEncoderConfig.from_dict(cfg.video)
            self.video = VideoEncoder(vcfg)
            self.video_in = nn.Linear(vcfg.out_dim, d)
        #: condition tokens per decoding step (1 for the curves), for the aligned path
        self.tokens_per_step = cfg.memory_rate / cfg.frame_rate
        self.null = nn.Parameter(torch.zeros(1, 1, d))
        self.layers = nn.ModuleList(Layer(cfg) for _ in range(cfg.layers))
        self.norm = nn.LayerNorm(d)
        self.heads = nn.ModuleList(nn.Linear(d, cfg.cardinality) for _ in range(cfg.codebooks))
        # Eq. 2: the codec's codebook vectors map token distributions to music embeddings
        self.register_buffer("codec_embeddings", torch.zeros(cfg.codebooks, cfg.cardinality,
                                                             cfg.codec_dim))  # fmt: skip
        self.music_proj = nn.Linear(cfg.codec_dim, cfg.contrast_dim)
        self.video_proj = nn.Linear(d, cfg.contrast_dim)

    def memory(self, cond: torch.Tensor, drop: torch.Tensor | None = None) -> torch.Tensor:
        """``cond (B, T, cond_dim)`` curves, or ``(B, frames, 3, H, W)`` video in [0, 1] when the
        decoder has a video encoder -> ``(B, tokens, d_model)``; rows where ``drop`` is True take
        the null condition (classifier-free guidance's unconditional branch)."""
        if self.cfg.video is None:
            mem, _ = self.cond(cond)
        else:
            mem = self.video_in(self.video(cond))
        if drop is not None and drop.any():
            mem = torch.where(drop[:, None, None], self.null.expand_as(mem), mem)
        return mem

    def _inputs(self, tokens: torch.Tensor, memory: torch.Tensor, offset: int) -> torch.Tensor:
        """Step inputs: ``tokens (B, K, S)`` embedded and summed, plus positions from
        ``offset`` and (aligned) the condition of each step's frame."""
        x = sum(emb(tokens[:, k]) for k, emb in enumerate(self.embed))
        s = tokens.shape[-1]
        x = x + sinusoidal(offset + s, self.cfg.d_model, x.device)[offset:]
        if self.cfg.aligned:  # each step takes the condition token of its time
            idx = torch.arange(offset, offset + s, device=x.device)
            if self.cfg.video is not None:
                idx = (idx * self.tokens_per_step).long()
            x = x + memory[:, idx.clamp(max=memory.shape[1] - 1)]
        return x

    def forward(
        self, delayed: torch.Tensor, memory: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Teacher forcing on ``delayed (B, K, S)`` codes: logits ``(B, K, S, V)`` for every
        step (step s sees steps < s) and the final hidden states ``(B, S, d)``."""
        b, k, _ = delayed.shape
        start = delayed.new_full((b, k, 1), self.cfg.special)
        x = self._inputs(torch.cat([start, delayed[..., :-1]], dim=-1), memory, 0)
        for layer in self.layers:
            x = layer(x, memory)
        h = self.norm(x)
        return torch.stack([head(h) for head in self.heads], dim=1), h

    def contrast(
        self, logits: torch.Tensor, memory: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Eq. 2's two pooled features: music ``(B, contrast_dim)`` from the token
        distributions through the codec embeddings, video from the mean memory."""
        from vidscore.systems.vmas.alignment import music_features

        music = self.music_proj(music_features(logits, self.codec_embeddings))
        return music, self.video_proj(memory.mean(dim=1))

    def step(self, tokens: torch.Tensor, memory: torch.Tensor, cache: Cache) -> torch.Tensor:
        """One cached step: ``tokens (B, K)`` of the previous step -> logits ``(B, K, V)``."""
        if not cache.keys:
            n = len(self.layers)
            cache.keys, cache.values, cache.memory = [None] * n, [None] * n, [None] * n
        x = self._inputs(tokens[..., None], memory, cache.length)
        for i, layer in enumerate(self.layers):
            x = layer(x, memory, cache, i)
        cache.length += 1
        h = self.norm(x)[:, 0]
        return torch.stack([head(h) for head in self.heads], dim=1)


def build(config: dict) -> VMAsDecoder:
    """A :class:`VMAsDecoder` from a saved config dict."""
    return VMAsDecoder(VMAsConfig(**config))
