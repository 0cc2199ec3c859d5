"""``vidscore train vmas``: train VMAs' decoder on the codec's tokens of rendered music.

The loss is the paper's (section 3.3): the autoregressive cross-entropy over the delayed codebook
streams, each frame weighted by the video-beat alignment of Eq. 3-4 (here the music's onsets
against its own beat pulse, the stand-in for video beats), plus ``contrastive`` times the
video-music InfoNCE of Eq. 2 between the decoder's token distributions (through the codec's
embeddings) and the pooled condition. The condition is dropped for ``cond_drop`` of the windows
so classifier-free guidance has an unconditional branch. ``floor 1`` and ``contrastive 0`` are
the ablations of the paper's Table 5.

The codec must already be in ``--out`` (``vidscore train codec``); the decoder reads its tokens.
"""

from __future__ import annotations

import itertools
import os
import random
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from vidscore.errors import InputError
from vidscore.modules.checkpoint import file_sha256, load_module, read_manifest, save_module
from vidscore.modules.trainer import Progress, TrainConfig, Trainer, claim_main, leave_distributed
from vidscore.outputs import atomic_path, check_output_folder, user_cache
from vidscore.systems.common.card import ModelFacts, WeightCard
from vidscore.systems.vmas import codec as codec_mod
from vidscore.systems.vmas.alignment import contrastive_loss, weighted_token_loss
from vidscore.systems.vmas.codec_train import FILE as CODEC_FILE
from vidscore.systems.vmas.codec_train import KIND as CODEC_KIND
from vidscore.systems.vmas.codec_train import update_manifest
from vidscore.systems.vmas.data import COND_DIM, Clip, build_clips, pulse_rate, weights_of
from vidscore.systems.vmas.model import VMAsConfig, VMAsDecoder
from vidscore.systems.vmas.pattern import delay, valid
from vidscore.systems.vmas.renders import excerpt_start, load_renders, pieces

FILE = "decoder.safetensors"
KIND = "vmas-decoder"
CONDITIONS = ("real", "shuffled", "null")


@dataclass(frozen=True)
class VMAsTraining:
    """The run's data and the paper's alignment hyperparameters."""

    window: float = 4.0  # seconds per training window
    cond_drop: float = 0.15
    beat_window: int = 5  # Eq. 3's ±w, in codec frames
    floor: float = 0.5  # Eq. 4's weight floor (1: uniform weights, the ablation)
    contrastive: float = 0.1  # λ of Eq. 2's term (0: off, the ablation)
    temperature: float = 0.1  # of the InfoNCE
    seconds: float = 20.0  # excerpt per piece (the codec's renders)
    limit: int = 0
    clips: int = 0  # training clips encoded and used (0: all), drawn evenly from the folders
    eval_windows: int = 48

    def __post_init__(self) -> None:
        if not 0 < self.window <= self.seconds:
            raise ValueError("--window must be positive and at most the excerpt length")
        if not 0 <= self.cond_drop < 1:
            raise ValueError("--cond-drop must be in [0, 1)")
        if not 0 <= self.floor <= 1:
            raise ValueError("--floor must be in [0, 1]")
        if self.contrastive < 0 or not self.temperature > 0:
            raise ValueError("--contrastive must be >= 0 and the temperature positive")
        if self.beat_window < 1:
            raise ValueError("--beat-window must be at least 1 frame")


def load_codec(folder: Path) -> tuple[codec_mod.Codec, str]:
    """The trained codec of a VMAs weights folder and its sha256."""
    manifest = read_manifest(folder, system="vmas")
    sha = manifest["files"].get(CODEC_FILE)
    if sha is None:
        raise InputError(f"{folder}: no {CODEC_FILE}; run `vidscore train codec --out {folder}`")
    model = load_module(folder / CODEC_FILE, codec_mod.build, kind=CODEC_KIND, sha256=sha)
    return model, sha


def collate(frames: int, opts: VMAsTraining):
    """Random ``frames``-long crops: codes, condition, Eq. 4 weights, condition-drop flags."""

    def run(items: list[Clip], rng: random.Random) -> dict[str, torch.Tensor]:
        codes, cond, weights, drop = [], [], [], []
        for c in items:
            a = rng.randrange(0, c.codes.shape[1] - frames + 1)
            codes.append(c.codes[:, a : a + frames])
            cond.append(c.cond[a : a + frames])
            weights.append(weights_of(c, opts.beat_window, opts.floor)[a : a + frames])
            drop.append(rng.random() < opts.cond_drop)
        return {
            "codes": torch.from_numpy(np.stack(codes)),
            "cond": torch.from_numpy(np.stack(cond)),
            "weights": torch.from_numpy(np.stack(weights)),
            "drop": torch.tensor(drop),
        }

    return run


def teacher_forced(
    model: VMAsDecoder, codes: torch.Tensor, cond: torch.Tensor, drop: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(logits, delayed codes, memory) of ``codes (B, K, T)`` under ``cond`` (curves ``(B, T, C)``,
    held on their last row over the delay pattern's tail, or video frames); ``drop`` rows take
    the null condition."""
    k = model.cfg.codebooks
    delayed = delay(codes, model.cfg.special)
    if model.cfg.video is None:
        cond = torch.cat([cond, cond[:, -1:].expand(-1, k - 1, -1)], dim=1)
    mem = model.memory(cond, drop)
    logits, _ = model(delayed, mem)
    return logits, delayed, mem


def losses(
    model: VMAsDecoder, batch: dict[str, torch.Tensor], opts: VMAsTraining
) -> tuple[torch.Tensor, torch.Tensor]:
    """(Eq. 4's weighted token loss, Eq. 2's contrastive loss) of one batch."""
    k = model.cfg.codebooks
    logits, delayed, mem = teacher_forced(model, batch["codes"], batch["cond"], batch["drop"])
    w = delay(batch["weights"][:, None].expand(-1, k, -1), 0.0)
    ar = weighted_token_loss(logits, delayed, valid(k, delayed.shape[-1], w.device)[None], w)
    kept = ~batch["drop"]
    if opts.contrastive > 0 and int(kept.sum()) > 1:
        music, video = model.contrast(logits[kept], mem[kept])
        return ar, contrastive_loss(music, video, opts.temperature)
    return ar, ar.new_zeros(())


def choose(renders: list, curves: dict, opts: VMAsTraining) -> list:
    """The renders the run encodes: every held-out one needed for the scores, and ``opts.clips``
    training ones (all when 0), alternating between the folders so each is represented."""
    usable = [r for r in renders if r.piece_id in curves]
    held = [r for r in usable if r.split == "val"] or [r for r in usable if r.split == "test"]
    train = [r for r in usable if r.split == "train"]
    if opts.clips and opts.clips < len(train):
        groups: dict[str, list] = {}
        for r in train:
            groups.setdefault(r.piece_id.split("/")[0], []).append(r)
        order = [r for row in itertools.zip_longest(*groups.values()) for r in row if r]
        train = order[: opts.clips]
    return train + held[: opts.eval_windows]


def piece_curves(data, renders, corpus, seconds: float, seed: int) -> dict:
    """piece id -> (calibrated curves per beat, beat seconds, excerpt start) for the renders."""
    from vidscore.music.midi import read_midi

    by_name = {p.name: p for group in corpus.splits.values() for p in group}
    midi = {p.piece_id: p.midi for p in pieces(data)}
    out = {}
    for r in renders:
        p = by_name.get(r.piece_id)
        if p is None or p.cond is None:
            continue
        start = excerpt_start(r.piece_id, read_midi(midi[r.piece_id]), seconds, seed)
        if start is not None:
            out[r.piece_id] = (p.cond, p.beat_seconds, start)
    return out


@torch.no_grad()
def token_scores(
    model: VMAsDecoder, codes: torch.Tensor, cond: torch.Tensor, drop: torch.Tensor
) -> tuple[float, float]:
    """(per-token cross-entropy, top-1 accuracy) of one teacher-forced window ``codes (1, K,
    T)``, uniform weights, the delay pattern's padding left out."""
    logits, delayed, _ = teacher_forced(model, codes, cond, drop)
    mask = valid(model.cfg.codebooks, delayed.shape[-1])
    lp = logits[0].log_softmax(-1)
    tok = delayed[0].clamp(max=model.cfg.cardinality - 1)  # padding is masked out
    ce = float(-lp.gather(-1, tok[..., None])[..., 0][mask].mean())
    return ce, float((lp.argmax(-1) == tok)[mask].float().mean())


def held_out(items: list) -> tuple[list, list]:
    """(training items, held-out items: the validation split, else the test split)."""
    train = [c for c in items if c.split == "train"]
    return train, [c for c in items if c.split == "val"] or [c for c in items if c.split == "test"]


def fit_decoder(
    model_cfg: VMAsConfig,
    codec,
    train: list,
    collate_fn,
    cfg: TrainConfig,
    opts: VMAsTraining,
    state_dir: Path,
    progress: Progress | None,
) -> tuple[VMAsDecoder, Trainer]:
    """A decoder reading ``codec``'s tokens, trained on ``train`` with the paper's loss (Eq. 4
    plus ``contrastive`` x Eq. 2); returns it and its trainer."""
    torch.manual_seed(cfg.seed)
    model = VMAsDecoder(model_cfg)
    model.codec_embeddings.copy_(codec.embeddings())
    trainer = Trainer(cfg, state_dir=state_dir, progress=progress)

    def loss_fn(m, batch):
        ar, con = losses(m, batch, opts)
        return ar + opts.contrastive * con

    return trainer.fit(model, train, collate_fn, loss_fn, name="decoder"), trainer


@torch.no_grad()
def evaluate(model: VMAsDecoder, clips: list[Clip], frames: int, count: int) -> dict:
    """Held-out per-token cross-entropy (uniform weights) and top-1 accuracy, fed each window's
    own condition, the condition shuffled in one-second blocks, and the null condition."""
    model.eval()
    rng = random.Random(0)
    windows = []
    for c in clips:
        for a in range(0, c.codes.shape[1] - frames + 1, frames):
            windows.append((c, a))
    windows = windows[:count]
    out = {}
    second = round(model.cfg.frame_rate)
    for name in CONDITIONS:
        ce, acc, n = 0.0, 0.0, 0
        for c, a in windows:
            codes = torch.from_numpy(c.codes[None, :, a : a + frames])
            cond = c.cond[a : a + frames]
            if name == "shuffled":
                blocks = [cond[i : i + second] for i in range(0, frames, second)]
                rng.shuffle(blocks)
                cond = np.concatenate(blocks)
            drop = torch.tensor([name == "null"])
            c_e, top1 = token_scores(model, codes, torch.from_numpy(cond)[None], drop)
            ce, acc, n = ce + c_e, acc + top1, n + 1
        out[name] = {"token_ce": round(ce / n, 4), "top1": round(acc / n, 4)}
    out["windows"] = len(windows)
    return out


def run(
    data: list[str | os.PathLike],
    out: str | os.PathLike,
    *,
    model_cfg: VMAsConfig | None = None,
    cfg: TrainConfig | None = None,
    opts: VMAsTraining | None = None,
    cache: str | os.PathLike | None = None,
    command: str = "vidscore train vmas",
    progress: Progress | None = None,
    overwrite: bool = False,
) -> dict | None:
    """Train the decoder into ``out`` beside its codec; return its held-out scores."""
    from dataclasses import replace

    from vidscore.systems.vmusprod.data import load_pieces

    cfg = cfg or TrainConfig()
    opts = opts or VMAsTraining()
    out_dir = check_output_folder(out, (FILE,), overwrite=overwrite)
    codec, codec_sha = load_codec(out_dir)
    model_cfg = replace(
        model_cfg or VMAsConfig(), codebooks=codec.codebooks, cardinality=codec.cardinality,
        codec_dim=codec.cfg.dim, frame_rate=codec.frame_rate, cond_dim=COND_DIM,
    )  # fmt: skip
    where = Path(cache) if cache is not None else user_cache()
    with claim_main([out_dir / FILE]):
        renders = load_renders(
            data, seconds=opts.seconds, rate=codec.sample_rate, limit=opts.limit, cache=cache
        )
        corpus = load_pieces(data, limit=opts.limit, cache=where)
        curves = piece_curves(data, renders, corpus, opts.seconds, 0)
        chosen = choose(renders, curves, opts)
        clips = build_clips(
            chosen, codec, curves, window=opts.beat_window, cache=where, codec_sha=codec_sha
        )
        train, held = held_out(clips)
        if not train or not held:
            raise InputError(f"{data}: need training and held-out pieces with curves")
        frames = round(opts.window * codec.frame_rate)
        model, trainer = fit_decoder(model_cfg, codec, train, collate(frames, opts), cfg, opts,
                                     out_dir / ".resume", progress)  # fmt: skip
        try:
            if not trainer.world.is_main:
                return None
            metrics = evaluate(model, held, frames, opts.eval_windows)
            metrics["clips"] = {
                s: sum(c.split == s for c in clips) for s in ("train", "val", "test")
            }
            training = {**asdict(cfg), **asdict(opts), "data": [Path(d).name for d in data]}
            save_decoder(model, out_dir, "VMAs decoder", card, metrics=metrics, training=training,
                         command=command, overwrite=overwrite,
                         pulse_rate=round(pulse_rate(train, codec.frame_rate), 4),
                         calibration=corpus.calibration.to_dict())  # fmt: skip
            return metrics
        finally:
            leave_distributed()


def save_decoder(
    model: VMAsDecoder,
    out_dir: Path,
    name: str,
    card_of,
    *,
    metrics: dict,
    training: dict,
    command: str,
    overwrite: bool,
    pulse_rate: float | None = None,
    **top: object,
) -> None:
    """Write the trained decoder, its manifest entry (beside the codec's; ``pulse_rate``: the
    training pulse's per second, which compose calibrates the video's to; ``top``: further
    top-level keys) and its card (``card_of(facts, metrics, training, command)``)."""
    config = model.cfg.to_dict()
    sha = save_module(model, out_dir / FILE, kind=KIND, config=config, overwrite=overwrite)
    facts = ModelFacts.of(FILE, name, model, config, sha)
    entry = {"config": config, "metrics": metrics, "train": training, "command": command,
             "codec_sha256": file_sha256(out_dir / CODEC_FILE)}  # fmt: skip
    if pulse_rate is not None:
        entry["pulse_rate"] = pulse_rate
    update_manifest(out_dir, FILE, sha, "decoder", entry, **top)
    with atomic_path(out_dir / "CARD.md", overwrite=True) as tmp:
        tmp.write_text(card_of(facts, metrics, training, command).markdown())
    shutil.rmtree(out_dir / ".resume", ignore_errors=True)


def card(facts: ModelFacts, metrics: dict, training: dict, command: str) -> WeightCard:
    lines = [
        f"Validation clips ({metrics['clips'].get('val', 0)}), {metrics['windows']} windows of "
        f"{training['window']:g} s: per-token cross-entropy (nats) and top-1 accuracy of the "
        "codec tokens, teacher-forced, fed each window's own condition, the condition shuffled "
        "in one-second blocks, and the null condition.",
        "",
        "| condition | token cross-entropy | top-1 |",
        "|---|---|---|",
    ]
    for c in CONDITIONS:
        lines.append(f"| {c} | {metrics[c]['token_ce']} | {metrics[c]['top1']} |")
    uses = metrics["real"]["token_ce"] < min(metrics[c]["token_ce"] for c in ("shuffled", "null"))
    hours = metrics["clips"].get("train", 0) * training["seconds"] / 3600
    follows = (
        "The held-out table shows the condition helps predict the tokens (real below shuffled "
        "and null); whether the generated music follows the video's beats is measured by "
        "`python benchmarks/vmas.py` (docs/vmas.md), not by this table."
        if uses
        else "The held-out table shows the condition does not help predict the tokens (real is "
        "not below shuffled and null): at this training length the decoder has not learnt to "
        "use the curves or the beat pulse, so its music does not follow the picture."
    )
    return WeightCard(
        title="VMAs decoder (codec tokens from control curves)",
        system="vmas",
        data=(
            f"{' + '.join(training['data'])}: the codec's renders (see CODEC.md), clips per split "
            f"{metrics['clips']}; each conditioned per codec frame on its piece's six control "
            "curves, its beat pulse (onset-strength maxima) and the pulse's accent (a decay "
            "since the last pulse), computed from the music. At compose the video's pulse is "
            "held to the training pulse's mean rate (`pulse_rate` in manifest.json)."
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
            "Background music as audio for short clips on a CPU, conditioned on the clip's control "
            "curves and video beats; a research reproduction of VMAs at toy scale."
        ),
        limitations=[
            follows,
            f"Trained on {hours:.1f} hours of synthesised General MIDI music, not on 2.2 M web "
            "videos: its timbres are the SoundFont's, its style POP909's and SymMV's.",
            "No paired video-music data: the condition is the control curves and the beat pulse, "
            "not the paper's Hiera video features; the contrastive term matches music to curves.",
            "Its sound quality is bounded by the small codec (see CODEC.md).",
        ],
    )
