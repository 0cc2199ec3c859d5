"""The picture of ``vidscore compose --plot``: a soundtrack's timeline against the clip's cuts,
with the emotion, motion and control curves it was composed from. Reads the timeline only, so
any system's music draws the same way (a waveform system's has no chord boxes, just bar
lines)."""

from __future__ import annotations

import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from vidscore.curves.contract import CurveSet
from vidscore.features.plot import EMOTION_COLOURS
from vidscore.outputs import atomic_path
from vidscore.soundtrack import Soundtrack
from vidscore.types import VideoFeatures

QUALITY_COLOURS = {
    "maj": "#8ac926",
    "min": "#1982c4",
    "7": "#f3a712",
    "maj7": "#b5e48c",
    "min7": "#4ea8de",
    "dim": "#6a4c93",
    "dim7": "#6a4c93",
    "hdim7": "#9d4edd",
    "aug": "#e4572e",
    "sus2": "#c0c0c0",
    "sus4": "#a0a0a0",
    "maj6": "#d9ed92",
    "min6": "#90e0ef",
}


CURVE_COLOURS = {
    "activity": "#1982c4",
    "intensity": "#e4572e",
    "accent": "#8ac926",
    "valence": "#f3a712",
    "register": "#6a4c93",
}


def draw_curves(ax, curves: CurveSet, duration: float) -> None:
    """The control curves the music was composed from (0-1, per beat), boundaries as ticks."""
    edges = np.append(curves.starts, curves.ends[-1] if len(curves) else duration)
    for name, colour in CURVE_COLOURS.items():
        v = curves[name]
        ax.step(edges, np.append(v, v[-1] if len(v) else 0), where="post", color=colour,
                lw=1, label=name)  # fmt: skip
    for t in curves.starts[curves["boundary"] > 0.5]:
        ax.plot([t, t], [1.0, 1.08], color="#333", lw=1.5)
    ax.set_ylim(0, 1.3)
    ax.set_ylabel("control\ncurves", rotation=0, ha="right", va="center")
    ax.legend(loc="upper left", ncol=5, fontsize=7, frameon=False)


def plot_soundtrack(
    features: VideoFeatures,
    soundtrack: Soundtrack,
    path: str | os.PathLike,
    *,
    overwrite: bool = False,
) -> None:
    """Emotion band, chord boxes with bar lines, motion curve, the control curves; cuts in red
    (solid where a bar line sits on them). Series the analysis did not compute are left blank."""
    d = features.duration
    tl = soundtrack.timeline
    fig, (ax_e, ax_c, ax_m, ax_k) = plt.subplots(
        4,
        1,
        figsize=(13, 8.5),
        sharex=True,
        layout="constrained",
        gridspec_kw={"height_ratios": [0.4, 1.2, 1, 1.4]},
    )
    if "emotion" in features.series:
        for i, e in enumerate(features.dominant_emotion):
            ax_e.axvspan(i, min(i + 1, d), color=EMOTION_COLOURS[e], lw=0)
    ax_e.set_yticks([])
    ax_e.set_ylabel("emotion", rotation=0, ha="right", va="center")
    for span in tl.chords:
        a, b = span.start, min(span.end, d)
        if b <= a:
            continue
        colour = (
            QUALITY_COLOURS.get(span.chord.quality, "#dddddd")
            if span.chord.root is not None
            else "#ffffff"
        )
        ax_c.axvspan(a, b, ymin=0.15, ymax=0.85, color=colour, ec="k", lw=0.5)
        if b - a > 0.35:
            ax_c.text(
                (a + b) / 2,
                0.5,
                span.chord.harte().replace(":", "\n"),
                ha="center",
                va="center",
                fontsize=7,
            )
    ax_c.set_ylim(0, 1)
    ax_c.set_yticks([])
    ax_c.set_ylabel("chords" if tl.chords else "bars", rotation=0, ha="right", va="center")
    for t in tl.downbeats:
        ax_c.plot([t, t], [0.0, 0.15], color="#333", lw=1)
    if "motion" in features.series:
        m = features["motion"]
        ax_m.step(
            np.append(m.times, d),
            np.append(m.values, m.values[-1]),
            where="post",
            color="#1982c4",
            label="motion",
        )
    ax_m.set_ylabel("motion")
    if soundtrack.curves is not None:
        draw_curves(ax_k, soundtrack.curves, d)
    ax_k.set_xlabel("time (s)")
    for ax in (ax_e, ax_c, ax_m, ax_k):
        for c in features.cuts:
            style = "-" if any(abs(c - a) < 1e-6 for a in tl.aligned_cuts) else ":"
            ax.axvline(c, color="#e4572e", ls=style, lw=1.2)
        ax.set_xlim(0, d)
    choices = ", ".join(
        x for x in (soundtrack.key, f"{tl.tempo_bpm:.0f} BPM", soundtrack.instruments) if x
    )
    fig.suptitle(
        f"{os.path.basename(features.info.path)}: {choices}; cuts in red "
        "(solid: a bar line and chord change sit on it)"
    )
    with atomic_path(path, overwrite=overwrite, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)
