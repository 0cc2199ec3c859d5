"""``vidscore serve``: the web app a creator uses (Gradio). Upload a clip, choose the system and
the controls, watch the stages progress, then play the scored clip, look at its timeline and
download what the command line writes (MP4, WAV, MIDI, stems, cues, plot).

Each take goes to a folder of its own under ``WORK/takes``; Gradio's uploads and the files it
serves live in ``WORK/cache``, so the app serves nothing from outside its work folder. Takes and
cache older than ``keep_hours`` are removed. Uploads over ``max_upload_mb`` are refused by Gradio
before they are stored; clips over ``max_seconds`` and files that are not videos are refused with
a message in the page, and nothing is kept for them. Composes queue, ``concurrency`` at a time.
"""

from __future__ import annotations

import os
import shutil
import time
import uuid
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vidscore.errors import UsageError, VidscoreError
from vidscore.outputs import user_cache
from vidscore.types import VideoInfo

AUTO = "automatic"
#: picture codecs the page's player plays as they are; a take of any other is re-encoded as H.264
BROWSER_CODECS = frozenset({"h264", "vp8", "vp9", "av1"})
TAKE_COLUMNS = ["take", "system", "seed", "emotion", "key", "tempo", "instruments", "seconds"]


def default_work_dir() -> Path:
    """Where the app keeps uploads and takes unless told otherwise (XDG cache)."""
    return user_cache() / "serve"


@dataclass(frozen=True)
class ServeConfig:
    """What ``vidscore serve`` is told; every limit is checked on the server, not in the page."""

    host: str = "127.0.0.1"
    port: int = 7860
    max_upload_mb: float = 500.0
    max_seconds: float = 900.0
    concurrency: int = 1
    keep_hours: float = 24.0
    work_dir: Path = field(default_factory=default_work_dir)
    examples: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not 0 < self.max_upload_mb <= 100_000:
            raise UsageError(f"--max-upload-mb {self.max_upload_mb}: must be above 0")
        if self.max_seconds <= 0:
            raise UsageError(f"--max-seconds {self.max_seconds}: must be above 0")
        if not 1 <= self.concurrency <= 64:
            raise UsageError(f"--concurrency {self.concurrency}: must be 1 to 64")
        if self.keep_hours <= 0:
            raise UsageError(f"--keep-hours {self.keep_hours}: must be above 0")
        if not 0 < self.port < 65536:
            raise UsageError(f"--port {self.port}: must be 1 to 65535")


@dataclass(frozen=True)
class Take:
    """One finished compose: its files and the row the takes table shows."""

    folder: Path
    video: Path
    plot: Path
    downloads: list[Path]
    row: list[Any]
    summary: str


def clean_old(folder: Path, max_age_s: float, now: float | None = None) -> list[Path]:
    """Remove the take folders under ``folder`` last touched more than ``max_age_s`` ago."""
    now = time.time() if now is None else now
    gone = []
    if folder.is_dir():
        for take in folder.iterdir():
            if take.is_dir() and now - take.stat().st_mtime > max_age_s:
                shutil.rmtree(take, ignore_errors=True)
                gone.append(take)
    return gone


def demo_example(config: ServeConfig) -> str:
    """A demo clip drawn once into the work folder, so the page always offers one."""
    from vidscore.video.montage import synth_clip

    path = config.work_dir / "examples" / "demo.mp4"
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        synth_clip(path, scenes=(3.0, 3.0, 3.0, 3.0), seed=0)
    return str(path)


def check_upload(path: str | None, config: ServeConfig) -> VideoInfo:
    """The clip's probe, or a :class:`UsageError` the page shows (nothing uploaded, not a
    video, longer than the server takes)."""
    from vidscore.video.io import probe

    if not path:
        raise UsageError("upload a clip first (or pick an example)")
    info = probe(path)
    if info.duration > config.max_seconds:
        raise UsageError(
            f"the clip is {info.duration:.1f} s long; this server scores clips up to "
            f"{config.max_seconds:g} s"
        )
    return info


def _forget_upload(path: str | None, config: ServeConfig) -> None:
    """Remove a refused upload from the app's cache (never a file outside the work folder)."""
    if path and Path(path).resolve().is_relative_to((config.work_dir / "cache").resolve()):
        Path(path).unlink(missing_ok=True)


def compose_take(
    video: str,
    config: ServeConfig,
    *,
    system: str,
    emotion: str = AUTO,
    instruments: str = AUTO,
    key: str = "",
    tempo: float | None = None,
    seed: int = 0,
    markers: str = "",
    ignore_cuts: bool = False,
    number: int = 1,
    stage: Any = None,
) -> Take:
    """Score ``video`` into a new take folder under the work folder; on any failure the folder
    is removed and the error raised (a :class:`VidscoreError` carries the line to show)."""
    from vidscore.pipeline import compose
    from vidscore.systems.base import system_class
    from vidscore.types import Controls

    try:
        info = check_upload(video, config)
    except VidscoreError:
        _forget_upload(video, config)
        raise
    try:
        times = tuple(float(m) for m in markers.replace(";", ",").split(",") if m.strip())
    except ValueError as exc:
        raise UsageError(f"markers {markers!r}: seconds separated by commas") from exc
    try:
        controls = Controls(
            emotion=None if emotion in (AUTO, "", None) else emotion,
            instruments=None if instruments in (AUTO, "", None) else instruments,
            key=key.strip() or None,
            tempo=float(tempo) if tempo else None,
            seed=int(seed or 0),
            markers=times,
            ignore_cuts=bool(ignore_cuts),
        )
    except ValueError as exc:
        raise UsageError(str(exc)) from exc
    takes = config.work_dir / "takes"
    clean_old(takes, config.keep_hours * 3600)
    name = Path(video).stem[:40] or "clip"
    folder = takes / f"{uuid.uuid4().hex[:12]}"
    folder.mkdir(parents=True)
    base = folder / f"{name}-take{number}"
    audio_only = system_class(system).output != "score"
    try:
        result = compose(
            video,
            base.with_suffix(".mp4"),
            system=system,
            controls=controls,
            midi=None if audio_only else base.with_suffix(".mid"),
            wav=base.with_suffix(".wav"),
            stems=folder / "stems",
            cues_path=base.with_suffix(".cues.json"),
            plot=base.with_suffix(".png"),
            encode_picture=info.codec not in BROWSER_CODECS,  # so that the page's player plays it
            stage=stage,
        )
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    stems = folder / f"{base.name}.stems.zip"
    with zipfile.ZipFile(stems, "w", zipfile.ZIP_DEFLATED) as z:
        for wav in sorted((folder / "stems").glob("*.wav")):
            z.write(wav, wav.name)
    st = result.soundtrack
    tempo_bpm = round(st.timeline.tempo_bpm)
    dominant = st.meta.get("dominant_emotion")
    shown_emotion = controls.emotion or (f"{dominant} (from the clip)" if dominant else AUTO)
    row = [number, system, controls.seed, shown_emotion, st.key or "", tempo_bpm,
           st.instruments or "", round(info.duration, 1)]  # fmt: skip
    cuts = result.features.cuts
    summary = (
        f"**Take {number}**: {info.duration:.1f} s, {system}, "
        + ", ".join(x for x in (st.key, f"{tempo_bpm} BPM", st.instruments) if x)
        + f", {len(st.timeline.aligned_cuts)}/{len(cuts)} cuts on bar lines"
    )
    downloads = [p for p in result.outputs.values() if Path(p).is_file()] + [stems]
    return Take(folder, result.output, base.with_suffix(".png"), downloads, row, summary)


def build_app(config: ServeConfig):
    """The Gradio Blocks of the app (not launched)."""
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    config.work_dir.mkdir(parents=True, exist_ok=True)
    os.environ["GRADIO_TEMP_DIR"] = str(config.work_dir / "cache")
    import gradio as gr

    from vidscore.systems.base import DEFAULT_SYSTEM, registered
    from vidscore.systems.common.arrange import PRESETS
    from vidscore.types import EMOTIONS

    # Gradio finds the progress tracker by this default value
    def run(video, system, emotion, instruments, key, tempo, seed, markers, ignore_cuts, takes,
            progress=gr.Progress()):  # noqa: B008  # fmt: skip
        def stage(name: str, done: float, total: float) -> None:
            progress((done, total or 1), desc=name)

        try:
            take = compose_take(
                video, config, system=system, emotion=emotion, instruments=instruments,
                key=key or "", tempo=tempo, seed=seed, markers=markers or "",
                ignore_cuts=ignore_cuts, number=len(takes) + 1, stage=stage,
            )  # fmt: skip
        except VidscoreError as exc:
            raise gr.Error(str(exc), title="Cannot score this clip") from exc
        previous = takes[-1]["video"] if takes else None
        takes = [*takes, {"video": str(take.video), "row": take.row}]
        table = [t["row"] for t in reversed(takes)]
        return (str(take.video), take.summary, str(take.plot),
                [str(p) for p in take.downloads], table, previous, takes)  # fmt: skip

    with gr.Blocks(
        title="vidscore",
        analytics_enabled=False,
        delete_cache=(3600, int(config.keep_hours * 3600)),
    ) as app:
        gr.Markdown(
            "# vidscore\nMusic for your clip: its mood, the pace of its motion, chords and "
            f"downbeats on its cuts. Clips up to {config.max_seconds:g} s and "
            f"{config.max_upload_mb:g} MB."
        )
        with gr.Row():
            with gr.Column(scale=1):
                video = gr.Video(label="Clip", sources=["upload"], elem_id="clip")
                if config.examples:
                    gr.Examples([[e] for e in config.examples], inputs=[video], label="Demo clips")
                system = gr.Dropdown(list(registered()), value=DEFAULT_SYSTEM, label="System")
                emotion = gr.Dropdown([AUTO, *EMOTIONS], value=AUTO, label="Emotion")
                instruments = gr.Dropdown([AUTO, *PRESETS], value=AUTO, label="Instruments")
                key = gr.Textbox(label="Key", placeholder="automatic, e.g. D minor")
                tempo = gr.Number(label="Tempo (BPM, 0 follows the clip)", value=0)
                seed = gr.Number(label="Seed", value=0, precision=0, elem_id="seed")
                markers = gr.Textbox(label="Markers (seconds)", placeholder="e.g. 4.5, 12")
                ignore_cuts = gr.Checkbox(label="Ignore the detected cuts (markers only)")
                button = gr.Button("Compose", variant="primary", elem_id="compose")
            with gr.Column(scale=2):
                scored = gr.Video(
                    label="Scored clip", elem_id="scored", interactive=False, height=400
                )
                summary = gr.Markdown(elem_id="summary")
                plot = gr.Image(
                    label="Timeline", type="filepath", interactive=False, elem_id="plot"
                )
                files = gr.File(
                    label="Downloads", file_count="multiple", interactive=False, elem_id="downloads"
                )
                table = gr.Dataframe(
                    headers=TAKE_COLUMNS, label="Takes", interactive=False, elem_id="takes"
                )
                previous = gr.Video(
                    label="Previous take", interactive=False, elem_id="previous", height=300
                )
        takes = gr.State([])
        button.click(
            run,
            inputs=[
                video,
                system,
                emotion,
                instruments,
                key,
                tempo,
                seed,
                markers,
                ignore_cuts,
                takes,
            ],
            outputs=[scored, summary, plot, files, table, previous, takes],
            concurrency_limit=config.concurrency,
        )
    app.queue(default_concurrency_limit=config.concurrency)
    return app


def serve(config: ServeConfig, *, block: bool = True):
    """Launch the app on ``config.host:config.port``; with ``block=False`` return the app."""
    app = build_app(config)
    try:
        _launch(app, config, block)
    except OSError as exc:  # Gradio's "Cannot find empty port" and the like
        raise UsageError(f"--host {config.host} --port {config.port}: {exc}") from exc
    return app


def _launch(app, config: ServeConfig, block: bool) -> None:
    app.launch(
        server_name=config.host,
        server_port=config.port,
        max_file_size=f"{config.max_upload_mb:g}mb",
        allowed_paths=[str(config.work_dir / "takes")],
        prevent_thread_lock=not block,
        show_error=True,
        quiet=True,
        ssr_mode=False,
    )
