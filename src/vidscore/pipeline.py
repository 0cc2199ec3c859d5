"""``compose()``: the only place that knows the whole order of the stages.

probe -> analyze -> system.compose (chords on cuts, arrangement) -> MIDI -> audio (SoundFont)
-> mux into the clip, plus the optional MIDI, WAV, cues JSON and plot. Every output path is
checked before any work starts, and each is written atomically.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from vidscore.errors import UsageError
from vidscore.features.analyze import AnalysisConfig, analyze
from vidscore.music.chords import merge_repeats
from vidscore.music.midi import write_midi
from vidscore.outputs import atomic_path, check_output
from vidscore.render.synth import SAMPLE_RATE, finish, render_midi, write_wav
from vidscore.systems.base import Composition, load_system
from vidscore.types import EMOTIONS, Controls, VideoFeatures
from vidscore.video.io import probe
from vidscore.video.mux import mux

#: stage(name, done, total): progress of the current stage
Stage = Callable[[str, float, float], None]


@dataclass
class ComposeResult:
    output: Path
    features: VideoFeatures
    composition: Composition
    outputs: dict[str, Path] = field(default_factory=dict)


def cues(features: VideoFeatures, comp: Composition, system: str, controls: Controls) -> dict:
    """The cues JSON: tempo map, chords (seconds), cuts, per-second emotion, choices made."""
    score = comp.score
    emo = features["emotion"].values
    return {
        "format": "vidscore.cues/1",
        "duration": features.duration,
        "system": system,
        "key": comp.key,
        "instruments": comp.preset,
        "seed": controls.seed,
        "tempo_bpm": comp.tempo_bpm,
        "tempo_map": [
            {"time": round(float(score.seconds(b)), 4), "beat": b, "bpm": round(t, 3)}
            for b, t in score.tempos
        ],
        "chords": [
            {
                "start": round(float(score.seconds(c.start)), 4),
                "end": round(min(float(score.seconds(c.end)), features.duration), 4),
                "symbol": c.chord.harte(),
            }
            for c in merge_repeats(score.chords)
        ],
        "downbeats": [round(s.start, 4) for s in comp.slots if s.downbeat],
        "cuts": [round(c, 4) for c in features.cuts],
        "aligned_cuts": [round(c, 4) for c in comp.aligned_cuts],
        "emotion": [
            {
                "second": i,
                "label": EMOTIONS[int(np.argmax(row))],
                "probabilities": [round(float(p), 4) for p in row],
            }
            for i, row in enumerate(emo)
        ],
        "slot_emotion": comp.slot_emotion,
    }


class _Loader(threading.Thread):
    """``load_system`` in the background; ``result()`` joins and re-raises its error here."""

    def __init__(self, name: str) -> None:
        super().__init__(name="vidscore-load-system", daemon=True)
        self.system_name = name
        self.system = None
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.system = load_system(self.system_name)
        except BaseException as exc:  # handed to the caller
            self.error = exc

    def result(self):
        self.join()
        if self.error is not None:
            raise self.error
        return self.system


def _validate(controls: Controls, system: str) -> None:
    """Check the options that need the music side's vocabulary, before any long work."""
    from vidscore.music.key import Key
    from vidscore.render.arrange import PRESETS
    from vidscore.systems.base import registered

    if controls.instruments is not None and controls.instruments not in PRESETS:
        raise UsageError(
            f"--instruments {controls.instruments!r}: choose from {', '.join(PRESETS)}"
        )
    if system not in registered():
        raise UsageError(f"--system {system!r}: available: {', '.join(registered())}")
    if controls.key is not None:
        try:
            Key.parse(controls.key)
        except ValueError as exc:
            raise UsageError(f"--key {controls.key!r}: say e.g. 'D minor' or 'Eb'") from exc


def compose(
    video: str | os.PathLike,
    output: str | os.PathLike,
    *,
    system: str = "video2music",
    controls: Controls | None = None,
    midi: str | os.PathLike | None = None,
    wav: str | os.PathLike | None = None,
    cues_path: str | os.PathLike | None = None,
    plot: str | os.PathLike | None = None,
    soundfont: str | os.PathLike | None = None,
    synth: str = "auto",
    original_gain_db: float = -12.0,
    replace_audio: bool = False,
    overwrite: bool = False,
    analysis: AnalysisConfig | None = None,
    stage: Stage | None = None,
) -> ComposeResult:
    """Compose music for ``video`` and write the clip with it to ``output``."""
    controls = controls or Controls()
    _validate(controls, system)
    out = Path(output)
    targets = [p for p in (out, midi, wav, cues_path, plot) if p is not None]
    if len({str(Path(p).resolve()) for p in targets}) != len(targets):
        raise UsageError("every output must be a different file")
    if Path(video).resolve() in {Path(p).resolve() for p in targets}:
        raise UsageError("an output would overwrite the input video")
    for p in targets:
        check_output(p, overwrite=overwrite)
    info = probe(video)
    # load the system (torch, weights) in a thread while the clip is analysed: the analysis is
    # mostly native code that releases the GIL
    loader = _Loader(system)
    loader.start()

    def report(name: str, done: float, total: float) -> None:
        if stage is not None:
            stage(name, done, total)

    features = analyze(video, analysis, progress=lambda t, d: report("analyze", t, d))
    report("compose", 0, 1)
    comp = loader.result().compose(features, controls)
    report("compose", 1, 1)
    with tempfile.TemporaryDirectory(prefix="vidscore-") as tmp:
        mid = Path(tmp) / "score.mid"
        write_midi(comp.score, mid)
        report("render", 0, 1)
        audio = render_midi(mid, soundfont=soundfont, backend=synth)
        audio = finish(audio, sample_rate=SAMPLE_RATE, duration=info.duration)
        report("render", 1, 1)
        report("mux", 0, 1)
        mux(
            video,
            audio,
            SAMPLE_RATE,
            out,
            original_gain_db=original_gain_db,
            replace_audio=replace_audio,
            overwrite=overwrite,
        )
        report("mux", 1, 1)
    written = {"video": out}
    if midi is not None:
        write_midi(comp.score, midi, overwrite=overwrite)
        written["midi"] = Path(midi)
    if wav is not None:
        write_wav(audio, wav, sample_rate=SAMPLE_RATE, overwrite=overwrite)
        written["wav"] = Path(wav)
    if cues_path is not None:
        with atomic_path(cues_path, overwrite=overwrite) as t:
            t.write_text(json.dumps(cues(features, comp, system, controls), indent=1))
        written["cues"] = Path(cues_path)
    if plot is not None:
        from vidscore.render.plot import plot_composition

        plot_composition(features, comp, plot, overwrite=overwrite)
        written["plot"] = Path(plot)
    return ComposeResult(out, features, comp, written)
