"""The picture of ``vidscore compose --plot``: chords against cuts, features behind them."""

from __future__ import annotations

import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from vidscore.features.plot import EMOTION_COLOURS
from vidscore.music.chords import merge_repeats
from vidscore.outputs import atomic_path
from vidscore.systems.base import Composition
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


def plot_composition(
    features: VideoFeatures, comp: Composition, path: str | os.PathLike, *, overwrite: bool = False
) -> None:
    d = features.duration
    score = comp.score
    fig, (ax_e, ax_c, ax_m) = plt.subplots(
        3,
        1,
        figsize=(13, 6.5),
        sharex=True,
        layout="constrained",
        gridspec_kw={"height_ratios": [0.4, 1.2, 1]},
    )
    for i, e in enumerate(features.dominant_emotion):
        ax_e.axvspan(i, min(i + 1, d), color=EMOTION_COLOURS[e], lw=0)
    ax_e.set_yticks([])
    ax_e.set_ylabel("emotion", rotation=0, ha="right", va="center")
    for span in merge_repeats(score.chords):  # one box per chord change
        a = float(score.seconds(span.start))
        b = min(float(score.seconds(span.end)), d)
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
    ax_c.set_ylabel("chords", rotation=0, ha="right", va="center")
    for s in comp.slots:
        if s.downbeat:
            ax_c.plot([s.start, s.start], [0.0, 0.15], color="#333", lw=1)
    m = features["motion"]
    ax_m.step(
        np.append(m.times, d),
        np.append(m.values, m.values[-1]),
        where="post",
        color="#1982c4",
        label="motion",
    )
    ax_m.set_ylabel("motion")
    ax_m.set_xlabel("time (s)")
    for ax in (ax_e, ax_c, ax_m):
        for c in features.cuts:
            style = "-" if any(abs(c - a) < 1e-6 for a in comp.aligned_cuts) else ":"
            ax.axvline(c, color="#e4572e", ls=style, lw=1.2)
        ax.set_xlim(0, d)
    fig.suptitle(
        f"{os.path.basename(features.info.path)}: {comp.key}, {comp.tempo_bpm:.0f} BPM, "
        f"{comp.preset}; cuts in red (solid: a chord change and downbeat sit on it)"
    )
    with atomic_path(path, overwrite=overwrite, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)
