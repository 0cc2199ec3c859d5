"""Sampling codec tokens from VMAs' decoder: KV-cached steps over the delay pattern, top-k /
top-p / temperature, classifier-free guidance on the condition, and windows continued with
overlap so any length works (VidMuse extends MusicGen the same way; audiocraft's
``generate_continuation`` prompts each window with the end of the last).

Guidance has two terms, each a contrast of the decoder's own logits:

    l = l(null) + guidance * (l(cond) - l(null)) + (beat_guidance - 1) * (l(cond) - l(moved))

``guidance`` is MusicGen's classifier-free guidance against the learned null condition (it
strengthens everything the condition says: curves and beats). ``beat_guidance`` contrasts the
condition with the same condition whose beat pulse is moved elsewhere (``contrast``: the same
curves and number of beats), so it strengthens only *where* the beats fall; this is the
multi-condition guidance of InstructPix2Pix (Brooks et al. 2023, Eq. 3) with "pulse moved" as
the second branch instead of "no image". Each term above 1 costs one more decoder pass a step.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from vidscore.systems.vmas.model import Cache, VMAsDecoder


@dataclass(frozen=True)
class Sampling:
    """How tokens are drawn: MusicGen's defaults are top-k 250, temperature 1, guidance 3."""

    temperature: float = 1.0
    top_k: int = 50
    top_p: float = 0.0  # 0: off (top-k only)
    guidance: float = 3.0  # 1: no guidance against the null condition (one pass fewer)
    beat_guidance: float = 1.0  # 1: no contrast with the moved pulse (one pass fewer)
    window: float = 4.0  # seconds per window (the shipped decoder trained on 4 s)
    overlap: float = 1.0  # seconds of the previous window that prompt the next
    seed: int = 0

    def __post_init__(self) -> None:
        if not self.temperature > 0:
            raise ValueError("temperature must be positive")
        if self.top_k < 0 or not 0 <= self.top_p <= 1:
            raise ValueError("top_k must be >= 0 and top_p in [0, 1]")
        if self.guidance < 1 or self.beat_guidance < 1:
            raise ValueError("guidance and beat_guidance must be at least 1")
        if not 0 <= self.overlap < self.window:
            raise ValueError("overlap must be below the window")


def pick(logits: torch.Tensor, s: Sampling, generator: torch.Generator) -> torch.Tensor:
    """One token per row of ``logits (N, V)``: temperature, then top-k, then top-p."""
    logits = logits.float() / s.temperature
    if s.top_k:
        kth = logits.topk(min(s.top_k, logits.shape[-1]), dim=-1).values[:, -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    probs = logits.softmax(dim=-1)
    if s.top_p:
        sorted_p, order = probs.sort(dim=-1, descending=True)
        drop = sorted_p.cumsum(-1) - sorted_p >= s.top_p
        sorted_p = sorted_p.masked_fill(drop, 0.0)
        probs = torch.zeros_like(probs).scatter(-1, order, sorted_p)
    return torch.multinomial(probs / probs.sum(-1, keepdim=True), 1, generator=generator)[:, 0]


def mix(logits: torch.Tensor, s: Sampling) -> torch.Tensor:
    """The guided logits from the rows ``[cond, null?, moved?]`` (see the module docstring)."""
    out, row = logits[0], 1
    if s.guidance > 1:
        out = logits[row] + s.guidance * (logits[0] - logits[row])
        row += 1
    if s.beat_guidance > 1:
        out = out + (s.beat_guidance - 1) * (logits[0] - logits[row])
    return out


@torch.no_grad()
def sample_window(
    model: VMAsDecoder,
    cond: torch.Tensor,
    frames: int,
    s: Sampling,
    generator: torch.Generator,
    prompt: torch.Tensor | None = None,
    contrast: torch.Tensor | None = None,
) -> torch.Tensor:
    """``(K, frames)`` codes for one window whose condition is ``cond (frames, cond_dim)``;
    the first ``prompt.shape[1]`` frames are the prompt's codes (teacher-forced); ``contrast``
    is the condition with its pulse moved, needed when ``s.beat_guidance > 1``."""
    cfg = model.cfg
    k_books, special = cfg.codebooks, cfg.special
    mem = model.memory(cond[None])
    rows = [mem]
    if s.guidance > 1:
        rows.append(model.null.expand_as(mem))
    if s.beat_guidance > 1:
        if contrast is None:
            raise ValueError("beat guidance needs the condition with its pulse moved")
        rows.append(model.memory(contrast[None]))
    mem = torch.cat(rows)
    cache = Cache()
    fixed = 0 if prompt is None else prompt.shape[1]
    out = torch.full((k_books, frames), special, dtype=torch.long)
    if prompt is not None:
        out[:, :fixed] = prompt
    prev = torch.full((len(rows), k_books), special, dtype=torch.long)
    for step in range(frames + k_books - 1):
        chosen = pick(mix(model.step(prev, mem, cache), s), s, generator)
        nxt = torch.full((k_books,), special, dtype=torch.long)
        for k in range(k_books):
            f = step - k
            if 0 <= f < frames:
                nxt[k] = out[k, f] if f < fixed else chosen[k]
                out[k, f] = nxt[k]
        prev = nxt[None].expand(len(rows), -1).clone()
    return out


@torch.no_grad()
def generate(
    model: VMAsDecoder,
    cond: torch.Tensor,
    s: Sampling,
    progress: Callable[[int, int], None] | None = None,
    contrast: torch.Tensor | None = None,
) -> torch.Tensor:
    """``(K, T)`` codes for a condition of ``T`` frames ``(T, cond_dim)``, window by window;
    each later window is prompted with the last ``overlap`` seconds of the one before
    (``contrast``: the condition with its pulse moved, for beat guidance)."""
    rate = model.cfg.frame_rate
    total = cond.shape[0]
    win = max(1, round(s.window * rate))
    keep = round(s.overlap * rate)
    gen = torch.Generator().manual_seed(s.seed)
    out = torch.zeros((model.cfg.codebooks, total), dtype=torch.long)
    start, done = 0, 0
    while done < total:
        prompt = out[:, start:done] if done > start else None
        frames = min(win, total - start)
        part = None if contrast is None else contrast[start : start + frames]
        out[:, start : start + frames] = sample_window(
            model, cond[start : start + frames], frames, s, gen, prompt, part
        )
        done = start + frames
        if progress is not None:
            progress(done, total)
        start = max(done - keep, start + 1)
    return out
