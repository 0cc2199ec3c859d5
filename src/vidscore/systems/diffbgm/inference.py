"""Sampling Diff-BGM on a clip of any length: 8-bar segments chained by inpainting their overlap.

The piece is laid out in model time (four beats a bar, :mod:`vidscore.systems.common.bars`), 16
steps a bar. Segments of 8 bars start every ``8 - overlap_bars`` bars; each is sampled with
DPM-Solver++ (diffusers' second-order multistep solver, 10 steps; DDIM with ``sampler="ddim"``;
both deterministic for a seed; on held-out POP909 songs 10 DPM-Solver++ steps follow the curves
as 20 DDIM steps do, at half the time: docs/diffbgm.md) while the cells already known
(the overlap with the previous segment, and the music the user keeps when regenerating a range)
are held to the known roll, noised to the current step before every denoising call and set
exactly after the last (the replacement form of inpainting, Lugmayr et al.'s RePaint without its
resampling loop). So the music flows across segment seams and a regenerated range meets its
neighbours.

Guidance is classifier-free: ``null + g * (cond - null)`` (g = 1: the conditioned model alone,
g = 0: unconditioned); the model trained with 20% null conditions. SAC-Att masks each segment's
cross-attention by the shots of its beats (``mask="shots"``), by the reference's fixed two halves
(``"two_block"``) or not at all (``"none"``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from vidscore.music.pianoroll import from_pianoroll
from vidscore.music.score import Note
from vidscore.systems.diffbgm.model import BEATS, STEPS, DiffBGM, scheduler
from vidscore.systems.diffbgm.sacatt import shot_mask, two_block_mask

STEPS_PER_BEAT = STEPS // BEATS
#: the solvers a segment can be sampled with (both deterministic for a seed)
SAMPLERS = ("dpm", "ddim")
BAR_STEPS = 4 * STEPS_PER_BEAT


@dataclass(frozen=True)
class DiffusionSampling:
    """How :func:`sample_roll` samples (checked where the user sets it: the system's params)."""

    steps: int = 10  # denoising steps per segment
    guidance: float = 2.0
    overlap_bars: int = 2  # bars each segment shares with the one before
    mask: str = "shots"  # one of sacatt.MASKS
    sampler: str = "dpm"  # one of SAMPLERS


@dataclass
class Known:
    """Cells of the whole piece's roll held fixed: ``roll`` (2, steps, pitches) in -1/+1 and
    ``mask`` of the same shape, True where the cell is known."""

    roll: np.ndarray
    mask: np.ndarray

    @classmethod
    def empty(cls, steps: int, pitches: int) -> Known:
        shape = (2, steps, pitches)
        return cls(-np.ones(shape, dtype=np.float32), np.zeros(shape, dtype=bool))


def segment_starts(total_steps: int, overlap_bars: int) -> list[int]:
    """Where each 8-bar segment starts (in steps) so that they cover ``total_steps``."""
    hop = STEPS - overlap_bars * BAR_STEPS
    starts = [0]
    while starts[-1] + STEPS < total_steps:
        starts.append(starts[-1] + hop)
    return starts


def _padded(rows: np.ndarray, length: int) -> np.ndarray:
    """``rows`` extended to ``length`` by repeating the last."""
    if len(rows) >= length:
        return rows[:length]
    return np.concatenate([rows, np.repeat(rows[-1:], length - len(rows), axis=0)])


def beat_mask(sections: np.ndarray, kind: str) -> np.ndarray | None:
    """The SAC-Att mask of one segment's beats."""
    if kind == "shots":
        return shot_mask(sections)
    if kind == "two_block":
        return two_block_mask(len(sections))
    return None


@torch.no_grad()
def sample_roll(
    model: DiffBGM,
    dynamic: np.ndarray,
    semantic: np.ndarray,
    sections: np.ndarray,
    s: DiffusionSampling,
    seed: int,
    known: Known | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> np.ndarray:
    """The ``(2, beats * 4, pitches)`` roll (-1/+1 scale) for per-model-beat conditions
    (``dynamic``, ``semantic``, ``sections``: the shot number of each beat)."""
    model.eval()
    n_beats = len(dynamic)
    total = n_beats * STEPS_PER_BEAT
    pitches = model.cfg.pitches
    starts = segment_starts(total, s.overlap_bars)
    length = starts[-1] + STEPS
    beats = length // STEPS_PER_BEAT
    dyn = torch.from_numpy(_padded(np.asarray(dynamic, np.float32), beats))
    sem = torch.from_numpy(_padded(np.asarray(semantic, np.float32), beats))
    sec = _padded(np.asarray(sections), beats)
    have = Known.empty(length, pitches)
    if known is not None:
        have.roll[:, :total] = known.roll[:, :total]
        have.mask[:, :total] = known.mask[:, :total]
    sched = scheduler(model.cfg, s.sampler)
    gen = torch.Generator().manual_seed(seed)
    for k, a in enumerate(starts):
        window = slice(a, a + STEPS)
        m = torch.from_numpy(have.mask[:, window])
        x0_known = torch.from_numpy(have.roll[:, window])
        noise = torch.randn((1, 2, STEPS, pitches), generator=gen)
        if bool(m[:, : max(0, total - a)].all()):
            continue  # nothing to write here (a regenerated range lies elsewhere)
        b0 = a // STEPS_PER_BEAT
        mask = beat_mask(sec[b0 : b0 + BEATS], s.mask)
        cond = (dyn[None, b0 : b0 + BEATS], sem[None, b0 : b0 + BEATS])
        x = _denoise(model, sched, noise, cond, mask, s, m[None], x0_known[None], gen)
        out = torch.where(m, x0_known, x[0]).numpy()
        have.roll[:, window] = out
        have.mask[:, window] = True
        if progress is not None:
            progress(k + 1, len(starts))
    return have.roll[:, :total]


def _denoise(model, sched, noise, cond, mask, s, known_mask, known_x0, gen) -> torch.Tensor:
    """DDIM from ``noise`` with the known cells replaced by their noised values each step.

    The start is the silent roll noised to the first step, not the bare noise: at t = 999 the
    schedule still keeps 7% of the signal, and a roll is almost all silence (-1), so every
    training sample at that step leans the same way; bare noise lacks that lean and the model,
    never shown such a sample, fills a sixth of the cells with notes (ten times POP909's
    density). This is the "signal leak" of schedules without zero terminal SNR."""
    dynamic, semantic = cond
    beat_mask_t = None if mask is None else torch.from_numpy(mask)[None]
    sched.set_timesteps(s.steps)
    x = sched.add_noise(-torch.ones_like(noise), noise, sched.timesteps[:1])
    for t in sched.timesteps:
        if bool(known_mask.any()):
            noised = sched.add_noise(known_x0, torch.randn(x.shape, generator=gen), t[None])
            x = torch.where(known_mask, noised, x)
        x = sched.step(
            _guided(model, x, t, dynamic, semantic, beat_mask_t, s.guidance), t, x
        ).prev_sample
    return x


def _guided(model, x, t, dynamic, semantic, mask, g: float) -> torch.Tensor:
    """The guided noise estimate (one model call when g is 0 or 1, else two in one batch)."""
    tt = t.reshape(1).expand(x.shape[0])
    if g == 1 or g == 0:
        dropped = torch.full((x.shape[0],), g == 0)
        return model(x, tt, dynamic, semantic, mask, dropped)
    both = model(
        torch.cat([x, x]), torch.cat([tt, tt]), torch.cat([dynamic, dynamic]),
        torch.cat([semantic, semantic]), None if mask is None else torch.cat([mask, mask]),
        torch.tensor([False, True]),
    )  # fmt: skip
    cond, null = both.chunk(2)
    return null + g * (cond - null)


def roll_notes(roll: np.ndarray, low_pitch: int, velocity: int = 80) -> list[Note]:
    """Notes (model beats) of a -1/+1 roll over pitches ``low_pitch ...``: an onset where the
    onset channel is above 0, held while the sustain channel is (the reference's 0.5 on 0/1)."""
    full = -np.ones((2, roll.shape[1], 128), dtype=np.float32)
    full[:, :, low_pitch : low_pitch + roll.shape[2]] = roll
    return from_pianoroll(full, threshold=0.0, velocity=velocity)


def notes_roll(notes: list[Note], steps: int, low_pitch: int, pitches: int) -> np.ndarray:
    """A -1/+1 roll of model-time notes (the inverse of :func:`roll_notes` on a 16th grid)."""
    roll = -np.ones((2, steps, pitches), dtype=np.float32)
    for n in notes:
        p = n.pitch - low_pitch
        a = round(n.start * STEPS_PER_BEAT)
        b = max(a + 1, round(n.end * STEPS_PER_BEAT))
        if not 0 <= p < pitches or not 0 <= a < steps:
            continue
        roll[0, a, p] = 1.0
        roll[1, a + 1 : min(b, steps), p] = 1.0
    return roll
