"""VMAs' efficient video encoder (Lin et al. 2024, section 4.2, Table 2, Appendix B): a
Hiera-style hierarchical vision transformer that keeps every temporal token of a densely sampled
clip and spends its downsampling on space only.

The paper's design (Table 2), at its Hiera-Base size and a 10 s clip:

* input 96 frames of 224x224 RGB, sampled uniformly at 9.6 fps (:func:`sample_times`);
* 3D convolution patch embedding, kernel 3x7x7, stride 2x4x4, padding 1x3x3: 48x56x56 tokens of
  width 96;
* four stages of Hiera blocks (2, 3, 16, 3 blocks; local *mask-unit* attention in the first two
  stages, global attention after), with Hiera's Q-pooling at the first block of stages 2, 3 and
  4. VMAs widens Hiera's spatial pooling strides 1x2x2, 1x2x2, 1x2x2 to 1x4x4, 1x7x7, 1x2x2,
  never pooling time: 48x14x14x192, 48x2x2x384, 48x1x1x768;
* the remaining 1x1 spatial grid is averaged: one 768-wide feature per temporal token, 48 per
  clip (T' = T / 2), which the music decoder cross-attends to.

Token layout here: activations stay a ``(B, t, h, w, C)`` grid. Attention cuts the grid into
non-overlapping windows (a mask unit, or the whole grid for global attention) by reshape; the
pooling block max-pools its queries (and its projected residual) over the grid by the stage's
stride while its keys and values keep the unpooled grid, which is Hiera's ``MaskUnitAttention``
with ``q_stride``. Hiera's unroll/reroll token order (a memory-layout trick) is not used.

Departures from the paper:

* no pretrained Hiera-Base weights (VMAs starts from them; they cannot be downloaded here): the
  encoder is trained from scratch, with Hiera's initialisation (truncated normal, std 0.02);
* Hiera's code gives the first (pooling) block of a stage the previous stage's mask-unit flag;
  here it follows its own stage's flag. With the paper's strides this keeps the design
  well-defined: Hiera's rule would pool 1x7x7 inside 1x2x2 mask units;
* drop path is a plain linear schedule (``drop_path`` at the last block, 0 by default); no
  layer-wise learning-rate decay or other fine-tuning recipe of Hiera's;
* the input grid is fixed by the config (``frames`` x ``size`` x ``size``): positional
  embeddings are not interpolated to other sizes.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

Triple = tuple[int, int, int]

#: ImageNet normalisation, as Hiera was trained with.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def _triple(x) -> Triple:
    t = tuple(int(v) for v in x)
    if len(t) != 3:
        raise ValueError(f"expected three (t, h, w) values, got {x!r}")
    return t  # type: ignore[return-value]


def _grid_str(g) -> str:
    return "x".join(str(v) for v in g)


@dataclass(frozen=True)
class VideoEncoderConfig:
    """The encoder's shape; the defaults are the paper's Hiera-Base variant (Table 2). Stage
    indices are 0-based (the paper's stage 1 is ``stage=0``)."""

    frames: int = 96
    fps: float = 9.6
    size: int = 224
    embed_dim: int = 96
    heads: int = 1
    stages: tuple[int, ...] = (2, 3, 16, 3)
    q_strides: tuple[Triple, ...] = ((1, 4, 4), (1, 7, 7), (1, 2, 2))
    patch_kernel: Triple = (3, 7, 7)
    patch_stride: Triple = (2, 4, 4)
    patch_padding: Triple = (1, 3, 3)
    mask_unit: Triple = (1, 8, 8)
    mask_unit_attn: tuple[bool, ...] = (True, True, False, False)
    dim_mul: float = 2.0
    head_mul: float = 2.0
    mlp_ratio: float = 4.0
    drop_path: float = 0.0

    def __post_init__(self) -> None:
        # lists (from JSON) become tuples, so the config stays hashable and comparable
        set_ = object.__setattr__
        set_(self, "stages", tuple(int(n) for n in self.stages))
        set_(self, "q_strides", tuple(_triple(s) for s in self.q_strides))
        for name in ("patch_kernel", "patch_stride", "patch_padding", "mask_unit"):
            set_(self, name, _triple(getattr(self, name)))
        set_(self, "mask_unit_attn", tuple(bool(b) for b in self.mask_unit_attn))
        self._validate()

    def _validate(self) -> None:
        if min(self.frames, self.size, self.embed_dim, self.heads) < 1 or self.fps <= 0:
            raise ValueError("frames, size, embed_dim, heads and fps must be positive")
        if not self.stages or min(self.stages) < 1:
            raise ValueError(f"stages must be positive block counts, got {self.stages}")
        n = len(self.stages)
        if len(self.q_strides) != n - 1:
            raise ValueError(
                f"{n} stages need {n - 1} q_strides (one per stage transition; (1, 1, 1) to "
                f"widen without pooling), got {len(self.q_strides)}"
            )
        if len(self.mask_unit_attn) != n:
            raise ValueError(f"mask_unit_attn needs one flag per stage ({n})")
        for name in ("q_strides", "patch_stride", "patch_kernel", "mask_unit"):
            vals = np.ravel(getattr(self, name))
            if vals.size and vals.min() < 1:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        if min(self.patch_grid) < 1:
            raise ValueError(f"the patch embedding leaves no tokens: grid {self.patch_grid}")
        grid = self.patch_grid
        for s, stride in enumerate(self.q_strides):
            if any(g % q for g, q in zip(grid, stride, strict=True)):
                raise ValueError(
                    f"q_strides do not divide the token grid: stage {s + 1}'s grid "
                    f"{_grid_str(grid)} (t x h x w) cannot be pooled by {_grid_str(stride)} "
                    f"(patch grid {_grid_str(self.patch_grid)} from frames={self.frames}, "
                    f"size={self.size}; each stride must divide the grid it pools, e.g. size "
                    f"224 -> 56 tokens -> /4 = 14 -> /7 = 2 -> /2 = 1)"
                )
            grid = tuple(g // q for g, q in zip(grid, stride, strict=True))
        for s in range(n):
            if self.dim(s) % self.num_heads(s):
                raise ValueError(
                    f"stage {s + 1}'s width {self.dim(s)} is not divisible by its "
                    f"{self.num_heads(s)} heads"
                )
            if not self.mask_unit_attn[s]:
                continue
            unit, grid = self.unit(s), self.grid(s)
            if any(g % u for g, u in zip(grid, unit, strict=True)):
                raise ValueError(
                    f"stage {s + 1}'s mask unit {_grid_str(unit)} does not divide its grid "
                    f"{_grid_str(grid)}"
                )
            if s > 0 and any(
                u % q for u, q in zip(self.unit(s - 1), self.q_strides[s - 1], strict=True)
            ):
                raise ValueError(
                    f"stage {s + 1} uses mask-unit attention, so its pooling block pools "
                    f"{_grid_str(self.q_strides[s - 1])} inside mask units of "
                    f"{_grid_str(self.unit(s - 1))}: the stride must divide the unit"
                )

    @classmethod
    def tiny(cls) -> VideoEncoderConfig:
        """A test-sized encoder with the paper's structure: 8 frames of 64x64 -> 4x16x16 tokens,
        pooled 1x4x4, 1x2x2, 1x2x2 -> 4x1x1; widths 16/32/64/128, one block per stage."""
        return cls(
            frames=8,
            size=64,
            embed_dim=16,
            stages=(1, 1, 1, 1),
            q_strides=((1, 4, 4), (1, 2, 2), (1, 2, 2)),
        )

    @property
    def patch_grid(self) -> Triple:
        """(t, h, w) tokens after the 3D-convolution patch embedding (48x56x56 at the paper's)."""
        ins = (self.frames, self.size, self.size)
        return tuple(  # type: ignore[return-value]
            (i + 2 * p - k) // s + 1
            for i, k, s, p in zip(
                ins, self.patch_kernel, self.patch_stride, self.patch_padding, strict=True
            )
        )

    def grid(self, stage: int) -> Triple:
        """(t, h, w) token grid of ``stage``'s output (0-based; -1 for the last)."""
        stage = range(len(self.stages))[stage]
        g = self.patch_grid
        for stride in self.q_strides[:stage]:
            g = tuple(a // q for a, q in zip(g, stride, strict=True))
        return g  # type: ignore[return-value]

    def unit(self, stage: int) -> Triple:
        """The mask unit (attention window, in tokens) at ``stage``: ``mask_unit`` shrunk by
        each earlier q-stride, clamped at 1 (used only where ``mask_unit_attn`` is set)."""
        stage = range(len(self.stages))[stage]
        u = self.mask_unit
        for stride in self.q_strides[:stage]:
            u = tuple(max(1, a // q) for a, q in zip(u, stride, strict=True))
        return u  # type: ignore[return-value]

    def dim(self, stage: int) -> int:
        """Token width of ``stage`` (96/192/384/768 at the paper's)."""
        stage = range(len(self.stages))[stage]
        return int(self.embed_dim * self.dim_mul**stage)

    def num_heads(self, stage: int) -> int:
        """Attention heads of ``stage`` (1/2/4/8 at the paper's)."""
        stage = range(len(self.stages))[stage]
        return int(self.heads * self.head_mul**stage)

    @property
    def out_dim(self) -> int:
        """Width of the output features (768 at the paper's)."""
        return self.dim(-1)

    @property
    def tokens(self) -> int:
        """Temporal tokens out per clip, T' (48 at the paper's)."""
        return self.grid(-1)[0]

    @property
    def clip_seconds(self) -> float:
        """The clip length the encoder is designed for, ``frames / fps`` (10 s)."""
        return self.frames / self.fps

    def to_dict(self) -> dict:
        """Plain values (tuples kept) for checkpoints and JSON."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> VideoEncoderConfig:
        """The config of :meth:`to_dict` (lists from JSON accepted; unknown keys refused)."""
        known = {f.name for f in fields(cls)}
        if extra := set(d) - known:
            raise ValueError(f"unknown VideoEncoderConfig keys: {sorted(extra)}")
        return cls(**d)


def sample_times(duration: float, cfg: VideoEncoderConfig) -> np.ndarray:
    """The ``cfg.frames`` times (seconds, from the clip's start) the encoder reads from a clip of
    ``duration`` seconds: uniform, ``i * duration / frames``. At the designed length
    (``frames / fps`` = 10 s) that is every frame at ``fps`` (9.6, as the paper samples); a
    shorter or longer clip is sampled at the same count, denser or sparser, so the token grid
    (and the positional embeddings) stay those of the config."""
    if not duration > 0:
        raise ValueError(f"duration must be positive, got {duration}")
    return np.arange(cfg.frames, dtype=np.float64) * (duration / cfg.frames)


def _pooled(grid: Triple, stride: Triple) -> Triple:
    """The (t, h, w) grid after pooling by ``stride``."""
    return tuple(g // s for g, s in zip(grid, stride, strict=True))  # type: ignore[return-value]


def _pool(x: Tensor, stride: Triple) -> Tensor:
    """Max-pool a ``(B, t, h, w, ...)`` grid by ``stride`` (non-overlapping, kernel = stride)."""
    if stride == (1, 1, 1):
        return x
    b, t, h, w, *rest = x.shape
    st, sh, sw = stride
    x = x.reshape(b, t // st, st, h // sh, sh, w // sw, sw, *rest)
    return x.amax(dim=(2, 4, 6))


def _to_windows(x: Tensor, win: Triple) -> Tensor:
    """``(B, t, h, w, ...)`` -> ``(B, windows, tokens per window, ...)``, windows in t, h, w
    order and tokens within a window likewise."""
    b, t, h, w, *rest = x.shape
    a, c, d = win
    x = x.reshape(b, t // a, a, h // c, c, w // d, d, *rest)
    tail = tuple(range(7, x.dim()))
    x = x.permute(0, 1, 3, 5, 2, 4, 6, *tail)
    return x.reshape(b, (t // a) * (h // c) * (w // d), a * c * d, *rest)


def _from_windows(x: Tensor, grid: Triple, win: Triple) -> Tensor:
    """Inverse of :func:`_to_windows`: ``(B, windows, tokens, ...)`` -> ``(B, t, h, w, ...)``."""
    b, _, _, *rest = x.shape
    t, h, w = grid
    a, c, d = win
    x = x.reshape(b, t // a, h // c, w // d, a, c, d, *rest)
    tail = tuple(range(7, x.dim()))
    x = x.permute(0, 1, 4, 2, 5, 3, 6, *tail)
    return x.reshape(b, t, h, w, *rest)


class MaskUnitAttention(nn.Module):
    """Hiera's attention: multi-head attention within windows of ``window`` tokens (global when
    ``window`` is None), queries max-pooled by ``q_stride`` while keys/values stay unpooled."""

    def __init__(
        self, dim: int, dim_out: int, heads: int, q_stride: Triple, window: Triple | None
    ) -> None:
        super().__init__()
        self.heads, self.head_dim = heads, dim_out // heads
        self.q_stride, self.window = q_stride, window
        self.qkv = nn.Linear(dim, 3 * dim_out)
        self.proj = nn.Linear(dim_out, dim_out)

    def forward(self, x: Tensor) -> Tensor:
        """``(B, t, h, w, dim)`` -> ``(B, t', h', w', dim_out)``, the grid pooled by q_stride."""
        b, t, h, w, _ = x.shape
        q, k, v = self.qkv(x).reshape(b, t, h, w, 3, self.heads, self.head_dim).unbind(4)
        q = _pool(q, self.q_stride)
        kv_win = self.window if self.window is not None else (t, h, w)
        q_win = tuple(u // s for u, s in zip(kv_win, self.q_stride, strict=True))
        # (B, windows, tokens, heads, hd) -> (B, windows, heads, tokens, hd)
        q = _to_windows(q, q_win).transpose(2, 3)
        k = _to_windows(k, kv_win).transpose(2, 3)
        v = _to_windows(v, kv_win).transpose(2, 3)
        out = F.scaled_dot_product_attention(q, k, v)
        out = out.transpose(2, 3).flatten(3)
        out = _from_windows(out, _pooled((t, h, w), self.q_stride), q_win)
        return self.proj(out)


class DropPath(nn.Module):
    """Stochastic depth: drops a sample's whole residual branch with probability ``p`` when
    training (rescaling the kept ones)."""

    def __init__(self, p: float = 0.0) -> None:
        super().__init__()
        self.p = p

    def forward(self, x: Tensor) -> Tensor:
        if not self.training or self.p == 0.0:
            return x
        keep = x.new_empty((x.shape[0],) + (1,) * (x.dim() - 1)).bernoulli_(1 - self.p)
        return x * keep / (1 - self.p)


class HieraBlock(nn.Module):
    """Pre-norm transformer block over a ``(B, t, h, w, C)`` grid; as the first block of a later
    stage it widens to ``dim_out`` and Q-pools by ``q_stride`` (residual: linear then max-pool)."""

    def __init__(
        self,
        dim: int,
        dim_out: int,
        heads: int,
        *,
        q_stride: Triple = (1, 1, 1),
        window: Triple | None = None,
        mlp_ratio: float = 4.0,
        drop_path: float = 0.0,
    ) -> None:
        super().__init__()
        self.q_stride = q_stride
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = MaskUnitAttention(dim, dim_out, heads, q_stride, window)
        self.proj = nn.Linear(dim, dim_out) if dim != dim_out else None
        self.drop_path = DropPath(drop_path)
        self.norm2 = nn.LayerNorm(dim_out, eps=1e-6)
        hidden = int(dim_out * mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(dim_out, hidden), nn.GELU(), nn.Linear(hidden, dim_out))

    def forward(self, x: Tensor) -> Tensor:
        x_norm = self.norm1(x)
        if self.proj is not None:
            x = self.proj(x_norm)
        x = _pool(x, self.q_stride)
        x = x + self.drop_path(self.attn(x_norm))
        return x + self.drop_path(self.mlp(self.norm2(x)))


class VideoEncoder(nn.Module):
    """VMAs' video encoder: ``(B, T, 3, H, W)`` frames in [0, 1] -> ``(B, T', D)``, one feature
    per temporal token (T' = 48, D = 768 at the paper's size; see the module docstring)."""

    def __init__(self, cfg: VideoEncoderConfig | None = None) -> None:
        super().__init__()
        self.cfg = cfg = cfg or VideoEncoderConfig()
        self.register_buffer(
            "mean", torch.tensor(IMAGENET_MEAN).view(1, 1, 3, 1, 1), persistent=False
        )
        self.register_buffer(
            "std", torch.tensor(IMAGENET_STD).view(1, 1, 3, 1, 1), persistent=False
        )
        self.patch_embed = nn.Conv3d(
            3,
            cfg.embed_dim,
            kernel_size=cfg.patch_kernel,
            stride=cfg.patch_stride,
            padding=cfg.patch_padding,
        )
        t, h, w = cfg.patch_grid
        # Hiera's separable positional embeddings: one per (h, w) position plus one per t
        self.pos_embed_spatial = nn.Parameter(torch.zeros(1, 1, h, w, cfg.embed_dim))
        self.pos_embed_temporal = nn.Parameter(torch.zeros(1, t, 1, 1, cfg.embed_dim))

        depth = sum(cfg.stages)
        rates = np.linspace(0.0, cfg.drop_path, depth).tolist() if depth > 1 else [cfg.drop_path]
        self.stages = nn.ModuleList()
        dim, i = cfg.embed_dim, 0
        for s, n in enumerate(cfg.stages):
            blocks = []
            for j in range(n):
                pool = s > 0 and j == 0
                stride = cfg.q_strides[s - 1] if pool else (1, 1, 1)
                window = None
                if cfg.mask_unit_attn[s]:
                    window = cfg.unit(s - 1) if pool else cfg.unit(s)  # keys/values' window
                blocks.append(
                    HieraBlock(
                        dim,
                        cfg.dim(s),
                        cfg.num_heads(s),
                        q_stride=stride,
                        window=window,
                        mlp_ratio=cfg.mlp_ratio,
                        drop_path=rates[i],
                    )
                )
                dim, i = cfg.dim(s), i + 1
            self.stages.append(nn.Sequential(*blocks))
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.apply(self._init_weights)
        nn.init.trunc_normal_(self.pos_embed_spatial, std=0.02)
        nn.init.trunc_normal_(self.pos_embed_temporal, std=0.02)

    @staticmethod
    def _init_weights(m: nn.Module) -> None:
        if isinstance(m, nn.Linear):
            nn.init.trunc_normal_(m.weight, std=0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.LayerNorm):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)

    def embed(self, video: Tensor) -> Tensor:
        """Normalised frames -> patch tokens with positions, ``(B, t, h, w, embed_dim)``."""
        cfg = self.cfg
        if video.dim() != 5 or tuple(video.shape[1:]) != (cfg.frames, 3, cfg.size, cfg.size):
            raise ValueError(
                f"expected video (B, {cfg.frames}, 3, {cfg.size}, {cfg.size}), "
                f"got {tuple(video.shape)}"
            )
        x = (video - self.mean) / self.std
        x = self.patch_embed(x.transpose(1, 2))  # (B, C, t, h, w)
        x = x.permute(0, 2, 3, 4, 1)
        return x + self.pos_embed_spatial + self.pos_embed_temporal

    def forward_features(self, video: Tensor) -> list[Tensor]:
        """Each stage's output grid ``(B, t, h, w, C)`` (48x14x14x192 ... at the paper's size)."""
        x, out = self.embed(video), []
        for stage in self.stages:
            x = stage(x)
            out.append(x)
        return out

    def forward(self, video: Tensor) -> Tensor:
        """``(B, T, 3, H, W)`` in [0, 1] -> ``(B, T', D)``: the last grid averaged over space and
        layer-normed."""
        return self.norm(self.forward_features(video)[-1].mean(dim=(2, 3)))


def parameter_count(cfg: VideoEncoderConfig) -> int:
    """Parameters of an encoder of ``cfg``, counted without allocating it (meta device)."""
    with torch.device("meta"):
        model = VideoEncoder(cfg)
    return sum(math.prod(p.shape) for p in model.parameters())
