"""Control curves read from a clip, on the beat grid the music will be written on.

Per beat ``[a, b)`` seconds, from the clip's analysis (:mod:`vidscore.features`):

* activity <- ``motion`` (mean absolute RGB difference; absolute map 2 -> 0, 20 -> 1);
* intensity <- ``arousal`` (Hanjalic & Xu with colour; absolute map -1..1 -> 0..1);
* boundary <- the cuts and markers the time plan put a bar line on (0 or 1);
* accent <- the peak optical-flow magnitude within the beat (absolute map 0 -> 0, 3 % of the
  frame per frame -> 1), the signal VMAs' video beats are the local maxima of;
* valence <- ``valence`` (colour affect, faces; absolute map -1..1 -> 0..1);
* register <- ``brightness`` (0..1): brighter pictures ask for higher music, the pitch-brightness
  correspondence (Marks 1987; Spence 2011).

Each ranked curve is ``mix x (rank within the clip) + (1 - mix) x (absolute map)``: the rank half
makes the clip's busiest tenth ask for the busiest tenth of the training music, the absolute half
keeps a still clip calm and an action clip busy as a whole (``mix`` = 0.5). A forced emotion
(``--emotion``) sets valence to that emotion's level and pulls intensity halfway to it
(:data:`EMOTION_LEVELS`): those two lines are rules.
"""

from __future__ import annotations

import numpy as np

from vidscore.curves.contract import CURVES, CurveSet, mark_events, rank01
from vidscore.features.affect import PROTOTYPES
from vidscore.features.timeline import bin_mean
from vidscore.types import EMOTIONS, Series, VideoFeatures

#: the series the video curves read (``flow`` is optional: without it accents are flat)
VIDEO_NEEDS = frozenset({"motion", "arousal", "valence", "brightness", "flow"})
MOTION_ACTIVITY = (2.0, 20.0)  # mean RGB difference (0-255) mapped to 0 .. 1 between these
FLOW_ACCENT = 3.0  # flow (% of frame per frame) that counts as a full accent
MIX = 0.5
FINE = 10.0  # Hz: the grid spans are averaged on
#: (valence, intensity) levels asked for by a forced emotion: the circumplex prototype stretched
EMOTION_LEVELS = {
    name: tuple(float(v) for v in np.clip(0.5 + 0.75 * PROTOTYPES[k], 0.02, 0.98))
    for k, name in enumerate(EMOTIONS)
}


def motion_activity(motion: np.ndarray) -> np.ndarray:
    """Mean absolute RGB difference (0-255) -> 0..1 (2 -> 0, 20 -> 1)."""
    lo, hi = MOTION_ACTIVITY
    return np.clip((np.asarray(motion, dtype=np.float64) - lo) / (hi - lo), 0, 1)


def span_means(series: Series, starts: np.ndarray, ends: np.ndarray, duration: float) -> np.ndarray:
    """The mean of ``series`` over each span, on a 10 Hz grid (at least one point a span): a
    sample holds until the next one (``values[i]`` describes ``[times[i], times[i + 1])``), and
    faster series are averaged into the grid's bins."""
    n = max(1, int(np.ceil(duration * FINE)))
    if series.rate > FINE:
        fine = bin_mean(series.times, series.values, rate=FINE, duration=duration)
    else:
        centres = (np.arange(n) + 0.5) / FINE
        idx = np.searchsorted(series.times, centres, side="right") - 1
        fine = series.values[np.clip(idx, 0, len(series) - 1)].astype(np.float64)
    a = np.clip((np.asarray(starts) * FINE).astype(int), 0, len(fine) - 1)
    b = np.minimum(np.maximum(a + 1, np.ceil(np.asarray(ends) * FINE).astype(int)), len(fine))
    csum = np.concatenate([np.zeros((1, *fine.shape[1:])), np.cumsum(fine, axis=0)])
    return (csum[b] - csum[a]) / (b - a).reshape(-1, *[1] * (fine.ndim - 1))


def span_max(series: Series, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """The largest sample of ``series`` inside each span (0 where none falls)."""
    t, v = series.times, series.values
    lo = np.searchsorted(t, starts, side="left")
    hi = np.searchsorted(t, ends, side="left")
    return np.array([v[a:b].max() if b > a else 0.0 for a, b in zip(lo, hi, strict=True)])


def blend(raw: np.ndarray, absolute: np.ndarray, mix: float = MIX) -> np.ndarray:
    return np.clip(mix * rank01(raw) + (1 - mix) * np.asarray(absolute), 0, 1)


def video_curves(
    features: VideoFeatures,
    starts: np.ndarray,
    ends: np.ndarray,
    *,
    boundaries: list[float] | np.ndarray = (),
    emotion: str | None = None,
    mix: float = MIX,
) -> CurveSet:
    """The clip's curves on the beats ``[starts[i], ends[i])`` (see the module docstring)."""
    starts = np.asarray(starts, dtype=np.float64)
    ends = np.asarray(ends, dtype=np.float64)
    d = features.duration
    n = len(starts)
    out = np.zeros((n, len(CURVES)))
    motion = span_means(features["motion"], starts, ends, d)
    out[:, 0] = blend(motion, motion_activity(motion), mix)
    arousal = span_means(features["arousal"], starts, ends, d)
    out[:, 1] = blend(arousal, (np.clip(arousal, -1, 1) + 1) / 2, mix)
    out[:, 2] = mark_events(boundaries, starts, ends)
    if "flow" in features.series:
        peak = span_max(features["flow"], starts, ends)
        out[:, 3] = blend(peak, np.clip(peak / FLOW_ACCENT, 0, 1), mix)
    else:
        out[:, 3] = 0.5
    valence = span_means(features["valence"], starts, ends, d)
    out[:, 4] = blend(valence, (np.clip(valence, -1, 1) + 1) / 2, mix)
    bright = span_means(features["brightness"], starts, ends, d)
    out[:, 5] = blend(bright, np.clip(bright, 0, 1), mix)
    curves = CurveSet(starts, ends, out, "video")
    return force_emotion(curves, emotion) if emotion else curves


def force_emotion(curves: CurveSet, emotion: str) -> CurveSet:
    """Valence set to the emotion's level, intensity pulled halfway to it (a rule)."""
    valence, intensity = EMOTION_LEVELS[emotion]
    out = curves.replace("valence", np.full(len(curves), valence))
    return out.replace("intensity", 0.5 * curves["intensity"] + 0.5 * intensity)
