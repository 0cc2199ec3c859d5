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
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = [k for k in METRICS if k in summary]
    fig, axes = plt.subplots(1, len(keys), figsize=(2.2 * len(keys), 3), layout="constrained")
    for ax, k in zip(np.atleast_1d(axes), keys, strict=False):
        vals = [summary[k]] + ([reference[k]] if reference else [])
        ax.bar(["gen", "real"][: len(vals)], vals, color=["#1982c4", "#8ac926"][: len(vals)])
        ax.set_title(k)
    with atomic_path(path, overwrite=overwrite, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=100, format="png")
    plt.close(fig)
