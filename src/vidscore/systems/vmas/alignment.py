"""VMAs' two video-music alignment schemes (Lin et al. 2024, section 3.3).

* **Video-beat alignment** (Eq. 3-4): music beats ``m_t`` are detected onsets; video beats
  ``v_t`` are the frames whose optical-flow magnitude is the maximum of a window of ``±w`` steps;
  ``o_t = 1`` where a music beat has a video beat within ``±w`` steps. The autoregressive loss is
  weighted per timestep by ``max(o_t, floor)``, the floor keeping steps without a matched beat
  from being ignored (all ones gives the plain loss).
* **Video-music contrastive objective** (Eq. 2): the decoder's token distributions are mapped
  through the codec's embedding matrix, mean-pooled over time, and matched against the
  mean-pooled video features of the same clip by a symmetric InfoNCE over the batch.

With no paired video here, the "video beats" of a training clip are the peaks of its
music-derived accent curve, and its "video features" are its control-curve tokens: the same
curves that are read from the video at compose time.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F


def window_peaks(signal: np.ndarray, window: int) -> np.ndarray:
    """0/1 float: where ``signal`` is positive and the maximum of ``[t - window, t + window]``
    (the analysis's video-beat rule, :func:`vidscore.features.flow.video_beats`)."""
    from vidscore.features.flow import video_beats

    return video_beats(np.asarray(signal, dtype=np.float64), window).astype(np.float32)


def beat_overlap(music: np.ndarray, video: np.ndarray, window: int) -> np.ndarray:
    """Eq. 3: 1 at each music beat with a video beat within ``±window`` steps."""
    m = np.asarray(music) > 0
    v = np.asarray(video) > 0
    n = len(m)
    near = np.zeros(n, dtype=bool)
    for t in np.flatnonzero(v):
        near[max(0, t - window) : min(n, t + window + 1)] = True
    return (m & near).astype(np.float32)


def beat_weights(music: np.ndarray, video: np.ndarray, window: int, floor: float) -> np.ndarray:
    """Eq. 4's per-timestep weights: ``max(overlap, floor)``; ``floor = 1`` is the plain loss."""
    if not 0 <= floor <= 1:
        raise ValueError(f"the weight floor must be in [0, 1], got {floor}")
    return np.maximum(beat_overlap(music, video, window), floor).astype(np.float32)


def weighted_token_loss(
    logits: torch.Tensor, targets: torch.Tensor, valid: torch.Tensor, weights: torch.Tensor
) -> torch.Tensor:
    """Eq. 4: cross-entropy of ``logits (B, K, S, V)`` against ``targets (B, K, S)``, each place
    weighted by ``weights (B, K, S)`` (a frame's weight at the step its codebook is predicted),
    over the ``valid (B or 1, K, S)`` places, normalised by the total weight."""
    valid = valid.expand_as(targets)
    targets = torch.where(valid, targets, torch.zeros_like(targets))  # padding: weight 0 below
    ce = F.cross_entropy(logits.flatten(0, 2), targets.flatten(), reduction="none")
    w = (weights * valid).flatten()
    return (ce * w).sum() / w.sum().clamp_min(1e-8)


def music_features(logits: torch.Tensor, embeddings: torch.Tensor) -> torch.Tensor:
    """Eq. 2's music side: ``softmax(logits (B, K, S, V))`` times each codebook's embedding
    matrix ``(K, V, D)``, summed over codebooks (the residual VQ's reconstruction), mean over
    steps -> ``(B, D)``."""
    probs = logits.softmax(dim=-1)
    emb = torch.einsum("bksv,kvd->bsd", probs, embeddings)
    return emb.mean(dim=1)


def contrastive_loss(music: torch.Tensor, video: torch.Tensor, temperature: float) -> torch.Tensor:
    """Eq. 2: symmetric InfoNCE between ``music (B, D)`` and ``video (B, D)`` (L2-normalised);
    row i of each is the same clip."""
    a = F.normalize(music, dim=-1)
    b = F.normalize(video, dim=-1)
    logits = a @ b.T / temperature
    labels = torch.arange(len(a), device=a.device)
    return 0.5 * (F.cross_entropy(logits, labels) + F.cross_entropy(logits.T, labels))
