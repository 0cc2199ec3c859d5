"""Does the picture steer the music through the model? The steering table of docs/compose.md.

Four measurements, each for Video2Music (the shipped AMT + biGRU) beside the rules-only baseline
reading the same control curves:

1. **Control adherence** on held-out POP909 songs: compose from the curves of song A, measure
   the same curves back from the generated score; Spearman r per song (median over songs) for
   activity and intensity, and again with A's curves shuffled in time (r against the unshuffled
   curves).
2. **Ablation of the AMT**, teacher-forced on the held-out songs: Hits@1 with the real,
   shuffled, null and another song's controls, for three training seeds (seed 0 is the shipped
   model; seeds 1 and 2 are trained by this script with the shipped command into ``--work``,
   once); Video2Music's emotion correspondence (teacher-forced argmax on steps whose
   emotion probability is >= 0.8; END and PAD predictions count as misses); and Hits@1 with
   classifier-free guidance at 1.5 and 2 against the null condition.
3. **Forced emotions** on bikes.mp4 with the affective boost off: emotion correspondence of the
   sampled chords for sad, exciting and relaxing (five seeds; Video2Music, V-MusProd and the
   baseline), beside the AMT blind to the
   emotion: fed no controls (the null condition), and fed the clip's own curves unforced.
4. **Clips**: on every clip of ../shared/videos and two montages of them, per-second Spearman r
   between the video's motion and the music's onset density, and between its arousal and the
   rendered music's RMS; and the same with the clip's features shuffled in time (the mean
   over every permutation of the seconds of a clip under 6 s, else over 30 shuffles); again
   without each clip's first second and last two (the entry and the ringing last chord: form
   that no shuffle moves, which dominates a clip of 4-10 seconds).

    python benchmarks/steering.py [--songs 40] [--work /tmp/vidscore-steering] [--skip-seeds]

Writes benchmarks/results/steering.json and steering.md.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from scipy.stats import spearmanr

sys.path.insert(0, str(Path(__file__).resolve().parent))
from analyze import RESULTS, SHARED, SOURCES, montages

POP909 = SHARED.parent / "data" / "POP909"
FORCED = ("sad", "exciting", "relaxing")
SEEDS = (0, 1, 2)
SHUFFLES = 30  # seeded shuffles of a clip too long to walk every permutation of its seconds
EXACT = 720  # walk every permutation of a clip's seconds up to 6! of them (clips under 6 s)
GUIDANCE = (1.5, 2.0)  # classifier-free guidance scales scored beside plain conditioning


def rho(a, b) -> float:
    """Spearman r; NaN under three points (no rank correlation to speak of), 0 for a constant."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    if len(a) < 3:
        return float("nan")
    if np.ptp(a) == 0 or np.ptp(b) == 0:
        return 0.0
    return float(spearmanr(a, b).statistic)


def mean_r(values: list[float]) -> float | None:
    """The mean of the finite r values (None if there are none: too short a clip)."""
    v = np.asarray(values, float)
    return round(float(v[np.isfinite(v)].mean()), 3) if np.isfinite(v).any() else None


# --- 1. control adherence -------------------------------------------------------------------


def song_slots(rows: np.ndarray):
    from vidscore.curves.contract import CURVES
    from vidscore.systems.common.timeplan import Slot

    boundary = rows[:, CURVES.index("boundary")] > 0.5
    return [
        Slot(float(i), float(i + 1), 2, i % 2 == 0, bool(boundary[i])) for i in range(len(rows))
    ]


def sample(amt, rows: np.ndarray, at_cut: list[bool], seed: int) -> list:
    """The AMT's chords for ``rows`` at the system's default sampling parameters."""
    from vidscore.systems.video2music.inference import sample_chords
    from vidscore.systems.video2music.system import AMTParams

    p = AMTParams()
    return sample_chords(amt, rows, at_cut, seed=seed, temperature=p.temperature, top_p=p.top_p,
                         window=p.window, context=p.context, max_repeat=p.max_repeat,
                         affect_strength=p.affect_strength, guidance=p.guidance)  # fmt: skip


def compose_rows(system: str, rows: np.ndarray, models, seed: int):
    """A score written from per-step control rows (120 BPM, two beats a step)."""
    from vidscore.music.chords import Chord
    from vidscore.music.key import mode_of
    from vidscore.systems.baseline import system as baseline
    from vidscore.systems.common.arrange import arrange
    from vidscore.systems.video2music.inference import descriptors, played
    from vidscore.systems.video2music.inputs import COLUMN

    slots = song_slots(rows)
    at_cut = [s.at_cut for s in slots]
    if system == "video2music":
        amt, gru, scale = models
        chords = sample(amt, rows, at_cut, seed)
        density, loudness = played(descriptors(gru, rows), scale)
        tonic = Chord(9, "min") if mode_of(chords) == "minor" else Chord(0, "maj")
    else:
        chords, tonic = baseline_chords(rows, slots, seed)
        density, loudness = baseline.played(
            rows[:, COLUMN["activity"]], rows[:, COLUMN["intensity"]]
        )
    return arrange(slots, chords, density=density, loudness=loudness, preset="piano", tonic=tonic)


def baseline_chords(rows: np.ndarray, slots, seed: int):
    from vidscore.curves.contract import CURVES, CurveSet
    from vidscore.music.key import Key
    from vidscore.systems.baseline.system import progression
    from vidscore.systems.common.plan import PieceSetup
    from vidscore.systems.common.timeplan import TimePlan
    from vidscore.types import EMOTIONS

    emotion = rows[:, -6:]
    mode = "minor" if rows[:, CURVES.index("valence")].mean() < 0.5 else "major"
    key = Key(9, "minor") if mode == "minor" else Key(0, "major")
    starts = np.arange(2 * len(rows)) / 2
    beats = CurveSet(starts, starts + 0.5, np.repeat(rows[:, : len(CURVES)], 2, axis=0))
    plan = TimePlan(120.0, slots, [s.start for s in slots if s.at_cut], [])
    dominant = EMOTIONS[int(emotion.sum(axis=0).argmax())]
    piece = PieceSetup(plan, emotion, dominant, key, "piano", beats)
    return progression(piece, seed).chords, piece.tonic


def measured_steps(score, n: int) -> np.ndarray:
    """The score's raw curves measured over each two-beat step (onsets per second over the
    step, and so on): ``(n, len(CURVES))``. Spearman r needs no calibration."""
    from vidscore.curves.music import chords_at, raw_curves

    beats = np.arange(0, 2 * n + 1, 2, dtype=np.float64)
    secs = np.asarray(score.seconds(beats))
    starts, ends = secs[:-1], secs[1:]
    return raw_curves(score, starts, ends, chords=chords_at(score, starts))


def adherence(seqs, models, songs: int) -> dict:
    from vidscore.systems.video2music.inputs import COLUMN

    out: dict = {}
    for system in ("video2music", "baseline"):
        r: dict[str, list[float]] = {}
        for i, seq in enumerate(seqs[:songs]):
            rows = seq.cond
            perm = np.random.default_rng(i).permutation(len(rows))
            for label, fed in (("real", rows), ("shuffled", rows[perm])):
                got = measured_steps(compose_rows(system, fed, models, seed=i), len(rows))
                for name in ("activity", "intensity", "valence", "register"):
                    k = COLUMN[name]
                    r.setdefault(f"{name}/{label}", []).append(rho(got[:, k], rows[: len(got), k]))
        out[system] = {key: round(float(np.nanmedian(v)), 3) for key, v in r.items()}
        print(system, "adherence", out[system], flush=True)
    return out


# --- 2. ablation over seeds -----------------------------------------------------------------


def seed_weights(work: Path, seed: int) -> Path:
    from vidscore.systems.video2music.system import WEIGHTS

    if seed == 0:
        return WEIGHTS
    out = work / f"seed{seed}"
    if not (out / "manifest.json").is_file():
        shipped = json.loads((WEIGHTS / "manifest.json").read_text())["train"]
        cmd = [sys.executable, "-m", "vidscore", "train", "video2music", "--data", str(POP909),
               "--out", str(out), "--epochs", str(shipped["epochs"]), "--seed", str(seed),
               "--gru-epochs", str(shipped["gru_epochs"]), "--lr", str(shipped["lr"]),
               "--batch-size", str(shipped["batch_size"]), "--overwrite"]  # fmt: skip
        print("training seed", seed, flush=True)
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    return out


def teacher_forced_correspondence(amt, seqs, threshold: float = 0.8) -> float:
    """Video2Music's emotion correspondence: on held-out steps whose emotion probability is
    >= ``threshold`` (neutral left out), the share whose argmax next-chord prediction has a
    quality that emotion allows; END and PAD predictions are misses."""
    import random

    import torch

    from vidscore.music.chords import VIDEO2MUSIC
    from vidscore.music.emotion import EMOTION_QUALITIES
    from vidscore.systems.video2music.loss import END, PAD
    from vidscore.systems.video2music.train import collate
    from vidscore.types import EMOTIONS

    hits = total = 0
    with torch.no_grad():
        for s in seqs:
            video, vmask, roots, quals, tgt, _, pad = collate([s], 300, random.Random(0), False)
            pred = amt(video, roots, quals, pad, vmask)[0].argmax(-1).numpy()
            probs = video[0, :, -6:].numpy()
            for j in range(int((~vmask[0]).sum())):
                e = int(probs[j].argmax())
                if probs[j, e] < threshold or EMOTIONS[e] == "neutral" or tgt[0, j] == END:
                    continue
                total += 1
                p = int(pred[j])
                if p in (END, PAD) or p == VIDEO2MUSIC.index(VIDEO2MUSIC.chord(0)):
                    continue
                hits += VIDEO2MUSIC.chord(p).quality in EMOTION_QUALITIES[EMOTIONS[e]]
    return round(hits / max(total, 1), 4)


def ablation(held, work: Path, skip_seeds: bool) -> dict:
    from vidscore.systems.video2music.inference import load_models
    from vidscore.systems.video2music.train import CONDITIONS, hits_at_k

    per_seed = {}
    for seed in SEEDS[:1] if skip_seeds else SEEDS:
        amt, _ = load_models(seed_weights(work, seed))
        amt.eval()
        per_seed[seed] = {c: hits_at_k(amt, held, condition=c)["hits@1"] for c in CONDITIONS}
        per_seed[seed]["emotion_correspondence_v2m"] = teacher_forced_correspondence(amt, held)
        for g in GUIDANCE:
            per_seed[seed][f"guidance {g}"] = hits_at_k(amt, held, guidance=g)["hits@1"]
        print("seed", seed, per_seed[seed], flush=True)
    real = [v["real"] for v in per_seed.values()]
    shuf = [v["shuffled"] for v in per_seed.values()]
    return {
        "per_seed": per_seed,
        "margin_real_minus_shuffled": round(float(np.mean(real) - np.mean(shuf)), 4),
        "spread_real_over_seeds": round(float(np.ptp(real)), 4),
        "spread_shuffled_over_seeds": round(float(np.ptp(shuf)), 4),
    }


# --- 3. forced emotions ---------------------------------------------------------------------


def slot_chords(soundtrack) -> list:
    return [span.chord for span in soundtrack.score.chords[:-1]]  # the last is the forced tonic


def forced_emotions(features, models) -> dict:
    from vidscore.metrics.chords import emotion_correspondence
    from vidscore.systems.baseline.system import BaselineSystem
    from vidscore.systems.common.plan import setup
    from vidscore.systems.video2music.inputs import clip_rows
    from vidscore.systems.video2music.system import AMTParams, Video2MusicSystem
    from vidscore.systems.vmusprod.system import VMusProdSystem
    from vidscore.types import Controls

    amt = models[0]
    v2m = Video2MusicSystem(*models)
    out: dict = {"video2music": {}, "vmusprod": {}, "baseline": {}, "null_condition": {},
                 "not_forced": {}}  # fmt: skip
    seeds = range(5)
    systems = (("video2music", v2m), ("vmusprod", VMusProdSystem.load()),
               ("baseline", BaselineSystem()))  # fmt: skip
    for emotion in FORCED:
        for name, system in systems:
            vals = []
            for seed in seeds:
                params = AMTParams(affect_strength=0.0) if name == "video2music" else None
                st = system.compose(features, Controls(emotion=emotion, seed=seed), params)
                # the arranged systems' last chord is the forced tonic; V-MusProd has none
                chords = slot_chords(st) if name != "vmusprod" else [
                    s.chord for s in st.score.chords]  # fmt: skip
                vals.append(emotion_correspondence(chords, [emotion] * len(chords)))
            out[name][emotion] = round(float(np.mean(vals)), 3)
        # emotion-blind: the model fed no controls at all (the null condition), and the model
        # fed the clip's own curves without the forced emotion
        for label in ("null_condition", "not_forced"):
            vals = []
            for seed in seeds:
                piece = setup(features, Controls(seed=seed))
                rows = clip_rows(features, piece, amt.cfg.semantic_dim)
                if label == "null_condition":
                    rows[:] = 0.0
                chords = sample(amt, rows, [s.at_cut for s in piece.slots], seed)[:-1]
                vals.append(emotion_correspondence(chords, [emotion] * len(chords)))
            out[label][emotion] = round(float(np.mean(vals)), 3)
    print("forced", out, flush=True)
    return out


# --- 4. clips -------------------------------------------------------------------------------


def whole_seconds(duration: float) -> int:
    """Per-second bins of a clip: a remainder under half a second is no second of its own (a
    4.004 s clip has 4 bins, not a fifth of 4 ms whose music is the fade's tail)."""
    return max(1, round(duration))


def per_second_onsets(score, duration: float) -> np.ndarray:
    n = whole_seconds(duration)
    on = np.asarray(score.seconds(np.array([note.start for note in score.notes(drums=True)])))
    return np.bincount(np.clip(on.astype(int), 0, None), minlength=n)[:n]


def per_second_rms(audio: np.ndarray, rate: int, duration: float) -> np.ndarray:
    n = whole_seconds(duration)
    out = np.zeros(n)
    for i in range(n):
        seg = audio[i * rate : (i + 1) * rate]
        out[i] = np.sqrt(np.mean(seg.astype(np.float64) ** 2)) if len(seg) else 0.0
    return out


def scrambles(features) -> list:
    """The clip's features under every permutation of its seconds where there are at most
    ``EXACT`` of them (the exact permutation null: a model whose music follows what it is fed
    averages r = 0 over it, where a sample of 30 draws of 4-6 seconds still wanders by +-0.1),
    else under ``SHUFFLES`` seeded draws."""
    from vidscore.evaluation import shuffled

    n = len(features["motion"])
    if math.factorial(n) <= EXACT:
        return [shuffled(features, k, perm=np.array(p))
                for k, p in enumerate(itertools.permutations(range(n)), start=1)]  # fmt: skip
    return [shuffled(features, s) for s in range(1, SHUFFLES + 1)]


def clip_table(clips: list[Path], models) -> dict:
    from vidscore.audio.synth import SAMPLE_RATE
    from vidscore.features.analyze import AnalysisConfig, analyze
    from vidscore.features.timeline import bin_mean
    from vidscore.render.soundtrack import render
    from vidscore.systems.baseline.system import BaselineSystem
    from vidscore.systems.video2music.system import Video2MusicSystem
    from vidscore.types import Controls

    systems = {"video2music": Video2MusicSystem(*models), "baseline": BaselineSystem()}
    needs = sorted(set().union(*(s.needs.series for s in systems.values())))
    out: dict = {name: {} for name in systems}
    features_of = {}
    for clip in clips:
        f = analyze(clip, AnalysisConfig(series=tuple(needs)))
        features_of[clip.name] = f
        d = f.duration
        motion = bin_mean(f["motion"].times, f["motion"].values, rate=1.0, duration=d)
        arousal = bin_mean(f["arousal"].times, f["arousal"].values, rate=1.0, duration=d)
        for name, system in systems.items():
            row = {}
            scrambled = scrambles(f)
            for label, fed in [("real", [f]), ("shuffled", scrambled)]:
                rm, ra, im, ia = [], [], [], []
                for g in fed:
                    st = system.compose(g, Controls(), None)
                    onsets = per_second_onsets(st.score, d)
                    rms = per_second_rms(render(st, duration=d), SAMPLE_RATE, d)
                    n = min(len(motion), len(onsets), len(rms))
                    rm.append(rho(motion[:n], onsets[:n]))
                    ra.append(rho(arousal[:n], rms[:n]))
                    # the interior: without the entry second and the last two (the entry and
                    # the ending's fade), the music's form that no shuffle moves
                    inner = slice(1, n - 2)
                    im.append(rho(motion[inner], onsets[inner]))
                    ia.append(rho(arousal[inner], rms[inner]))
                row[f"motion~onsets/{label}"] = mean_r(rm)
                row[f"arousal~rms/{label}"] = mean_r(ra)
                row[f"motion~onsets/{label}/interior"] = mean_r(im)
                row[f"arousal~rms/{label}/interior"] = mean_r(ia)
            row["seconds"] = round(d, 1)
            out[name][clip.name] = row
            print(name, clip.name, row, flush=True)
    return out, features_of


def clip_lines(clips_of: dict, suffix: str, *, seconds: bool) -> list[str]:
    """The clip table: per system and clip, the four correlations whose keys end in ``suffix``."""
    keys = ["motion~onsets/real", "motion~onsets/shuffled", "arousal~rms/real",
            "arousal~rms/shuffled"]  # fmt: skip
    head = ["system", "clip", *(["s"] if seconds else []), "motion ~ onsets", "shuffled",
            "arousal ~ RMS", "shuffled"]  # fmt: skip
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for system, clips in clips_of.items():
        for clip, r in clips.items():
            cells = [system, clip, *([r["seconds"]] if seconds else [])]
            cells += [r[k + suffix] for k in keys]
            lines.append("| " + " | ".join(map(str, cells)) + " |")
    return lines


def markdown(doc: dict) -> str:
    lines = ["## Control adherence on held-out POP909 songs (median Spearman r over songs)", ""]
    lines += ["| system | activity | intensity | valence | register | activity, shuffled | "
              "intensity, shuffled |", "|---|---|---|---|---|---|---|"]  # fmt: skip
    for system, r in doc["adherence"].items():
        lines.append(
            f"| {system} | {r['activity/real']} | {r['intensity/real']} | {r['valence/real']} | "
            f"{r['register/real']} | {r['activity/shuffled']} | {r['intensity/shuffled']} |"
        )
    ab = doc["ablation"]
    lines += ["", "## AMT ablation, teacher-forced Hits@1 on held-out songs", ""]
    lines += ["| seed | real | shuffled | null | other song's | emotion corr. (V2M) | "
              + " | ".join(f"real, guidance {g}" for g in GUIDANCE) + " |",
              "|---|---|---|---|---|---|" + "---|" * len(GUIDANCE)]  # fmt: skip
    for seed, v in ab["per_seed"].items():
        lines.append(f"| {seed} | {v['real']} | {v['shuffled']} | {v['null']} | {v['other']} | "
                     f"{v['emotion_correspondence_v2m']} | "
                     + " | ".join(str(v[f"guidance {g}"]) for g in GUIDANCE) + " |")  # fmt: skip
    lines += ["", f"Real minus shuffled (mean over seeds): {ab['margin_real_minus_shuffled']}; "
              f"spread of real over seeds: {ab['spread_real_over_seeds']}; of shuffled: "
              f"{ab['spread_shuffled_over_seeds']}.", ""]  # fmt: skip
    lines += ["## Forced emotion on bikes.mp4, affective boost off (emotion correspondence)", ""]
    lines += ["| model | " + " | ".join(FORCED) + " |", "|---|" + "---|" * len(FORCED)]
    for name, v in doc["forced"].items():
        lines.append(f"| {name} | " + " | ".join(str(v[e]) for e in FORCED) + " |")
    lines += ["", "## Clips: per-second Spearman r (shuffled: the mean over every permutation "
              f"of the clip's seconds under 6 s, else over {SHUFFLES} shuffles)", ""]  # fmt: skip
    lines += clip_lines(doc["clips"], "", seconds=True)
    lines += ["", "The same without each clip's first second and last two (the entry and the "
              "ending's fade, which no shuffle moves):", ""]  # fmt: skip
    lines += clip_lines(doc["clips"], "/interior", seconds=False)
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--songs", type=int, default=40, help="held-out songs for adherence")
    ap.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "vidscore-steering")
    ap.add_argument("--skip-seeds", action="store_true", help="ablation on the shipped seed only")
    args = ap.parse_args()
    from vidscore.systems.video2music.data import load_sequences
    from vidscore.systems.video2music.inference import load_models, load_scale
    from vidscore.systems.video2music.system import WEIGHTS

    t0 = time.perf_counter()
    amt, gru = load_models(WEIGHTS)
    amt.eval(), gru.eval()
    models = (amt, gru, load_scale(WEIGHTS))
    seqs = load_sequences(POP909)
    held = seqs["test"]
    doc: dict = {"held_out_songs": len(held)}
    doc["adherence"] = adherence(held, models, args.songs)
    doc["ablation"] = ablation(held, args.work, args.skip_seeds)
    with tempfile.TemporaryDirectory() as tmp:
        clips = [SHARED / s for s in SOURCES] + montages(Path(tmp))
        doc["clips"], features = clip_table(clips, models)
        doc["forced"] = forced_emotions(features["bikes.mp4"], models)
    doc["seconds"] = round(time.perf_counter() - t0, 1)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "steering.json").write_text(json.dumps(doc, indent=1))
    (RESULTS / "steering.md").write_text(markdown(doc))
    print(markdown(doc))


if __name__ == "__main__":
    main()
