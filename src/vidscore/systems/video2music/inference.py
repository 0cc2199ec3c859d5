"""Video2Music at compose time: loading the AMT and biGRU, sampling one chord per slot.

Per slot the AMT reads the control rows of :mod:`.inputs` and samples the next chord with a
seeded generator (temperature, nucleus top-p), starting from N, as every training piece does.
As Video2Music does at inference, N is never sampled and a chord may not repeat more than
``max_repeat`` times in a row. Rules on top, each off by default or listed in docs/compose.md:
the chord must change on a slot that starts at a cut or marker; ``guidance`` > 1 applies
classifier-free guidance against the null condition the model was trained with; opt-in
affective boost: the logits of the chords whose quality suits the slot's emotion are raised by
``affect_strength`` (default 0, plain sampling). Long clips are generated in overlapping windows
(:mod:`vidscore.modules.sampling`).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import torch

from vidscore.curves.contract import quantile_rank
from vidscore.modules.checkpoint import load_from_folder
from vidscore.modules.sampling import generate
from vidscore.music.chords import NO_CHORD, VIDEO2MUSIC, Chord
from vidscore.systems.video2music.loss import END, PAD, emotion_table
from vidscore.systems.video2music.model import AMT, AMTConfig, DescriptorGRU, guided

SYSTEM = "video2music"


def load_models(folder: str | os.PathLike) -> tuple[AMT, DescriptorGRU]:
    """The AMT and biGRU of a weights folder, hashes checked against its manifest."""
    amt = load_from_folder(
        folder, "amt.safetensors", lambda c: AMT(AMTConfig(**c)), kind="amt", system=SYSTEM
    )
    gru = load_from_folder(
        folder, "bigru.safetensors", lambda c: DescriptorGRU(**c), kind="bigru", system=SYSTEM
    )
    return amt, gru


@torch.no_grad()
def sample_chords(
    model: AMT,
    cond: np.ndarray,
    at_cut: list[bool],
    *,
    seed: int,
    temperature: float,
    top_p: float,
    window: int,
    context: int,
    max_repeat: int,
    affect_strength: float = 0.0,
    guidance: float = 1.0,
) -> list[Chord]:
    """One chord per row of ``cond`` (see the module docstring), in C major / A minor."""
    video = torch.from_numpy(cond)
    boost = affect_strength * (video[:, -6:].float() @ emotion_table())
    window = min(window, model.cfg.max_len)  # the model's relative positions end there
    context = min(context, window - 1)

    def next_logits(start: int, seq: list[int]) -> torch.Tensor:
        # seq[0] is the chord before slot ``start`` (N before the first); position p of the
        # window predicts slot start + p from control row start + p
        rq = torch.tensor([VIDEO2MUSIC.root_quality(VIDEO2MUSIC.chord(i)) for i in seq])
        rows = video[start : start + window][None]
        return guided(model, rows, rq[None, :, 0], rq[None, :, 1], guidance)[0, -1]

    never = [VIDEO2MUSIC.index(NO_CHORD), END, PAD]

    def constrain(pos: int, seq: list[int], logits: torch.Tensor) -> torch.Tensor:
        slot = pos - 1  # seq[0] is the N before the first slot
        logits += boost[slot]
        banned = list(never)
        history = seq[1:]
        if len(history) >= max_repeat and len(set(history[-max_repeat:])) == 1:
            banned.append(history[-1])
        if at_cut[slot] and history:
            banned.append(history[-1])
        logits[banned] = float("-inf")
        return logits

    idx = generate(
        next_logits,
        [VIDEO2MUSIC.index(NO_CHORD)],
        len(cond) + 1,
        temperature=temperature,
        top_p=top_p,
        seed=seed,
        window=window,
        context=context,
        constrain=constrain,
    )
    return [VIDEO2MUSIC.chord(i) for i in idx[1:]]


@torch.no_grad()
def descriptors(gru: DescriptorGRU, cond: np.ndarray) -> np.ndarray:
    """``(N, 2)``: predicted note density and loudness per row, in the training music's units."""
    return gru(torch.from_numpy(cond)[None])[0].numpy()


def load_scale(folder: str | os.PathLike) -> dict[str, list[float]] | None:
    """The training targets' quantiles of density and loudness (None for older weights)."""
    manifest = json.loads((Path(folder) / "manifest.json").read_text())
    return manifest.get("descriptor_quantiles")


def played(desc: np.ndarray, scale: dict[str, list[float]] | None) -> tuple[np.ndarray, np.ndarray]:
    """Density and loudness for the arrangement: each prediction's rank among the training
    music's steps (the busiest tenth of POP909 plays as the arrangement's busiest tenth), or the
    raw prediction when the weights carry no scale."""
    if scale is None:
        return desc[:, 0], desc[:, 1]
    return quantile_rank(desc[:, 0], scale["density"]), quantile_rank(desc[:, 1], scale["loudness"])
