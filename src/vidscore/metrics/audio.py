"""Audio quality as VMAs reports it: Fréchet Audio Distance and KL, with a pluggable embedder.

* **FAD** (Kilgour et al. 2019): fit a Gaussian to the frame embeddings of the reference audio and
  one to the generated audio; FAD = |mu_r - mu_g|^2 + Tr(S_r + S_g - 2 (S_r S_g)^(1/2)).
* **KL** (as AudioLDM / VMAs): for paired reference and generated clips, KL(p_ref || p_gen) of the
  classifier's label distributions (clip-level mean of frame probabilities), averaged.

Embedders (``--embedder``): ``torchscript:PATH`` loads any exported audio network from a local file
(VGGish, PANNs and others export to TorchScript; the module maps ``(batch, samples)`` at its
sample rate to embeddings, or to ``(embeddings, logits)`` for KL); ``clap:PATH`` loads a CLAP model
in Hugging Face layout from a local folder or cache (embeddings only). ``melstats`` needs no model:
log-mel frame statistics, useful for relative comparisons only; its numbers are not comparable
with published FAD.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Protocol

import numpy as np

from vidscore.errors import ModelLoadError, UsageError


class AudioEmbedder(Protocol):
    name: str
    sample_rate: int

    def embed(self, y: np.ndarray) -> np.ndarray: ...  # (frames, D)

    def classify(self, y: np.ndarray) -> np.ndarray | None: ...  # (C,) probabilities or None


class MelStats:
    """Model-free frames: 1-s windows of 64-band log-mel mean and std."""

    name = "melstats"
    sample_rate = 16000

    def embed(self, y: np.ndarray) -> np.ndarray:
        import librosa

        mel = librosa.power_to_db(
            librosa.feature.melspectrogram(y=y, sr=self.sample_rate, n_mels=64, hop_length=160)
            + 1e-10
        )
        per = 100
        n = max(1, mel.shape[1] // per)
        return np.stack(
            [
                np.concatenate(
                    [
                        mel[:, i * per : (i + 1) * per].mean(1),
                        mel[:, i * per : (i + 1) * per].std(1),
                    ]
                )
                for i in range(n)
            ]
        ).astype(np.float32)

    def classify(self, y: np.ndarray) -> np.ndarray | None:
        return None


def _windows(y: np.ndarray, size: int) -> np.ndarray:
    n = max(1, int(np.ceil(len(y) / size)))
    out = np.zeros((n, size), dtype=np.float32)
    for i in range(n):
        seg = y[i * size : (i + 1) * size]
        out[i, : len(seg)] = seg
    return out


class TorchScriptEmbedder:
    """Any TorchScript audio network from a local file: ``(B, samples) -> emb`` or
    ``(emb, logits)``."""

    def __init__(
        self, path: str | os.PathLike, *, sample_rate: int = 16000, window_s: float = 0.96
    ) -> None:
        import torch

        p = Path(path)
        if not p.is_file():
            raise ModelLoadError(f"{p}: TorchScript audio model not found")
        try:
            self.model = torch.jit.load(str(p), map_location="cpu").eval()
        except Exception as exc:
            raise ModelLoadError(f"{p}: not a TorchScript model ({exc})") from exc
        self.name = f"torchscript:{p.name}"
        self.sample_rate = sample_rate
        self.window = round(window_s * sample_rate)
        self._torch = torch

    def _run(self, y: np.ndarray):
        with self._torch.no_grad():
            return self.model(self._torch.from_numpy(_windows(y, self.window)))

    def embed(self, y: np.ndarray) -> np.ndarray:
        out = self._run(y)
        emb = out[0] if isinstance(out, tuple | list) else out
        return emb.numpy().astype(np.float32)

    def classify(self, y: np.ndarray) -> np.ndarray | None:
        out = self._run(y)
        if not isinstance(out, tuple | list):
            return None
        probs = self._torch.softmax(out[1], dim=-1).mean(0)
        return probs.numpy()


class ClapEmbedder:
    """CLAP audio embeddings (``transformers``) from a local folder or the local hub cache."""

    def __init__(self, spec: str) -> None:
        from transformers import ClapModel, ClapProcessor

        from vidscore.hub import load_pretrained

        self.model, self.processor, path = load_pretrained(ClapModel, ClapProcessor, spec, "CLAP")
        self.name = f"clap:{Path(path).name}"
        self.sample_rate = int(self.processor.feature_extractor.sampling_rate)

    def embed(self, y: np.ndarray) -> np.ndarray:
        import torch

        fe = self.processor.feature_extractor
        size = int(getattr(fe, "nb_max_samples", 10 * self.sample_rate))  # CLAP's clip length
        chunks = list(_windows(y, size))
        with torch.no_grad():
            # chunks are exactly CLAP's clip length, so "rand_trunc" never crops (deterministic);
            # "fusion" is only for models trained with it
            fusion = bool(getattr(self.model.config.audio_config, "enable_fusion", False))
            inputs = self.processor(
                audio=chunks,
                sampling_rate=self.sample_rate,
                return_tensors="pt",
                truncation="fusion" if fusion else "rand_trunc",
            )
            f = self.model.get_audio_features(**inputs)
            f = getattr(f, "pooler_output", f)
        return f.numpy().astype(np.float32)

    def classify(self, y: np.ndarray) -> np.ndarray | None:
        return None


def make_embedder(spec: str) -> AudioEmbedder:
    if spec == "melstats":
        return MelStats()
    if spec.startswith("torchscript:") and len(spec) > 12:
        return TorchScriptEmbedder(spec[12:])
    if spec.startswith("clap:") and len(spec) > 5:
        return ClapEmbedder(spec[5:])
    raise UsageError(f"--embedder {spec!r}: melstats, torchscript:PATH or clap:PATH")


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Fréchet distance between Gaussians fitted to the rows of ``a`` and ``b``."""
    from scipy import linalg

    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if len(a) < 2 or len(b) < 2:
        return float("nan")
    mu_a, mu_b = a.mean(0), b.mean(0)
    s_a, s_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    covmean = linalg.sqrtm(np.atleast_2d(s_a) @ np.atleast_2d(s_b))
    covmean = (covmean[0] if isinstance(covmean, tuple) else covmean).real
    return float(((mu_a - mu_b) ** 2).sum() + np.trace(s_a) + np.trace(s_b) - 2 * np.trace(covmean))


def kl_divergence(p_ref: np.ndarray, p_gen: np.ndarray, eps: float = 1e-8) -> float:
    p, q = np.asarray(p_ref, float) + eps, np.asarray(p_gen, float) + eps
    p, q = p / p.sum(), q / q.sum()
    return float(np.sum(p * np.log(p / q)))


def audio_quality(
    reference: list[np.ndarray], generated: list[np.ndarray], embedder: AudioEmbedder
) -> dict[str, float]:
    """FAD over all frames; KL over pairs (same order) when the embedder classifies."""
    ref = np.concatenate([embedder.embed(y) for y in reference])
    gen = np.concatenate([embedder.embed(y) for y in generated])
    out = {"FAD": frechet_distance(ref, gen), "embedder": embedder.name}
    kls = []
    for r, g in zip(reference, generated, strict=False):
        pr, pg = embedder.classify(r), embedder.classify(g)
        if pr is not None and pg is not None:
            kls.append(kl_divergence(pr, pg))
    out["KL"] = float(np.mean(kls)) if kls else float("nan")
    return out
