"""``vidscore train codec``: train VMAs' codec on rendered music and score it on held-out renders.

The ``spectral`` codec (the default, :mod:`.codec`) learns to predict its input's log-magnitude
STFT frames (L1) through the quantiser. The ``seanet`` codec takes EnCodec's reconstruction loss
(Défossez et al. 2022): L1 on the waveform (weight 0.1) plus, at window sizes 2^6..2^11, L1 on
the mel spectrogram and L2 on its log; EnCodec's multi-scale STFT discriminators and loss
balancer are left out (they need far more steps than a CPU affords). Both add the quantiser's
commitment loss.

Each epoch takes one random 1-second crop of every training render (POP909 / SymMV train split,
:mod:`.renders`); the held-out scores (:func:`evaluate`) use the first seconds of the validation
renders at 1-4 codebooks."""

from __future__ import annotations

import os
import random
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from vidscore.errors import ModelLoadError
from vidscore.metrics.codec import chroma_correlation, mel_distance, si_snr
from vidscore.modules.checkpoint import read_manifest, save_module, write_manifest
from vidscore.modules.trainer import Progress, TrainConfig, Trainer, claim_main, leave_distributed
from vidscore.outputs import atomic_path, check_output_folder
from vidscore.systems.common.card import ModelFacts, WeightCard
from vidscore.systems.vmas.codec import Codec, CodecConfig
from vidscore.systems.vmas.renders import Render, load_renders

FILE = "codec.safetensors"
KIND = "vmas-codec"
MEL_WINDOWS = tuple(2**i for i in range(6, 12))


@dataclass(frozen=True)
class CodecTraining:
    """What the run reads: excerpt length, crop length, pieces per folder, held-out clips."""

    seconds: float = 20.0
    crop: float = 1.0
    limit: int = 0
    eval_clips: int = 24
    eval_seconds: float = 5.0

    def __post_init__(self) -> None:
        if not 0 < self.crop <= self.seconds:
            raise ValueError("--crop must be positive and at most the excerpt length")
        if self.eval_clips < 1 or self.eval_seconds <= 0:
            raise ValueError("eval_clips and eval_seconds must be positive")


class MelLoss(nn.Module):
    """EnCodec's frequency-domain loss: per window size, L1 of mel + L2 of log mel."""

    def __init__(self, sample_rate: int, windows: tuple[int, ...] = MEL_WINDOWS) -> None:
        super().__init__()
        import librosa

        self.windows = windows
        for w in windows:
            fb = librosa.filters.mel(sr=sample_rate, n_fft=w, n_mels=min(64, w // 4))
            self.register_buffer(f"fb{w}", torch.from_numpy(fb), persistent=False)
            self.register_buffer(f"win{w}", torch.hann_window(w), persistent=False)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        total = x.new_zeros(())
        for w in self.windows:
            fb, win = getattr(self, f"fb{w}"), getattr(self, f"win{w}")
            mx, my = (fb @ _magnitude(s, w, win) for s in (x, y))
            total = total + (mx - my).abs().mean()
            total = total + ((mx + 1e-5).log() - (my + 1e-5).log()).pow(2).mean()
        return total / len(self.windows)


def _magnitude(x: torch.Tensor, n_fft: int, window: torch.Tensor) -> torch.Tensor:
    spec = torch.stft(x, n_fft, hop_length=n_fft // 4, window=window, return_complex=True)
    return spec.abs()


def codec_loss(model: Codec, batch: torch.Tensor, mel: MelLoss) -> torch.Tensor:
    """EnCodec's reconstruction loss for the waveform codec; L1 between log-magnitude spectra
    for the spectral one (its output is a spectrum); plus the commitment loss."""
    out, target, _, commit = model(batch)
    if model.cfg.kind == "spectral":
        return (out - target).abs().mean() + commit
    return 0.1 * (out - target).abs().mean() + mel(out, target) + commit


def crops(renders: list[Render], opts: CodecTraining):
    """The collate function: one random crop of ``opts.crop`` seconds per render."""

    def collate(items: list[Render], rng: random.Random) -> torch.Tensor:
        n = round(opts.crop * items[0].rate)
        rows = []
        for r in items:
            start = rng.randrange(0, len(r.audio) - n + 1)
            rows.append(torch.from_numpy(r.audio[start : start + n]))
        return torch.stack(rows)

    return collate


@torch.no_grad()
def evaluate(codec, clips: list[np.ndarray], rate: int) -> dict:
    """SI-SNR, multi-scale mel distance and chroma correlation at each number of codebooks, means
    over ``clips``; silence (all zeros) as the floor the reconstruction must beat."""
    out: dict = {}
    for k in range(1, codec.codebooks + 1):
        rows = []
        for clip in clips:
            x = torch.from_numpy(clip)[None]
            y = codec.decode(codec.encode(x, k))[0, : len(clip)].numpy()
            rows.append(scores(clip, y, rate))
        out[f"{k} codebooks"] = mean_scores(rows)
    out["silence"] = mean_scores([scores(c, np.zeros_like(c), rate) for c in clips])
    return out


def scores(x: np.ndarray, y: np.ndarray, rate: int) -> dict:
    """SI-SNR (undefined for a silent ``y``), mel distance and chroma r of ``y`` against ``x``."""
    return {
        "si_snr_db": si_snr(x, y) if np.any(y) else float("nan"),  # undefined for silence
        "mel_distance": mel_distance(x, y, rate),
        "chroma_r": chroma_correlation(x, y, rate),
    }


def mean_scores(rows: list[dict]) -> dict:
    """Means of :func:`scores` rows (None where undefined), rounded for the card."""
    means = {k: float(np.mean([r[k] for r in rows])) for k in rows[0]}
    return {k: None if np.isnan(v) else round(v, 3) for k, v in means.items()}


def held_clips(renders: list[Render], opts: CodecTraining, split: str) -> list[np.ndarray]:
    """The first ``eval_seconds`` of up to ``eval_clips`` renders of ``split``."""
    chosen = [r for r in renders if r.split == split][: opts.eval_clips]
    return [r.audio[: round(opts.eval_seconds * r.rate)] for r in chosen]


def run(
    data: list[str | os.PathLike],
    out: str | os.PathLike,
    *,
    model_cfg: CodecConfig | None = None,
    cfg: TrainConfig | None = None,
    opts: CodecTraining | None = None,
    cache: str | os.PathLike | None = None,
    command: str = "vidscore train codec",
    progress: Progress | None = None,
    overwrite: bool = False,
) -> dict | None:
    """Train the codec into ``out`` (see the module docstring); return its held-out scores."""
    from vidscore.errors import InputError

    cfg = cfg or TrainConfig()
    opts = opts or CodecTraining()
    model_cfg = model_cfg or CodecConfig()
    out_dir = check_output_folder(out, (FILE,), overwrite=overwrite)
    with claim_main([out_dir / FILE]):
        renders = load_renders(
            data, seconds=opts.seconds, rate=model_cfg.sample_rate, limit=opts.limit, cache=cache
        )
        train = [r for r in renders if r.split == "train"]
        held = held_clips(renders, opts, "val") or held_clips(renders, opts, "test")
        if not train or not held:
            raise InputError(f"{data}: need training and held-out pieces long enough to render")
        torch.manual_seed(cfg.seed)
        model = Codec(model_cfg)
        mel = MelLoss(model_cfg.sample_rate)
        trainer = Trainer(cfg, state_dir=out_dir / ".resume", progress=progress)
        model = trainer.fit(
            model, train, crops(train, opts), lambda m, b: codec_loss(m, b, mel), name="codec"
        )
        try:
            if not trainer.world.is_main:
                return None
            metrics = evaluate(model, held, model_cfg.sample_rate)
            metrics["renders"] = {
                s: sum(r.split == s for r in renders) for s in ("train", "val", "test")
            }
            config = model_cfg.to_dict()
            sha = save_module(model, out_dir / FILE, kind=KIND, config=config, overwrite=overwrite)
            facts = ModelFacts.of(FILE, f"{model_cfg.kind} + residual VQ codec", model, config, sha)
            training = {**asdict(cfg), **asdict(opts), "data": [Path(d).name for d in data]}
            entry = {"config": config, "metrics": metrics, "train": training, "command": command}
            update_manifest(out_dir, FILE, sha, "codec", entry)
            with atomic_path(out_dir / "CODEC.md", overwrite=True) as tmp:
                tmp.write_text(card(facts, model_cfg, metrics, training, command).markdown())
            shutil.rmtree(out_dir / ".resume", ignore_errors=True)
            return metrics
        finally:
            leave_distributed()


def update_manifest(
    folder: Path, file: str, sha: str, part: str, entry: dict, **top: object
) -> None:
    """Add one model (``part``: codec or decoder) to the VMAs folder's manifest, keeping the
    other's entry (the two are trained by two commands into one folder); ``top`` sets further
    top-level keys (the decoder's curve calibration)."""
    try:
        data = read_manifest(folder, system="vmas")
    except ModelLoadError:
        data = {"system": "vmas", "files": {}}
    data.pop("format", None)
    data["files"][file] = sha
    data[part] = entry
    data.update(top)
    write_manifest(folder, data, overwrite=True)


def card(
    facts: ModelFacts, model_cfg: CodecConfig, metrics: dict, training: dict, command: str
) -> WeightCard:
    lines = [
        f"Validation renders, the first {training['eval_seconds']:g} s of "
        f"{min(training['eval_clips'], metrics['renders']['val'])}, encoded with the first K "
        "codebooks and decoded (SI-SNR in dB, higher is better; multi-scale log-mel distance, "
        "lower is better; chroma correlation, higher is better; `vidscore.metrics.codec`). "
        "Silence is the floor.",
        "",
        "| codebooks | bit rate | SI-SNR dB | mel distance | chroma r |",
        "|---|---|---|---|---|",
    ]
    for k in range(1, model_cfg.codebooks + 1):
        m = metrics[f"{k} codebooks"]
        rate = f"{model_cfg.bitrate(k) / 1000:g} kbps"
        lines.append(f"| {k} | {rate} | {m['si_snr_db']} | {m['mel_distance']} | {m['chroma_r']} |")
    s = metrics["silence"]
    lines.append(f"| silence | 0 | undefined | {s['mel_distance']} | {s['chroma_r']} |")
    return WeightCard(
        title=f"VMAs audio codec ({model_cfg.kind} + residual VQ)",
        system="vmas",
        data=(
            f"{' + '.join(training['data'])}: one {training['seconds']:g} s excerpt per piece, "
            "rendered at 16 kHz through vidscore's synthesiser (FluidSynth, General MIDI "
            "SoundFont) in the piano, strings or band preset by a hash of the piece id; "
            f"renders per split {metrics['renders']} (hash-of-id 80/10/10). Each epoch takes one "
            f"random {training['crop']:g} s crop of every training render."
        ),
        data_licence=(
            "POP909: MIT. SymMV: CC BY-NC-SA 4.0 (non-commercial; these weights inherit it when "
            "SymMV is among the data)."
        ),
        command=command,
        models=[facts],
        training=training,
        metrics_markdown="\n".join(lines),
        intended_use=(
            "Turning music into the 4 token streams VMAs' decoder predicts, and back, on a CPU."
        ),
        limitations=[
            "The spectral codec's audio takes its phase from Griffin-Lim: notes and timbre "
            "survive (chroma r, mel distance) but it sounds phasey and its SI-SNR is low by "
            "construction. No adversarial training (EnCodec's discriminators) for either kind.",
            "Knows only synthesised General MIDI piano, strings, bass and drums at 16 kHz mono; "
            "recordings, voices and other instruments are out of its domain.",
            "Small, so that it encodes and decodes a minute of audio in seconds on 2 CPU cores; "
            "EnCodec's published models are far larger and trained on far more audio.",
        ],
    )
