"""``vidscore train vmusprod --stage chord|melody|accompaniment``: one V-MusProd stage at a time.

The paper trains its three transformers independently with cross-entropy and teacher forcing
(Sec. 4.3); so does this module, each stage into ``STAGE.safetensors`` of the same weights folder,
whose ``manifest.json`` and ``CARD.md`` gather every stage trained so far. ``--stage direct`` and
``--stage music`` train the ablations of the paper's Table 2 (:mod:`.model`); they go into a
folder of their own, and sample with the chord stage of the shipped weights. Each epoch draws
``windows_per_piece`` random windows of ``bars`` bars from every training piece; 20% of them
(``cond_drop``) train on the null condition (no curves), so the model also composes without
controls and classifier-free guidance can strengthen them.

Held-out scores (the validation split, fixed windows): the per-token loss and the accuracy of
the attributes the stage writes, fed the window's own curves, the same curves shuffled in time
within the piece, and the null condition: the gap between the first two is what the curves
carry through the model.
"""

from __future__ import annotations

import json
import os
import random
import shutil
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch

from vidscore.curves.contract import shuffled_bars
from vidscore.errors import UsageError
from vidscore.modules.checkpoint import MANIFEST, read_manifest, save_module, write_manifest
from vidscore.modules.trainer import (
    Progress,
    TrainConfig,
    Trainer,
    claim_main,
    leave_distributed,
    resolve_device,
)
from vidscore.music.tokens import CHORD, FIELDS, NOTE, RHYTHM
from vidscore.outputs import atomic_path, check_output_folder, user_cache
from vidscore.systems.common.card import ModelFacts, WeightCard
from vidscore.systems.vmusprod.data import Corpus, Piece, load_pieces
from vidscore.systems.vmusprod.model import (
    ABLATIONS,
    CARRIES,
    CONTROLLED,
    STAGES,
    VMPConfig,
    build,
    cp_loss,
)
from vidscore.systems.vmusprod.windows import batch_of, make_window, random_window

CONDITIONS = ("real", "shuffled", "null")


@dataclass(frozen=True)
class VMusProdTraining:
    """What ``vidscore train vmusprod`` takes besides the shared :class:`TrainConfig`."""

    stage: str = "chord"
    bars: int = 8
    windows_per_piece: int = 2
    cond_drop: float = 0.2
    max_len: int = 768
    limit: int = 0  # only the first N pieces of each folder (smoke runs)
    eval_windows: int = 4  # held-out windows per piece

    def __post_init__(self) -> None:
        if self.stage not in STAGES + ABLATIONS:
            raise ValueError(f"stage {self.stage!r}: one of {', '.join(STAGES + ABLATIONS)}")
        if not 1 <= self.bars <= 16:
            raise ValueError(f"bars {self.bars}: 1 to 16")
        if not 0 <= self.cond_drop < 1:
            raise ValueError(f"cond_drop {self.cond_drop}: 0 to below 1")
        if self.windows_per_piece < 1 or self.max_len < 32:
            raise ValueError("windows_per_piece >= 1 and max_len >= 32")


def default_cache() -> Path:
    """Where built pieces are kept between runs (never inside a weights folder)."""
    return user_cache()


def shuffled_piece(piece: Piece, seed: int) -> Piece:
    """The piece with its ranked curves (and paired video) permuted in time (bars moved whole)."""

    def moved(a: np.ndarray) -> np.ndarray:
        return shuffled_bars(a[: piece.n_beats], seed)

    video = None if piece.video is None else {k: moved(v) for k, v in piece.video.items()}
    return replace(piece, cond=moved(piece.cond), video=video)


def eval_windows(pieces: list[Piece], stage: str, bars: int, per_piece: int, condition: str):
    """Fixed held-out windows: the first ``per_piece`` whole windows of each piece."""
    out = []
    for k, p in enumerate(pieces):
        fed = shuffled_piece(p, k) if condition == "shuffled" else p
        for w in range(min(per_piece, max(1, p.n_bars // bars))):
            out.append(
                make_window(fed, stage, w * bars, min(bars, p.n_bars), null=condition == "null")
            )
    return out


@torch.no_grad()
def evaluate(
    model: torch.nn.Module, pieces: list[Piece], opts: VMusProdTraining, condition: str = "real"
) -> dict:
    """Mean loss per window and the accuracy of each written attribute (teacher-forced)."""
    model.eval()
    windows = eval_windows(pieces, opts.stage, opts.bars, opts.eval_windows, condition)
    losses = []
    right: dict[str, list[float]] = {}
    for i in range(0, len(windows), 16):
        batch = batch_of(windows[i : i + 16], opts.max_len)
        logits = model(batch)
        losses.append(float(cp_loss(logits, batch["target"])))
        target = batch["target"]
        types = target[..., 0]
        real = types > 0
        right.setdefault("type", []).append(
            float((logits["type"].argmax(-1)[real] == types[real]).float().mean())
        )
        for kind in (RHYTHM, CHORD, NOTE):
            where = types == kind
            if not where.any():
                continue
            for k in CARRIES[kind]:
                j = FIELDS.index(k)
                hit = logits[k].argmax(-1)[where] == target[..., j][where]
                right.setdefault(k, []).append(float(hit.float().mean()))
    return {
        "loss": round(float(np.mean(losses)), 4),
        **{f"acc_{k}": round(float(np.mean(v)), 4) for k, v in right.items()},
    }


def run(
    data: list[str | os.PathLike],
    out: str | os.PathLike,
    *,
    model_cfg: VMPConfig | None = None,
    cfg: TrainConfig | None = None,
    opts: VMusProdTraining | None = None,
    cache: str | os.PathLike | None = None,
    command: str = "vidscore train vmusprod",
    progress: Progress | None = None,
    overwrite: bool = False,
) -> dict | None:
    """Train one stage into ``out`` (see the module docstring); return its held-out scores."""
    cfg = cfg or TrainConfig()
    opts = opts or VMusProdTraining()
    stage = opts.stage
    model_cfg = VMPConfig(**{**(model_cfg or VMPConfig()).to_dict(), "stage": stage})
    resolve_device(cfg.device)
    file = f"{stage}.safetensors"
    out_dir = check_output_folder(out, (file,), overwrite=overwrite)
    with claim_main([out_dir / file]):
        corpus = load_pieces(data, limit=opts.limit, cache=cache or default_cache())
        _check_calibration(out_dir, corpus)
        if stage in CONTROLLED:  # the controller reads the paired video's streams, if any
            dims = corpus.video_dims
            model_cfg = replace(
                model_cfg, semantic_dim=dims.get("semantic", 0), colour_dim=dims.get("colour", 0)
            )
        train = [p for p in corpus["train"] for _ in range(opts.windows_per_piece)]
        trainer = Trainer(cfg, state_dir=out_dir / ".resume", progress=progress)
        torch.manual_seed(cfg.seed)
        model = build(model_cfg)

        def collate(items: list[Piece], rng: random.Random) -> dict:
            windows = [random_window(p, stage, opts.bars, rng, opts.cond_drop) for p in items]
            return batch_of(windows, opts.max_len)

        model = trainer.fit(
            model, train, collate, lambda m, b: cp_loss(m(b), b["target"]), name=stage
        )
        try:
            if not trainer.world.is_main:
                return None
            held = corpus["val"] or corpus["test"]
            metrics = {c: evaluate(model, held, opts, c) for c in CONDITIONS}
            metrics["pieces"] = {k: len(v) for k, v in corpus.splits.items()}
            sha = save_module(model, out_dir / file, kind=f"vmusprod-{stage}",
                              config=model_cfg.to_dict(), overwrite=overwrite)  # fmt: skip
            facts = ModelFacts.of(file, f"{stage} transformer", model, model_cfg.to_dict(), sha)
            _record(out_dir, corpus, stage, facts, metrics,
                    {**asdict(cfg), **asdict(opts), "data": [Path(d).name for d in data]},
                    command)  # fmt: skip
            shutil.rmtree(out_dir / ".resume", ignore_errors=True)
            return metrics
        finally:
            leave_distributed()


def _check_calibration(out_dir: Path, corpus: Corpus) -> None:
    """Stages of one folder must share the curves' calibration (the same training music)."""
    if not (out_dir / MANIFEST).is_file():
        return
    have = read_manifest(out_dir, system="vmusprod").get("calibration")
    if have is not None and have != json.loads(json.dumps(corpus.calibration.to_dict())):
        raise UsageError(
            f"{out_dir}: its other stages were trained on other data (the curves' calibration "
            "differs); train every stage on the same --data, or use another --out"
        )


def _record(
    out_dir: Path, corpus: Corpus, stage: str, facts: ModelFacts, metrics: dict, training: dict,
    command: str,
) -> None:  # fmt: skip
    """Add the stage to the folder's manifest and rewrite the card from it."""
    manifest = read_manifest(out_dir) if (out_dir / MANIFEST).is_file() else {}
    stages = dict(manifest.get("stages", {}))
    stages[stage] = {
        "file": facts.file, "kind": facts.kind, "config": facts.config,
        "parameters": facts.parameters, "sha256": facts.sha256, "metrics": metrics,
        "train": training, "command": command,
    }  # fmt: skip
    write_manifest(
        out_dir,
        {
            "system": "vmusprod",
            "files": {s["file"]: s["sha256"] for s in stages.values()},
            "calibration": corpus.calibration.to_dict(),
            "stages": stages,
        },
        overwrite=True,
    )
    with atomic_path(out_dir / "CARD.md", overwrite=True) as tmp:
        tmp.write_text(card(stages).markdown())


def card(stages: dict) -> WeightCard:
    """The card of every stage trained into a folder so far."""
    order = [s for s in STAGES + ABLATIONS if s in stages]
    models = [
        ModelFacts(stages[s]["file"], stages[s]["kind"], stages[s]["config"],
                   stages[s]["parameters"], stages[s]["sha256"])
        for s in order
    ]  # fmt: skip
    lines = [
        "Validation split, teacher-forced, fixed windows; each stage fed its windows' own "
        "curves, the curves shuffled in time (bars moved whole) and the null condition.",
        "",
        "| stage | curves | loss | accuracy of its attributes |",
        "|---|---|---|---|",
    ]
    for s in order:
        for c in CONDITIONS:
            m = stages[s]["metrics"][c]
            accs = ", ".join(f"{k[4:]} {v}" for k, v in m.items() if k.startswith("acc_"))
            lines.append(f"| {s} | {c} | {m['loss']} | {accs} |")
    first = stages[order[0]]
    pieces = first["metrics"]["pieces"]
    return WeightCard(
        title=f"V-MusProd transformers: {', '.join(order)}",
        system="vmusprod",
        data=(
            f"{' + '.join(first['train']['data'])}, hash-of-id 80/10/10 split, usable pieces "
            f"per split {pieces}. Music only: every piece is conditioned on its own control "
            "curves per beat (vidscore/curves), which stand in for the video at training; at "
            "compose time the same curves come from the clip. Key-normalised to C major / "
            "A minor, notes on 16ths, melody by the skyline (SymMV) or POP909's MELODY track."
        ),
        data_licence=(
            "POP909: MIT. SymMV: CC BY-NC-SA 4.0, so weights trained on it are for "
            "non-commercial use."
        ),
        command=" && ".join(stages[s]["command"] for s in order),
        models=models,
        training={s: stages[s]["train"]["epochs"] for s in order},
        metrics_markdown="\n".join(lines),
        intended_use="Melody and accompaniment for short videos on a CPU, via `vidscore compose "
        "--system vmusprod`.",
        limitations=[
            "No paired video: the model follows curves measured from music; that the clip's "
            "curves are the right asks is a design choice (docs/compose.md), not learnt.",
            "Beats of SymMV are tracked from its piano transcriptions (V-MusProd used madmom on "
            "the audio), so some pieces sit on a wrong metre or double tempo.",
            "Small CPU-sized transformers (see the models table); the paper trains 200-400 "
            "epochs on a V100.",
        ],
    )
