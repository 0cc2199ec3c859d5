"""A :class:`~vidscore.soundtrack.Soundtrack` to the music the muxer takes.

A score is written to a temporary MIDI file and rendered with a SoundFont block by block
(:mod:`.synth`); audio passes straight through (resampled to
:data:`~vidscore.render.synth.SAMPLE_RATE`). Either way the music is spooled to disk, then made
exactly the clip's length, faded in and out and peak-normalised, so memory does not grow with
the clip.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from vidscore.audio.spool import Spool, SpoolWriter
from vidscore.music.midi import write_midi
from vidscore.outputs import work_folder
from vidscore.render.synth import SAMPLE_RATE, finish_spool, stream_midi
from vidscore.soundtrack import Soundtrack


def _raw(soundtrack: Soundtrack, folder: Path, soundfont, backend: str) -> Iterator[np.ndarray]:
    if soundtrack.score is not None:
        mid = folder / "score.mid"
        write_midi(soundtrack.score, mid)
        yield from stream_midi(mid, soundfont=soundfont, backend=backend)
        return
    audio = soundtrack.audio
    if audio.ndim == 2:
        audio = audio.mean(axis=1)
    if soundtrack.sample_rate != SAMPLE_RATE:
        import librosa

        audio = librosa.resample(audio, orig_sr=soundtrack.sample_rate, target_sr=SAMPLE_RATE)
    yield np.asarray(audio, dtype=np.float32)


def render_spool(
    soundtrack: Soundtrack,
    *,
    duration: float,
    folder: str | os.PathLike,
    soundfont: str | os.PathLike | None = None,
    backend: str = "auto",
) -> Spool:
    """The finished music, mono at SAMPLE_RATE and ``duration`` seconds long, spooled in
    ``folder`` (the run's work folder)."""
    d = Path(folder)
    with SpoolWriter(d / "music-raw.f32", rate=SAMPLE_RATE, channels=1) as w:
        for block in _raw(soundtrack, d, soundfont, backend):
            w.write(block)
        raw = w.finish()
    music = finish_spool(raw, d / "music.f32", duration=duration)
    raw.path.unlink()
    return music


def render(
    soundtrack: Soundtrack,
    *,
    duration: float,
    soundfont: str | os.PathLike | None = None,
    backend: str = "auto",
) -> np.ndarray:
    """:func:`render_spool` read into memory: mono float32 (for evaluation's short clips)."""
    with work_folder() as tmp:
        music = render_spool(
            soundtrack, duration=duration, folder=tmp, soundfont=soundfont, backend=backend
        )
        return music.read()[:, 0].copy()
