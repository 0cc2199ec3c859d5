"""Video2Music at compose time: loading the AMT and biGRU, sampling one chord per slot.

Per slot the AMT reads the input rows of :mod:`.inputs` and samples the next chord with a seeded
generator (temperature, nucleus top-p). As Video2Music does at inference, N is never sampled
and a chord may not repeat more than ``max_repeat`` times in a row; in addition the chord must
change on a slot that starts at a cut or marker. Our addition, affective guidance: the logits of
the chords the affective loss pulls towards (those whose quality suits the slot's emotion,
weighted by its emotion probabilities) are raised by ``affect_strength`` (0 is plain Video2Music
sampling). Long clips are generated in overlapping windows (:mod:`vidscore.modules.sampling`).
"""

from __future__ import annotations

import os

import numpy as np
import torch

from vidscore.modules.checkpoint import load_from_folder
from vidscore.modules.sampling import generate
from vidscore.music.chords import NO_CHORD, VIDEO2MUSIC, Chord
from vidscore.systems.video2music.loss import END, PAD, emotion_table
from vidscore.systems.video2music.model import AMT, AMTConfig, DescriptorGRU

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
    primer: Chord,
    *,
    seed: int,
    temperature: float,
    top_p: float,
    window: int,
    context: int,
    max_repeat: int,
    affect_strength: float,
) -> list[Chord]:
    """One chord per row of ``cond`` (see the module docstring)."""
    video = torch.from_numpy(cond)
    guidance = affect_strength * (video[:, -6:].float() @ emotion_table())
    window = min(window, model.cfg.max_len)  # the model's relative positions end there
    context = min(context, window - 1)

    def next_logits(start: int, seq: list[int]) -> torch.Tensor:
        rq = torch.tensor([VIDEO2MUSIC.root_quality(VIDEO2MUSIC.chord(i)) for i in seq])
        vid = video[start : start + window][None] if model.cfg.use_video else None
        return model(vid, rq[None, :, 0], rq[None, :, 1])[0, -1]

    never = [VIDEO2MUSIC.index(NO_CHORD), END, PAD]

    def constrain(pos: int, seq: list[int], logits: torch.Tensor) -> torch.Tensor:
        logits += guidance[pos]
        banned = list(never)
        if len(seq) >= max_repeat and len(set(seq[-max_repeat:])) == 1:
            banned.append(seq[-1])
        if at_cut[pos]:
            banned.append(seq[-1])
        logits[banned] = float("-inf")
        return logits

    idx = generate(
        next_logits,
        [VIDEO2MUSIC.index(primer)],
        len(cond),
        temperature=temperature,
        top_p=top_p,
        seed=seed,
        window=window,
        context=context,
        constrain=constrain,
    )
    return [VIDEO2MUSIC.chord(i) for i in idx]


@torch.no_grad()
def descriptors(gru: DescriptorGRU, cond: np.ndarray) -> np.ndarray:
    """``(N, 2)``: predicted note density and loudness per row."""
    return gru(torch.from_numpy(cond)[None])[0].numpy()
