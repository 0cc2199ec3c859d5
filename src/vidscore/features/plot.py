"""The timeline picture of ``vidscore analyze --plot``: series over time, cuts, dominant emotion."""

from __future__ import annotations

import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from vidscore.outputs import atomic_path
from vidscore.types import EMOTIONS, VideoFeatures

EMOTION_COLOURS = {
    "exciting": "#ff9f1c",
    "fearful": "#6a4c93",
    "tense": "#ffd23f",
    "sad": "#3a86ff",
    "relaxing": "#06d6a0",
    "neutral": "#b0b0b0",
}


def _step(ax, s, **kw):
    t = np.append(s.times, s.times[-1] + 1.0 / s.rate) if len(s) else s.times
    v = np.append(s.values, s.values[-1]) if len(s) else s.values
    ax.step(t, v, where="post", **kw)


def plot_timeline(
    features: VideoFeatures, path: str | os.PathLike, *, overwrite: bool = False
) -> None:
    """Write a PNG with motion/flow, colour, valence/arousal and emotion panels over time."""
    d = features.duration
    fig, axes = plt.subplots(
        5, 1, figsize=(12, 9), sharex=True, gridspec_kw={"height_ratios": [0.35, 1, 1, 1, 1.2]}
    )
    band, ax_motion, ax_colour, ax_va, ax_emo = axes
    dom = features.dominant_emotion
    for i, e in enumerate(dom):
        band.axvspan(i, min(i + 1, d), color=EMOTION_COLOURS[e], lw=0)
    band.set_yticks([])
    band.set_ylabel("emotion", rotation=0, ha="right", va="center")
    flow = features["flow"]
    ax_motion.plot(flow.times, flow.values, lw=0.8, color="#555", label="flow (% frame/frame)")
    beats = flow.times[features["video_beat"].values > 0]
    ax_motion.plot(
        beats,
        np.interp(beats, flow.times, flow.values),
        "v",
        ms=4,
        color="#e4572e",
        label="video beats",
    )
    ax_m2 = ax_motion.twinx()
    _step(ax_m2, features["motion"], color="#1982c4", lw=1.5, label="motion (RGB diff, 1 Hz)")
    ax_m2.set_ylabel("RGB diff")
    ax_motion.set_ylabel("flow")
    h1, l1 = ax_motion.get_legend_handles_labels()
    h2, l2 = ax_m2.get_legend_handles_labels()
    ax_motion.legend(h1 + h2, l1 + l2, loc="upper right", fontsize=7)
    for name, colour in [("brightness", "#f3a712"), ("saturation", "#8ac926")]:
        _step(ax_colour, features[name], color=colour, label=name)
    cf = features["colourfulness"]
    _step(
        ax_colour,
        type(cf)(cf.name, cf.times, cf.values / 100.0, cf.rate),
        color="#6a4c93",
        label="colourfulness / 100",
    )
    _step(ax_colour, features["warmth"], color="#e4572e", label="warmth")
    ax_colour.legend(loc="upper right", fontsize=7, ncol=4)
    ax_colour.set_ylabel("colour")
    _step(ax_va, features["valence"], color="#1982c4", label="valence")
    _step(ax_va, features["arousal"], color="#e4572e", label="arousal")
    ax_va.axhline(0, color="#999", lw=0.5)
    ax_va.set_ylim(-1.05, 1.05)
    ax_va.legend(loc="upper right", fontsize=7)
    ax_va.set_ylabel("affect")
    emo = features["emotion"]
    t = np.append(emo.times, emo.times[-1] + 1.0)
    probs = np.vstack([emo.values, emo.values[-1:]]).T
    ax_emo.stackplot(
        t,
        probs,
        step="post",
        labels=EMOTIONS,
        colors=[EMOTION_COLOURS[e] for e in EMOTIONS],
        alpha=0.85,
    )
    ax_emo.set_ylim(0, 1)
    ax_emo.set_ylabel("P(emotion)")
    ax_emo.legend(loc="upper right", fontsize=7, ncol=6)
    ax_emo.set_xlabel("time (s)")
    for ax in axes:
        for c in features.cuts:
            ax.axvline(c, color="k", ls="--", lw=0.8, alpha=0.7)
        ax.set_xlim(0, d)
    src = features.meta.get("emotion_source", "")
    fig.suptitle(
        f"{os.path.basename(features.info.path)} — {d:.1f} s, {len(features.cuts)} cuts "
        f"(dashed), tempo {features.meta.get('tempo_bpm', 0):.0f} BPM, emotion: {src}"
    )
    fig.tight_layout()
    with atomic_path(path, overwrite=overwrite, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)
