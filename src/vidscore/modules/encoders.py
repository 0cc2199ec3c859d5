"""Video-feature encoders of one shape: ``(features (B, T, D), mask (B, T)) -> (memory, mask)``.

A system's decoder cross-attends to the memory; which features go in, and how many encoders are
fused, is the system's configuration (audiocraft's conditioners habit). ``mask`` is True at
padding throughout.
"""

from __future__ import annotations

import torch
from torch import nn


def sinusoidal(length: int, dim: int, device: torch.device | None = None) -> torch.Tensor:
    """``(length, dim)`` sinusoidal position codes (Vaswani et al. 2017)."""
    pos = torch.arange(length, device=device, dtype=torch.float32)[:, None]
    i = torch.arange(0, dim, 2, device=device, dtype=torch.float32)
    angle = pos / torch.pow(10000.0, i / dim)
    pe = torch.zeros(length, dim, device=device)
    pe[:, 0::2] = torch.sin(angle)
    pe[:, 1::2] = torch.cos(angle[:, : dim // 2])
    return pe


class FeatureEncoder(nn.Module):
    """Per-step feature rows -> ``d_model`` memory: a linear projection plus sinusoidal
    positions, a pre-norm transformer encoder, a final layer norm."""

    def __init__(
        self, in_dim: int, d_model: int, n_heads: int, layers: int, d_ff: int, dropout: float
    ) -> None:
        super().__init__()
        self.proj = nn.Linear(in_dim, d_model)
        layer = nn.TransformerEncoderLayer(
            d_model, n_heads, d_ff, dropout, batch_first=True, norm_first=True
        )
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(d_model)

    def forward(
        self, x: torch.Tensor, mask: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        h = self.proj(x) + sinusoidal(x.shape[1], self.proj.out_features, x.device)
        return self.norm(self.encoder(h, src_key_padding_mask=mask)), mask
