"""A :class:`~vidscore.soundtrack.Soundtrack` to the audio the muxer takes.

A score is written to a temporary MIDI file and rendered with a SoundFont (:mod:`.synth`); audio
passes straight through (resampled to :data:`~vidscore.render.synth.SAMPLE_RATE`). Either way
the result is exactly the clip's length, faded in and out and peak-normalised.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np

from vidscore.music.midi import write_midi
from vidscore.render.synth import SAMPLE_RATE, finish, render_midi
from vidscore.soundtrack import Soundtrack


def render(
    soundtrack: Soundtrack,
    *,
    duration: float,
    soundfont: str | os.PathLike | None = None,
    backend: str = "auto",
) -> np.ndarray:
    """Mono float32 at SAMPLE_RATE, ``duration`` seconds long."""
    if soundtrack.score is not None:
        with tempfile.TemporaryDirectory(prefix="vidscore-render-") as tmp:
            mid = Path(tmp) / "score.mid"
            write_midi(soundtrack.score, mid)
            audio = render_midi(mid, soundfont=soundfont, backend=backend)
    else:
        audio = soundtrack.audio
        if audio.ndim == 2:
            audio = audio.mean(axis=1)
        if soundtrack.sample_rate != SAMPLE_RATE:
            import librosa

            audio = librosa.resample(audio, orig_sr=soundtrack.sample_rate, target_sr=SAMPLE_RATE)
    return finish(np.asarray(audio, dtype=np.float32), sample_rate=SAMPLE_RATE, duration=duration)
