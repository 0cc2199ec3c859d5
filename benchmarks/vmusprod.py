"""V-MusProd's table: its music beside real SymMV's, its melody and accompaniment, and whether
its curves steer it.

    python benchmarks/vmusprod.py [--pieces 30] [--bars 16] [--weights DIR] [--ablation DIR]

1. SymMV validation split (the hash split the trainer holds out): for each of the first
   ``--pieces`` pieces, its first ``--bars`` bars as they are (real) and as the shipped weights
   write them from the piece's own curves (generated): SC, PE, PCE, EBR, GS and IOI (in beats),
   V-MusProd's Table 2 columns, with the mean over pieces. The real bars are openings, so the
   generated ones are written without the rule that makes a clip's last bar hold the tonic;
   a second row has it.
2. Melody and accompaniment: the melody's most simultaneous notes (1 = monophonic), notes per
   bar and pitch range; the share of accompaniment notes in the sounding chord and in the key.
3. Steering: Spearman r, per two-beat step, between the asked activity / intensity curves and
   the same curves measured back from the music (median over pieces), fed the real curves, the
   curves shuffled in time (bars moved whole) and, on SymMV, the real curves with classifier-free
   guidance; also on the POP909 test songs benchmarks/steering.py scores the other systems on.
4. Clips: every clip in ../shared/videos and two montages of them, composed with
   ``--system vmusprod``: the same metrics.
5. With ``--ablation DIR`` (a folder with ``direct`` and ``music`` stages, trained by
   ``vidscore train vmusprod --stage direct|music`` on the same data): the paper's Table 2
   ablation on the SymMV validation split: every note straight from the controller ("direct",
   the paper's Video2music), chords then every note ("music", Video2chord2music), and the full
   chain, each with the metrics of 1 and the steering of 3. When DIR also holds the three
   chain stages (trained for as many epochs), those make the "full" row and the chord stage of
   "music", so every row had the same training; else the shipped stages stand in.

Every piece's curves are ranked by the weights' own calibration (the training music's), as they
were at training.

Writes benchmarks/results/vmusprod.json and vmusprod.md.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from scipy.stats import spearmanr

sys.path.insert(0, str(Path(__file__).resolve().parent))
from analyze import RESULTS, SHARED, SOURCES, montages

SYMMV = SHARED.parent / "data" / "SymMV-train"
POP909 = SHARED.parent / "data" / "POP909"
COLUMNS = ("SC", "PE", "PCE", "EBR", "GS", "IOI")
C_MAJOR = frozenset({0, 2, 4, 5, 7, 9, 11})  # C major = A minor: the normalised key's scale
GUIDANCE = 2.0  # the classifier-free guidance scale scored beside plain conditioning


def in_beats(tracks) -> object:
    """A score at 60 BPM, so the IOI metric (seconds) reads in beats."""
    from vidscore.music.score import Score

    return Score(tracks, [(0.0, 60.0)])


def metrics(score) -> dict:
    from vidscore.metrics.symbolic import all_metrics

    m = all_metrics(score)
    return {k: float(m[k]) for k in COLUMNS}


def part_stats(melody, accomp, chords, scale=C_MAJOR) -> dict:
    """Melody polyphony, notes per bar, range; accompaniment in chord and in the key's
    ``scale`` (pitch classes)."""
    events = sorted([(n.start, 1) for n in melody] + [(n.end, -1) for n in melody])
    most, now = 0, 0
    for _, d in events:
        now += d
        most = max(most, now)
    end = max([n.end for n in melody + accomp] + [1.0])
    starts = [c.start for c in chords]

    def chord_at(t: float):
        k = int(np.searchsorted(starts, t + 1e-9, side="right")) - 1
        return chords[k].chord if k >= 0 and chords[k].end > t else None

    in_chord = [
        n.pitch % 12 in c.pitch_classes
        for n in accomp
        if (c := chord_at(n.start)) is not None and c.root is not None
    ]
    pitches = [n.pitch for n in melody]
    return {
        "melody_max_voices": most,
        "melody_notes_per_bar": len(melody) / (end / 4),
        "melody_range": (max(pitches) - min(pitches)) if pitches else 0,
        "accomp_in_chord": float(np.mean(in_chord)) if in_chord else float("nan"),
        "accomp_in_key": float(np.mean([n.pitch % 12 in scale for n in accomp]))
        if accomp
        else float("nan"),
    }


def rho(a, b) -> float:
    if np.std(a) == 0 or np.std(b) == 0:
        return float("nan")
    return float(spearmanr(a, b).statistic)


def steps(raw: np.ndarray) -> np.ndarray:
    """Per-beat rows -> per two-beat step means."""
    n = len(raw) // 2
    return raw[: 2 * n].reshape(n, 2, -1).mean(axis=1)


def generate(
    models: dict, piece, bars: int, seed: int, cond: np.ndarray | None, guidance: float = 1.0,
    variant: str = "full", ending: bool = False, sampling: dict | None = None,
):  # fmt: skip
    """The excerpt as ``variant`` writes it from ``cond``. The real excerpts are a piece's
    opening bars, so by default the last bar is not made to hold the tonic (``ending``)."""
    from vidscore.systems.common.bars import BarLayout
    from vidscore.systems.vmusprod.inference import Sampling, write_parts

    layout = BarLayout([4] * bars, [False] * bars, cond, piece.tempo)
    s = Sampling(**{**(sampling or {}), "guidance": guidance, "resolve_end": ending})
    return write_parts(models, layout, s, seed, variant)


def held_out(data: Path, split: str, pieces: int, bars: int, calibration) -> list:
    """The first ``pieces`` pieces of ``split`` with at least ``bars`` bars, their curves
    ranked by ``calibration``."""
    from vidscore.systems.vmusprod.data import load_pieces
    from vidscore.systems.vmusprod.train import default_cache

    corpus = load_pieces([data], cache=default_cache())
    chosen = [p for p in corpus[split] if p.n_bars >= bars][:pieces]
    for p in chosen:
        p.cond = calibration.apply(p.raw)
    return chosen


def corpus_table(
    models: dict, val: list, bars: int, guided: bool = False, variant: str = "full",
    ending: bool = False, sampling: dict | None = None, steering: bool = True,
) -> dict:  # fmt: skip
    """The metrics of ``val``'s first ``bars`` bars, real and as ``variant`` writes them from
    their curves (``sampling``: Sampling fields other than the defaults); with ``steering``, the
    adherence to real and shuffled curves too."""
    from vidscore.curves.contract import CURVES
    from vidscore.curves.music import raw_curves
    from vidscore.music.score import Track
    from vidscore.systems.vmusprod.train import shuffled_piece
    from vidscore.systems.vmusprod.windows import crop_chords, crop_notes

    rows: dict[str, list[dict]] = {"real": [], "generated": []}
    stats: dict[str, list[dict]] = {"real": [], "generated": []}
    adherence: dict[str, list[float]] = {}
    hi = bars * 4
    for k, p in enumerate(val):
        mel, acc = crop_notes(p.melody, 0, hi), crop_notes(p.accompaniment, 0, hi)
        rows["real"].append(metrics(in_beats([Track("melody", mel), Track("accomp", acc)])))
        stats["real"].append(part_stats(mel, acc, crop_chords(p.chords, 0, hi)))
        asked = p.cond[:hi]
        fed_with = [("real", p, 1.0)]
        if steering:
            fed_with.append(("shuffled", shuffled_piece(p, k), 1.0))
        if guided:
            fed_with.append((f"guidance {GUIDANCE}", p, GUIDANCE))
        for label, fed, g in fed_with:
            chords, melody, accomp = generate(
                models, p, bars, k, fed.cond[:hi], g, variant, ending, sampling
            )
            score = in_beats([Track("melody", melody), Track("accomp", accomp)])
            if label == "real":
                rows["generated"].append(metrics(score))
                if variant == "full":
                    stats["generated"].append(part_stats(melody, accomp, chords))
            beats = np.arange(hi, dtype=np.float64)
            got = steps(raw_curves(score, beats, beats + 1))
            want = steps(asked)
            for name in ("activity", "intensity"):
                c = CURVES.index(name)
                adherence.setdefault(f"{name}/{label}", []).append(rho(got[:, c], want[:, c]))
        print(k, p.name, rows["generated"][-1], flush=True)

    def mean(items: list[dict]) -> dict:
        return {key: round(float(np.nanmean([r[key] for r in items])), 4) for key in items[0]}

    return {
        "pieces": len(val),
        "bars": bars,
        "metrics": {label: mean(v) for label, v in rows.items()},
        "parts": {label: mean(v) for label, v in stats.items() if v},
        "adherence": {key: round(float(np.nanmedian(v)), 3) for key, v in adherence.items()},
    }


def clip_table(system) -> dict:
    from vidscore.features.analyze import AnalysisConfig, analyze
    from vidscore.music.key import Key
    from vidscore.music.score import Track
    from vidscore.types import Controls

    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        clips = [SHARED / s for s in SOURCES] + montages(Path(tmp))
        for clip in clips:
            f = analyze(clip, AnalysisConfig(series=tuple(sorted(system.needs.series))))
            st = system.compose(f, Controls(), None)
            tracks = {t.name: t.notes for t in st.score.tracks}
            score = in_beats([Track(n, v) for n, v in tracks.items()])
            row = metrics(score)
            scale = Key.parse(st.key).pitch_classes
            row.update(
                part_stats(tracks["melody"], tracks["accompaniment"], st.score.chords, scale)
            )
            row["seconds"] = round(f.duration, 1)
            out[clip.name] = {k: round(v, 4) if isinstance(v, float) else v for k, v in row.items()}
            print(clip.name, out[clip.name], flush=True)
    return out


def markdown(doc: dict) -> str:
    c = doc["corpus"]
    lines = [
        f"## SymMV validation split: the first {c['bars']} bars of {c['pieces']} pieces",
        "",
        "| music | " + " | ".join(COLUMNS) + " |",
        "|---|" + "---|" * len(COLUMNS),
    ]
    for label, m in c["metrics"].items():
        lines.append(f"| {label} | " + " | ".join(str(m[k]) for k in COLUMNS) + " |")
    m = doc["corpus_ending"]["metrics"]["generated"]
    lines.append("| generated, last bar on the tonic | " + " | ".join(str(m[k]) for k in COLUMNS)
                 + " |")  # fmt: skip
    parts = ("melody_max_voices", "melody_notes_per_bar", "melody_range", "accomp_in_chord",
             "accomp_in_key")  # fmt: skip
    lines += ["", "| music | " + " | ".join(parts) + " |", "|---|" + "---|" * len(parts)]
    for label, m in c["parts"].items():
        lines.append(f"| {label} | " + " | ".join(str(m[k]) for k in parts) + " |")
    a = c["adherence"]
    lines += [
        "",
        "Steering (median Spearman r per two-beat step, asked vs measured back):",
        "",
        f"| curve | real curves | shuffled curves | real, guidance {GUIDANCE} |",
        "|---|---|---|---|",
        *[
            f"| {n} | {a[f'{n}/real']} | {a[f'{n}/shuffled']} | {a[f'{n}/guidance {GUIDANCE}']} |"
            for n in ("activity", "intensity")
        ],
        "",
        "The same on the first POP909 test songs (benchmarks/steering.py's held-out songs):",
        "",
        "| curve | real curves | shuffled curves |",
        "|---|---|---|",
        *[
            f"| {n} | {doc['pop909']['adherence'][f'{n}/real']} | "
            f"{doc['pop909']['adherence'][f'{n}/shuffled']} |"
            for n in ("activity", "intensity")
        ],
        "",
        "## Clips (`vidscore compose --system vmusprod`, seed 0)",
        "",
        "| clip | s | " + " | ".join(COLUMNS + parts) + " |",
        "|---|---|" + "---|" * (len(COLUMNS) + len(parts)),
    ]
    for name, row in doc["clips"].items():
        cells = " | ".join(str(row[k]) for k in COLUMNS + parts)
        lines.append(f"| {name} | {row['seconds']} | {cells} |")
    if "ablation" in doc:
        lines += [
            "",
            "## Ablation (the paper's Table 2), SymMV validation split as above",
            "",
            "| variant | " + " | ".join(COLUMNS) + " | activity r | shuffled | intensity r | "
            "shuffled |",
            "|---|" + "---|" * (len(COLUMNS) + 4),
            "| real | " + " | ".join(str(c["metrics"]["real"][k]) for k in COLUMNS) + " | | | | |",
        ]
        ep = doc["ablation"]["epochs"]
        names = {
            "direct": f"direct (Video2music), {ep['direct']} epochs",
            "music": f"chords -> music (Video2chord2music), {ep['chord']} + {ep['music']} epochs",
            "full": f"full V-MusProd, {ep['chord']} + {ep['melody']} + {ep['accompaniment']} "
            "epochs",
        }
        for v, label in names.items():
            t = doc["ablation"][v]
            a = t["adherence"]
            cells = [str(t["metrics"]["generated"][k]) for k in COLUMNS] + [
                str(a[f"{n}/{w}"]) for n in ("activity", "intensity") for w in ("real", "shuffled")
            ]
            lines.append(f"| {label} | " + " | ".join(cells) + " |")
    lines += ["", f"Run time {doc['seconds']} s."]
    return "\n".join(lines) + "\n"


def corpus_arguments(doc: str) -> argparse.ArgumentParser:
    """The options of the benchmarks that score V-MusProd's weights on held-out excerpts."""
    ap = argparse.ArgumentParser(description=doc.splitlines()[0])
    ap.add_argument("--pieces", type=int, default=30)
    ap.add_argument("--bars", type=int, default=16)
    ap.add_argument("--weights", type=Path, default=None)
    return ap


def shipped(weights: Path | None):
    """``(system, manifest, ranks)``: V-MusProd's weights (the shipped ones by default), their
    manifest and the calibration that ranks held-out curves as they were at training."""
    import torch

    from vidscore.curves.contract import Calibration
    from vidscore.modules.checkpoint import read_manifest
    from vidscore.systems.vmusprod.system import VMusProdSystem

    torch.set_num_threads(2)
    system = VMusProdSystem.load(weights)
    manifest = read_manifest(VMusProdSystem.weights_folder(weights), system="vmusprod")
    return system, manifest, Calibration.from_dict(manifest["calibration"])


def main() -> None:
    ap = corpus_arguments(__doc__)
    ap.add_argument("--ablation", type=Path, default=None, help="folder with direct and music")
    args = ap.parse_args()
    from vidscore.modules.checkpoint import read_manifest
    from vidscore.systems.vmusprod.model import ABLATIONS, STAGES
    from vidscore.systems.vmusprod.system import VMusProdSystem, load_stages

    t0 = time.perf_counter()
    system, manifest, ranks = shipped(args.weights)
    folder = VMusProdSystem.weights_folder(args.weights)
    calibration = manifest["calibration"]
    val = held_out(SYMMV, "val", args.pieces, args.bars, ranks)
    doc = {
        "corpus": corpus_table(system.models, val, args.bars, guided=True),
        # the same excerpts ending as the system ends a clip: the last bar holds the tonic
        "corpus_ending": corpus_table(system.models, val, args.bars, ending=True),
        # the held-out POP909 songs benchmarks/steering.py scores Video2Music and the baseline on
        "pop909": corpus_table(
            system.models, held_out(POP909, "test", args.pieces, args.bars, ranks), args.bars
        ),
    }
    if args.ablation is not None:
        ablation = read_manifest(args.ablation, system="vmusprod")
        if ablation["calibration"] != calibration:
            sys.exit(f"{args.ablation}: trained on other data than {folder} (calibration differs)")
        own = tuple(s for s in STAGES if (args.ablation / f"{s}.safetensors").is_file())
        models = {**system.models, **load_stages(args.ablation, ABLATIONS + own)}
        doc["ablation"] = {
            v: corpus_table(models, val, args.bars, variant=v) for v in ("direct", "music")
        }
        doc["ablation"]["full"] = (
            corpus_table(models, val, args.bars) if own == STAGES else doc["corpus"]
        )
        doc["ablation"]["epochs"] = {
            s: (ablation if s in ABLATIONS + own else manifest)["stages"][s]["train"]["epochs"]
            for s in STAGES + ABLATIONS
        }
    doc["clips"] = clip_table(system)
    doc["seconds"] = round(time.perf_counter() - t0, 1)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "vmusprod.json").write_text(json.dumps(doc, indent=1))
    (RESULTS / "vmusprod.md").write_text(markdown(doc))
    print(markdown(doc))


if __name__ == "__main__":
    main()
