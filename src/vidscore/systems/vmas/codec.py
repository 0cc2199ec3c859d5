"""VMAs' audio codec: residual vector quantisation of music at 50 frames a second, 4 codebooks.

VMAs (like MusicGen) reads music as EnCodec tokens: 4 residual codebooks at 50 frames a second.
The pretrained EnCodec cannot be downloaded here, so vidscore trains its own
(``vidscore train codec``). Two kinds, one interface (:class:`AudioCodec`):

* ``seanet``: EnCodec's own design: the SEANet encoder and decoder (``transformers``' EnCodec
  modules, built from a config without weights) around the quantiser, trained on EnCodec's
  reconstruction losses. Its discriminators are left out, and without them (and far more steps
  than a CPU gives) it does not learn pitch: after 1100 steps on the renders its reconstruction
  kept the mel envelope but not the notes (chroma r 0.15, SI-SNR -53 dB; 0.20 with no quantiser
  at all). It is the option for a GPU run.
* ``spectral`` (the default, shipped): the quantiser sits between a ConvNeXt encoder of
  log-magnitude STFT frames (window 4 hops, one frame per hop) and a ConvNeXt decoder that
  predicts them; audio comes back by Griffin-Lim (librosa). Frame-local and fast to train
  (0.2 s a step on 2 cores), it keeps the notes; its phase is Griffin-Lim's, so its SI-SNR is
  low by construction (an exact-magnitude Griffin-Lim round trip scores about -27 dB).

The quantiser is ``vector-quantize-pytorch``'s ResidualVQ: EMA codebooks, k-means
initialisation, dead-code restarts, and quantiser dropout so 1-4 codebooks all decode (EnCodec's
bandwidth sampling). (The ``encodec`` package itself imports torchaudio, which has no build for
this torch.)

:func:`load_encodec` reads a pretrained EnCodec (``facebook/encodec_32khz`` as MusicGen uses it,
or the 24 kHz one) from a local folder in the Hugging Face layout; it answers the same
:class:`AudioCodec` protocol the decoder is written against.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
import torch
from torch import nn

from vidscore.errors import ModelLoadError


class AudioCodec(Protocol):
    """What the decoder needs from a codec: tokens to audio and back, and their sizes."""

    sample_rate: int
    frame_rate: float
    codebooks: int
    cardinality: int

    def encode(self, audio: torch.Tensor, codebooks: int | None = None) -> torch.Tensor:
        """``(B, samples)`` float audio -> ``(B, K, frames)`` long codes."""
        ...

    def decode(self, codes: torch.Tensor) -> torch.Tensor:
        """``(B, K, frames)`` codes (any K up to :attr:`codebooks`) -> ``(B, samples)``."""
        ...


@dataclass(frozen=True)
class CodecConfig:
    """The codec's shape. ``ratios`` multiply to the hop (samples per frame)."""

    sample_rate: int = 16000
    filters: int = 16
    ratios: tuple[int, ...] = (8, 5, 4, 2)
    dim: int = 128
    lstm_layers: int = 2
    codebooks: int = 4
    codebook_size: int = 1024
    ema_decay: float = 0.99
    kind: str = "spectral"  # "spectral" (CPU-trainable) or "seanet" (EnCodec's waveform codec)
    channels: int = 256  # the spectral codec's ConvNeXt width
    blocks: int = 4  # ConvNeXt blocks on each side of the spectral codec
    griffin_lim_iters: int = 32

    def __post_init__(self) -> None:
        object.__setattr__(self, "ratios", tuple(int(r) for r in self.ratios))
        if self.sample_rate % self.hop:
            raise ValueError(f"a hop of {self.hop} does not divide {self.sample_rate} Hz")
        if not 1 <= self.codebooks <= 32 or self.codebook_size < 2:
            raise ValueError("codebooks must be 1-32 and codebook_size at least 2")
        if self.kind not in KINDS:
            raise ValueError(f"codec kind {self.kind!r}: one of {', '.join(KINDS)}")

    @property
    def hop(self) -> int:
        h = 1
        for r in self.ratios:
            h *= r
        return h

    @property
    def frame_rate(self) -> float:
        return self.sample_rate / self.hop

    def bitrate(self, codebooks: int | None = None) -> float:
        """Bits per second with the first ``codebooks`` codebooks."""
        n = self.codebooks if codebooks is None else codebooks
        return self.frame_rate * n * (self.codebook_size - 1).bit_length()

    def to_dict(self) -> dict:
        d = asdict(self)
        d["ratios"] = list(self.ratios)
        return d


KINDS = ("spectral", "seanet")
#: magnitude added before the log: about -60 dB below a full-scale sine's peak bin, so the
#: spectral codec spends nothing on the noise floor
FLOOR = 1e-2


class ConvNeXtBlock(nn.Module):
    """Vocos' block: depthwise conv, layer norm, pointwise MLP, scaled residual."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.dw = nn.Conv1d(channels, channels, 7, padding=3, groups=channels)
        self.norm = nn.LayerNorm(channels)
        self.mlp = nn.Sequential(
            nn.Linear(channels, 3 * channels), nn.GELU(), nn.Linear(3 * channels, channels)
        )
        self.scale = nn.Parameter(torch.full((channels,), 1e-2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.dw(x).transpose(1, 2)
        return x + (self.scale * self.mlp(self.norm(h))).transpose(1, 2)


class SpectralEncoder(nn.Module):
    """Log-magnitude STFT frames (window 4 hops, one frame per hop) -> ConvNeXt -> latents."""

    def __init__(self, cfg: CodecConfig) -> None:
        super().__init__()
        self.hop, self.n_fft = cfg.hop, 4 * cfg.hop
        bins = self.n_fft // 2 + 1
        self.inp = nn.Conv1d(bins, cfg.channels, 3, padding=1)
        self.blocks = nn.Sequential(*(ConvNeXtBlock(cfg.channels) for _ in range(cfg.blocks)))
        self.out = nn.Conv1d(cfg.channels, cfg.dim, 1)
        self.register_buffer("window", torch.hann_window(self.n_fft), persistent=False)

    def log_magnitude(self, audio: torch.Tensor) -> torch.Tensor:
        """``(B, 1, T * hop)`` -> ``(B, bins, T)``."""
        x = audio[:, 0]
        spec = torch.stft(x, self.n_fft, self.hop, window=self.window, return_complex=True)
        return (spec.abs()[..., : x.shape[-1] // self.hop] + FLOOR).log()

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        return self.out(self.blocks(self.inp(self.log_magnitude(audio))))


class SpectralDecoder(nn.Module):
    """Latents -> ConvNeXt -> each frame's log-magnitude spectrum (audio by Griffin-Lim)."""

    def __init__(self, cfg: CodecConfig) -> None:
        super().__init__()
        self.hop, self.n_fft, self.iters = cfg.hop, 4 * cfg.hop, cfg.griffin_lim_iters
        self.inp = nn.Conv1d(cfg.dim, cfg.channels, 3, padding=1)
        self.blocks = nn.Sequential(*(ConvNeXtBlock(cfg.channels) for _ in range(cfg.blocks)))
        self.norm = nn.LayerNorm(cfg.channels)
        self.out = nn.Linear(cfg.channels, self.n_fft // 2 + 1)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """``(B, dim, T)`` -> log-magnitudes ``(B, bins, T)``."""
        h = self.norm(self.blocks(self.inp(z)).transpose(1, 2))
        return self.out(h).transpose(1, 2)

    def audio(self, log_mag: torch.Tensor) -> torch.Tensor:
        """Log-magnitudes -> ``(B, 1, T * hop)`` waveforms, phase by Griffin-Lim (librosa)."""
        import librosa

        mag = (log_mag.exp() - FLOOR).clamp(min=0.0, max=1e3).numpy()
        n = log_mag.shape[-1] * self.hop
        # the frame past the end (the STFT's centred last frame) repeats the last one
        mag = np.concatenate([mag, mag[..., -1:]], axis=-1)
        wav = librosa.griffinlim(
            mag, n_iter=self.iters, hop_length=self.hop, n_fft=self.n_fft, length=n,
            random_state=0,
        )  # fmt: skip
        return torch.from_numpy(np.asarray(wav, dtype=np.float32)).reshape(-1, 1, n)


class Codec(nn.Module):
    """Encoder -> residual VQ -> decoder, spectral or SEANet (see the module docstring)."""

    def __init__(self, cfg: CodecConfig) -> None:
        super().__init__()
        from loguru import logger
        from vector_quantize_pytorch import ResidualVQ

        logger.disable("vector_quantize_pytorch")  # its k-means warns on every short batch
        self.cfg = cfg
        if cfg.kind == "spectral":
            self.encoder, self.decoder = SpectralEncoder(cfg), SpectralDecoder(cfg)
        else:
            self.encoder, self.decoder = _seanet(cfg)
        self.quantizer = ResidualVQ(
            dim=cfg.dim, num_quantizers=cfg.codebooks, codebook_size=cfg.codebook_size,
            decay=cfg.ema_decay, kmeans_init=True, kmeans_iters=10, threshold_ema_dead_code=2,
            quantize_dropout=True,
        )  # fmt: skip
        self.sample_rate = cfg.sample_rate
        self.frame_rate = cfg.frame_rate
        self.codebooks = cfg.codebooks
        self.cardinality = cfg.codebook_size

    def _pad(self, audio: torch.Tensor) -> torch.Tensor:
        """``(B, samples)`` -> ``(B, 1, samples)`` padded to whole frames."""
        n = audio.shape[-1]
        frames = -(-n // self.cfg.hop)
        return nn.functional.pad(audio, (0, frames * self.cfg.hop - n)).unsqueeze(1)

    def forward(
        self, audio: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Training pass: (prediction, target, codes, commitment loss): the waveform and the
        input for ``seanet``, log-magnitude spectra for ``spectral``. In train mode the
        quantiser drops a random number of its last codebooks (EnCodec's bandwidth sampling), so
        every prefix of the codebooks learns to decode."""
        n = audio.shape[-1]
        padded = self._pad(audio)
        z = self.encoder(padded).transpose(1, 2)
        q, codes, commit = self.quantizer(z)
        out = self.decoder(q.transpose(1, 2))
        if self.cfg.kind == "spectral":
            return out, self.encoder.log_magnitude(padded), codes.transpose(1, 2), commit.sum()
        return out[:, 0, :n], audio, codes.transpose(1, 2), commit.sum()

    @torch.no_grad()
    def encode(self, audio: torch.Tensor, codebooks: int | None = None) -> torch.Tensor:
        k = self.codebooks if codebooks is None else codebooks
        if not 1 <= k <= self.codebooks:
            raise ValueError(f"codebooks must be 1-{self.codebooks}, got {k}")
        z = self.encoder(self._pad(audio)).transpose(1, 2)
        was = self.quantizer.training
        self.quantizer.eval()  # no dropout, no EMA update
        _, codes, _ = self.quantizer(z)
        self.quantizer.train(was)
        return codes[..., :k].transpose(1, 2).contiguous()

    @torch.no_grad()
    def decode(self, codes: torch.Tensor) -> torch.Tensor:
        q = self.quantizer.get_output_from_indices(codes.transpose(1, 2))
        out = self.decoder(q.transpose(1, 2))
        if self.cfg.kind == "spectral":
            out = self.decoder.audio(out)
        return out[:, 0]

    def embeddings(self) -> torch.Tensor:
        """``(K, cardinality, dim)``: each codebook's vectors (VMAs' Eq. 2 maps the decoder's
        token distributions through them)."""
        return self.quantizer.codebooks.detach()


def _seanet(cfg: CodecConfig) -> tuple[nn.Module, nn.Module]:
    """EnCodec's SEANet encoder and decoder from ``transformers``, built without weights
    (imported only here: the spectral codec does not need transformers)."""
    from transformers import EncodecConfig
    from transformers.models.encodec.modeling_encodec import EncodecDecoder, EncodecEncoder

    hf = EncodecConfig(
        sampling_rate=cfg.sample_rate, num_filters=cfg.filters, upsampling_ratios=list(cfg.ratios),
        hidden_size=cfg.dim, num_lstm_layers=cfg.lstm_layers, codebook_size=cfg.codebook_size,
    )  # fmt: skip
    return EncodecEncoder(hf), EncodecDecoder(hf)


def build(config: dict) -> Codec:
    """A :class:`Codec` from a saved config dict."""
    return Codec(CodecConfig(**config))


class PretrainedEncodec:
    """A pretrained EnCodec (``transformers``' EncodecModel) as an :class:`AudioCodec`."""

    def __init__(self, model, codebooks: int = 4) -> None:
        cfg = model.config
        self.model = model.eval()
        self.sample_rate = int(cfg.sampling_rate)
        self.frame_rate = float(cfg.frame_rate)
        self.cardinality = int(cfg.codebook_size)
        self.codebooks = codebooks
        bits = self.frame_rate * (self.cardinality - 1).bit_length() / 1000  # kbps per codebook
        self.bandwidth = min(
            (b for b in cfg.target_bandwidths if b >= codebooks * bits - 1e-6),
            default=max(cfg.target_bandwidths),
        )

    @torch.no_grad()
    def encode(self, audio: torch.Tensor, codebooks: int | None = None) -> torch.Tensor:
        k = self.codebooks if codebooks is None else codebooks
        out = self.model.encode(audio.unsqueeze(1), bandwidth=self.bandwidth)
        return out.audio_codes[0, :, :k]  # (chunks=1, B, K, T) -> (B, k, T)

    @torch.no_grad()
    def decode(self, codes: torch.Tensor) -> torch.Tensor:
        return self.model.decode(codes.unsqueeze(0), [None])[0][:, 0]


def load_encodec(path: str | os.PathLike, codebooks: int = 4) -> PretrainedEncodec:
    """A pretrained EnCodec from a local folder in the Hugging Face layout (``config.json`` and
    the weights, as ``save_pretrained`` writes them or a hub cache snapshot holds them); never
    the network."""
    folder = Path(path)
    if not (folder / "config.json").is_file():
        raise ModelLoadError(f"{folder}: no config.json (an EnCodec folder in Hugging Face layout)")
    from transformers import EncodecModel

    try:
        model = EncodecModel.from_pretrained(str(folder), local_files_only=True)
    except (OSError, ValueError) as exc:
        raise ModelLoadError(f"{folder}: not a loadable EnCodec ({exc})") from exc
    return PretrainedEncodec(model, codebooks)
