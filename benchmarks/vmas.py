"""VMAs' generated audio on the clips of ../shared/videos and two montages: is it music, and does
it follow the picture's beats (the paper's Table 5 ablations, given weights trained without each
alignment scheme)?

Per weights folder (``--variant NAME=DIR``, repeatable; default: the shipped weights), each clip
composed with seed 0 through :class:`~vidscore.systems.vmas.system.VMAsSystem`:

* level: peak and RMS (dBFS), share of clipped samples; **not silent, not clipping**;
* tonality: mean per-frame entropy (bits) of the normalised 12-bin chroma, beside white noise's
  and the held-out renders'; **onset rate** (per second) beside the renders';
* **FAD** (the model-free ``melstats`` embedder) of all clips' audio against held-out renders
  and against the symbolic systems' rendered music for the same clips (``--symbolic``);
* **AV-Align** (the evaluation suite's: onsets against flow peaks, tolerance one video frame) and
  its lift over the density-matched evenly spaced baseline, on each clip; the issue's bar is a
  lift ratio (AV-Align / evenly spaced) above 1.2 on the montages with the beat weighting.
* the same with the condition's beat pulse **shuffled in time** (one-second blocks), the
  ablation that shows the alignment comes through the model;
* **onsets on the pulse**: AV-Align (40 ms) of each take's onsets against the pulse it was
  given and against the other take's pulse, crossed; "given" above "other" is the decoder
  putting onsets where it is told, whatever the video's own flow peaks are.

Sampling is the system's default unless ``--guidance`` / ``--beat-guidance`` say otherwise
(:mod:`vidscore.systems.vmas.inference`).

    python benchmarks/vmas.py [--variant shipped=src/vidscore/weights/vmas ...]
        [--symbolic diffbgm,video2music] [--renders 40] [--guidance G] [--beat-guidance B]
        [--name vmas]

Writes benchmarks/results/NAME.json, .md and .png.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from analyze import RESULTS, SHARED, SOURCES, montages

from vidscore.systems.vmas.system import WEIGHTS

DATA = [SHARED.parent / "data" / "POP909", SHARED.parent / "data" / "SymMV-train"]
RATE = 16000


def chroma_entropy(y: np.ndarray, sr: int) -> float:
    """Mean over frames of the entropy (bits) of the normalised chroma: 3.58 for a flat one."""
    import librosa

    c = librosa.feature.chroma_stft(y=y.astype(np.float32), sr=sr, n_fft=2048)
    energy = c.sum(axis=0)
    c = c[:, energy > 1e-6]
    if c.shape[1] == 0:
        return float("nan")
    p = c / c.sum(axis=0, keepdims=True)
    return float(np.mean(-(p * np.log2(p + 1e-12)).sum(axis=0)))


def level(y: np.ndarray) -> dict:
    peak = float(np.max(np.abs(y))) if len(y) else 0.0
    rms = float(np.sqrt(np.mean(y**2))) if len(y) else 0.0
    return {
        "peak_dbfs": round(20 * np.log10(max(peak, 1e-9)), 2),
        "rms_dbfs": round(20 * np.log10(max(rms, 1e-9)), 2),
        "clipped_share": round(float(np.mean(np.abs(y) >= 0.999)), 5),
    }


def describe(y: np.ndarray, sr: int) -> dict:
    from vidscore.metrics.alignment import audio_onsets

    return {
        **level(y),
        "chroma_entropy_bits": round(chroma_entropy(y, sr), 3),
        "onsets_per_second": round(len(audio_onsets(y, sr)) / (len(y) / sr), 3),
    }


def play(system, features, cond: np.ndarray, seed: int, params):
    """(audio, pulse times) of the system's generation for ``cond``, sampled with ``params``."""
    from vidscore.systems.vmas.data import PULSE

    y = system.audio(cond, features.duration, params, seed)
    return y, np.flatnonzero(cond[:, PULSE]) / system.codec.frame_rate


def beat_follow(takes: list[tuple[np.ndarray, np.ndarray]], sr: int) -> dict:
    """AV-Align (40 ms) of each take's onsets against the pulse it was given, and against the
    other take's pulse (the real and the moved one, crossed): the decoder follows its beats
    where the first is above the second."""
    from vidscore.metrics.alignment import audio_onsets, av_align

    (y, p), (ys, ps) = takes
    a, b = audio_onsets(y, sr), audio_onsets(ys, sr)
    given = (av_align(a, p, 0.04) + av_align(b, ps, 0.04)) / 2
    other = (av_align(a, ps, 0.04) + av_align(b, p, 0.04)) / 2
    return {"given": round(given, 4), "other": round(other, 4)}


def alignment(y: np.ndarray, sr: int, features) -> dict:
    from vidscore.metrics.alignment import audio_onsets, av_align_report, video_peaks

    fps = features.info.fps
    r = av_align_report(audio_onsets(y, sr), video_peaks(features), duration=features.duration,
                        fps=fps)  # fmt: skip
    d = r.to_dict()
    d["ratio_over_even"] = round(r.score / r.evenly_spaced, 3) if r.evenly_spaced else None
    return d


def symbolic_audio(system: str, features_list) -> list[np.ndarray]:
    """The symbolic system's music for each clip, rendered through vidscore's synthesiser."""
    import librosa

    from vidscore.audio.synth import SAMPLE_RATE
    from vidscore.render.soundtrack import render
    from vidscore.systems.base import load_system
    from vidscore.types import Controls

    model = load_system(system)
    out = []
    for f in features_list:
        st = model.compose(f, Controls(seed=0))
        y = render(st, duration=f.duration)
        out.append(librosa.resample(y, orig_sr=SAMPLE_RATE, target_sr=RATE))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--variant", action="append", default=[], help="NAME=DIR (repeatable)")
    ap.add_argument("--symbolic", default="diffbgm,video2music")
    ap.add_argument("--renders", type=int, default=40, help="held-out renders for the references")
    ap.add_argument("--guidance", type=float, default=None,
                    help="classifier-free guidance (default: the system's)")  # fmt: skip
    ap.add_argument("--beat-guidance", type=float, default=None,
                    help="guidance towards the video beats (default: the system's)")  # fmt: skip
    ap.add_argument("--name", default="vmas")
    args = ap.parse_args()
    import torch

    from vidscore.features.analyze import analyze
    from vidscore.metrics.audio import MelStats, frechet_distance
    from vidscore.systems.vmas.data import moved_pulse
    from vidscore.systems.vmas.renders import load_renders
    from vidscore.systems.vmas.system import VMAsParams, VMAsSystem
    from vidscore.types import Controls

    torch.set_num_threads(2)
    variants = dict(v.split("=", 1) for v in args.variant) or {"shipped": str(WEIGHTS)}
    t0 = time.perf_counter()
    held = [r.audio for r in load_renders(DATA, rate=RATE) if r.split == "test"][: args.renders]
    noise = np.random.default_rng(0).standard_normal(RATE * 10).astype(np.float32) * 0.1
    renders = [describe(y, RATE) for y in held]
    references = {
        "held-out renders": {
            k: round(float(np.mean([r[k] for r in renders])), 3)
            for k in ("chroma_entropy_bits", "onsets_per_second")
        },
        "white noise": {"chroma_entropy_bits": round(chroma_entropy(noise, RATE), 3)},
    }
    emb = MelStats()
    held_emb = np.concatenate([emb.embed(y) for y in held])
    given = {"guidance": args.guidance, "beat_guidance": args.beat_guidance}
    params = VMAsParams(**{k: v for k, v in given.items() if v is not None})
    doc: dict = {"references": references, "variants": {},
                 "guidance": params.guidance, "beat_guidance": params.beat_guidance}  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        clips = [SHARED / s for s in SOURCES] + montages(Path(tmp))
        features = [analyze(c) for c in clips]
        symbolic = {}
        for s in [x for x in args.symbolic.split(",") if x]:
            print("rendering", s, flush=True)
            audio = symbolic_audio(s, features)
            symbolic[s] = np.concatenate([emb.embed(y) for y in audio])
            doc.setdefault("symbolic", {})[s] = {
                "fad_vs_held_out_renders": round(frechet_distance(held_emb, symbolic[s]), 3)
            }
        for name, folder in variants.items():
            system = VMAsSystem.load(folder)
            rows, gen = {}, []
            for clip, f in zip(clips, features, strict=True):
                print(name, clip.name, flush=True)
                # what compose plays, and the same with the beat pulse moved (the ablation)
                cond, _, _ = system.condition(f, Controls(seed=0))
                rate, window = system.codec.frame_rate, system.beat_window
                take = play(system, f, cond, 0, params)
                moved = play(system, f, moved_pulse(cond, rate, window, 0), 0, params)
                y, ys = take[0], moved[0]
                gen.append(y)
                rows[clip.name] = {
                    **describe(y, RATE),
                    "av_align": alignment(y, RATE, f),
                    "av_align_pulse_shuffled": alignment(ys, RATE, f),
                    "beat_follow": beat_follow([take, moved], RATE),
                }
            g = np.concatenate([emb.embed(y) for y in gen])
            fad = {"held-out renders": round(frechet_distance(held_emb, g), 3)}
            fad.update({s: round(frechet_distance(e, g), 3) for s, e in symbolic.items()})
            doc["variants"][name] = {"folder": folder, "clips": rows, "fad_melstats": fad}
    doc["wall_s"] = round(time.perf_counter() - t0, 1)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{args.name}.json").write_text(json.dumps(doc, indent=1) + "\n")
    text = markdown(doc)
    (RESULTS / f"{args.name}.md").write_text(text)
    plot(doc, RESULTS / f"{args.name}.png")
    print(text)
    print(f"wrote {RESULTS / args.name}.json, .md, .png ({doc['wall_s']} s)")


def markdown(doc: dict) -> str:
    ref = doc["references"]
    lines = [
        f"References: held-out renders chroma entropy "
        f"{ref['held-out renders']['chroma_entropy_bits']} bits, "
        f"{ref['held-out renders']['onsets_per_second']} onsets/s; white noise "
        f"{ref['white noise']['chroma_entropy_bits']} bits (flat chroma: 3.585).",
        "",
    ]
    for name, v in doc["variants"].items():
        lines += [
            f"### {name} (`{v['folder']}`)",
            "",
            "FAD (melstats) against: "
            + ", ".join(f"{k} {x}" for k, x in v["fad_melstats"].items()),
            "",
            "| clip | peak dBFS | RMS dBFS | clipped | chroma entropy | onsets/s | AV-Align | "
            "evenly spaced | ratio | AV-Align, pulse shuffled | ratio | onsets on the given "
            "pulse | on the other |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for clip, r in v["clips"].items():
            a, s = r["av_align"], r["av_align_pulse_shuffled"]
            lines.append(
                f"| {clip} | {r['peak_dbfs']} | {r['rms_dbfs']} | {r['clipped_share']} | "
                f"{r['chroma_entropy_bits']} | {r['onsets_per_second']} | {a['score']} | "
                f"{a['evenly_spaced']} | {a['ratio_over_even']} | {s['score']} | "
                f"{s['ratio_over_even']} | {r['beat_follow']['given']} | "
                f"{r['beat_follow']['other']} |"
            )
        follow = [r["beat_follow"] for r in v["clips"].values()]
        lines += [
            "",
            "Onsets on the pulse (AV-Align, 40 ms, of each take against the pulse it was given "
            "and against the other take's; mean over clips): given "
            f"{np.mean([f['given'] for f in follow]):.4f}, other "
            f"{np.mean([f['other'] for f in follow]):.4f}.",
            "",
        ]
    lines.insert(1, f"Sampling: guidance {doc['guidance']}, beat guidance {doc['beat_guidance']}.")
    for s, d in doc.get("symbolic", {}).items():
        lines.append(
            f"Symbolic {s}, rendered: FAD against held-out renders {d['fad_vs_held_out_renders']}."
        )
    return "\n".join(lines) + "\n"


def plot(doc: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(doc["variants"])
    clips = list(next(iter(doc["variants"].values()))["clips"])
    fig, ax = plt.subplots(figsize=(9, 3.6))
    width = 0.8 / (2 * len(names))
    x = np.arange(len(clips))
    for i, n in enumerate(names):
        rows = doc["variants"][n]["clips"]
        ax.bar(x + (2 * i) * width, [rows[c]["av_align"]["ratio_over_even"] or 0 for c in clips],
               width, label=f"{n}")  # fmt: skip
        ax.bar(x + (2 * i + 1) * width,
               [rows[c]["av_align_pulse_shuffled"]["ratio_over_even"] or 0 for c in clips],
               width, label=f"{n}, pulse shuffled", alpha=0.5)  # fmt: skip
    ax.axhline(1.0, color="grey", lw=0.8)
    ax.axhline(1.2, color="red", lw=0.8, ls="--", label="target 1.2")
    ax.set_xticks(x + 0.4 - width / 2, clips, fontsize=8)
    ax.set_ylabel("AV-Align / evenly spaced")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


if __name__ == "__main__":
    main()
