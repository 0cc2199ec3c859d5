"""The ``vidscore`` command line (Typer + Rich).

Exit codes: 0 success; 1 a batch finished with failed clips; 2 bad input or usage, reported as one
line on stderr (``--debug`` shows the traceback). Outputs are checked before any work starts and
written atomically.
"""

from __future__ import annotations

import json
import signal
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from vidscore.errors import UsageError, VidscoreError

if TYPE_CHECKING:
    from vidscore.types import Controls
from vidscore.version import __version__

app = typer.Typer(
    help="Compose background music that follows a video. Start with `vidscore analyze CLIP`.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
err = Console(stderr=True, soft_wrap=True)  # a line is never broken inside a path or reason
out = Console(soft_wrap=True)
_state: dict = {"debug": False, "signal": 2}
#: the choices the help lists (kept here, not imported, so that `--help` stays fast; a test
#: checks them against vidscore.systems.base.SYSTEMS, vidscore.types.EMOTIONS and the presets)
SYSTEM_CHOICES = "diffbgm (default), video2music, vmusprod, vmas or baseline"
DEFAULT_SYSTEM = SYSTEM_CHOICES.split(" ", 1)[0]
EMOTION_CHOICES = "exciting, fearful, tense, sad, relaxing or neutral"
INSTRUMENT_CHOICES = "piano, strings or band"
#: the batch options ``analyze`` and ``compose`` share (with --out-dir)
Executor = Annotated[str, typer.Option("--executor", help="With --out-dir: local or ray.")]
Address = Annotated[
    str | None, typer.Option("--address", help="Ray cluster address (default: local Ray).")
]
#: the alignment options both VMAs decoder trainers share (train vmas, train vmas-paired)
VMAsFloor = Annotated[
    float, typer.Option("--floor", help="Eq. 4's weight floor (1: no beat weighting).")
]
VMAsContrastive = Annotated[
    float, typer.Option("--contrastive", help="Eq. 2's weight (0: no contrastive term).")
]
VMAsBeatWindow = Annotated[
    int, typer.Option("--beat-window", help="Eq. 3's window, codec frames either side.")
]
VMAsCondDrop = Annotated[float, typer.Option("--cond-drop")]


data_app = typer.Typer(help="Datasets and test material.", no_args_is_help=True)
app.add_typer(data_app, name="data")
train_app = typer.Typer(help="Train a system's models.", no_args_is_help=True)
app.add_typer(train_app, name="train")


def _version(value: bool) -> None:
    if value:
        print(f"vidscore {__version__}")
        raise typer.Exit()


@app.callback()
def main_options(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks on errors.")] = False,
) -> None:
    """vidscore: background music for videos."""
    _state["debug"] = debug


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.fields[what]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=err,
        transient=True,
        disable=not err.is_terminal,
    )


@app.command()
def analyze(
    videos: Annotated[list[str], typer.Argument(help="A clip, or folders / globs with --out-dir.")],
    output: Annotated[Path | None, typer.Option("-o", "--output", help="Features JSON.")] = None,
    npz: Annotated[Path | None, typer.Option("--npz", help="Also write features as NPZ.")] = None,
    plot: Annotated[Path | None, typer.Option("--plot", help="Timeline PNG.")] = None,
    out_dir: Annotated[
        Path | None, typer.Option("--out-dir", help="Analyze many clips into this folder.")
    ] = None,
    formats: Annotated[
        str, typer.Option("--formats", help="With --out-dir: json,npz,png.")
    ] = "json",
    executor: Executor = "local",
    address: Address = None,
    detector: Annotated[
        str, typer.Option("--detector", help="Cut detector: adaptive or content.")
    ] = "adaptive",
    threshold: Annotated[
        float | None, typer.Option("--threshold", help="Cut detector threshold.")
    ] = None,
    semantic: Annotated[
        str, typer.Option("--semantic", help="handcrafted, or clip:PATH (local CLIP).")
    ] = "handcrafted",
    hist_bins: Annotated[int, typer.Option("--hist-bins", help="RGB-uv histogram bins.")] = 16,
    beat_window: Annotated[
        float, typer.Option("--beat-window", help="Video-beat window, s each side.")
    ] = 0.5,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace existing outputs.")
    ] = False,
) -> None:
    """Turn a clip into one feature timeline: cuts, motion, flow, colour, affect, semantics."""
    from vidscore.features.analyze import AnalysisConfig

    config = AnalysisConfig(
        detector=detector,
        cut_threshold=threshold,
        semantic=semantic,
        hist_bins=hist_bins,
        beat_window=beat_window,
    )
    if out_dir is not None:
        if output or npz or plot:
            raise UsageError("with --out-dir, choose outputs with --formats, not -o/--npz/--plot")
        from vidscore.batch import AnalyzeJob

        job = AnalyzeJob(config, _formats(formats))
        raise typer.Exit(_run_many(videos, out_dir, job, executor, address))
    if len(videos) != 1:
        raise UsageError("give one clip, or use --out-dir to analyze many")
    if output is None and npz is None and plot is None:
        raise UsageError("say where to write: -o FEATURES.json, --npz F or --plot F.png")
    _analyze_one(videos[0], config, output, npz, plot, overwrite)


def _analyze_one(video, config, output, npz, plot, overwrite) -> None:
    from vidscore.features.analyze import analyze as run
    from vidscore.features.timeline import save_json, save_npz
    from vidscore.outputs import check_output, claim
    from vidscore.video.io import probe

    targets = [p for p in (output, npz, plot) if p is not None]
    if len(set(map(str, targets))) != len(targets):
        raise UsageError("-o, --npz and --plot must name different files")
    if Path(video) in targets:
        raise UsageError("an output would overwrite the input video")
    for p in targets:
        check_output(p, overwrite=overwrite)
    info = probe(video)
    with claim(targets):  # a second run to the same outputs stops here
        with _progress() as bar:
            task = bar.add_task(f"analyzing {Path(video).name}", total=info.duration, what="")
            feats = run(
                video,
                config,
                info=info,
                progress=lambda t, d: bar.update(task, completed=t, what=f"{t:.1f}/{d:.1f} s"),
            )
        if output is not None:
            save_json(feats, output, overwrite=overwrite)
        if npz is not None:
            save_npz(feats, npz, overwrite=overwrite)
        if plot is not None:
            from vidscore.features.plot import plot_timeline

            plot_timeline(feats, plot, overwrite=overwrite)
    dom = feats.dominant_emotion
    top = max(set(dom), key=dom.count)
    similarity = feats.meta.get("frame_similarity")
    out.print(
        f"{Path(video).name}: {feats.duration:.2f} s, {len(feats.cuts)} cuts, "
        f"tempo {feats.meta['tempo_bpm']:.0f} BPM, mostly {top}"
        + (f", frame similarity {similarity}" if similarity is not None else "")
    )
    for p in targets:
        out.print(f"  wrote {p}")


def _run_many(videos, out_dir, job, executor, address) -> int:
    """Run a batch ``job`` under one progress bar; list the failures; the exit code (1 if any)."""
    from vidscore.batch import run_many

    with _progress() as bar:
        task = bar.add_task("clips", total=None, what="")

        def started(n: int) -> None:
            bar.update(task, total=n)

        def clip_done(video: str, error: str | None) -> None:
            bar.advance(task)
            bar.update(task, what=Path(video).name)
            if error:
                err.print(f"[red]failed[/red] {error}", markup=True, highlight=False)

        report = run_many(
            videos,
            out_dir,
            job,
            executor=executor,
            address=address,
            on_clip=clip_done,
            on_start=started,
        )
    out.print(
        f"{len(report.done)} {job.verb}, {len(report.skipped)} already done, "
        f"{len(report.failed)} failed -> {out_dir}"
    )
    if report.failed:
        err.print("failures:")
        for video, msg in report.failed:
            err.print(f"  {video}: {msg}", markup=False, highlight=False)
        return 1
    return 0


def _formats(formats: str) -> tuple[str, ...]:
    return tuple(f.strip() for f in formats.split(",") if f.strip())


@app.command()
def compose(
    videos: Annotated[
        list[str], typer.Argument(help="The clip to score, or folders / globs with --out-dir.")
    ],
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="Clip with music (.mp4/.mov/.mkv).")
    ] = None,
    out_dir: Annotated[
        Path | None,
        typer.Option("--out-dir", help="Score many clips into this folder (resumable)."),
    ] = None,
    formats: Annotated[
        str, typer.Option("--formats", help="With --out-dir: mp4,json (always), mid, wav, png.")
    ] = "mp4,json",
    executor: Executor = "local",
    address: Address = None,
    system: Annotated[
        str,
        typer.Option(
            "--system", help=f"Which system composes: {SYSTEM_CHOICES} (`vidscore systems`)."
        ),
    ] = DEFAULT_SYSTEM,
    weights: Annotated[
        Path | None, typer.Option("--weights", help="Weights folder from `vidscore train`.")
    ] = None,
    param: Annotated[
        list[str] | None,
        typer.Option("--param", help="A system parameter, name=value (repeatable)."),
    ] = None,
    emotion: Annotated[
        str | None, typer.Option("--emotion", help=f"Force an emotion: {EMOTION_CHOICES}.")
    ] = None,
    key: Annotated[str | None, typer.Option("--key", help="Key, e.g. 'D minor'.")] = None,
    tempo: Annotated[
        float | None, typer.Option("--tempo", help="BPM (default: from motion).")
    ] = None,
    instruments: Annotated[
        str | None, typer.Option("--instruments", help=f"{INSTRUMENT_CHOICES}.")
    ] = None,
    seed: Annotated[int, typer.Option("--seed")] = 0,
    markers: Annotated[
        str | None,
        typer.Option("--markers", help="Seconds where a section must start, e.g. 4.5,12."),
    ] = None,
    ignore_cuts: Annotated[
        bool,
        typer.Option("--ignore-cuts", help="Leave the detected cuts alone: only --markers count."),
    ] = False,
    keep: Annotated[
        Path | None,
        typer.Option("--keep", help="MIDI of an earlier take to keep outside --regenerate."),
    ] = None,
    regenerate: Annotated[
        str | None,
        typer.Option("--regenerate", help="Seconds START-END to write anew, e.g. 12.5-20."),
    ] = None,
    midi: Annotated[Path | None, typer.Option("--midi", help="Also write the MIDI.")] = None,
    wav: Annotated[Path | None, typer.Option("--wav", help="Also write the music as WAV.")] = None,
    stems: Annotated[
        Path | None,
        typer.Option("--stems", help="Folder for one WAV per part, summing to the music."),
    ] = None,
    cues: Annotated[Path | None, typer.Option("--cues", help="Cues JSON.")] = None,
    plot: Annotated[Path | None, typer.Option("--plot", help="Timeline-against-cuts PNG.")] = None,
    soundfont: Annotated[Path | None, typer.Option("--soundfont", help="A .sf2 file.")] = None,
    synth: Annotated[
        str, typer.Option("--synth", help="auto, fluidsynth or midirenderer.")
    ] = "auto",
    original_gain: Annotated[
        float,
        typer.Option(
            "--original-gain", help="Loudness of the clip's own sound against the music, in LU."
        ),
    ] = -12.0,
    replace_audio: Annotated[
        bool, typer.Option("--replace-audio", help="Drop the clip's own sound.")
    ] = False,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace existing outputs.")
    ] = False,
) -> None:
    """Compose music for a clip and write the clip with it (or for many clips, with --out-dir)."""
    from vidscore.pipeline import compose as run

    controls = _controls(
        emotion, key, tempo, instruments, seed, markers, keep, regenerate, ignore_cuts
    )
    if not -60 <= original_gain <= 12:
        raise UsageError("--original-gain: -60 to 12 dB")
    if out_dir is not None:
        if output or midi or wav or stems or cues or plot:
            raise UsageError(
                "with --out-dir, choose outputs with --formats, "
                "not -o/--midi/--wav/--stems/--cues/--plot"
            )
        from vidscore.batch import ComposeJob

        job = ComposeJob(
            system=system,
            controls=controls,
            weights=None if weights is None else str(weights),
            params=tuple(param or ()),
            formats=_formats(formats),
            soundfont=None if soundfont is None else str(soundfont),
            synth=synth,
            original_gain_db=original_gain,
            replace_audio=replace_audio,
        )
        raise typer.Exit(_run_many(videos, out_dir, job, executor, address))
    if len(videos) != 1:
        raise UsageError("give one clip, or use --out-dir to score many")
    if output is None:
        raise UsageError("say where to write the scored clip: -o OUT.mp4 (or --out-dir DIR)")
    video = Path(videos[0])
    with _progress() as bar:
        tasks: dict[str, int] = {}

        def stage(name: str, done: float, total: float) -> None:
            if name not in tasks:
                tasks[name] = bar.add_task(name, total=total, what="")
            bar.update(tasks[name], completed=done)

        result = run(
            video,
            output,
            system=system,
            weights=weights,
            params=list(param or []),
            controls=controls,
            midi=midi,
            wav=wav,
            stems=stems,
            cues_path=cues,
            plot=plot,
            soundfont=soundfont,
            synth=synth,
            original_gain_db=original_gain,
            replace_audio=replace_audio,
            overwrite=overwrite,
            stage=stage,
            notice=lambda line: bar.console.print(f"note: {line}", markup=False, highlight=False),
        )
    st = result.soundtrack
    tl = st.timeline
    choices = ", ".join(x for x in (st.key, f"{tl.tempo_bpm:.0f} BPM", st.instruments) if x)
    out.print(
        f"{video.name}: {result.features.duration:.1f} s, {result.system}, {choices}, "
        f"{len(tl.aligned_cuts)}/{len(result.features.cuts)} cuts on bar lines"
    )
    dropped = st.meta.get("markers_not_placed") or []
    if dropped:
        err.print(
            f"note: markers {dropped} could not be placed (within a beat of the end, of the "
            "start or of a stronger marker)",
            highlight=False,
        )
    for kind, path in result.outputs.items():
        out.print(f"  {kind}: {path}")


def _controls(
    emotion, key, tempo, instruments, seed, markers, keep=None, regenerate=None, ignore_cuts=False
) -> Controls:
    """The user's controls, or one UsageError line."""
    from vidscore.types import Controls

    try:
        times = tuple(float(m) for m in markers.split(",") if m.strip()) if markers else ()
    except ValueError as exc:
        raise UsageError(f"--markers {markers!r}: seconds separated by commas") from exc
    span = None
    if regenerate is not None:
        try:
            a, b = (float(x) for x in regenerate.split("-"))
        except ValueError as exc:
            raise UsageError(
                f"--regenerate {regenerate!r}: seconds START-END, e.g. 12.5-20"
            ) from exc
        span = (a, b)
    try:
        return Controls(
            emotion=emotion,
            key=key,
            tempo=tempo,
            instruments=instruments,
            seed=seed,
            markers=times,
            keep=None if keep is None else str(keep),
            regenerate=span,
            ignore_cuts=ignore_cuts,
        )
    except ValueError as exc:
        raise UsageError(str(exc)) from exc


@app.command()
def serve(
    host: Annotated[
        str, typer.Option("--host", help="Address to bind (0.0.0.0 opens it to the network).")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port")] = 7860,
    max_upload_mb: Annotated[
        float, typer.Option("--max-upload-mb", help="Largest upload accepted.")
    ] = 500.0,
    max_seconds: Annotated[
        float, typer.Option("--max-seconds", help="Longest clip scored.")
    ] = 900.0,
    concurrency: Annotated[
        int, typer.Option("--concurrency", help="Composes run at once; the rest queue.")
    ] = 1,
    keep_hours: Annotated[
        float, typer.Option("--keep-hours", help="Takes and uploads older than this are removed.")
    ] = 24.0,
    work_dir: Annotated[
        Path | None,
        typer.Option("--work-dir", help="Uploads and takes (default ~/.cache/vidscore/serve)."),
    ] = None,
    example: Annotated[
        list[Path] | None,
        typer.Option("--example", help="A clip offered in the page (repeat; a demo is drawn)."),
    ] = None,
) -> None:
    """Open the web app: upload a clip, compose, play and download the takes."""
    from dataclasses import replace

    from vidscore import serve as app

    missing = [str(e) for e in example or () if not e.is_file()]
    if missing:
        raise UsageError(f"--example {missing[0]}: no such file")
    config = app.ServeConfig(
        host=host,
        port=port,
        max_upload_mb=max_upload_mb,
        max_seconds=max_seconds,
        concurrency=concurrency,
        keep_hours=keep_hours,
        work_dir=work_dir or app.default_work_dir(),
    )
    examples = (*(str(e.resolve()) for e in example or ()), app.demo_example(config))
    out.print(f"vidscore serve: http://{host}:{port} (work folder {config.work_dir}; Ctrl-C stops)")
    app.serve(replace(config, examples=examples))


@app.command()
def systems() -> None:
    """List the systems, their weights and their generation parameters."""
    from vidscore.systems.base import param_info, registered, system_class

    for name in registered():
        cls = system_class(name)
        out.print(f"[bold]{name}[/bold]: {cls.summary}", highlight=False)
        out.print(f"  output: {cls.output}; weights: {cls.weights_status()}", highlight=False)
        params = param_info(cls.Params)
        if not params:
            out.print("  parameters: none", highlight=False)
        for p in params:
            out.print(
                f"  --param {p.name}={p.default!r}  ({p.type}) {p.help}",
                markup=False,
                highlight=False,
            )


@app.command()
def evaluate(
    outputs: Annotated[list[Path] | None, typer.Argument(help="MIDI, WAV or MP4 outputs.")] = None,
    report: Annotated[Path, typer.Option("-o", "--output", help="Report JSON.")] = Path(
        "report.json"
    ),
    reference: Annotated[
        Path | None, typer.Option("--reference", help="Folder of real MIDI.")
    ] = None,
    reference_limit: Annotated[
        int, typer.Option("--reference-limit", help="Use the first N reference files.")
    ] = 0,
    videos: Annotated[
        list[Path] | None, typer.Option("--videos", help="Clips (for WAV, or --system).")
    ] = None,
    system: Annotated[
        str | None, typer.Option("--system", help=f"Compose with {SYSTEM_CHOICES}, then evaluate.")
    ] = None,
    weights: Annotated[
        Path | None, typer.Option("--weights", help="With --system: a trained weights folder.")
    ] = None,
    param: Annotated[
        list[str] | None, typer.Option("--param", help="With --system: name=value (repeatable).")
    ] = None,
    dependence: Annotated[
        bool, typer.Option("--dependence", help="Also from shuffled features.")
    ] = False,
    markdown_path: Annotated[
        Path | None, typer.Option("--markdown", help="Markdown table.")
    ] = None,
    plot_path: Annotated[Path | None, typer.Option("--plot", help="Bar chart PNG.")] = None,
    audio_reference: Annotated[
        Path | None, typer.Option("--audio-reference", help="Real audio (folder or file).")
    ] = None,
    embedder: Annotated[
        str, typer.Option("--embedder", help="melstats, torchscript:PATH or clap:PATH.")
    ] = "melstats",
    vmcp: Annotated[
        Path | None,
        typer.Option("--vmcp", help="With --system: a VMCP model folder (vidscore train vmcp)."),
    ] = None,
    compare: Annotated[
        bool,
        typer.Option(
            "--compare", help="The arguments are reports of several systems: one table and chart."
        ),
    ] = False,
    overwrite: Annotated[bool, typer.Option("--overwrite")] = False,
) -> None:
    """Measure outputs with the four papers' metrics (or compose with --system, then measure)."""
    from vidscore import evaluation as ev

    if compare:
        if system is not None or videos or reference or dependence:
            raise UsageError("--compare reads finished reports: no --system, --videos, --reference")
        text = ev.compare_reports(
            list(outputs or []),
            markdown_path=markdown_path,
            plot_path=plot_path,
            overwrite=overwrite,
        )
        out.print(text, markup=False, highlight=False)
        for p in (markdown_path, plot_path):
            if p is not None:
                out.print(f"wrote {p}")
        return

    if system is not None and outputs:
        raise UsageError("give outputs or --system with --videos, not both")
    if system is None and not outputs:
        raise UsageError("give outputs to evaluate, or --system NAME --videos DIR")
    if system is None and (dependence or weights or param or vmcp):
        raise UsageError("--dependence, --weights, --param and --vmcp need --system")
    if system is not None and audio_reference is not None:
        raise UsageError("--audio-reference measures output files, not --system runs")
    with _progress() as bar:
        task = bar.add_task("evaluating", total=None, what="")

        def step(name: str) -> None:
            bar.update(task, what=name)
            bar.advance(task)

        result = ev.evaluate(
            outputs=list(outputs or []),
            videos=ev.expand_videos(list(videos or [])),
            system=system,
            weights=weights,
            params=list(param or []),
            dependence=dependence,
            reference=reference,
            reference_limit=reference_limit,
            audio_reference=audio_reference,
            embedder=embedder,
            report=report,
            vmcp=vmcp,
            markdown_path=markdown_path,
            plot_path=plot_path,
            overwrite=overwrite,
            progress=step,
        )
    out.print(result.table, markup=False, highlight=False)
    out.print(f"wrote {report}")


@train_app.command("video2music")
def train_video2music(
    data: Annotated[Path, typer.Option("--data", help="POP909 or MuVi-Sync folder.")],
    out_dir: Annotated[Path, typer.Option("--out", help="Where to write weights and card.")],
    epochs: Annotated[int, typer.Option("--epochs")] = 30,
    gru_epochs: Annotated[int, typer.Option("--gru-epochs")] = 30,
    batch_size: Annotated[int, typer.Option("--batch-size")] = 16,
    lr: Annotated[float, typer.Option("--lr")] = 5e-4,
    seed: Annotated[int, typer.Option("--seed")] = 0,
    size: Annotated[str, typer.Option("--size", help="small or full.")] = "small",
    limit: Annotated[int, typer.Option("--limit", help="Use only the first N pieces.")] = 0,
    device: Annotated[str, typer.Option("--device", help="auto, cpu or cuda.")] = "auto",
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace weights already in --out.")
    ] = False,
) -> None:
    """Train the AMT (affective loss) and the biGRU; write safetensors weights and a card.

    Several GPUs or machines: `torchrun --nproc_per_node N -m vidscore train video2music ...`.
    An interrupted run continues where it stopped when run again with the same options.
    """
    from vidscore.modules.trainer import TrainConfig
    from vidscore.systems.video2music.model import AMTConfig
    from vidscore.systems.video2music.train import Video2MusicTraining, run

    if size not in ("small", "full"):
        raise UsageError("--size: small or full")
    try:
        cfg = TrainConfig(epochs=epochs, batch_size=batch_size, lr=lr, seed=seed, device=device)
        opts = Video2MusicTraining(gru_epochs=gru_epochs, limit=max(0, limit))
    except ValueError as exc:
        raise UsageError(str(exc)) from exc
    model_cfg = AMTConfig.small() if size == "small" else AMTConfig.full()
    _train_and_report(
        run, data, out_dir, "amt.safetensors, bigru.safetensors, manifest.json, CARD.md",
        model_cfg=model_cfg, cfg=cfg, opts=opts, overwrite=overwrite,
    )  # fmt: skip


@train_app.command("vmusprod")
def train_vmusprod(
    data: Annotated[
        list[Path], typer.Option("--data", help="SymMV and/or POP909 folder (repeatable).")
    ],
    out_dir: Annotated[Path, typer.Option("--out", help="Weights folder (shared by the stages).")],
    stage: Annotated[
        str,
        typer.Option(
            "--stage", help="chord, melody or accompaniment; direct or music: Table 2's ablations."
        ),
    ],
    epochs: Annotated[int, typer.Option("--epochs")] = 20,
    batch_size: Annotated[int, typer.Option("--batch-size")] = 16,
    lr: Annotated[float, typer.Option("--lr")] = 1e-3,
    bars: Annotated[int, typer.Option("--bars", help="Bars per training window.")] = 8,
    d_model: Annotated[int, typer.Option("--d-model")] = 128,
    layers: Annotated[int, typer.Option("--layers", help="Decoder layers.")] = 3,
    seed: Annotated[int, typer.Option("--seed")] = 0,
    limit: Annotated[int, typer.Option("--limit", help="First N pieces per folder.")] = 0,
    cache: Annotated[
        Path | None, typer.Option("--cache", help="Folder for the built pieces.")
    ] = None,
    device: Annotated[str, typer.Option("--device", help="auto, cpu or cuda.")] = "auto",
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace this stage's weights in --out.")
    ] = False,
) -> None:
    """Train one V-MusProd transformer (chord, melody or accompaniment) on music and its curves.

    Train the three stages into the same --out; the manifest and card gather them.
    """
    from vidscore.modules.trainer import TrainConfig
    from vidscore.systems.vmusprod.model import VMPConfig
    from vidscore.systems.vmusprod.train import VMusProdTraining, run

    try:
        cfg = TrainConfig(epochs=epochs, batch_size=batch_size, lr=lr, seed=seed, device=device)
        opts = VMusProdTraining(stage=stage, bars=bars, limit=max(0, limit))
        model_cfg = VMPConfig(
            stage=stage, d_model=d_model, dec_layers=layers, d_ff=3 * d_model,
            max_bars=max(16, bars),
        )  # fmt: skip
    except ValueError as exc:
        raise UsageError(str(exc)) from exc
    _train_and_report(
        run, data, out_dir, f"{stage}.safetensors, manifest.json, CARD.md",
        model_cfg=model_cfg, cfg=cfg, opts=opts, cache=cache, overwrite=overwrite,
    )  # fmt: skip


@train_app.command("diffbgm")
def train_diffbgm(
    data: Annotated[
        list[Path], typer.Option("--data", help="POP909 (and/or SymMV) folder (repeatable).")
    ],
    out_dir: Annotated[Path, typer.Option("--out", help="Where to write weights and card.")],
    epochs: Annotated[int, typer.Option("--epochs")] = 4,
    batch_size: Annotated[int, typer.Option("--batch-size")] = 16,
    lr: Annotated[float, typer.Option("--lr")] = 5e-4,
    width: Annotated[int, typer.Option("--width", help="U-Net base width (the paper's 64).")] = 16,
    pitches: Annotated[int, typer.Option("--pitches", help="Roll height in semitones.")] = 64,
    low_pitch: Annotated[int, typer.Option("--low-pitch", help="MIDI pitch of its bottom.")] = 32,
    hop_bars: Annotated[int, typer.Option("--hop-bars", help="Bars between windows.")] = 1,
    cond_drop: Annotated[float, typer.Option("--cond-drop")] = 0.2,
    curve_input: Annotated[
        bool,
        typer.Option(
            "--curve-input/--reference-conditioning",
            help="Curves also as input channels (default), or cross-attention alone as the "
            "reference (the ablation).",
        ),
    ] = True,
    features: Annotated[
        Path | None,
        typer.Option(
            "--features",
            help="BGM909 features folder: condition on its video features, not the curves.",
        ),
    ] = None,
    seed: Annotated[int, typer.Option("--seed")] = 0,
    limit: Annotated[int, typer.Option("--limit", help="First N pieces per folder.")] = 0,
    cache: Annotated[
        Path | None, typer.Option("--cache", help="Folder for the built pieces.")
    ] = None,
    device: Annotated[str, typer.Option("--device", help="auto, cpu or cuda.")] = "auto",
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace weights already in --out.")
    ] = False,
) -> None:
    """Train Diff-BGM's piano-roll denoiser on music and its curves; write weights and a card.

    The paper's size: --width 64 --pitches 128 --low-pitch 0 (a GPU run).
    """
    from vidscore.modules.trainer import TrainConfig
    from vidscore.systems.diffbgm.model import DiffBGMConfig
    from vidscore.systems.diffbgm.train import DiffBGMTraining, run

    try:
        cfg = TrainConfig(epochs=epochs, batch_size=batch_size, lr=lr, seed=seed, device=device)
        opts = DiffBGMTraining(cond_drop=cond_drop, hop_bars=hop_bars, limit=max(0, limit),
                               features=str(features) if features is not None else "")  # fmt: skip
        model_cfg = DiffBGMConfig(
            width=width, pitches=pitches, low_pitch=low_pitch, curve_input=curve_input
        )
    except ValueError as exc:
        raise UsageError(str(exc)) from exc
    _train_and_report(
        run, data, out_dir, "diffbgm.safetensors, manifest.json, CARD.md",
        model_cfg=model_cfg, cfg=cfg, opts=opts, cache=cache, overwrite=overwrite,
    )  # fmt: skip


@train_app.command("codec")
def train_codec(
    data: Annotated[
        list[Path], typer.Option("--data", help="POP909 and/or SymMV folder (repeatable).")
    ],
    out_dir: Annotated[Path, typer.Option("--out", help="VMAs weights folder.")],
    epochs: Annotated[int, typer.Option("--epochs", help="One crop of every render each.")] = 50,
    batch_size: Annotated[int, typer.Option("--batch-size")] = 16,
    lr: Annotated[float, typer.Option("--lr")] = 1e-3,
    kind: Annotated[
        str, typer.Option("--kind", help="spectral (CPU-trainable) or seanet (EnCodec's).")
    ] = "spectral",
    filters: Annotated[int, typer.Option("--filters", help="SEANet base filters.")] = 16,
    codebooks: Annotated[int, typer.Option("--codebooks")] = 4,
    codebook_size: Annotated[int, typer.Option("--codebook-size")] = 1024,
    seconds: Annotated[float, typer.Option("--seconds", help="Excerpt per piece.")] = 20.0,
    seed: Annotated[int, typer.Option("--seed")] = 0,
    limit: Annotated[int, typer.Option("--limit", help="First N pieces per folder.")] = 0,
    cache: Annotated[
        Path | None, typer.Option("--cache", help="Folder for the rendered excerpts.")
    ] = None,
    device: Annotated[str, typer.Option("--device", help="auto, cpu or cuda.")] = "auto",
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace the codec already in --out.")
    ] = False,
) -> None:
    """Train VMAs' audio codec (SEANet + residual VQ) on rendered music; write it and its card.

    EnCodec's waveform codec: --kind seanet (--filters 32 for its 24 kHz size; a GPU run).
    """
    from vidscore.modules.trainer import TrainConfig
    from vidscore.systems.vmas.codec import CodecConfig
    from vidscore.systems.vmas.codec_train import CodecTraining, run

    try:
        cfg = TrainConfig(epochs=epochs, batch_size=batch_size, lr=lr, seed=seed, device=device)
        opts = CodecTraining(seconds=seconds, limit=max(0, limit))
        model_cfg = CodecConfig(
            kind=kind, filters=filters, codebooks=codebooks, codebook_size=codebook_size
        )
    except ValueError as exc:
        raise UsageError(str(exc)) from exc
    _train_and_report(
        run, data, out_dir, "codec.safetensors, manifest.json, CODEC.md",
        model_cfg=model_cfg, cfg=cfg, opts=opts, cache=cache, overwrite=overwrite,
    )  # fmt: skip


@train_app.command("vmas")
def train_vmas(
    data: Annotated[
        list[Path], typer.Option("--data", help="The folders the codec was trained on.")
    ],
    out_dir: Annotated[Path, typer.Option("--out", help="VMAs weights folder with the codec.")],
    epochs: Annotated[int, typer.Option("--epochs", help="One window of every clip each.")] = 30,
    batch_size: Annotated[int, typer.Option("--batch-size")] = 16,
    lr: Annotated[float, typer.Option("--lr")] = 1e-3,
    d_model: Annotated[int, typer.Option("--d-model")] = 128,
    layers: Annotated[int, typer.Option("--layers", help="Decoder layers.")] = 4,
    window: Annotated[float, typer.Option("--window", help="Seconds per training window.")] = 4.0,
    floor: VMAsFloor = 0.5,
    contrastive: VMAsContrastive = 0.1,
    beat_window: VMAsBeatWindow = 5,
    cond_drop: VMAsCondDrop = 0.15,
    clips: Annotated[
        int, typer.Option("--clips", help="Training clips to encode and use (0: all).")
    ] = 0,
    aligned: Annotated[
        bool,
        typer.Option(
            "--aligned/--cross-attention-only",
            help="Condition also added per frame (default), or read by cross-attention alone.",
        ),
    ] = True,
    seed: Annotated[int, typer.Option("--seed")] = 0,
    limit: Annotated[int, typer.Option("--limit", help="First N pieces per folder.")] = 0,
    cache: Annotated[
        Path | None, typer.Option("--cache", help="Folder for renders, pieces and tokens.")
    ] = None,
    device: Annotated[str, typer.Option("--device", help="auto, cpu or cuda.")] = "auto",
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace the decoder already in --out.")
    ] = False,
) -> None:
    """Train VMAs' decoder on the codec's tokens of rendered music (run `train codec` first)."""
    from vidscore.modules.trainer import TrainConfig
    from vidscore.systems.vmas.model import VMAsConfig
    from vidscore.systems.vmas.train import VMAsTraining, run

    try:
        cfg = TrainConfig(epochs=epochs, batch_size=batch_size, lr=lr, seed=seed, device=device)
        opts = VMAsTraining(
            window=window, cond_drop=cond_drop, beat_window=beat_window, floor=floor,
            contrastive=contrastive, limit=max(0, limit), clips=max(0, clips),
        )  # fmt: skip
        model_cfg = VMAsConfig(d_model=d_model, layers=layers, d_ff=4 * d_model, aligned=aligned)
    except ValueError as exc:
        raise UsageError(str(exc)) from exc
    _train_and_report(
        run, data, out_dir, "decoder.safetensors, manifest.json, CARD.md",
        model_cfg=model_cfg, cfg=cfg, opts=opts, cache=cache, overwrite=overwrite,
    )  # fmt: skip


@train_app.command("vmas-paired")
def train_vmas_paired(
    data: Annotated[
        Path,
        typer.Option(
            "--data",
            help="Paired layout: ROOT/train, ROOT/val (or test) videos whose soundtrack is the "
            "music (DISCO-MV style).",
        ),
    ],
    out_dir: Annotated[Path, typer.Option("--out", help="VMAs weights folder with the codec.")],
    video: Annotated[
        str,
        typer.Option(
            "--video",
            help="Video encoder size: paper (Hiera-Base, 96 frames of 224 px) or tiny (8 frames "
            "of 64 px, for tests).",
        ),
    ] = "paper",
    epochs: Annotated[int, typer.Option("--epochs", help="One window of every clip each.")] = 30,
    batch_size: Annotated[int, typer.Option("--batch-size")] = 4,
    lr: Annotated[float, typer.Option("--lr")] = 1e-4,
    d_model: Annotated[int, typer.Option("--d-model")] = 128,
    layers: Annotated[int, typer.Option("--layers", help="Decoder layers.")] = 4,
    floor: VMAsFloor = 0.5,
    contrastive: VMAsContrastive = 0.1,
    beat_window: VMAsBeatWindow = 5,
    cond_drop: VMAsCondDrop = 0.15,
    seed: Annotated[int, typer.Option("--seed")] = 0,
    device: Annotated[str, typer.Option("--device", help="auto, cpu or cuda.")] = "auto",
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace the decoder already in --out.")
    ] = False,
) -> None:
    """Train VMAs' decoder and its Hiera-style video encoder on paired video-music clips."""
    from vidscore.modules.trainer import TrainConfig
    from vidscore.systems.vmas.model import VMAsConfig
    from vidscore.systems.vmas.paired_train import run
    from vidscore.systems.vmas.train import VMAsTraining
    from vidscore.systems.vmas.video_encoder import VideoEncoderConfig

    presets = {"paper": VideoEncoderConfig, "tiny": VideoEncoderConfig.tiny}
    if video not in presets:
        raise UsageError(f"--video {video!r}: choose from {', '.join(presets)}")
    try:
        cfg = TrainConfig(epochs=epochs, batch_size=batch_size, lr=lr, seed=seed, device=device)
        opts = VMAsTraining(cond_drop=cond_drop, beat_window=beat_window, floor=floor,
                            contrastive=contrastive)  # fmt: skip
        model_cfg = VMAsConfig(d_model=d_model, layers=layers, d_ff=4 * d_model)
    except ValueError as exc:
        raise UsageError(str(exc)) from exc
    _train_and_report(
        run, data, out_dir, "decoder.safetensors, manifest.json, CARD.md",
        model_cfg=model_cfg, video_cfg=presets[video](), cfg=cfg, opts=opts, overwrite=overwrite,
    )  # fmt: skip


def _train_and_report(run, data, out_dir: Path, files: str, **kwargs) -> None:
    """Run a system's trainer (``run(data, out_dir, ...)``) under the epoch progress bars with
    the command line for its card, then print its held-out scores and what it wrote."""
    from vidscore.systems.common.card import command_line

    with _progress() as bar:
        metrics = run(data, out_dir, command=command_line(sys.argv[1:]),
                      progress=_epoch_progress(bar), **kwargs)  # fmt: skip
    if metrics is not None:
        out.print(json.dumps(metrics, indent=1))
        out.print(f"wrote {out_dir}: {files}")


def _epoch_progress(bar: Progress):
    """A trainer progress callback: one bar per model (and a log line when not on a terminal)."""
    tasks: dict[str, int] = {}

    def progress(stage: str, epoch: int, total: int, loss: float) -> None:
        if stage not in tasks:
            tasks[stage] = bar.add_task(f"training {stage}", total=total, what="")
        bar.update(tasks[stage], completed=epoch, what=f"loss {loss:.4f}")
        if not err.is_terminal:
            err.print(f"{stage} epoch {epoch}/{total} loss {loss:.4f}", highlight=False)

    return progress


@train_app.command("vmcp")
def train_vmcp(
    data: Annotated[Path, typer.Option("--data", help="Folder of NAME.mp4 (+ NAME.wav) pairs.")],
    out_dir: Annotated[Path, typer.Option("--out", help="Where to write vmcp.safetensors.")],
    epochs: Annotated[int, typer.Option("--epochs")] = 60,
    seed: Annotated[int, typer.Option("--seed")] = 0,
    device: Annotated[str, typer.Option("--device", help="auto, cpu or cuda.")] = "auto",
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace weights already in --out.")
    ] = False,
) -> None:
    """Train V-MusProd's video-music contrastive model (for the VMCP metric)."""
    from vidscore.evaluation import train_vmcp as run

    if epochs < 1:
        raise UsageError("--epochs must be >= 1")
    with _progress() as bar:
        task = bar.add_task("features", total=None, what="")
        metrics = run(
            data,
            out_dir,
            epochs=epochs,
            seed=seed,
            device=device,
            overwrite=overwrite,
            progress=lambda n: bar.update(task, what=n, advance=1),
        )
    if metrics is not None:
        out.print(json.dumps(metrics, indent=1))
        out.print(f"wrote {out_dir}: vmcp.safetensors, manifest.json")


@data_app.command("annotate")
def data_annotate(
    target: Annotated[Path, typer.Argument(help="A .mid or audio file, or a folder of them.")],
    output: Annotated[Path, typer.Option("-o", "--output", help="Output folder.")],
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace existing outputs.")
    ] = False,
) -> None:
    """SymMV-style annotations: chords, key, beats, tempo, melody, accompaniment, loudness."""
    from vidscore.data.annotate import annotate, find_pieces

    pieces = find_pieces(target)
    with _progress() as bar:
        task = bar.add_task("annotating", total=len(pieces), what="")

        def done(piece: str, error: str | None) -> None:
            bar.advance(task)
            bar.update(task, what=Path(piece).name)

        report = annotate(target, output, overwrite=overwrite, on_piece=done)
    out.print(f"{len(report.done)} annotated, {len(report.failed)} failed -> {output}")
    if report.failed:
        for piece, msg in report.failed:
            err.print(f"  {piece}: {msg}", markup=False, highlight=False)
        if not report.done and len(pieces) == 1:
            raise UsageError(report.failed[0][1])
        raise typer.Exit(1)


@data_app.command("demo-clip")
def demo_clip(
    output: Annotated[Path, typer.Argument(help="Where to write the clip (.mp4).")],
    seconds: Annotated[float, typer.Option("--seconds", help="Approximate length.")] = 12.0,
    seed: Annotated[int, typer.Option("--seed")] = 0,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace an existing file.")
    ] = False,
) -> None:
    """Draw a demo clip (coloured scenes, moving shapes, known cuts) for trying vidscore."""
    from vidscore.video.montage import synth_clip

    if not 1.0 <= seconds <= 600.0:
        raise UsageError(f"--seconds {seconds}: must be 1 to 600")
    n = max(1, round(seconds / 3.0))
    cuts = synth_clip(output, scenes=[seconds / n] * n, seed=seed, overwrite=overwrite)
    out.print(f"wrote {output}: {seconds:.1f} s, cuts at " + ", ".join(f"{c:.2f}" for c in cuts))


def _terminate(signum: int, _frame) -> None:
    """SIGTERM unwinds like Ctrl-C, so temporary files and claims are cleaned on the way out."""
    _state["signal"] = signum
    raise KeyboardInterrupt


def _interrupted() -> int:
    """One line for an interruption; exit code 128 + the signal's number (130 Ctrl-C, 143 TERM)."""
    signum = int(_state["signal"])
    err.print(f"error: interrupted ({signal.Signals(signum).name}); unfinished outputs removed")
    return 128 + signum


def _hide_flag_types(command) -> None:
    """On/off flags take no value, so the help shows no ``<bool>`` type beside them."""
    for param in command.params:
        if getattr(param, "is_flag", False):
            param.metavar = ""
    for sub in getattr(command, "commands", {}).values():
        _hide_flag_types(sub)


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the app, turning user errors into one line and exit code 2, and an
    interruption (Ctrl-C, SIGTERM) into one line and 128 + the signal's number."""
    command = typer.main.get_command(app)
    _hide_flag_types(command)
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _terminate)
    _state["signal"] = signal.SIGINT
    try:
        rv = command.main(args=argv, prog_name="vidscore", standalone_mode=False)
        if rv == 130:  # Typer turns KeyboardInterrupt (Ctrl-C, or SIGTERM above) into Exit(130)
            return _interrupted()
        return rv if isinstance(rv, int) else 0
    except VidscoreError as exc:
        if _state["debug"]:
            raise
        err.print(f"error: {exc}", markup=False, highlight=False, soft_wrap=True)
        return exc.exit_code
    except Exception as exc:
        # Click's exceptions (vendored by recent Typer, so matched by shape, not class)
        name = type(exc).__name__
        if name == "NoArgsIsHelpError":  # Typer has already printed the help
            return 0
        if hasattr(exc, "format_message") and not _state["debug"]:
            ctx = getattr(exc, "ctx", None)
            hint = f" (see {ctx.command_path} --help)" if ctx is not None else ""
            err.print(
                f"error: {exc.format_message()}{hint}",
                markup=False,
                highlight=False,
                soft_wrap=True,
            )
            return int(getattr(exc, "exit_code", 2))
        if name == "Abort":  # end of input at a prompt
            return _interrupted()
        if name in ("Exit", "Abort") and hasattr(exc, "exit_code"):
            return int(exc.exit_code)
        raise


def run() -> None:
    sys.exit(main())
