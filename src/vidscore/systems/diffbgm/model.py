"""Diff-BGM's denoiser: a piano-roll U-Net cross-attending to per-beat conditions.

The U-Net is diffusers' ``UNet2DConditionModel`` laid out as the reference's (widths w, 2w, 4w,
4w; two residual blocks down and three up; a transformer with self- and cross-attention after
each residual block of the two deepest levels and in the middle; 4 heads there). Its input is an
8-bar roll ``(2, 128 steps, pitches)``: onset and sustain channels, time by pitch.

Conditions, one token per beat (32 per segment), each projected to ``cond_dim``:

* **dynamic** (the reference's visual features): the control curves that move with the picture
  (activity, intensity, accents, boundaries);
* **semantic** (the reference's caption features): the curves that describe it (valence,
  register) and, when given, the clip's semantic descriptor.

The **condition switch**: a sample whose timestep is above ``switch_t`` (200) is conditioned on
the semantic tokens, at or below it on the dynamic ones, as the reference does in training and
sampling. A sample dropped from its condition (classifier-free training; the reference never
drops it, so its guidance is untrained) gets a learnt null token at every beat instead of the
reference's constant -1.

Two additions to the reference, both because its conditioning could not steer here (measured,
docs/diffbgm.md): every token carries a learnt embedding of its beat's place in the segment (the
reference's tokens have none, so attention cannot tell beat 3's activity from beat 30's), and with
``curve_input`` (default) the curves of each beat also enter the U-Net as input channels under
its 16 steps, broadcast over pitch (CMT's way of conditioning, and ControlNet-style spatial
conditions), with a seventh channel saying whether they are given. The input path sees every curve
at every timestep: the density of a texture is settled at high noise, where the switch gives
cross-attention only the semantic tokens. ``curve_input=False`` is the reference's conditioning,
for the ablation.

**SAC-Att**: :class:`MaskedCrossAttention` replaces the cross-attention of every transformer: a
query at a feature-map row may attend only to the tokens its beats may (:mod:`.sacatt`), from a
``(batch, beats, beats)`` mask passed with the call. Self-attention is not masked (the reference
masks it too, which keeps the two halves of a segment from ever attending to each other).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from vidscore.outputs import user_cache
from vidscore.systems.diffbgm.sacatt import row_cover

STEPS = 128  # sixteenth steps in an 8-bar segment of 4/4
BEATS = 32


@dataclass(frozen=True)
class DiffBGMConfig:
    width: int = 16  # the reference's 64 (benchmarks/diffbgm_unet.py sizes it for a CPU)
    pitches: int = 128
    low_pitch: int = 0  # MIDI pitch of the roll's first column
    cond_dim: int = 64  # the reference's 512
    dynamic_dim: int = 4
    semantic_dim: int = 2
    switch_t: int = 200
    curve_input: bool = True  # the curves also as input channels (the module docstring)
    conditions: str = "curves"  # what the tokens are: "curves" or "bgm909" (its video features)
    train_steps: int = 1000
    beta_start: float = 0.00085
    beta_end: float = 0.012

    def __post_init__(self) -> None:
        if self.width < 8 or self.width % 8:
            raise ValueError(f"width {self.width}: a multiple of 8")
        if self.pitches < 8 or self.pitches % 8:
            raise ValueError(f"pitches {self.pitches}: a multiple of 8 (the U-Net halves it 3x)")
        if not 0 <= self.low_pitch <= 128 - self.pitches:
            raise ValueError(f"low_pitch {self.low_pitch}: the roll must end by MIDI 127")
        if self.conditions not in ("curves", "bgm909"):
            raise ValueError(f"conditions {self.conditions!r}: curves or bgm909")
        if not 0 < self.switch_t < self.train_steps:
            raise ValueError(f"switch_t {self.switch_t}: inside the {self.train_steps} steps")


class MaskedCrossAttention:
    """A diffusers attention processor: plain attention for self-attention; cross-attention
    under the SAC-Att mask when the call brings one (``beat_mask``: ``(B, beats, tokens)``
    booleans, ``roll_rows``/``roll_cols``: the input roll's time and pitch sizes)."""

    def __init__(self) -> None:
        self._covers: dict[tuple[int, int], torch.Tensor] = {}  # (rows, beats) -> row_cover

    def __call__(
        self,
        attn,
        hidden_states: torch.Tensor,
        encoder_hidden_states: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        temb: torch.Tensor | None = None,
        beat_mask: torch.Tensor | None = None,
        roll_rows: int = STEPS,
        roll_cols: int = 128,
    ) -> torch.Tensor:
        context = hidden_states if encoder_hidden_states is None else encoder_hidden_states
        b, n, _ = hidden_states.shape
        q, k, v = attn.to_q(hidden_states), attn.to_k(context), attn.to_v(context)
        heads = attn.heads
        q, k, v = (x.view(b, -1, heads, x.shape[-1] // heads).transpose(1, 2) for x in (q, k, v))
        mask = None
        if encoder_hidden_states is not None and beat_mask is not None:
            # the map is rows x cols, time-major, scaled down from roll_rows x roll_cols
            rows = round((n * roll_rows / roll_cols) ** 0.5)
            cover = self._cover(rows, beat_mask.shape[1], hidden_states.device)
            per_row = (cover @ beat_mask.to(cover.dtype)) > 0  # (B, rows, tokens)
            mask = per_row.repeat_interleave(n // rows, dim=1)[:, None]  # (B, 1, n, tokens)
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        out = out.transpose(1, 2).reshape(b, n, -1).to(q.dtype)
        return attn.to_out[1](attn.to_out[0](out))

    def _cover(self, rows: int, beats: int, device) -> torch.Tensor:
        key = (rows, beats)
        if key not in self._covers:
            self._covers[key] = torch.from_numpy(row_cover(rows, beats).astype(np.float32))
        return self._covers[key].to(device)


def _inductor_cache_in_user_cache() -> None:
    """Importing diffusers makes torch's inductor cache folder, by default in the system's
    temporary folder, which a vidscore run must leave as it found it: point it (unless the user
    did) at vidscore's folder in the user's cache."""
    os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", str(user_cache() / "torchinductor"))


class DiffBGM(nn.Module):
    """Predicts the noise in a noisy roll, given the timestep and the per-beat conditions."""

    def __init__(self, cfg: DiffBGMConfig):
        super().__init__()
        _inductor_cache_in_user_cache()
        from diffusers import UNet2DConditionModel

        self.cfg = cfg
        w = cfg.width
        self.unet = UNet2DConditionModel(
            sample_size=(STEPS, cfg.pitches),
            in_channels=2 + (self.curve_channels if cfg.curve_input else 0),
            out_channels=2,
            down_block_types=("DownBlock2D", "DownBlock2D", "CrossAttnDownBlock2D",
                              "CrossAttnDownBlock2D"),
            up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D",
                            "UpBlock2D"),
            block_out_channels=(w, 2 * w, 4 * w, 4 * w),
            layers_per_block=2,
            cross_attention_dim=cfg.cond_dim,
            attention_head_dim=w,  # 4 heads at the two deepest levels
            norm_num_groups=min(32, w // 2),
        )  # fmt: skip
        self.unet.set_attn_processor(MaskedCrossAttention())
        self.dynamic = nn.Linear(cfg.dynamic_dim, cfg.cond_dim)
        self.semantic = nn.Linear(cfg.semantic_dim, cfg.cond_dim)
        self.null = nn.Parameter(torch.zeros(cfg.cond_dim))
        self.position = nn.Parameter(torch.zeros(BEATS, cfg.cond_dim))
        nn.init.normal_(self.position, std=0.02)

    @property
    def curve_channels(self) -> int:
        """Input channels the curves take with ``curve_input``: each curve, then "given"."""
        return self.cfg.dynamic_dim + self.cfg.semantic_dim + 1

    def curve_planes(
        self, x: torch.Tensor, dynamic: torch.Tensor, semantic: torch.Tensor,
        dropped: torch.Tensor | None,
    ) -> torch.Tensor:  # fmt: skip
        """``x`` with the per-beat curves appended as channels (zeros, "given" 0, where
        ``dropped``), each beat's value held over its steps and every pitch."""
        given = torch.ones_like(dynamic[..., :1])
        curves = torch.cat([dynamic, semantic, given], dim=-1)  # (B, beats, C)
        if dropped is not None:
            curves = curves * (~dropped).view(-1, 1, 1).to(curves.dtype)
        per_step = curves.repeat_interleave(x.shape[2] // curves.shape[1], dim=1)
        planes = per_step.transpose(1, 2)[..., None].expand(-1, -1, -1, x.shape[3])
        return torch.cat([x, planes.to(x.dtype)], dim=1)

    def condition(
        self,
        t: torch.Tensor,
        dynamic: torch.Tensor,
        semantic: torch.Tensor,
        dropped: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """``(B, beats, cond_dim)`` tokens: semantic above the switch, dynamic at or below it,
        the null token where ``dropped``."""
        above = (t > self.cfg.switch_t).view(-1, 1, 1)
        tokens = torch.where(above, self.semantic(semantic), self.dynamic(dynamic))
        tokens = tokens + self.position[: tokens.shape[1]]
        if dropped is not None:
            tokens = torch.where(dropped.view(-1, 1, 1), self.null.expand_as(tokens), tokens)
        return tokens

    def forward(
        self,
        x: torch.Tensor,
        t: torch.Tensor,
        dynamic: torch.Tensor,
        semantic: torch.Tensor,
        beat_mask: torch.Tensor | None = None,
        dropped: torch.Tensor | None = None,
    ) -> torch.Tensor:
        tokens = self.condition(t, dynamic, semantic, dropped)
        kwargs = {"beat_mask": beat_mask, "roll_rows": x.shape[2], "roll_cols": x.shape[3]}
        if self.cfg.curve_input:
            x = self.curve_planes(x, dynamic, semantic, dropped)
        return self.unet(x, t, tokens, cross_attention_kwargs=kwargs).sample


def scheduler(cfg: DiffBGMConfig, kind: str = "ddim"):
    """The reference's noise schedule (1000 steps, scaled-linear betas 0.00085 -> 0.012) as a
    diffusers scheduler: DDPM for training; DDIM or DPM-Solver++ (second order, multistep; the
    same trained model, fewer steps for the same music) for sampling."""
    _inductor_cache_in_user_cache()
    from diffusers import DDIMScheduler, DDPMScheduler, DPMSolverMultistepScheduler

    cls = {"ddim": DDIMScheduler, "ddpm": DDPMScheduler, "dpm": DPMSolverMultistepScheduler}[kind]
    extra = {"clip_sample": False} if kind != "dpm" else {"algorithm_type": "dpmsolver++"}
    return cls(
        num_train_timesteps=cfg.train_steps,
        beta_start=cfg.beta_start,
        beta_end=cfg.beta_end,
        beta_schedule="scaled_linear",
        **extra,
    )
