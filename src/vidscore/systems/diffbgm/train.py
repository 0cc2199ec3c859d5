"""Training Diff-BGM's denoiser on the shared trainer: noise prediction on 8-bar windows.

Each step draws a timestep uniformly from the schedule's 1000, noises the window's roll (scaled
from 0/1 to -1/+1) with the reference's scaled-linear schedule, and regresses the noise (MSE, as
the reference). Conditions are the window's own curves; a share ``cond_drop`` of the samples is
trained on the null token instead (classifier-free guidance; the reference never drops them).
The SAC-Att mask at training comes from the music's own section and phrase starts (its boundary
curve), the music-side counterpart of the clip's cuts at compose time.

Not built yet (issue 13): the weights, manifest and card, ``vidscore train diffbgm``, sampling.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import numpy as np
import torch

from vidscore.modules.trainer import Trainer
from vidscore.systems.diffbgm.data import Window
from vidscore.systems.diffbgm.model import DiffBGM, DiffBGMConfig, scheduler
from vidscore.systems.diffbgm.sacatt import shot_mask


@dataclass(frozen=True)
class DiffBGMTraining:
    cond_drop: float = 0.2  # share of samples trained on the null condition (Polyffusion's 0.2)

    def __post_init__(self) -> None:
        if not 0 <= self.cond_drop < 1:
            raise ValueError(f"cond_drop {self.cond_drop}: must be 0 to below 1")


def collate(
    items: list[Window], rng: random.Random, cfg: DiffBGMConfig, cond_drop: float
) -> dict[str, torch.Tensor]:
    """A batch with its noise and timesteps drawn from ``rng`` (so a resumed run repeats it)."""
    gen = torch.Generator().manual_seed(rng.getrandbits(63))
    x0 = torch.from_numpy(np.stack([w.roll for w in items])) * 2 - 1
    t = torch.randint(0, cfg.train_steps, (len(items),), generator=gen)
    return {
        "x0": x0,
        "noise": torch.randn(x0.shape, generator=gen),
        "t": t,
        "dynamic": torch.from_numpy(np.stack([w.dynamic for w in items])),
        "semantic": torch.from_numpy(np.stack([w.semantic for w in items])),
        "mask": torch.from_numpy(np.stack([shot_mask(w.shots) for w in items])),
        "dropped": torch.rand(len(items), generator=gen) < cond_drop,
    }


def denoising_loss(model: DiffBGM, batch: dict[str, torch.Tensor], noise_schedule) -> torch.Tensor:
    x_t = noise_schedule.add_noise(batch["x0"], batch["noise"], batch["t"])
    predicted = model(x_t, batch["t"], batch["dynamic"], batch["semantic"], batch["mask"],
                      batch["dropped"])  # fmt: skip
    return ((predicted - batch["noise"]) ** 2).mean()


def fit(
    trainer: Trainer, windows: list[Window], cfg: DiffBGMConfig, opts: DiffBGMTraining
) -> DiffBGM:
    """A denoiser trained on ``windows`` with the shared trainer (AdamW, warm-up, resumable)."""
    torch.manual_seed(trainer.cfg.seed)
    noise_schedule = scheduler(cfg, "ddpm")
    return trainer.fit(
        DiffBGM(cfg),
        windows,
        lambda items, rng: collate(items, rng, cfg, opts.cond_drop),
        lambda model, batch: denoising_loss(model, batch, noise_schedule),
        name="diffbgm",
    )
