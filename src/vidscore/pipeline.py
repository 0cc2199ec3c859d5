"""``compose()``: the only place that knows the whole order of the stages.

probe -> analyze (the series the system needs) -> system.compose -> Soundtrack -> render (a score
through a SoundFont; audio as it is) -> mux into the clip, plus the optional MIDI, WAV, cues
JSON and plot. Every option and output path is checked before any work starts, each output is
written atomically, and the system (torch, weights) loads in a thread while the clip is analysed.
"""

from __future__ import annotations

import functools
import json
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from vidscore.audio.mix import MixPlan
from vidscore.audio.source import spool_sound
from vidscore.audio.synth import BACKENDS, find_soundfont, write_wav
from vidscore.cues import cues
from vidscore.errors import UsageError
from vidscore.features.analyze import AnalysisConfig, analyze
from vidscore.music.midi import read_midi, write_midi
from vidscore.outputs import atomic_path, check_output, check_stems_folder, claim, work_folder
from vidscore.render.soundtrack import render_spool, render_stems, stem_file
from vidscore.soundtrack import Soundtrack
from vidscore.systems.base import DEFAULT_SYSTEM, System, parse_params, system_class
from vidscore.types import Controls, VideoFeatures
from vidscore.video.io import probe
from vidscore.video.mux import Picture, check_container, mux, picture_plan

#: stage(name, done, total): progress of the current stage
Stage = Callable[[str, float, float], None]
#: series the compose plot draws besides what the system reads
PLOT_NEEDS = frozenset({"motion", "emotion"})


@dataclass
class ComposeResult:
    output: Path
    system: str
    features: VideoFeatures
    soundtrack: Soundtrack
    outputs: dict[str, Path] = field(default_factory=dict)
    picture: Picture = "copy"  # the clip's picture copied bit for bit, or re-encoded as H.264
    mix: MixPlan | None = None  # the levels the sound was mixed at


class _Background(threading.Thread):
    """Runs ``fn()`` in a thread; ``result()`` joins and re-raises its error here."""

    def __init__(self, fn: Callable[[], Any]) -> None:
        super().__init__(name="vidscore-load-system", daemon=True)
        self.fn = fn
        self.value: Any = None
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.value = self.fn()
        except BaseException as exc:  # handed to the caller
            self.error = exc

    def result(self) -> Any:
        self.join()
        if self.error is not None:
            raise self.error
        return self.value


@functools.lru_cache(maxsize=2)
def _load(name: str, weights: str | None) -> System:
    return system_class(name).load(weights)


def load_system(name: str, weights: str | os.PathLike | None = None) -> System:
    """The system ``name`` with ``weights`` loaded, kept for the next call in this process (a
    batch or the web app scores many clips with one load); systems keep no state between
    compositions (each seeds its own generator)."""
    return _load(name, None if weights is None else os.path.abspath(weights))


def check_controls(controls: Controls) -> None:
    """Check the controls that need the music side's vocabulary (key, instruments)."""
    from vidscore.systems.common.arrange import PRESETS
    from vidscore.systems.common.plan import parse_key

    if controls.instruments is not None and controls.instruments not in PRESETS:
        raise UsageError(
            f"--instruments {controls.instruments!r}: choose from {', '.join(PRESETS)}"
        )
    if controls.key is not None:
        parse_key(controls.key)


def check_settings(
    system: str,
    *,
    weights: str | os.PathLike | None = None,
    params: list[str] | dict[str, Any] | None = None,
    controls: Controls | None = None,
    synth: str = "auto",
    soundfont: str | os.PathLike | None = None,
) -> Any:
    """Refuse, before any clip is read, settings that cannot compose (an unknown system, a bad
    ``--param``, weights the system cannot use, an unknown key or synthesiser); return the parsed
    parameters. A batch calls it once for all its clips."""
    controls = controls or Controls()
    cls = system_class(system)
    gen_params = parse_params(cls.Params, params)
    check_controls(controls)
    if controls.keep is not None:
        if not cls.regenerates:
            raise UsageError(f"--regenerate: the {system} system cannot rewrite a range")
        read_midi(controls.keep)  # a missing or broken take stops here, before any work
    cls.check_weights(weights)
    if synth not in BACKENDS:
        raise UsageError(f"--synth {synth!r}: choose from {', '.join(BACKENDS)}")
    if soundfont is not None:
        find_soundfont(soundfont)
    return gen_params


def compose(
    video: str | os.PathLike,
    output: str | os.PathLike,
    *,
    system: str = DEFAULT_SYSTEM,
    weights: str | os.PathLike | None = None,
    params: list[str] | dict[str, Any] | None = None,
    controls: Controls | None = None,
    midi: str | os.PathLike | None = None,
    wav: str | os.PathLike | None = None,
    stems: str | os.PathLike | None = None,
    cues_path: str | os.PathLike | None = None,
    cues_meta: dict[str, Any] | None = None,
    plot: str | os.PathLike | None = None,
    soundfont: str | os.PathLike | None = None,
    synth: str = "auto",
    original_gain_db: float = -12.0,
    replace_audio: bool = False,
    overwrite: bool = False,
    encode_picture: bool = False,
    analysis: AnalysisConfig | None = None,
    stage: Stage | None = None,
    notice: Callable[[str], None] | None = None,
) -> ComposeResult:
    """Compose music for ``video`` with ``system`` and write the clip with it to ``output``.

    ``params`` are the system's generation parameters (``["temperature=0.8"]`` or a dict);
    ``weights`` a folder the user trained (default: the shipped weights). ``notice`` hears the
    one-line remarks a user should see (a re-encoded picture, sound packets that were skipped).
    ``stems`` is a folder that gets one WAV per part, named as the MIDI tracks, summing to the
    music. ``cues_meta`` goes into the cues as their ``meta`` (a batch's resumption key).
    ``encode_picture`` re-encodes the picture as H.264 even where the container could hold it as
    it is (the web app does so for codecs a browser cannot play). The loaded
    system is kept for the next call in this process (:func:`load_system`).
    """
    controls = controls or Controls()
    cls = system_class(system)
    gen_params = check_settings(
        system, weights=weights, params=params, controls=controls, synth=synth, soundfont=soundfont
    )
    if midi is not None and cls.output != "score":
        raise UsageError(f"--midi: the {system} system makes audio, not notes")
    out = Path(output)
    check_container(out)
    targets = [p for p in (out, midi, wav, cues_path, plot) if p is not None]
    if len({str(Path(p).resolve()) for p in targets}) != len(targets):
        raise UsageError("every output must be a different file")
    written = {Path(p).resolve() for p in targets}
    if Path(video).resolve() in written:
        raise UsageError("an output would overwrite the input video")
    if controls.keep is not None and Path(controls.keep).resolve() in written:
        raise UsageError("an output would overwrite the take given to --keep")
    for p in targets:
        check_output(p, overwrite=overwrite)
    if stems is not None:
        if Path(stems).resolve() in written or Path(stems).resolve() == Path(video).resolve():
            raise UsageError("--stems must be a folder of its own")
        check_stems_folder(stems, overwrite=overwrite)
    held = targets + ([Path(stems)] if stems is not None else [])
    with claim(held), work_folder() as work:  # a second run to the same outputs stops here
        info = probe(video)
        if controls.regenerate is not None and controls.regenerate[1] > info.duration + 1e-6:
            raise UsageError(f"--regenerate: ends past the end of the clip ({info.duration:.2f} s)")
        late = [m for m in controls.markers if m >= info.duration]
        if late:
            raise UsageError(f"--markers {late}: past the end of the clip ({info.duration:.2f} s)")
        picture = "encode" if encode_picture else picture_plan(video, out)
        if picture == "encode" and not encode_picture and notice is not None:
            notice(
                f"{out.suffix} cannot hold this clip's {info.codec} picture as it is: "
                "re-encoding it as H.264"
            )

        loader = _Background(lambda: load_system(system, weights))
        loader.start()

        def report(name: str, done: float, total: float) -> None:
            if stage is not None:
                stage(name, done, total)

        wants = cls.feature_needs(weights)
        needs = wants.series | (PLOT_NEEDS if plot is not None else frozenset())
        config = replace(analysis or AnalysisConfig(), series=tuple(needs), frames=wants.frames)
        sound = None  # the clip's own sound, decoded once: for the analysis and the mix
        if info.has_audio:
            sound, damage = spool_sound(video, work / "original.f32")
            if (damage.skipped or damage.broken_at is not None) and notice is not None:
                kept = "" if replace_audio else "; the rest of the clip's sound is kept"
                notice(f"{video}: {damage}{kept}")
        features = analyze(
            video, config, info=info, sound=sound, progress=lambda t, d: report("analyze", t, d)
        )
        report("compose", 0, 1)
        impl: System = loader.result()
        # --ignore-cuts: the systems see a clip without cuts; the cues still list them
        heard = replace(features, cuts=[]) if controls.ignore_cuts else features
        soundtrack = impl.compose(heard, controls, gen_params)
        report("compose", 1, 1)
        report("render", 0, 1)
        parts: dict[str, Any] = {}
        if stems is None:
            music = render_spool(
                soundtrack, duration=info.duration, folder=work, soundfont=soundfont, backend=synth
            )
        else:
            music, parts = render_stems(
                soundtrack, duration=info.duration, folder=work, soundfont=soundfont, backend=synth
            )
        report("render", 1, 1)
        report("mux", 0, 1)
        mix = mux(
            video,
            music,
            out,
            info=info,
            original=None if replace_audio else sound,
            original_gain_db=original_gain_db,
            picture=picture,
            overwrite=overwrite,
        )
        report("mux", 1, 1)
        written = {"video": out}
        if midi is not None and soundtrack.score is not None:
            write_midi(soundtrack.score, midi, overwrite=overwrite)
            written["midi"] = Path(midi)
        if wav is not None:
            write_wav(music, wav, overwrite=overwrite)
            written["wav"] = Path(wav)
        if stems is not None:
            folder = Path(stems)
            folder.mkdir(parents=True, exist_ok=True)
            for name, part in parts.items():
                write_wav(part, folder / f"{stem_file(name)}.wav", overwrite=overwrite)
            written["stems"] = folder
        if plot is not None:
            from vidscore.render.plot import plot_soundtrack

            plot_soundtrack(
                features, soundtrack, plot, markers=controls.markers, overwrite=overwrite
            )
            written["plot"] = Path(plot)
        if cues_path is not None:  # last: a batch reads a clip with its cues as finished
            doc = cues(features, soundtrack, system=system, controls=controls)
            if cues_meta:
                doc["meta"] = dict(cues_meta)
            with atomic_path(cues_path, overwrite=overwrite) as t:
                t.write_text(json.dumps(doc, indent=1))
            written["cues"] = Path(cues_path)
    return ComposeResult(out, system, features, soundtrack, written, picture, mix)
