"""Training Diff-BGM's denoiser on the shared trainer: noise prediction on 8-bar windows.

Each step draws a timestep uniformly from the schedule's 1000, noises the window's roll (scaled
from 0/1 to -1/+1) with the reference's scaled-linear schedule, and regresses the noise (MSE, as
the reference). Conditions are the window's own curves; a share ``cond_drop`` of the samples is
trained on the null token instead (classifier-free guidance; the reference never drops them).
The SAC-Att mask at training comes from the music's own section and phrase starts (its boundary
curve), the music-side counterpart of the clip's cuts at compose time.

``vidscore train diffbgm`` (:func:`run`) trains on the POP909 pieces of the V-MusProd corpus
(melody + accompaniment in one roll, key-normalised, hash split), conditioned on their own
curves, or with ``features`` on BGM909's video features (:mod:`.bgm909`; the reference's
conditioning, pieces without features left out), and writes ``diffbgm.safetensors``,
``manifest.json`` (with the curves' calibration) and ``CARD.md``. Held-out score: the denoising
loss on validation windows at fixed timesteps and noise, fed the windows' own curves, the curves
shuffled in time and the null condition: the gaps are what the conditions carry through the model.
"""

from __future__ import annotations

import os
import random
import shutil
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch

from vidscore.curves.contract import shuffled_bars
from vidscore.errors import InputError
from vidscore.modules.checkpoint import save_module, write_manifest
from vidscore.modules.trainer import (
    Progress,
    TrainConfig,
    Trainer,
    claim_main,
    leave_distributed,
    resolve_device,
)
from vidscore.outputs import atomic_path, check_output_folder
from vidscore.systems.common.card import ModelFacts, WeightCard
from vidscore.systems.diffbgm import bgm909
from vidscore.systems.diffbgm.data import Conditions, Window, curve_conditions, windows
from vidscore.systems.diffbgm.model import DiffBGM, DiffBGMConfig, scheduler
from vidscore.systems.diffbgm.sacatt import shot_mask
from vidscore.systems.vmusprod.data import load_pieces
from vidscore.systems.vmusprod.train import default_cache

FILE = "diffbgm.safetensors"
KIND = "diffbgm-unet"
CONDITIONS = ("real", "shuffled", "null")
#: timesteps the held-out loss is measured at: three under the condition switch, three above
EVAL_T = (20, 100, 180, 300, 600, 900)


@dataclass(frozen=True)
class DiffBGMTraining:
    """What ``vidscore train diffbgm`` takes besides the shared :class:`TrainConfig`."""

    cond_drop: float = 0.2  # share of samples trained on the null condition (Polyffusion's 0.2)
    hop_bars: int = 1  # a training window starts every hop_bars bars (the reference: 1)
    limit: int = 0  # only the first N pieces of each folder (smoke runs)
    eval_windows: int = 256  # held-out windows scored (every 8 bars of the validation pieces)
    features: str = ""  # a BGM909 features folder: condition on its video features, not curves

    def __post_init__(self) -> None:
        if not 0 <= self.cond_drop < 1:
            raise ValueError(f"cond_drop {self.cond_drop}: must be 0 to below 1")
        if not 1 <= self.hop_bars <= 8:
            raise ValueError(f"hop_bars {self.hop_bars}: 1 to 8")
        if self.limit < 0 or self.eval_windows < 1:
            raise ValueError("limit >= 0 and eval_windows >= 1")


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
    trainer: Trainer, items: list[Window], cfg: DiffBGMConfig, opts: DiffBGMTraining
) -> DiffBGM:
    """A denoiser trained on ``items`` with the shared trainer (AdamW, warm-up, resumable)."""
    torch.manual_seed(trainer.cfg.seed)
    noise_schedule = scheduler(cfg, "ddpm")
    return trainer.fit(
        DiffBGM(cfg),
        items,
        lambda items, rng: collate(items, rng, cfg, opts.cond_drop),
        lambda model, batch: denoising_loss(model, batch, noise_schedule),
        name="diffbgm",
    )


@torch.no_grad()
def evaluate(model: DiffBGM, held: dict[str, list[Window]]) -> dict:
    """Mean denoising loss per condition (``held``: condition -> windows), each window noised at
    every timestep of :data:`EVAL_T` with the same noise; below and above the switch apart."""
    model.eval()
    noise_schedule = scheduler(model.cfg, "ddpm")
    out = {}
    for condition, items in held.items():
        gen = torch.Generator().manual_seed(0)
        low, high = [], []
        for i in range(0, len(items), 32):
            chunk = items[i : i + 32]
            for t in EVAL_T:
                batch = collate(chunk, random.Random(0), model.cfg, 0.0)
                batch["noise"] = torch.randn(batch["x0"].shape, generator=gen)
                batch["t"] = torch.full((len(chunk),), t)
                batch["dropped"][:] = condition == "null"
                loss = float(denoising_loss(model, batch, noise_schedule)) * len(chunk)
                (low if t <= model.cfg.switch_t else high).append(loss)
        n = len(items) * len(EVAL_T) / 2
        out[condition] = {
            "loss_dynamic": round(sum(low) / n, 5),
            "loss_semantic": round(sum(high) / n, 5),
        }
    return out


def conditioned(pieces, features: Path | None) -> list[tuple[object, Conditions]]:
    """Each piece with its conditions: its own curves, or its BGM909 features (pieces that have
    none are left out)."""
    if features is None:
        return [(p, curve_conditions(p)) for p in pieces]
    return bgm909.paired(features, pieces)


def shuffled_conditions(c: Conditions, seed: int) -> Conditions:
    """The conditions with their bars moved whole into a random order (the music stays)."""
    return Conditions(*(shuffled_bars(a, seed) for a in (c.dynamic, c.semantic, c.starts)))


def held_out(pairs, cfg: DiffBGMConfig, count: int) -> dict[str, list[Window]]:
    """Validation windows every 8 bars, fed their own conditions, shuffled ones, or none."""
    real, shuffled = [], []
    for k, (p, c) in enumerate(pairs):
        real += windows(p, cfg, 8, c)
        shuffled += windows(p, cfg, 8, shuffled_conditions(c, k))
    return {"real": real[:count], "shuffled": shuffled[:count], "null": real[:count]}


def run(
    data: list[str | os.PathLike],
    out: str | os.PathLike,
    *,
    model_cfg: DiffBGMConfig | None = None,
    cfg: TrainConfig | None = None,
    opts: DiffBGMTraining | None = None,
    cache: str | os.PathLike | None = None,
    command: str = "vidscore train diffbgm",
    progress: Progress | None = None,
    overwrite: bool = False,
) -> dict | None:
    """Train the denoiser into ``out`` (see the module docstring); return its held-out scores."""
    cfg = cfg or TrainConfig()
    opts = opts or DiffBGMTraining()
    model_cfg = model_cfg or DiffBGMConfig()
    resolve_device(cfg.device)
    features = bgm909.check_folder(opts.features) if opts.features else None
    out_dir = check_output_folder(out, (FILE,), overwrite=overwrite)
    with claim_main([out_dir / FILE]):
        corpus = load_pieces(data, limit=opts.limit, cache=cache or default_cache())
        pairs = {split: conditioned(pieces, features) for split, pieces in corpus.splits.items()}
        train = pairs.get("train", [])
        if features is not None:
            if not train:
                raise InputError(f"{features}: no features for any training piece of {data}")
            first = train[0][1]
            model_cfg = replace(
                model_cfg, conditions="bgm909", curve_input=False,
                dynamic_dim=first.dynamic.shape[1], semantic_dim=first.semantic.shape[1],
            )  # fmt: skip
        held = pairs.get("val") or pairs.get("test")
        if not held:
            raise InputError(f"{data}: no validation or test piece to score the model on")
        items = [w for p, c in train for w in windows(p, model_cfg, opts.hop_bars, c)]
        trainer = Trainer(cfg, state_dir=out_dir / ".resume", progress=progress)
        model = fit(trainer, items, model_cfg, opts)
        try:
            if not trainer.world.is_main:
                return None
            metrics = evaluate(model, held_out(held, model_cfg, opts.eval_windows))
            metrics["pieces"] = {k: len(v) for k, v in corpus.splits.items()}
            if features is not None:
                metrics["pieces with features"] = {k: len(v) for k, v in pairs.items()}
            metrics["windows"] = len(items)
            config = asdict(model_cfg)
            sha = save_module(model, out_dir / FILE, kind=KIND, config=config,
                              overwrite=overwrite)  # fmt: skip
            facts = ModelFacts.of(FILE, "piano-roll U-Net", model, config, sha)
            training = {**asdict(cfg), **asdict(opts), "data": [Path(d).name for d in data]}
            training["features"] = features.name if features is not None else ""
            write_manifest(
                out_dir,
                {"system": "diffbgm", "files": {FILE: sha}, "calibration":
                 corpus.calibration.to_dict(), "config": config, "metrics": metrics,
                 "train": training, "command": command},
                overwrite=True,
            )  # fmt: skip
            with atomic_path(out_dir / "CARD.md", overwrite=True) as tmp:
                tmp.write_text(card(facts, metrics, training, command).markdown())
            shutil.rmtree(out_dir / ".resume", ignore_errors=True)
            return metrics
        finally:
            leave_distributed()


def card(facts: ModelFacts, metrics: dict, training: dict, command: str) -> WeightCard:
    lines = [
        f"Validation split, {metrics['pieces'].get('val', 0)} pieces, windows every 8 bars, "
        f"each noised at t = {', '.join(map(str, EVAL_T))} with fixed noise; mean squared error "
        "of the predicted noise, fed the windows' own curves, the curves shuffled in time "
        "(bars moved whole) and the null condition. The dynamic curves condition t <= 200, "
        "the semantic ones t > 200 (the condition switch).",
        "",
        "| curves | loss, t <= 200 (dynamic) | loss, t > 200 (semantic) |",
        "|---|---|---|",
    ]
    for c in CONDITIONS:
        m = metrics[c]
        lines.append(f"| {c} | {m['loss_dynamic']} | {m['loss_semantic']} |")
    real, null = metrics["real"], metrics["null"]
    gaps = [100 * (1 - real[k] / null[k]) for k in ("loss_dynamic", "loss_semantic")]
    steps = -(-metrics["windows"] // training["batch_size"]) * training["epochs"]
    return WeightCard(
        title="Diff-BGM piano-roll U-Net",
        system="diffbgm",
        data=(
            f"{' + '.join(training['data'])}, hash-of-id 80/10/10 split, usable pieces per split "
            f"{metrics['pieces']}, {metrics['windows']} training windows of 8 bars (one every "
            f"{training['hop_bars']} bars). Melody and accompaniment in one roll, key-normalised "
            "to C major / A minor, on 16ths; "
            + (
                f"each window conditioned on BGM909's video features ({training['features']}: "
                "CLIP2Video visual, BLIP caption), read onto its beats by share of the song."
                if training["features"]
                else "each window conditioned on its own control curves per beat "
                "(vidscore/curves), which stand in for the video at training."
            )
        ),
        data_licence="POP909: MIT. SymMV (if given): CC BY-NC-SA 4.0, non-commercial use.",
        command=command,
        models=[facts],
        training={"diffbgm": training["epochs"]},
        metrics_markdown="\n".join(lines),
        intended_use="Piano for short videos on a CPU, via `vidscore compose --system diffbgm`.",
        limitations=[
            "No paired video: the model follows curves measured from music; that the clip's "
            "curves are the right asks is a design choice (docs/compose.md), not learnt.",
            f"A CPU-sized U-Net (width {facts.config['width']}, {facts.config['pitches']} "
            f"pitches) trained for {steps} optimizer steps, against the paper's 41 M parameters "
            "on a GPU; the roll is cropped to its pitch range.",
            f"Fed its own curves, its held-out loss is {gaps[0]:.2f}% (t <= 200) and "
            f"{gaps[1]:.2f}% (t > 200) below the null condition's: "
            + ("it has not learnt to use them yet." if max(gaps) < 1 else "what they carry."),
        ],
    )
