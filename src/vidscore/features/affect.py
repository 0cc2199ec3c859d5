"""Per-second valence, arousal and Video2Music's six emotions, from published affect cues.

Cues (all per second):

* colour-emotion relations, Valdez & Mehrabian (1994):
  pleasure = 0.69 B + 0.22 S, arousal = -0.31 B + 0.60 S (B, S: brightness and saturation, 0-1);
* film arousal, Hanjalic & Xu (2005): motion activity, shot-cut density
  c(k) = exp((1 - (n(k) - p(k))) / delta) with n, p the next and previous cut around k, and sound
  energy when the clip has sound; their weighted sum is smoothed with a Kaiser window;
* faces and smiles (Haar cascades): a smiling face pulls valence up, a face without a smile
  pulls it towards neutral.

Valence and arousal (each in [-1, 1]) give probabilities over exciting, fearful, tense, sad,
relaxing and neutral by a softmax over negative squared distances to each emotion's place on
Russell's circumplex (:data:`PROTOTYPES`). When CLIP features are present (``emotion_clip``),
the six probabilities come from CLIP zero-shot instead, as in Video2Music; ``meta`` records which.
The constants (normalisation scales, weights, prototypes) are ours; they are parameters here
and documented in docs/features.md.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vidscore.features.base import Context
from vidscore.features.timeline import bin_mean, grid
from vidscore.types import EMOTIONS, Series, VideoInfo
from vidscore.video.io import Frame, FrameRequest

#: (valence, arousal) of each emotion on the circumplex, in EMOTIONS order.
PROTOTYPES = np.array(
    [
        [0.6, 0.6],  # exciting
        [-0.6, 0.7],  # fearful
        [-0.35, 0.3],  # tense
        [-0.6, -0.5],  # sad
        [0.55, -0.45],  # relaxing
        [0.0, 0.0],  # neutral
    ]
)
TYPICAL_BS = (0.4, 0.3)


@dataclass(frozen=True)
class AffectParams:
    """Scales and weights of the cue model."""

    flow_ref: float = 1.5  # flow (% of frame per frame) that counts as full motion activity
    cut_delta: float = 5.0  # Hanjalic & Xu's delta, in seconds of shot length
    db_floor: float = -60.0  # sound energy: dBFS mapped to 0 (0 dBFS maps to 1)
    kaiser_len: int = 9  # seconds
    kaiser_beta: float = 5.0
    colour_weight: float = 0.35  # share of colour in arousal; the rest is Hanjalic & Xu
    face_weight: float = 0.3  # share of faces/smiles in valence when faces are on screen
    temperature: float = 0.15


def valdez_mehrabian(
    brightness: np.ndarray, saturation: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Pleasure and arousal of colours (Valdez & Mehrabian 1994), rescaled to [-1, 1] around
    a typical video frame (:data:`TYPICAL_BS`: brightness 0.4, saturation 0.3)."""
    pleasure = 0.69 * brightness + 0.22 * saturation
    arousal = -0.31 * brightness + 0.60 * saturation
    b0, s0 = TYPICAL_BS
    p_mid, a_mid = 0.69 * b0 + 0.22 * s0, -0.31 * b0 + 0.60 * s0
    return (np.clip((pleasure - p_mid) / 0.3, -1, 1), np.clip((arousal - a_mid) / 0.3, -1, 1))


def cut_density(cuts: list[float], times: np.ndarray, duration: float, delta: float) -> np.ndarray:
    """Hanjalic & Xu's rhythm component: exp((1 - shot length) / delta), 1 for 1-s shots."""
    bounds = np.concatenate([[0.0], np.asarray(cuts, dtype=np.float64), [duration]])
    idx = np.clip(np.searchsorted(bounds, times + 1e-9, side="right") - 1, 0, len(bounds) - 2)
    length = bounds[idx + 1] - bounds[idx]
    return np.minimum(1.0, np.exp((1.0 - length) / delta))


def kaiser_smooth(x: np.ndarray, length: int, beta: float) -> np.ndarray:
    """Smooth with a normalised Kaiser window, edges padded by reflection."""
    n = len(x)
    length = min(length, n if n % 2 else n - 1)
    if length < 3:
        return x.astype(np.float64)
    w = np.kaiser(length, beta)
    w /= w.sum()
    pad = length // 2
    xp = np.pad(x.astype(np.float64), pad, mode="reflect")
    return np.convolve(xp, w, mode="valid")


def emotion_probabilities(
    valence: np.ndarray, arousal: np.ndarray, temperature: float
) -> np.ndarray:
    """``(T, 6)`` softmax over negative squared distance to each emotion's prototype."""
    va = np.stack([valence, arousal], axis=1)
    d2 = ((va[:, None, :] - PROTOTYPES[None, :, :]) ** 2).sum(axis=2)
    z = -d2 / temperature
    z -= z.max(axis=1, keepdims=True)
    p = np.exp(z)
    return p / p.sum(axis=1, keepdims=True)


class AffectExtractor:
    """Combines the colour, motion, cut, sound and face series already in the context."""

    name = "affect"

    def __init__(self, params: AffectParams | None = None) -> None:
        self.params = params or AffectParams()

    @property
    def requests(self) -> list[FrameRequest]:
        return []

    def start(self, info: VideoInfo) -> None:
        pass

    def push(self, frame: Frame) -> None:
        pass

    def finish(self, ctx: Context) -> dict[str, Series]:
        p = self.params
        d = ctx.duration
        g = grid(d, 1.0)

        def at_1hz(name: str) -> np.ndarray:
            s = ctx.series[name]
            return bin_mean(s.times, s.values, rate=1.0, duration=d).astype(np.float64)

        v_col, a_col = valdez_mehrabian(at_1hz("brightness"), at_1hz("saturation"))
        motion = np.clip(at_1hz("flow_1hz") / p.flow_ref, 0, 1)
        rhythm = cut_density(ctx.cuts, g, d, p.cut_delta)
        parts, cues = [motion, rhythm], ["motion", "cut_density"]
        rms = ctx.audio_rms
        if rms is not None and len(rms):
            e = np.zeros(len(g))
            e[: min(len(g), len(rms))] = rms[: len(g)]
            db = 20 * np.log10(np.maximum(e, 1e-9))
            parts.append(np.clip((db - p.db_floor) / -p.db_floor, 0, 1))
            cues.append("sound_energy")
        hx = kaiser_smooth(np.mean(parts, axis=0), p.kaiser_len, p.kaiser_beta)
        arousal = np.clip(p.colour_weight * a_col + (1 - p.colour_weight) * (2 * hx - 1), -1, 1)
        faces = np.clip(at_1hz("faces"), 0, 1)
        smile_term = at_1hz("smiles")
        wf = p.face_weight * faces
        valence = np.clip((1 - wf) * v_col + wf * smile_term, -1, 1)
        if "emotion_clip" in ctx.series:
            probs = at_1hz("emotion_clip")
            source = "clip-zero-shot"
        else:
            probs = emotion_probabilities(valence, arousal, p.temperature)
            source = "affect-cues"
        ctx.meta["emotion_source"] = source
        ctx.meta["arousal_cues"] = ["colour", *cues]
        ctx.meta["emotions"] = list(EMOTIONS)
        return {
            "valence": Series("valence", g, valence, 1.0, "-1..1", "colour + faces/smiles"),
            "arousal": Series(
                "arousal",
                g,
                arousal,
                1.0,
                "-1..1",
                "colour + Hanjalic & Xu (motion, cut density, sound energy)",
            ),
            "emotion": Series(
                "emotion", g, probs, 1.0, "probability", f"{source}: " + ", ".join(EMOTIONS)
            ),
        }
