"""VMAs as a vidscore system: audio from codec tokens that follow the clip's curves and beats.

The shared set-up (:mod:`vidscore.systems.common.plan`) gives the clip's control curves per beat
of its time plan; each codec frame (50 a second) takes its beat's curves, and the beat pulse is
VMAs' video beats: the frames whose optical-flow magnitude is the maximum of a ``±w`` window,
the strongest of them kept up to the training pulse's rate (``pulse_rate`` in the manifest),
so the decoder is asked for as many beats a second as it saw in training: "the clip's strongest
motion peaks" read as "the music's beats", as the curves are calibrated by rank. (Without the
rate, the peaks above the clip's mean flow, the rule the training pulse follows on onset
strength; a clip's flow has fewer of those than music, and the decoder heard sparse beats as
quiet music.)
The decoder samples tokens window by window (:mod:`.inference`); the codec turns them into audio.

What the model decides: everything audible (notes, timbre, rhythm, where onsets fall).
What rules decide: nothing downstream of the curves; the time plan only places the curves'
beats. The cues carry the beats detected in the generated audio (librosa's beat tracker) and
sections opening on the clip's cuts (unless ``--ignore-cuts``) and markers; an audio system has
no chords or bar lines to report.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from vidscore.errors import ModelLoadError
from vidscore.soundtrack import Soundtrack, Timeline, sections_between
from vidscore.systems.base import FeatureNeeds, System
from vidscore.systems.common.plan import SETUP_NEEDS, beat_spans, setup
from vidscore.types import Controls, VideoFeatures

WEIGHTS = Path(__file__).resolve().parents[2] / "weights" / "vmas"
CODEC_FILE = "codec.safetensors"
DECODER_FILE = "decoder.safetensors"


@dataclass(frozen=True)
class VMAsParams:
    """Sampling the decoder (see :class:`~vidscore.systems.vmas.inference.Sampling`)."""

    temperature: float = field(default=1.0, metadata={"help": "softmax temperature"})
    top_k: int = field(default=50, metadata={"help": "sample among the k likeliest tokens"})
    top_p: float = field(default=0.0, metadata={"help": "nucleus mass (0: top-k only)"})
    guidance: float = field(
        default=3.0, metadata={"help": "classifier-free guidance on the condition (1: none)"}
    )
    beat_guidance: float = field(
        default=1.0,
        metadata={"help": "guidance towards the video beats against the pulse moved (1: none)"},
    )
    window: float = field(default=4.0, metadata={"help": "seconds per sampled window"})
    overlap: float = field(
        default=1.0, metadata={"help": "seconds of each window that prompt the next"}
    )

    def sampling(self, seed: int):
        from vidscore.systems.vmas.inference import Sampling

        return Sampling(self.temperature, self.top_k, self.top_p, self.guidance,
                        self.beat_guidance, self.window, self.overlap, seed)  # fmt: skip

    def __post_init__(self) -> None:
        if not 1.0 <= self.window <= 30.0:
            raise ValueError(f"window {self.window}: 1 to 30 seconds")
        self.sampling(0)  # the sampler's own checks


def flow_per_frame(features: VideoFeatures, frames: int, rate: float) -> np.ndarray:
    """The clip's optical-flow magnitude at each of ``frames`` codec frames (``rate`` a second):
    the strength curve whose window maxima are VMAs' video beats."""
    flow = features["flow"]
    if not len(flow):
        return np.zeros(frames)
    return np.interp(np.arange(frames) / rate, flow.times, flow.values)


def limit_peak(audio: np.ndarray, peak: float = 0.99) -> np.ndarray:
    """The codec's audio scaled down if it would clip (the mix sets the loudness)."""
    top = float(np.max(np.abs(audio))) if len(audio) else 0.0
    return audio * (peak / top) if top > peak else audio


class VMAsSystem(System):
    name = "vmas"
    summary = "VMAs: codec tokens from an autoregressive decoder conditioned on curves and beats"
    output = "audio"
    needs = FeatureNeeds(SETUP_NEEDS)
    Params = VMAsParams
    weight_files = ("manifest.json", CODEC_FILE, DECODER_FILE)
    default_weights = WEIGHTS

    def __init__(self, codec, decoder, beat_window: int, pulse_rate: float | None = None) -> None:
        self.codec = codec
        self.decoder = decoder
        self.beat_window = beat_window
        self.pulse_rate = pulse_rate  # the training pulse's per second; None: above-mean rule

    @classmethod
    def load(cls, weights: str | os.PathLike | None = None) -> VMAsSystem:
        from vidscore.modules.checkpoint import load_from_folder, read_manifest
        from vidscore.systems.vmas import codec, model
        from vidscore.systems.vmas.codec_train import KIND as CODEC_KIND
        from vidscore.systems.vmas.data import COND_DIM
        from vidscore.systems.vmas.train import KIND

        folder = cls.weights_folder(weights)
        c = load_from_folder(folder, CODEC_FILE, codec.build, kind=CODEC_KIND, system="vmas")
        d = load_from_folder(folder, DECODER_FILE, model.build, kind=KIND, system="vmas")
        manifest = read_manifest(folder, system="vmas")
        if (d.cfg.codebooks, d.cfg.cardinality) != (c.codebooks, c.cardinality):
            raise ModelLoadError(f"{folder}: the decoder was trained on another codec's tokens")
        if d.cfg.video is None and d.cfg.cond_dim != COND_DIM:
            raise ModelLoadError(
                f"{folder}: the decoder reads {d.cfg.cond_dim} condition columns, this version "
                f"{COND_DIM} (the beat accent was added); retrain it with `vidscore train vmas`"
            )
        entry = manifest["decoder"]
        return cls(c, d, int(entry["train"]["beat_window"]), entry.get("pulse_rate"))

    def condition(self, features: VideoFeatures, controls: Controls):
        """(per-frame condition ``(T, COND_DIM)``, the plan's set-up, the video-beat times)."""
        from vidscore.systems.vmas.data import beat_condition, curves_per_frame, pulse

        piece = setup(features, controls)
        rate = self.codec.frame_rate
        frames = max(1, int(np.ceil(features.duration * rate)))
        starts, ends = beat_spans(piece.slots)
        per_frame = curves_per_frame(
            piece.curves.values, np.append(starts, ends[-1]), 0.0, frames, rate
        )
        count = None if self.pulse_rate is None else round(self.pulse_rate * features.duration)
        beats = pulse(flow_per_frame(features, frames, rate), self.beat_window, count)
        beat_cols = beat_condition(beats, self.beat_window)
        cond = np.concatenate([per_frame, beat_cols], axis=1).astype(np.float32)
        return cond, piece, np.flatnonzero(beats) / rate

    def audio(self, cond: np.ndarray, duration: float, params: VMAsParams, seed: int):
        """``duration`` seconds of audio for a per-frame condition: tokens sampled by the
        decoder, decoded by the codec, scaled down if they would clip."""
        import torch

        from vidscore.systems.vmas.data import moved_pulse
        from vidscore.systems.vmas.inference import generate

        contrast = None
        if params.beat_guidance > 1:
            moved = moved_pulse(cond, self.codec.frame_rate, self.beat_window, seed + 1)
            contrast = torch.from_numpy(moved)
        with torch.inference_mode():
            s = params.sampling(seed)
            codes = generate(self.decoder, torch.from_numpy(cond), s, contrast=contrast)
            audio = self.codec.decode(codes[None])[0].numpy()
        return limit_peak(audio[: round(duration * self.codec.sample_rate)])

    def compose(
        self, features: VideoFeatures, controls: Controls, params: VMAsParams | None = None
    ) -> Soundtrack:
        import librosa

        params = params or VMAsParams()
        cond, piece, video_beats = self.condition(features, controls)
        audio = self.audio(cond, features.duration, params, controls.seed)
        cuts = [] if controls.ignore_cuts else features.cuts
        rate = self.codec.sample_rate
        tempo, beats = librosa.beat.beat_track(y=audio, sr=rate, units="time")
        bpm = float(np.atleast_1d(tempo)[0]) or 120.0
        timeline = Timeline(
            duration=features.duration,
            tempo_map=[(0.0, bpm)],
            downbeats=[],
            sections=sections_between([0.0, *cuts, *controls.markers], features.duration),
            beats=[round(float(b), 4) for b in beats],
        )
        return Soundtrack(
            timeline,
            audio=audio,
            sample_rate=rate,
            curves=piece.curves,
            meta={
                "video_beats": [round(float(b), 4) for b in video_beats],
                "dominant_emotion": piece.dominant,
                "emotion_forced": piece.forced_emotion,
            },
        )
