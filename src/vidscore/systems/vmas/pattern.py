"""MusicGen's delay interleaving pattern (Copet et al. 2023, section 2.2): codebook k is shifted
k steps later, so one decoder step predicts all K codebooks in parallel while each codebook still
sees the coarser ones of its own frame. The free places hold a special token.

audiocraft's ``DelayedPatternProvider`` is the reference; audiocraft pins an old torch and cannot
be installed beside this one, and ``transformers`` keeps the pattern inside MusicGen's model
class, so these two functions are written here (and tested as a round trip).
"""

from __future__ import annotations

import torch


def delay(codes: torch.Tensor, special: int) -> torch.Tensor:
    """``(B, K, T)`` codes -> ``(B, K, T + K - 1)``: row k shifted right by k, ``special``
    elsewhere."""
    b, k, t = codes.shape
    out = codes.new_full((b, k, t + k - 1), special)
    for i in range(k):
        out[:, i, i : i + t] = codes[:, i]
    return out


def undelay(delayed: torch.Tensor) -> torch.Tensor:
    """The inverse of :func:`delay`: ``(B, K, S)`` -> ``(B, K, S - K + 1)``."""
    _b, k, s = delayed.shape
    t = s - k + 1
    if t < 0:
        raise ValueError(f"{s} delayed steps hold no whole frame of {k} codebooks")
    return torch.stack([delayed[:, i, i : i + t] for i in range(k)], dim=1)


def valid(k: int, s: int, device: torch.device | None = None) -> torch.Tensor:
    """``(K, S)`` True where a delayed sequence of ``s`` steps holds a real code (not padding)."""
    steps = torch.arange(s, device=device)[None, :]
    rows = torch.arange(k, device=device)[:, None]
    return (steps >= rows) & (steps < s - (k - 1) + rows)
