"""Plain data passed between stages: what a video is, and what happens in it over time."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

#: Video2Music's six emotion classes, in its order.
EMOTIONS: tuple[str, ...] = ("exciting", "fearful", "tense", "sad", "relaxing", "neutral")


@dataclass(frozen=True)
class VideoInfo:
    """What probing a file tells: enough to plan decoding without reading the frames."""

    path: str
    container: str
    codec: str
    pix_fmt: str
    bit_depth: int
    width: int  # as displayed, after rotation
    height: int
    rotation: int  # degrees counter-clockwise applied for display (0, 90, 180, 270)
    fps: float  # average frame rate
    duration: float  # seconds
    n_frames: int  # from the header, or estimated from duration * fps
    has_audio: bool
    audio_codec: str | None = None
    variable_frame_rate: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> VideoInfo:
        return cls(**d)


@dataclass
class Series:
    """One feature over time: ``values[i]`` describes the interval starting at ``times[i]`` seconds.

    ``values`` has shape ``(T,)`` or ``(T, D)``. ``rate`` is the nominal sampling rate in Hz
    (per-frame series of a variable-frame-rate video have irregular ``times``).
    """

    name: str
    times: np.ndarray  # (T,) float64 seconds
    values: np.ndarray  # (T,) or (T, D) float32
    rate: float
    unit: str = ""
    description: str = ""

    def __post_init__(self) -> None:
        self.times = np.asarray(self.times, dtype=np.float64)
        self.values = np.asarray(self.values, dtype=np.float32)
        if self.values.shape[:1] != self.times.shape:
            raise ValueError(
                f"series {self.name!r}: {self.values.shape[0]} values, {self.times.shape[0]} times"
            )

    def __len__(self) -> int:
        return int(self.times.shape[0])

    @property
    def dim(self) -> int:
        return 1 if self.values.ndim == 1 else int(self.values.shape[1])


@dataclass
class Frames:
    """Dense frames a system asked for: ``images (T, H, W, 3)`` uint8 shown at ``times``."""

    name: str
    times: np.ndarray  # (T,) float64 seconds
    images: np.ndarray  # (T, H, W, 3) uint8 (or (T, H, W) grey)
    fps: float

    def __len__(self) -> int:
        return int(self.times.shape[0])


@dataclass
class VideoFeatures:
    """The single timeline every system reads: cuts plus named series, each at its own rate."""

    info: VideoInfo
    cuts: list[float]  # seconds of each detected cut (start of a new shot), ascending
    series: dict[str, Series] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)
    #: dense frames a system asked for (by request name); not saved with the features
    frames: dict[str, Frames] = field(default_factory=dict)

    @property
    def duration(self) -> float:
        return self.info.duration

    def __getitem__(self, name: str) -> Series:
        return self.series[name]

    @property
    def dominant_emotion(self) -> list[str]:
        """Per-second argmax of the emotion probabilities."""
        probs = self.series["emotion"].values
        return [EMOTIONS[i] for i in np.argmax(probs, axis=1)]


@dataclass(frozen=True)
class Controls:
    """What a user can steer in ``compose``, honoured by every system; ``None`` means "follow
    the video". A system's own knobs (sampling temperature, diffusion steps) are its
    generation parameters, not controls."""

    emotion: str | None = None  # force one of EMOTIONS for the whole clip
    key: str | None = None  # e.g. "D minor"; default C major / A minor by mood
    tempo: float | None = None  # BPM; default from motion (V-MusProd's 90-130 map)
    instruments: str | None = None  # preset name; default chosen by emotion
    seed: int = 0
    markers: tuple[float, ...] = ()  # seconds where a section must start, like a cut
    keep: str | None = None  # a MIDI file of an earlier take whose music outside regenerate stays
    regenerate: tuple[float, float] | None = None  # seconds (start, end) to write anew
    ignore_cuts: bool = False  # compose as if the clip had no cuts: only the markers count

    def __post_init__(self) -> None:
        if self.emotion is not None and self.emotion not in EMOTIONS:
            raise ValueError(f"emotion {self.emotion!r}: choose from {', '.join(EMOTIONS)}")
        if self.tempo is not None and not 40 <= self.tempo <= 240:
            raise ValueError(f"tempo {self.tempo}: must be 40 to 240 BPM")
        if not 0 <= self.seed < 2**63:
            raise ValueError(f"seed {self.seed}: must be 0 to 2**63 - 1")
        markers = tuple(sorted(float(m) for m in self.markers))
        if any(not np.isfinite(m) or m < 0 for m in markers):
            raise ValueError(f"markers {list(self.markers)}: seconds from the start, >= 0")
        object.__setattr__(self, "markers", markers)
        if (self.keep is None) != (self.regenerate is None):
            raise ValueError("--keep and --regenerate go together: the take and the range")
        if self.regenerate is not None:
            a, b = self.regenerate
            if not (np.isfinite(a) and np.isfinite(b) and 0 <= a < b):
                raise ValueError(f"regenerate {a}-{b}: seconds START-END, START < END")
