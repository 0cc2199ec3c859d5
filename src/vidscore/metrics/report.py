"""The evaluation report: per-output metrics from sound, score and cues, summaries, tables.

Pure functions over audio, a :class:`~vidscore.music.score.Score`, the cues document and the
clip's features: AV-Align against the video's flow peaks (with baselines) from the sound; cut
alignment and emotion correspondence from the cues; density-motion correlation from the score.
Finding files, analysing clips and composing live above the pipeline, in
:mod:`vidscore.evaluation`.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field

import numpy as np

from vidscore.errors import UsageError
from vidscore.metrics.alignment import (
    audio_onsets,
    av_align_report,
    cut_alignment,
    density_motion_correlation,
    video_peaks,
)
from vidscore.metrics.chords import emotion_correspondence
from vidscore.metrics.musdr import structureness
from vidscore.metrics.symbolic import METRICS
from vidscore.music.chords import parse_harte
from vidscore.music.descriptors import note_density
from vidscore.music.score import Score
from vidscore.outputs import atomic_path


@dataclass
class PieceReport:
    path: str
    kind: str
    metrics: dict[str, float] = field(default_factory=dict)


def video_metrics(
    audio: np.ndarray, sr: int, features, score: Score | None, cues: dict | None
) -> dict[str, float]:
    """AV-Align (and baselines) from ``audio``; cut alignment and emotion correspondence from
    ``cues``; density-motion correlation from ``score``; each against the clip's ``features``.
    Also the audio's own structureness (SI short / mid / long, Diff-BGM's)."""
    out: dict[str, float] = {f"SI_{k}": v for k, v in structureness(audio, sr).items()}
    report = av_align_report(
        audio_onsets(audio, sr),
        video_peaks(features),
        duration=features.duration,
        fps=features.info.fps,
    )
    out.update(
        {f"av_align_{k}" if k != "score" else "av_align": v for k, v in report.to_dict().items()}
    )
    if cues is not None:
        changes = [c["start"] for c in cues["chords"]] + list(cues.get("downbeats", []))
        out["cut_alignment"] = cut_alignment(features.cuts, changes)
    if cues is not None and cues.get("chords") and cues.get("emotion"):
        per_second = [e["label"] for e in cues["emotion"]]
        chords, emotions = [], []
        for c in cues["chords"][:-1]:  # the last chord is the forced tonic
            second = min(int(c["start"]), len(per_second) - 1)
            chords.append(parse_harte(c["symbol"]))
            emotions.append(per_second[second])
        out["emotion_correspondence"] = emotion_correspondence(chords, emotions)
    if score is not None:
        notes = [
            (float(score.seconds(n.start)), float(score.seconds(n.end))) for n in score.notes()
        ]
        density = note_density(notes, features.duration)
        out["density_motion_correlation"] = density_motion_correlation(
            density, features["motion"].values
        )
    return out


def summarize(reports: list[PieceReport]) -> dict[str, float]:
    keys = sorted({k for r in reports for k in r.metrics})
    out = {}
    for k in keys:
        vals = [r.metrics[k] for r in reports if k in r.metrics and not _nan(r.metrics[k])]
        out[k] = float(np.mean(vals)) if vals else math.nan
    return out


def _nan(x) -> bool:
    return isinstance(x, float) and math.isnan(x)


def markdown(
    summary: dict[str, float],
    reference: dict[str, float] | None,
    shuffled: dict[str, float] | None = None,
    swapped: dict[str, float] | None = None,
) -> str:
    """A table ready to paste into the README."""
    cols = ["metric", "generated"]
    if reference:
        cols += ["real (reference)", "abs difference"]
    if shuffled:
        cols += ["shuffled video", "change"]
    if swapped:
        cols += ["swapped video", "change"]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for k, v in summary.items():
        row = [k, _fmt(v)]
        if reference:
            r = reference.get(k)
            row += [_fmt(r), _fmt(abs(v - r)) if r is not None else ""]
        for other in (shuffled, swapped):
            if other:
                o = other.get(k)
                row += [_fmt(o), _fmt(v - o) if o is not None else ""]
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines) + "\n"


def _fmt(x) -> str:
    if x is None:
        return ""
    if isinstance(x, int):
        return str(x)
    return "nan" if _nan(x) else f"{x:.3f}"


def plot(
    summary: dict[str, float],
    reference: dict[str, float] | None,
    path: str | os.PathLike,
    *,
    overwrite: bool = False,
) -> None:
    """Bar chart of the symbolic metrics, generated beside real."""
    refs = {"real": reference} if reference else None
    plot_systems({"gen": summary}, refs, path, keys=list(METRICS), overwrite=overwrite)


#: what the systems chart draws, in order: the symbolic metrics, then how each system follows
#: the video and how fast it is (rows a comparison has; missing ones are left out)
COMPARED = [
    *METRICS,
    "closeness_to_POP909",
    "density_motion_correlation",
    "steering_lift_over_shuffled",
    "av_align_lift_over_random",
    "cut_alignment",
    "emotion_correspondence",
    "compose_over_clip",
]


def compare_rows(doc: dict) -> dict[str, float]:
    """The rows of one ``vidscore evaluate`` report that a comparison of systems reads: its
    summary, and the steering lift over the shuffled video when it was measured."""
    row = dict(doc.get("summary") or {})
    shuffled = doc.get("shuffled_video") or {}
    if "density_motion_correlation" in row and "density_motion_correlation" in shuffled:
        row["steering_lift_over_shuffled"] = (
            row["density_motion_correlation"] - shuffled["density_motion_correlation"]
        )
    return row


def compare_markdown(
    table: dict[str, dict[str, float]], references: dict[str, dict[str, float]] | None = None
) -> str:
    """One row per measure, one column per system, then the real corpora's values."""
    references = references or {}
    names = list(table)
    keys = [k for k in dict.fromkeys(k for r in table.values() for k in r)]
    cols = ["measure", *names, *references]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for k in keys:
        vals = [table[s].get(k) for s in names] + [r.get(k) for r in references.values()]
        lines.append(f"| {k} | " + " | ".join(_fmt(v) for v in vals) + " |")
    return "\n".join(lines) + "\n"


def plot_systems(
    table: dict[str, dict[str, float]],
    references: dict[str, dict[str, float]] | None,
    path: str | os.PathLike,
    *,
    keys: list[str] | None = None,
    overwrite: bool = False,
) -> None:
    """One panel per measure (``keys``, default :data:`COMPARED`), one bar per system, the real
    corpora's values as hatched grey bars: the chart of ``vidscore evaluate --plot`` and
    ``--compare`` and of ``benchmarks/quality.py``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    references = references or {}
    wanted = COMPARED if keys is None else keys
    keys = [k for k in wanted if any(not _nan(r.get(k, math.nan)) for r in table.values())]
    if not keys:
        raise UsageError("nothing to compare: the reports hold none of the compared measures")
    cols = min(5, len(keys))
    rows = math.ceil(len(keys) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.0 * cols, 2.6 * rows), layout="constrained",
                             squeeze=False)  # fmt: skip
    colours = plt.get_cmap("tab10").colors
    names = list(table)
    for ax, k in zip(axes.flat, keys, strict=False):
        vals = [table[s].get(k, math.nan) for s in names]
        ax.bar(range(len(names)), vals, color=[colours[i % 10] for i in range(len(names))])
        refs = [(n, r[k]) for n, r in references.items() if k in r and not _nan(r[k])]
        for j, (_, v) in enumerate(refs):
            ax.bar(len(names) + j, v, color="#cccccc", hatch="//", edgecolor="#777")
        labels = names + [n for n, _ in refs]
        ax.set_xticks(range(len(labels)), labels, rotation=35, ha="right", fontsize=7)
        ax.set_title(k, fontsize=9)
        ax.axhline(0, color="#333", lw=0.6)
    for ax in axes.flat[len(keys) :]:
        ax.axis("off")
    with atomic_path(path, overwrite=overwrite, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=100, format="png")
    plt.close(fig)
