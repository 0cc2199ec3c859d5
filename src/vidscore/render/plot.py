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
from vidscore.errors import VidscoreError
from vidscore.features.plot import EMOTION_COLOURS
from vidscore.outputs import atomic_path
from vidscore.soundtrack import Soundtrack
from vidscore.types import VideoFeatures, VideoInfo

#: chord qualities in pastels, so no chord box shares a colour with an emotion, curve or cut
QUALITY_COLOURS = {
    "maj": "#b3de69",
    "min": "#80b1d3",
    "7": "#fdb462",
    "maj7": "#ccebc5",
    "min7": "#8dd3c7",
    "dim": "#bebada",
    "dim7": "#bc80bd",
    "hdim7": "#d9b3ff",
    "aug": "#fb8072",
    "sus2": "#d9d9d9",
    "sus4": "#bdbdbd",
    "maj6": "#ffffb3",
    "min6": "#fccde5",
}
CUT_COLOUR = "#ff0000"
MOTION_COLOUR = "#444444"
CURVE_COLOURS = {
    "activity": "#1f77b4",
    "intensity": "#8c564b",
    "accent": "#2ca02c",
    "valence": "#bcbd22",
    "register": "#e377c2",
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


def draw_thumbnails(
    ax, info: VideoInfo, duration: float, width_in: float, height_in: float
) -> None:
    """A strip of the clip's pictures along the time axis, each at its own time, as many as fit
    at their true aspect ratio in the axis (``info``: the probe the analysis already made)."""
    from vidscore.video.io import thumbnails

    aspect = info.width / info.height if info.rotation % 180 == 0 else info.height / info.width
    n = int(np.clip(round(width_in / (height_in * aspect)), 2, 24))
    slot = duration / n
    try:
        shots = thumbnails(info.path, [i * slot for i in range(n)], info=info)
    except VidscoreError:  # a picture the analysis could read but a seek cannot: no strip
        shots = []
    for t, img in shots:
        a = np.floor(t / slot + 1e-6) * slot
        ax.imshow(img, extent=(a, a + slot, 0, 1), aspect="auto", interpolation="bilinear")
    ax.set_ylim(0, 1)
    ax.set_yticks([])
    ax.set_ylabel("picture", rotation=0, ha="right", va="center")


def _legend(ax, colours: dict[str, str], title: str | None = None) -> None:
    """Patches for ``colours`` outside the axis, on its right."""
    from matplotlib.patches import Patch

    handles = [Patch(facecolor=c, edgecolor="k", lw=0.4, label=k) for k, c in colours.items()]
    ax.legend(handles=handles, loc="center left", bbox_to_anchor=(1.005, 0.5), fontsize=7,
              frameon=False, title=title, title_fontsize=7, ncol=1 + len(handles) // 7)  # fmt: skip


def plot_soundtrack(
    features: VideoFeatures,
    soundtrack: Soundtrack,
    path: str | os.PathLike,
    *,
    markers: tuple[float, ...] | list[float] = (),
    overwrite: bool = False,
) -> None:
    """The clip's pictures, the emotion band (hatched where the user forced it), chord boxes
    with numbered bar lines, the motion curve and the control curves; cuts in red (solid where
    a bar line sits on them). Legends name every colour. Series the analysis did not compute
    are left blank."""
    d = features.duration
    tl = soundtrack.timeline
    fig, (ax_p, ax_e, ax_c, ax_m, ax_k) = plt.subplots(
        5,
        1,
        figsize=(14, 10),
        sharex=True,
        layout="constrained",
        gridspec_kw={"height_ratios": [0.9, 0.4, 1.2, 0.9, 1.4]},
    )
    if features.info.path and os.path.isfile(features.info.path):
        draw_thumbnails(ax_p, features.info, d, width_in=11.5, height_in=1.0)
    forced = soundtrack.meta.get("emotion_forced")
    slots = soundtrack.meta.get("slot_emotion") or []
    if forced and slots:
        ax_e.axvspan(0, d, color=EMOTION_COLOURS[slots[0]], lw=0, hatch="//", ec="white")
        ax_e.text(d / 2, 0.5, f"forced: {slots[0]}", ha="center", va="center", fontsize=8)
        shown = [slots[0]]
    elif "emotion" in features.series:
        shown = features.dominant_emotion
        for i, e in enumerate(shown):
            ax_e.axvspan(i, min(i + 1, d), color=EMOTION_COLOURS[e], lw=0)
    else:
        shown = []
    if shown:
        _legend(ax_e, {e: EMOTION_COLOURS[e] for e in EMOTION_COLOURS if e in set(shown)})
    ax_e.set_yticks([])
    ax_e.set_ylabel("emotion", rotation=0, ha="right", va="center")
    qualities: dict[str, str] = {}
    for span in tl.chords:
        a, b = span.start, min(span.end, d)
        if b <= a:
            continue
        colour = "#ffffff"
        if span.chord.root is not None:
            colour = QUALITY_COLOURS.get(span.chord.quality, "#eeeeee")
            qualities[span.chord.quality] = colour
        ax_c.axvspan(a, b, ymin=0.2, ymax=0.85, color=colour, ec="k", lw=0.5)
        if b - a > 0.35:
            ax_c.text((a + b) / 2, 0.52, span.chord.harte().replace(":", "\n"), ha="center",
                      va="center", fontsize=7)  # fmt: skip
    if qualities:
        _legend(ax_c, dict(sorted(qualities.items())), title="chord quality")
    ax_c.set_ylim(0, 1)
    ax_c.set_yticks([])
    ax_c.set_ylabel("chords" if tl.chords else "bars", rotation=0, ha="right", va="center")
    every = max(1, int(np.ceil(len(tl.downbeats) / 40)))  # bar numbers stay legible
    for n, t in enumerate(tl.downbeats, start=1):
        ax_c.plot([t, t], [0.0, 0.2], color="#333", lw=1)
        if (n - 1) % every == 0:
            ax_c.text(t, 0.02, f" {n}", fontsize=6, va="bottom", ha="left", color="#333")
    if "motion" in features.series:
        m = features["motion"]
        ax_m.step(np.append(m.times, d), np.append(m.values, m.values[-1]), where="post",
                  color=MOTION_COLOUR, label="motion")  # fmt: skip
    ax_m.set_ylabel("motion")
    if soundtrack.curves is not None:
        draw_curves(ax_k, soundtrack.curves, d)
    ax_k.set_xlabel("time (s)")
    for ax in (ax_p, ax_e, ax_c, ax_m, ax_k):
        for c in features.cuts:
            style = "-" if any(abs(c - a) < 1e-6 for a in tl.aligned_cuts) else ":"
            ax.axvline(c, color=CUT_COLOUR, ls=style, lw=1.2)
        for mk in markers:
            ax.axvline(mk, color="#000000", ls="--", lw=1.0)
        ax.set_xlim(0, d)
    choices = ", ".join(
        x for x in (soundtrack.key, f"{tl.tempo_bpm:.0f} BPM", soundtrack.instruments) if x
    )
    fig.suptitle(
        f"{os.path.basename(features.info.path)}: {choices}; cuts in red (solid: a bar line and "
        "chord change sit on it), markers dashed black; bars numbered under the chords"
    )
    with atomic_path(path, overwrite=overwrite, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)
