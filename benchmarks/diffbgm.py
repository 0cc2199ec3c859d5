"""Diff-BGM in vidscore: structure metrics, adherence to the curves, guidance, SAC-Att, regenerate.

1. **Corpus** (held-out POP909 test songs, their first ``--bars`` bars, ranked by the weights'
   calibration): the denoiser writes each excerpt from the song's own curves (velocity rule off:
   the notes are the model's alone). PCHE (8-bar windows), GPS (16 positions) and SI (short,
   mid, long; rendered audio) beside the real excerpts' and Diff-BGM's published figures;
   control adherence (median over songs of the per-beat Spearman r between the curve asked for
   and the curve measured back) at guidance 0 (unconditioned), 1, 2, 3 and 5, and with the curves
   shuffled in time (bars moved whole; r against the unshuffled curves).
2. **Clips** (../shared/videos and two montages): for each SAC-Att mask (the cut plan's shots,
   the reference's fixed halves, none): cut alignment, the share of the cuts the plan put on bar
   lines with an onset burst (two or more notes starting within 50 ms) or a texture change (the
   pitch classes sounding in the beat after differ from the beat before by a Jaccard distance of
   at least 0.5) within 50 ms; the same share at the plan's other downbeats for reference; and
   per-second Spearman r between the clip's motion and the music's onsets, with the clip's
   features shuffled in time beside it (mean of ``--shuffles``); PCHE, GPS and SI of each
   clip's music (cut-plan mask).
3. **Regenerate** (bikes.mp4, 3-6.5 s rewritten with another seed): notes outside the range
   unchanged, and onsets per beat around each seam against the take's mean (no silence, no
   pile-up).

    python benchmarks/diffbgm.py [--weights DIR] [--pieces 20] [--bars 16] [--shuffles 10]
        [--steps N] [--sampler ddim|dpm] [--parts corpus,clips,regenerate] [--name diffbgm]

Writes benchmarks/results/NAME.json and NAME.md (``--name`` keeps an ablation's weights, say
``--reference-conditioning``, from overwriting the shipped weights' figures).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from analyze import RESULTS, SHARED, montages
from steering import mean_r, per_second_onsets, rho, whole_seconds
from vmusprod import held_out

from vidscore.systems.diffbgm.sacatt import MASKS

POP909 = SHARED.parent / "data" / "POP909"
GUIDANCE = (0.0, 1.0, 2.0, 3.0, 5.0)
MEASURED = ("activity", "intensity", "valence", "register")
PARTS = ("corpus", "clips", "regenerate")
#: Diff-BGM's published figures on BGM909 (README of the reference code)
PUBLISHED = {
    "Diff-BGM": {"PCHE": 2.840, "GPS": 0.601, "SI": 0.521},
    "Diff-BGM, visual only": {"PCHE": 2.835, "GPS": 0.514, "SI": 0.396},
    "Diff-BGM, w/o SAC-Att": {"PCHE": 2.721, "GPS": 0.789, "SI": 0.523},
}


def excerpt_score(notes, tempo: float = 120.0):
    from vidscore.music.score import Score, Track

    return Score([Track("piano", sorted(notes), 0)], [(0.0, tempo)])


def structure(score) -> dict:
    """PCHE, GPS and SI of a score (SI from the rendered audio)."""
    from vidscore.audio.synth import render_midi
    from vidscore.metrics import musdr
    from vidscore.music.midi import write_midi

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "x.mid"
        write_midi(score, path)
        audio = render_midi(path, sample_rate=22050)
    si = musdr.structureness(audio, 22050)
    return {
        "PCHE": musdr.pitch_class_histogram_entropy(score, bars=8),
        "GPS": musdr.grooving_pattern_similarity(score, positions=16),
        **{f"SI_{k}": v for k, v in si.items()},
    }


def measured(score, beats: int) -> np.ndarray:
    """The score's raw curves per beat (120 BPM), chords recognised from its notes."""
    from vidscore.curves.music import chords_at, raw_curves
    from vidscore.music.key import mode_of
    from vidscore.systems.diffbgm.system import _chords

    score = dataclasses.replace(score, chords=_chords(score.notes(), beats))
    starts = np.arange(beats) * 0.5
    return raw_curves(score, starts, starts + 0.5, chords=chords_at(score, starts),
                      mode=mode_of(c.chord for c in score.chords))  # fmt: skip


def write(model, piece, bars: int, seed: int, guidance: float, cond=None, sampling=None):
    """The excerpt the denoiser writes from ``cond`` (default: the piece's own curves)."""
    from vidscore.curves.contract import CURVES
    from vidscore.systems.diffbgm.data import split_curves
    from vidscore.systems.diffbgm.inference import DiffusionSampling, roll_notes, sample_roll

    beats = 4 * bars
    cond = piece.cond[:beats] if cond is None else cond
    dyn, sem = split_curves(cond)
    starts = piece.raw[:beats, CURVES.index("boundary")] > 0.5
    starts[0] = False
    s = dataclasses.replace(sampling or DiffusionSampling(), guidance=guidance)
    roll = sample_roll(model, dyn, sem, np.cumsum(starts), s, seed)
    return excerpt_score(roll_notes(roll, model.cfg.low_pitch))


def corpus(model, pieces, bars: int, sampling=None) -> dict:
    from vidscore.curves.contract import CURVES, shuffled_bars

    beats = 4 * bars
    r: dict[str, list[float]] = {}
    quality: dict[str, list[dict]] = {"generated": [], "real": []}
    for i, p in enumerate(pieces):
        asked = p.cond[:beats]
        runs = [(f"guidance {g}", g, asked) for g in GUIDANCE]
        runs.append(("shuffled", 2.0, shuffled_bars(asked, i)))
        for label, g, fed in runs:
            score = write(model, p, bars, seed=i, guidance=g, cond=fed, sampling=sampling)
            got = measured(score, beats)
            for name in MEASURED:
                k = CURVES.index(name)
                r.setdefault(f"{name}/{label}", []).append(rho(got[:, k], asked[:, k]))
            if label == "guidance 2.0":
                quality["generated"].append(structure(score))
        real = excerpt_score([n for n in [*p.melody, *p.accompaniment] if n.start < beats],
                             p.tempo)  # fmt: skip
        quality["real"].append(structure(real))
        print(f"song {i + 1}/{len(pieces)}", flush=True)
    adherence = {k: round(float(np.nanmedian(v)), 3) for k, v in r.items()}
    means = {
        side: {k: round(float(np.mean([q[k] for q in rows])), 3) for k in rows[0]}
        for side, rows in quality.items()
    }
    return {"adherence": adherence, "structure": means, "songs": len(pieces), "bars": bars}


def cut_alignment(score, cuts: list[float], others: list[float]) -> dict:
    """Share of ``cuts`` (and of the ``others`` downbeats) with an onset burst or a texture
    change within 50 ms."""
    notes = score.notes()
    on = np.asarray(score.seconds(np.array([n.start for n in notes])))
    off = np.asarray(score.seconds(np.array([n.end for n in notes])))
    pcs = np.array([n.pitch % 12 for n in notes])
    beat = 60.0 / score.tempos[0][1]

    def marked(t: float) -> bool:
        burst = int(np.sum(np.abs(on - t) <= 0.05)) >= 2
        before = set(pcs[(on < t - 0.05) & (off > t - beat)])
        after = set(pcs[(on >= t - 0.05) & (on < t + beat)])
        union = before | after
        change = bool(union) and 1 - len(before & after) / len(union) >= 0.5
        return burst or change

    def share(ts: list[float]) -> float | None:
        return round(float(np.mean([marked(t) for t in ts])), 3) if ts else None

    return {"cuts": share(cuts), "other downbeats": share(others)}


def clips(system_cls, weights, shuffles: int, steps: int, sampler: str) -> dict:
    from vidscore.evaluation import shuffled
    from vidscore.features.analyze import AnalysisConfig, analyze
    from vidscore.features.timeline import bin_mean
    from vidscore.systems.diffbgm.system import DiffBGMParams
    from vidscore.types import Controls

    system = system_cls.load(weights)
    out: dict = {}
    with tempfile.TemporaryDirectory() as tmp:
        paths = [*sorted(SHARED.glob("*.mp4")), *montages(Path(tmp))]
        for clip in paths:
            f = analyze(clip, AnalysisConfig(series=tuple(system.needs.series)))
            d = f.duration
            motion = bin_mean(f["motion"].times, f["motion"].values, rate=1.0, duration=d)
            for mask in MASKS:
                params = DiffBGMParams(mask=mask, steps=steps, sampler=sampler)
                st = system.compose(f, Controls(), params)
                aligned = list(st.timeline.aligned_cuts)
                downbeats = [b for b in st.timeline.downbeats
                             if min((abs(b - c) for c in aligned), default=9) > 0.1]  # fmt: skip
                row = cut_alignment(st.score, aligned, downbeats)
                n = whole_seconds(d)
                real = rho(motion[:n], per_second_onsets(st.score, d))
                fake = []
                for s in range(1, shuffles + 1):
                    g = shuffled(f, s)
                    fake.append(rho(motion[:n], per_second_onsets(
                        system.compose(g, Controls(), params).score, d)))  # fmt: skip
                row.update({"motion~onsets": round(real, 3), "shuffled": mean_r(fake),
                            "seconds": round(d, 1), "aligned cuts": len(aligned)})  # fmt: skip
                if mask == "shots":
                    row["structure"] = {k: round(v, 3) for k, v in structure(st.score).items()}
                out.setdefault(mask, {})[clip.name] = row
                print(mask, clip.name, row, flush=True)
    return out


def regenerate(weights) -> dict:
    from vidscore.features.analyze import AnalysisConfig, analyze
    from vidscore.music.midi import read_midi, write_midi
    from vidscore.systems.diffbgm.system import DiffBGMSystem
    from vidscore.types import Controls

    system = DiffBGMSystem.load(weights)
    clip = SHARED / "bikes.mp4"
    f = analyze(clip, AnalysisConfig(series=tuple(system.needs.series)))
    a, b = 3.0, 6.5
    with tempfile.TemporaryDirectory() as tmp:
        take = Path(tmp) / "take.mid"
        write_midi(system.compose(f, Controls()).score, take)
        first = read_midi(take)
        second = system.compose(f, Controls(seed=7, keep=str(take), regenerate=(a, b))).score

    def timed(s):
        return sorted((round(float(s.seconds(n.start)), 3), round(float(s.seconds(n.end)), 3),
                       n.pitch, n.velocity) for n in s.notes())  # fmt: skip

    x, y = timed(first), timed(second)
    outside_x = [n for n in x if not a <= n[0] < b]
    outside_y = [n for n in y if not a <= n[0] < b]
    beat = 60.0 / second.tempos[0][1]
    onsets = np.array([n[0] for n in y])
    mean_per_beat = len(set(onsets.round(3))) / (f.duration / beat)
    seams = {}
    for t in (a, b):
        for side, lo in (("before", t - beat), ("after", t)):
            seams[f"{t} {side}"] = len(set(onsets[(onsets >= lo) & (onsets < lo + beat)].round(3)))
    return {
        "outside notes, take": len(outside_x),
        "outside notes identical": outside_x == outside_y,
        "inside notes, take / regenerated": [len(x) - len(outside_x), len(y) - len(outside_y)],
        "onset times per beat at the seams": seams,
        "onset times per beat, whole take": round(mean_per_beat, 2),
    }


def markdown(doc: dict) -> str:
    lines = [f"Weights: {doc['weights']}; sampler {doc['sampler']}, {doc['steps']} steps", ""]
    if "corpus" in doc:
        lines += corpus_markdown(doc["corpus"])
    if "clips" in doc:
        lines += clips_markdown(doc["clips"])
    if "regenerate" in doc:
        lines += ["", "## Regenerate (bikes.mp4, 3-6.5 s)", "", "```",
                  json.dumps(doc["regenerate"], indent=1), "```"]  # fmt: skip
    return "\n".join(lines) + "\n"


def corpus_markdown(c: dict) -> list[str]:
    lines = [f"## Structure, {c['songs']} POP909 test songs, first {c['bars']} bars", ""]
    lines += ["| music | PCHE | GPS | SI short | SI mid | SI long |", "|---|---|---|---|---|---|"]
    for side in ("real", "generated"):
        q = c["structure"][side]
        lines.append(f"| {side} | {q['PCHE']} | {q['GPS']} | {q['SI_short']} | {q['SI_mid']} | "
                     f"{q['SI_long']} |")  # fmt: skip
    for name, q in PUBLISHED.items():
        lines.append(f"| {name} (published, BGM909) | {q['PCHE']} | {q['GPS']} | {q['SI']} | | |")
    lines += ["", "## Adherence: median Spearman r per beat, curve asked vs measured", ""]
    lines += ["| fed | " + " | ".join(MEASURED) + " |", "|---|" + "---|" * len(MEASURED)]
    for label in [*(f"guidance {g}" for g in GUIDANCE), "shuffled"]:
        cells = [str(c["adherence"][f"{m}/{label}"]) for m in MEASURED]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return lines


def clips_markdown(clips: dict) -> list[str]:
    lines = ["", "## SAC-Att on clips", ""]
    lines += ["| mask | clip | s | cuts on bars | at cuts | at other downbeats | motion ~ onsets | "
              "shuffled |", "|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for mask, rows in clips.items():
        for clip, r in rows.items():
            cells = [mask, clip, r["seconds"], r["aligned cuts"], r["cuts"], r["other downbeats"],
                     r["motion~onsets"], r["shuffled"]]  # fmt: skip
            lines.append("| " + " | ".join(map(str, cells)) + " |")
    lines += ["", "## Structure of the clips' music (cut-plan mask)", "",
              "| clip | s | PCHE | GPS | SI short | SI mid | SI long |",
              "|---|---|---|---|---|---|---|"]  # fmt: skip
    for clip, r in clips["shots"].items():
        q = r["structure"]
        lines.append(f"| {clip} | {r['seconds']} | {q['PCHE']} | {q['GPS']} | {q['SI_short']} | "
                     f"{q['SI_mid']} | {q['SI_long']} |")  # fmt: skip
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--weights", type=Path, default=None)
    ap.add_argument("--pieces", type=int, default=20)
    ap.add_argument("--bars", type=int, default=16)
    ap.add_argument("--shuffles", type=int, default=10)
    ap.add_argument("--steps", type=int, help="denoising steps (default: the system's)")
    ap.add_argument("--sampler", default=None, help="ddim or dpm (default: the system's)")
    ap.add_argument("--parts", default=",".join(PARTS), help="comma-separated, of " + str(PARTS))
    ap.add_argument("--name", default="diffbgm", help="stem of the result files")
    args = ap.parse_args()
    parts = args.parts.split(",")
    if not set(parts) <= set(PARTS):
        ap.error(f"--parts: each one of {', '.join(PARTS)}")

    from vidscore.curves.contract import Calibration
    from vidscore.modules.checkpoint import read_manifest
    from vidscore.systems.diffbgm.system import DiffBGMSystem

    folder = DiffBGMSystem.weights_folder(args.weights)
    calibration = Calibration.from_dict(read_manifest(folder)["calibration"])
    from vidscore.systems.diffbgm.inference import DiffusionSampling
    from vidscore.systems.diffbgm.system import DiffBGMParams

    base = DiffBGMParams()
    params = DiffBGMParams(steps=args.steps or base.steps, sampler=args.sampler or base.sampler)
    sampling = DiffusionSampling(steps=params.steps, sampler=params.sampler)
    model = DiffBGMSystem.load(folder).model
    t0 = time.perf_counter()
    RESULTS.mkdir(exist_ok=True)
    doc: dict = {"weights": str(folder), "steps": params.steps, "sampler": params.sampler}
    for part in parts:  # the JSON is written as each part ends
        if part == "corpus":
            pieces = held_out(POP909, "test", args.pieces, args.bars, calibration)
            doc["corpus"] = corpus(model, pieces, args.bars, sampling)
        elif part == "clips":
            doc["clips"] = clips(DiffBGMSystem, folder, args.shuffles, params.steps, params.sampler)
        else:
            doc["regenerate"] = regenerate(folder)
        doc["seconds"] = round(time.perf_counter() - t0, 1)
        (RESULTS / f"{args.name}.json").write_text(json.dumps(doc, indent=1))
    text = markdown(doc)
    (RESULTS / f"{args.name}.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
