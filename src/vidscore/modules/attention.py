"""Attention blocks the systems share.

:class:`RelativeSelfAttention` is Music Transformer's causal self-attention with learned
relative-position embeddings and the memory-efficient "skewing" (Huang et al. 2018): patterns
are learned by distance rather than absolute place (Video2Music's decoder; V-MusProd's and the
others' decoders can take it too).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


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
        """``x (B, L, d_model)``, ``pad_mask (B, L)`` True at padding -> ``(B, L, d_model)``."""
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
