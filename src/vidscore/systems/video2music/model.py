"""Video2Music's Affective Multimodal Transformer (AMT) and its biGRU regressor, in PyTorch.

AMT (Kang et al. 2023): an encoder reads one conditioning row per chord step (in the paper the
video's semantic embedding, scene offset, motion and six emotion probabilities; here the control
curves, offset and emotions of :mod:`.inputs`, plus the semantic embedding when the data is
paired); a decoder predicts the next chord from the previous ones, each embedded as root
embedding + quality embedding plus sinusoidal positions (as the Music Transformer code
Video2Music builds on). Decoder self-attention adds relative positions with Music Transformer's
"skewing" (Huang et al. 2018); cross-attention reads the conditioning, whose row ``j`` is the
control of the chord predicted at position ``j``. Deviation: row ``j`` is also projected and added
to the decoder input at ``j`` (as CMT adds its controls to its token embeddings). With
cross-attention alone the decoder did not find its own step's row: trained on POP909 with the
shipped command then, held-out Hits@1 was 0.4453 with the real controls and 0.4440 shuffled.
Full size is 6 + 6 layers, d_model 512, 8 heads (:meth:`AMTConfig.full`);
:meth:`AMTConfig.small` fits a CPU.

The biGRU (2 layers, hidden 64, bidirectional) maps the same rows to per-step note density and
loudness, which drive the arrangement.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

from vidscore.modules.attention import RelativeSelfAttention
from vidscore.modules.encoders import FeatureEncoder, sinusoidal
from vidscore.music.chords import VIDEO2MUSIC
from vidscore.systems.video2music.inputs import FIXED_COLUMNS


@dataclass(frozen=True)
class AMTConfig:
    """Every size of the model; stored beside the weights so a checkpoint rebuilds itself."""

    semantic_dim: int = 36
    emotion_dim: int = 6
    d_model: int = 128
    n_heads: int = 4
    encoder_layers: int = 2
    decoder_layers: int = 2
    d_ff: int = 256
    dropout: float = 0.1
    max_len: int = 300
    vocab_size: int = len(VIDEO2MUSIC)  # N + 156 chords + END + PAD
    n_roots: int = 13 + 2  # 12 roots, N, END, PAD
    n_qualities: int = len(VIDEO2MUSIC.qualities) + 3  # + N, END, PAD
    use_video: bool = True  # False: the same decoder with no video input (a baseline)

    def __post_init__(self) -> None:
        if self.d_model % self.n_heads:
            raise ValueError("d_model must be a multiple of n_heads")

    @classmethod
    def small(cls, **kw) -> AMTConfig:
        return cls(**kw)

    @classmethod
    def full(cls, **kw) -> AMTConfig:
        return cls(
            **{
                "d_model": 512,
                "n_heads": 8,
                "encoder_layers": 6,
                "decoder_layers": 6,
                "d_ff": 1024,
                **kw,
            }
        )

    @property
    def input_dim(self) -> int:
        """Width of one conditioning row: semantic, curves, offset, present, emotions."""
        return self.semantic_dim + FIXED_COLUMNS

    def to_dict(self) -> dict:
        return asdict(self)


class DecoderLayer(nn.Module):
    """Relative self-attention, cross-attention to the video, feed-forward (pre-norm)."""

    def __init__(self, cfg: AMTConfig) -> None:
        super().__init__()
        self.self_attn = RelativeSelfAttention(cfg.d_model, cfg.n_heads, cfg.max_len, cfg.dropout)
        self.cross = nn.MultiheadAttention(
            cfg.d_model, cfg.n_heads, dropout=cfg.dropout, batch_first=True
        )
        self.ff = nn.Sequential(
            nn.Linear(cfg.d_model, cfg.d_ff),
            nn.GELU(),
            nn.Dropout(cfg.dropout),
            nn.Linear(cfg.d_ff, cfg.d_model),
        )
        self.n1, self.n2, self.n3 = (nn.LayerNorm(cfg.d_model) for _ in range(3))
        self.drop = nn.Dropout(cfg.dropout)

    def forward(self, x, memory, pad_mask=None, memory_mask=None):
        x = x + self.drop(self.self_attn(self.n1(x), pad_mask))
        if memory is not None:
            y, _ = self.cross(
                self.n2(x), memory, memory, key_padding_mask=memory_mask, need_weights=False
            )
            x = x + self.drop(y)
        return x + self.drop(self.ff(self.n3(x)))


class AMT(nn.Module):
    """Affective Multimodal Transformer: video features + chord history -> next-chord logits.

    Shapes: ``video (B, L, input_dim)`` rows of :mod:`.inputs`, row ``j`` conditioning the chord
    predicted at ``j``; ``roots, qualities (B, L)`` factored chord indices; output ``(B, L, V)``.
    """

    def __init__(self, cfg: AMTConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.root_emb = nn.Embedding(cfg.n_roots, cfg.d_model)
        self.quality_emb = nn.Embedding(cfg.n_qualities, cfg.d_model)
        self.encoder = (
            FeatureEncoder(
                cfg.input_dim,
                cfg.d_model,
                cfg.n_heads,
                cfg.encoder_layers,
                cfg.d_ff,
                cfg.dropout,
            )
            if cfg.use_video
            else None
        )
        # each position also adds its own control row (see the module docstring)
        self.control = nn.Linear(cfg.input_dim, cfg.d_model) if cfg.use_video else None
        self.layers = nn.ModuleList(DecoderLayer(cfg) for _ in range(cfg.decoder_layers))
        self.norm = nn.LayerNorm(cfg.d_model)
        self.head = nn.Linear(cfg.d_model, cfg.vocab_size)

    def forward(
        self,
        video: torch.Tensor | None,
        roots: torch.Tensor,
        qualities: torch.Tensor,
        pad_mask: torch.Tensor | None = None,
        video_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        x = self.root_emb(roots) + self.quality_emb(qualities)
        x = x + sinusoidal(x.shape[1], self.cfg.d_model, x.device)
        memory = None
        if self.encoder is not None and video is not None:
            memory, _ = self.encoder(video, video_mask)
            x = x + self.control(video[:, : x.shape[1]])
        for layer in self.layers:
            x = layer(x, memory, pad_mask, video_mask)
        return self.head(self.norm(x))


def guided(
    model: AMT,
    video: torch.Tensor,
    roots: torch.Tensor,
    qualities: torch.Tensor,
    guidance: float,
    pad_mask: torch.Tensor | None = None,
    video_mask: torch.Tensor | None = None,
) -> torch.Tensor:
    """The AMT's logits under classifier-free guidance: ``free + guidance * (conditioned -
    free)``, ``free`` from the null condition (all-zero rows); guidance 1 is one plain pass."""
    logits = model(video, roots, qualities, pad_mask, video_mask)
    if guidance == 1.0:
        return logits
    free = model(torch.zeros_like(video), roots, qualities, pad_mask, video_mask)
    return free + guidance * (logits - free)


class DescriptorGRU(nn.Module):
    """Video2Music's biGRU: per-step conditioning rows -> (note density, loudness)."""

    def __init__(self, in_dim: int, hidden: int = 64, layers: int = 2, dropout: float = 0.1):
        super().__init__()
        self.config = {"in_dim": in_dim, "hidden": hidden, "layers": layers, "dropout": dropout}
        self.gru = nn.GRU(
            in_dim,
            hidden,
            num_layers=layers,
            batch_first=True,
            bidirectional=True,
            dropout=dropout if layers > 1 else 0.0,
        )
        self.head = nn.Linear(2 * hidden, 2)

    def forward(self, video: torch.Tensor) -> torch.Tensor:
        y, _ = self.gru(video)
        return self.head(y)  # (B, T, 2): density, loudness
