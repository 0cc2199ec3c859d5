"""Video2Music inference: the clip's features -> chord slots on its cuts -> AMT chords -> parts.

Per chord slot the AMT reads the conditioning of :mod:`.data` (scene offset, motion activity, six
emotion probabilities; semantic features only if the weights were trained with them) and samples
the next chord with a seeded generator (temperature, nucleus top-p). As Video2Music does at
inference, N is never sampled and a chord may not repeat more than ``max_repeat`` times in a row;
in addition the chord must change on a slot that starts at a cut. Our addition, affective
guidance: the logits of the chords the affective loss pulls towards (those whose quality suits
the slot's emotion, weighted by its emotion probabilities) are raised by ``affect_strength``
(default 1; 0 is plain Video2Music sampling). Clips of any length are
generated in overlapping windows (``window`` slots, the last ``context`` chords carried over).
The biGRU predicts each slot's note density and loudness for the arrangement. Chords come out
key-normalised (C major / A minor) and are transposed to ``--key``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from vidscore.errors import ModelLoadError, UsageError
from vidscore.features.timeline import bin_mean
from vidscore.music.chords import NO_CHORD, VIDEO2MUSIC, Chord
from vidscore.music.key import Key, denormalizing_shift
from vidscore.render.arrange import PRESET_FOR_EMOTION, PRESETS, arrange
from vidscore.render.timing import plan
from vidscore.systems.base import Composition, register
from vidscore.systems.video2music.data import OFFSET_CLIP
from vidscore.systems.video2music.loss import END, PAD, emotion_table
from vidscore.systems.video2music.model import AMT, DescriptorGRU
from vidscore.systems.video2music.train import load_amt, load_gru
from vidscore.types import EMOTIONS, Controls, VideoFeatures

WEIGHTS = Path(__file__).resolve().parents[2] / "weights" / "video2music"
MINOR_EMOTIONS = {"sad", "fearful", "tense"}
#: video motion (mean RGB difference, 0-255) mapped to activity 0..1 between these
MOTION_ACTIVITY = (2.0, 20.0)


def load_weights(folder: Path = WEIGHTS) -> tuple[AMT, DescriptorGRU]:
    manifest = folder / "metrics.json"  # written by training: metrics, config, sha256
    if not manifest.is_file():
        raise ModelLoadError(f"{folder}: no weights manifest (run vidscore train video2music)")
    hashes = json.loads(manifest.read_text())["sha256"]
    return (
        load_amt(folder / "amt.safetensors", hashes["amt.safetensors"]),
        load_gru(folder / "bigru.safetensors", hashes["bigru.safetensors"]),
    )


def slot_means(series, slots, duration: float) -> np.ndarray:
    """Mean of a series over each slot's seconds."""
    fine = bin_mean(series.times, series.values, rate=10.0, duration=duration)
    out = []
    for s in slots:
        a, b = int(s.start * 10), max(int(s.start * 10) + 1, int(np.ceil(s.end * 10)))
        out.append(fine[a:b].mean(axis=0))
    return np.array(out)


def conditioning(
    features: VideoFeatures, slots, controls: Controls, semantic_dim: int
) -> np.ndarray:
    """``(N, semantic_dim + 8)`` rows: [semantic?, scene offset, motion, emotion x 6]."""
    d = features.duration
    cuts = np.array([0.0, *features.cuts])
    starts = np.array([s.start for s in slots])
    last_cut = cuts[np.clip(np.searchsorted(cuts, starts + 1e-6, side="right") - 1, 0, None)]
    offset = np.minimum(starts - last_cut, OFFSET_CLIP) / OFFSET_CLIP
    lo, hi = MOTION_ACTIVITY
    motion = np.clip((slot_means(features["motion"], slots, d) - lo) / (hi - lo), 0, 1)
    if controls.emotion is not None:
        emotion = np.zeros((len(slots), 6))
        emotion[:, EMOTIONS.index(controls.emotion)] = 1.0
    else:
        emotion = slot_means(features["emotion"], slots, d)
    cols = [offset[:, None], motion.reshape(-1, 1), emotion]
    if semantic_dim:
        sem = slot_means(features["semantic"], slots, d)
        if sem.shape[1] != semantic_dim:
            raise UsageError(
                f"these weights expect {semantic_dim}-d semantic features, the "
                f"clip has {sem.shape[1]}-d ({features.meta.get('semantic')})"
            )
        cols.insert(0, sem)
    return np.column_stack(cols).astype(np.float32)


def _sample(logits: torch.Tensor, temperature: float, top_p: float, gen: torch.Generator) -> int:
    probs = torch.softmax(logits / temperature, dim=-1)
    sorted_p, order = probs.sort(descending=True)
    keep = sorted_p.cumsum(0) - sorted_p < top_p
    keep[0] = True
    sorted_p = torch.where(keep, sorted_p, torch.zeros_like(sorted_p))
    choice = torch.multinomial(sorted_p / sorted_p.sum(), 1, generator=gen)
    return int(order[choice])


@torch.no_grad()
def generate(
    model: AMT,
    cond: np.ndarray,
    at_cut: list[bool],
    primer: Chord,
    *,
    seed: int = 0,
    temperature: float = 1.0,
    top_p: float = 0.9,
    window: int = 256,
    context: int = 32,
    max_repeat: int = 4,
    affect_strength: float = 1.0,
) -> list[Chord]:
    """One chord per slot (see the module docstring)."""
    n = len(cond)
    gen = torch.Generator().manual_seed(seed)
    video = torch.from_numpy(cond)
    guidance = affect_strength * (torch.from_numpy(cond[:, -6:]).float() @ emotion_table())
    idx = [VIDEO2MUSIC.index(primer)]
    start = 0
    while len(idx) < n:
        if len(idx) - start >= window:  # slide: keep the last `context` chords as the prompt
            start = len(idx) - context
        seq = idx[start:]
        chords = [VIDEO2MUSIC.chord(i) for i in seq]
        rq = torch.tensor([VIDEO2MUSIC.root_quality(c) for c in chords])
        vid = video[start : start + window][None] if model.cfg.use_video else None
        logits = model(vid, rq[None, :, 0], rq[None, :, 1])[0, -1].clone()
        logits += guidance[len(idx)]
        banned = [VIDEO2MUSIC.index(NO_CHORD), END, PAD]
        if len(idx) >= max_repeat and len(set(idx[-max_repeat:])) == 1:
            banned.append(idx[-1])
        if at_cut[len(idx)]:
            banned.append(idx[-1])
        logits[banned] = float("-inf")
        idx.append(_sample(logits, temperature, top_p, gen))
    return [VIDEO2MUSIC.chord(i) for i in idx[:n]]


class Video2MusicSystem:
    """The default system: AMT-small + biGRU from ``weights/video2music``."""

    name = "video2music"

    def __init__(self, weights: Path = WEIGHTS) -> None:
        self.amt, self.gru = load_weights(weights)

    def compose(self, features: VideoFeatures, controls: Controls) -> Composition:
        tempo = controls.tempo or float(features.meta.get("tempo_bpm", 110.0))
        slots, aligned = plan(features.duration, features.cuts, tempo)
        cond = conditioning(features, slots, controls, self.amt.cfg.semantic_dim)
        emotions = [EMOTIONS[i] for i in cond[:, -6:].argmax(axis=1)]
        dominant = max(EMOTIONS, key=lambda e: float(cond[:, -6 + EMOTIONS.index(e)].sum()))
        if controls.key is not None:
            try:
                key = Key.parse(controls.key)
            except ValueError as exc:
                raise UsageError(f"--key {controls.key!r}: say e.g. 'D minor' or 'Eb'") from exc
        else:
            key = Key(9, "minor") if dominant in MINOR_EMOTIONS else Key(0, "major")
        normal_tonic = Chord(9, "min") if key.mode == "minor" else Chord(0, "maj")
        chords = generate(
            self.amt,
            cond,
            [s.at_cut for s in slots],
            normal_tonic,
            seed=controls.seed,
            temperature=controls.temperature,
            top_p=controls.top_p,
            affect_strength=controls.affect_strength,
        )
        with torch.no_grad():
            desc = self.gru(torch.from_numpy(cond)[None])[0].numpy()
        shift = denormalizing_shift(key)
        chords = [c.transpose(shift) for c in chords]
        tonic = normal_tonic.transpose(shift)
        preset = controls.instruments or PRESET_FOR_EMOTION[dominant]
        if preset not in PRESETS:
            raise UsageError(f"--instruments {preset!r}: choose from {', '.join(PRESETS)}")
        score = arrange(
            slots, chords, density=desc[:, 0], loudness=desc[:, 1], preset=preset, tonic=tonic
        )
        return Composition(
            score=score,
            slots=slots,
            aligned_cuts=aligned,
            tempo_bpm=tempo,
            key=str(key),
            preset=preset,
            slot_emotion=emotions,
            meta={
                "dominant_emotion": dominant,
                "density": desc[:, 0].round(3).tolist(),
                "loudness": desc[:, 1].round(3).tolist(),
            },
        )


@register("video2music")
def _factory() -> Video2MusicSystem:
    return Video2MusicSystem()
