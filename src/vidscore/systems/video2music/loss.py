"""Video2Music's affective loss: cross-entropy on the next chord plus a pull towards chords whose
quality suits the step's emotion.

    L = lambda * CE(logits, chord) + (1 - lambda) * BCE(sigmoid(logits), A[emotion])

``A[e]`` is the multi-hot over the 159-token vocabulary of every chord (any root) whose quality
Video2Music allows for emotion ``e`` (:data:`EMOTION_QUALITIES`); neutral allows none, so its
target pushes all chord logits down evenly. END and PAD steps target their own token. lambda = 0.4.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from vidscore.music.chords import VIDEO2MUSIC
from vidscore.music.emotion import EMOTION_QUALITIES
from vidscore.types import EMOTIONS

LAMBDA = 0.4
END = VIDEO2MUSIC.special("END")
PAD = VIDEO2MUSIC.special("PAD")


def emotion_table() -> torch.Tensor:
    """``(6, 159)`` multi-hot: row e marks every chord whose quality suits emotion e."""
    table = torch.zeros(len(EMOTIONS), len(VIDEO2MUSIC))
    for e, name in enumerate(EMOTIONS):
        for q in EMOTION_QUALITIES[name]:
            k = VIDEO2MUSIC.qualities.index(q)
            for root in range(12):
                table[e, 1 + root * len(VIDEO2MUSIC.qualities) + k] = 1.0
    return table


_TABLE = emotion_table()


def affective_targets(emotion: torch.Tensor, chords: torch.Tensor) -> torch.Tensor:
    """``(B, L, 159)`` BCE targets from per-step emotion ids ``(B, L)`` and chord targets."""
    t = _TABLE.to(emotion.device)[emotion]
    special = (chords == END) | (chords == PAD)
    onehot = F.one_hot(chords, len(VIDEO2MUSIC)).float()
    return torch.where(special[..., None], onehot, t)


def affective_loss(
    logits: torch.Tensor,
    chords: torch.Tensor,
    emotion: torch.Tensor,
    *,
    lam: float = LAMBDA,
    ignore_pad: bool = True,
) -> torch.Tensor:
    """The loss above, averaged over non-PAD steps; ``logits (B, L, 159)``, ``chords (B, L)``,
    ``emotion (B, L)`` (argmax emotion of each step's second)."""
    mask = (chords != PAD) if ignore_pad else torch.ones_like(chords, dtype=torch.bool)
    ce = F.cross_entropy(logits.transpose(1, 2), chords, reduction="none")
    bce = F.binary_cross_entropy_with_logits(
        logits, affective_targets(emotion, chords), reduction="none"
    ).mean(-1)
    per_step = lam * ce + (1 - lam) * bce
    return (per_step * mask).sum() / mask.sum().clamp(min=1)
