"""Sampling the next token, and generating sequences of any length in sliding windows.

Every autoregressive system (Video2Music's chords, V-MusProd's CP tokens, VMAs' codec tokens)
samples from logits with a temperature and a nucleus (top-p), seeded so a seed gives the same
piece, and generates pieces longer than its model's context by sliding a window that carries the
last ``context`` tokens over as the prompt (audiocraft's ``BaseGenModel`` does the same).
"""

from __future__ import annotations

from collections.abc import Callable

import torch

#: next_logits(window_start, tokens in the window) -> logits (V,) for the next position
NextLogits = Callable[[int, list[int]], torch.Tensor]
#: constrain(position, tokens so far, logits) -> logits (bans, guidance), may edit in place
Constrain = Callable[[int, list[int], torch.Tensor], torch.Tensor]


def nucleus_sample(
    logits: torch.Tensor, *, temperature: float, top_p: float, generator: torch.Generator
) -> int:
    """One token from ``softmax(logits / temperature)`` restricted to the smallest set of
    tokens whose probability reaches ``top_p`` (Holtzman et al. 2020); -inf logits never win."""
    probs = torch.softmax(logits.float() / temperature, dim=-1)
    sorted_p, order = probs.sort(descending=True)
    keep = sorted_p.cumsum(0) - sorted_p < top_p
    keep[0] = True
    sorted_p = torch.where(keep, sorted_p, torch.zeros_like(sorted_p))
    choice = torch.multinomial(sorted_p / sorted_p.sum(), 1, generator=generator)
    return int(order[choice])


@torch.no_grad()
def generate(
    next_logits: NextLogits,
    prompt: list[int],
    length: int,
    *,
    temperature: float,
    top_p: float,
    seed: int,
    window: int,
    context: int,
    constrain: Constrain | None = None,
) -> list[int]:
    """``length`` tokens starting with ``prompt``. The model sees at most ``window`` tokens;
    when they fill it, the window restarts from the last ``context`` tokens."""
    if not 0 < context < window:
        raise ValueError(f"context {context} must be between 0 and the window {window}")
    gen = torch.Generator().manual_seed(seed)
    tokens = list(prompt)
    start = 0
    while len(tokens) < length:
        if len(tokens) - start >= window:
            start = len(tokens) - context
        logits = next_logits(start, tokens[start:]).clone()
        if constrain is not None:
            logits = constrain(len(tokens), tokens, logits)
        tokens.append(nucleus_sample(logits, temperature=temperature, top_p=top_p, generator=gen))
    return tokens[:length]
