"""A :class:`~vidscore.soundtrack.Soundtrack` to the music the muxer takes.

A score is written to a temporary MIDI file and rendered with a SoundFont block by block
(:mod:`.synth`); audio passes straight through (resampled to
:data:`~vidscore.audio.synth.SAMPLE_RATE`). Either way the music is spooled to disk, then made
exactly the clip's length, faded in and out and peak-normalised, so memory does not grow with
the clip.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np

from vidscore.audio.spool import Spool, SpoolWriter
from vidscore.audio.synth import SAMPLE_RATE, finish_spool, spool_gain, stream_midi
from vidscore.music.midi import write_midi
from vidscore.outputs import work_folder
from vidscore.soundtrack import Soundtrack


def _raw(
    soundtrack: Soundtrack, folder: Path, soundfont, backend: str, name: str = "score"
) -> Iterator[np.ndarray]:
    if soundtrack.score is not None:
        mid = folder / f"{name}.mid"
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
    return _mix(soundtrack, Path(folder), soundfont, backend, duration)[0]


def _mix(soundtrack: Soundtrack, d: Path, soundfont, backend: str, duration: float):
    """The finished music and the gain that finished it (its stems take the same)."""
    raw = _raw_spool(soundtrack, d, soundfont, backend, "music")
    gain = spool_gain(raw, duration=duration)
    music = finish_spool(raw, d / "music.f32", duration=duration, gain=gain)
    raw.path.unlink()
    return music, gain


def _raw_spool(soundtrack: Soundtrack, folder: Path, soundfont, backend: str, name: str) -> Spool:
    with SpoolWriter(folder / f"{name}-raw.f32", rate=SAMPLE_RATE, channels=1) as w:
        for block in _raw(soundtrack, folder, soundfont, backend, name):
            w.write(block)
        return w.finish()


def stem_file(name: str) -> str:
    """A part's name as a file name (``piano``, ``melody``; anything odd becomes ``_``)."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name).strip(".") or "part"


def render_stems(
    soundtrack: Soundtrack,
    *,
    duration: float,
    folder: str | os.PathLike,
    soundfont: str | os.PathLike | None = None,
    backend: str = "auto",
) -> tuple[Spool, dict[str, Spool]]:
    """The finished music (as :func:`render_spool`) and one spool per part: each part
    rendered alone, cut, faded and scaled by the mix's own gain, so the parts sum to the mix
    (the synthesiser is linear in its voices)."""
    d = Path(folder)
    music, gain = _mix(soundtrack, d, soundfont, backend, duration)
    if soundtrack.score is None:
        return music, {"music": music}
    stems = {}
    for k, track in enumerate(soundtrack.score.tracks):
        part = replace(soundtrack, score=replace(soundtrack.score, tracks=[track]))
        raw = _raw_spool(part, d, soundfont, backend, f"stem{k}")
        name = track.name if track.name not in stems else f"{track.name}_{k}"
        stems[name] = finish_spool(raw, d / f"stem{k}.f32", duration=duration, gain=gain)
        raw.path.unlink()
    return music, stems


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
