"""Evaluation above the pipeline: measure output files, or compose many clips with a system and
measure them, with the video shuffled or swapped as the ablation (``vidscore evaluate``).

Per output, what its kind allows: symbolic metrics from its MIDI; AV-Align against the video's
flow peaks (with baselines) from its sound; cut alignment, emotion correspondence and
density-motion correlation when the cues JSON and MIDI that ``compose`` writes sit beside it
(``NAME.scored.mp4`` with ``NAME.mid`` and ``NAME.cues.json``, or the same stem). A reference
folder of MIDI gives the real music's values. Video dependence: the same metrics for music
composed from the clip's features shuffled in time, and from another clip's features; a system
whose scores do not move ignores the video. With a VMCP model (``--vmcp DIR``, trained by
``vidscore train vmcp``), a ``--system`` run also ranks each clip's video for its composed
music: V-MusProd's VMCP and Diff-BGM's P@k (:mod:`vidscore.metrics.retrieval`), and the same
for the music composed from shuffled features. The metrics themselves are pure functions in
:mod:`vidscore.metrics`.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from vidscore.audio.synth import SAMPLE_RATE
from vidscore.cues import cues as make_cues
from vidscore.errors import InputError, UsageError
from vidscore.features.analyze import analyze
from vidscore.metrics.report import PieceReport, video_metrics
from vidscore.metrics.symbolic import METRICS, all_metrics
from vidscore.music.midi import read_midi
from vidscore.music.score import Score
from vidscore.render.soundtrack import render
from vidscore.soundtrack import Soundtrack
from vidscore.systems.base import load_system, parse_params, system_class
from vidscore.types import Controls, Series, VideoFeatures
from vidscore.video.io import read_audio

MIDI_EXT = {".mid", ".midi"}
AUDIO_EXT = {".wav", ".flac", ".mp3", ".ogg"}
VIDEO_EXT = {".mp4", ".mov", ".mkv", ".webm", ".avi", ".m4v"}
SR = 22050  # evaluation sample rate
Progress = Callable[[str], None]


def load_audio(path: Path, sr: int = SR) -> np.ndarray:
    """Mono float32 of a file's first audio stream, or InputError if it has none or is damaged."""
    x = read_audio(path, rate=sr, strict=True)
    if x is None:
        raise InputError(f"{path}: has no sound to evaluate")
    return x[0]


def siblings(path: Path) -> tuple[Path | None, Path | None]:
    """The MIDI and cues ``compose`` wrote beside an output, if any."""
    stems = [path.with_suffix("")]
    if stems[0].suffix == ".scored":
        stems.append(stems[0].with_suffix(""))
    midi = next((Path(f"{s}.mid") for s in stems if Path(f"{s}.mid").is_file()), None)
    cues = next((Path(f"{s}.cues.json") for s in stems if Path(f"{s}.cues.json").is_file()), None)
    return midi, cues


def evaluate_files(
    outputs: list[Path], *, videos: list[Path] | None = None, progress: Progress | None = None
) -> list[PieceReport]:
    """Measure each output; WAV files pair with ``videos`` in order."""
    wavs = [p for p in outputs if p.suffix.lower() in AUDIO_EXT]
    if wavs and (videos is None or len(videos) != len(wavs)):
        raise UsageError("WAV outputs need --videos, one clip per WAV, in the same order")
    video_for = dict(zip(wavs, videos or [], strict=False))
    reports = []
    for p in outputs:
        if progress is not None:
            progress(p.name)
        if not p.is_file():
            raise InputError(f"{p}: no such file")
        suffix = p.suffix.lower()
        if suffix in MIDI_EXT:
            reports.append(PieceReport(str(p), "midi", all_metrics(read_midi(p))))
            continue
        if suffix not in AUDIO_EXT | VIDEO_EXT:
            raise InputError(f"{p}: not a MIDI, audio or video file")
        midi, cues_path = siblings(p)
        cues = json.loads(cues_path.read_text()) if cues_path else None
        features = analyze(video_for.get(p, p))
        score = read_midi(midi) if midi else None
        metrics = all_metrics(score) if score is not None else {}
        metrics.update(video_metrics(load_audio(p), SR, features, score, cues))
        reports.append(PieceReport(str(p), "video" if suffix in VIDEO_EXT else "audio", metrics))
    return reports


def reference_values(folder: Path, limit: int = 0) -> dict[str, float]:
    """Mean symbolic metrics of the MIDI files under ``folder`` (the real music)."""
    files = sorted(q for q in folder.rglob("*") if q.suffix.lower() in MIDI_EXT)
    if limit:
        files = files[:limit]
    if not files:
        raise InputError(f"{folder}: no MIDI files for a reference")
    rows = [all_metrics(read_midi(f)) for f in files]
    return {k: float(np.nanmean([r[k] for r in rows])) for k in METRICS}


def audio_reference_quality(outputs: list[Path], folder: Path, spec: str) -> dict:
    """FAD / KL of the outputs' sound against the audio (or clips) under ``folder`` (or that one
    file)."""
    from vidscore.metrics.audio import audio_quality, make_embedder

    emb = make_embedder(spec)
    exts = AUDIO_EXT | VIDEO_EXT
    found = [folder] if folder.is_file() else folder.rglob("*")
    refs = sorted(q for q in found if q.suffix.lower() in exts)
    gens = [p for p in outputs if p.suffix.lower() in exts]
    if not refs or not gens:
        raise InputError(f"{folder}: FAD needs reference audio and audio or video outputs")
    return audio_quality(
        [load_audio(r, emb.sample_rate) for r in refs],
        [load_audio(g, emb.sample_rate) for g in gens],
        emb,
    )


def shuffled(
    features: VideoFeatures, seed: int = 0, perm: np.ndarray | None = None
) -> VideoFeatures:
    """The same features with the clip's seconds permuted (one permutation for every series:
    a per-second value moves with its second, a faster series' samples with the second they fall
    in) and the cuts moved to random times: what the video says, scrambled. ``perm`` (second i
    of the result shows second ``perm[i]`` of the clip) replaces the seeded draw, so a benchmark
    can walk every permutation of a short clip."""
    rng = np.random.default_rng(seed)
    n = len(features["motion"])
    perm = rng.permutation(n) if perm is None else np.asarray(perm, dtype=int)
    if sorted(perm.tolist()) != list(range(n)):
        raise ValueError(f"perm must be a permutation of the clip's {n} seconds")
    where = np.empty(n, dtype=int)
    where[perm] = np.arange(n)  # second k of the clip lands at second where[k]
    series = {}
    for name, s in features.series.items():
        if s.rate == 1.0 and len(s) == n:
            series[name] = Series(s.name, s.times, s.values[perm], s.rate, s.unit, s.description)
        elif len(s):
            k = np.clip(np.floor(s.times).astype(int), 0, n - 1)
            times = where[k] + (s.times - k)
            order = np.argsort(times, kind="stable")
            series[name] = Series(s.name, times[order], s.values[order], s.rate, s.unit,
                                  s.description)  # fmt: skip
        else:
            series[name] = s
    cuts = sorted(rng.uniform(0, features.duration, len(features.cuts)).tolist())
    return dataclasses.replace(features, series=series, cuts=cuts)


def measure(
    features: VideoFeatures, soundtrack: Soundtrack, system: str
) -> tuple[dict[str, float], np.ndarray]:
    """Metrics of a soundtrack against the real clip's features, and its audio (rendered
    offline at SAMPLE_RATE)."""
    audio = render(soundtrack, duration=features.duration)
    cues = make_cues(features, soundtrack, system=system, controls=Controls())
    score: Score | None = soundtrack.score
    metrics = all_metrics(score) if score is not None else {}
    metrics.update(video_metrics(audio, SAMPLE_RATE, features, score, cues))
    return metrics, audio


@dataclass
class SystemRun:
    """What :func:`evaluate_system` measured: per clip as composed, from shuffled and from
    swapped features; VMCP and P@k by condition when a VMCP model was given."""

    real: list[PieceReport]
    shuffled: list[PieceReport]
    swapped: list[PieceReport]
    retrieval: dict[str, dict] | None = None


def evaluate_system(
    system: str,
    videos: list[Path],
    *,
    weights: str | os.PathLike | None = None,
    params: list[str] | dict[str, Any] | None = None,
    dependence: bool = False,
    vmcp: str | os.PathLike | None = None,
    progress: Progress | None = None,
) -> SystemRun:
    """Compose each clip with ``system`` and measure it against the clip. With ``dependence``,
    also compose from the clip's features shuffled in time, and from the next clip's features
    (swapped), each measured against the real clip. With ``vmcp`` (a folder ``vidscore train
    vmcp`` wrote), rank every clip's video for its music (see the module docstring)."""
    from vidscore.metrics import retrieval

    gen_params = parse_params(system_class(system).Params, params)
    impl = load_system(system, weights)
    model = retrieval.load(vmcp) if vmcp is not None else None
    feats = []
    for v in videos:
        if progress is not None:
            progress(v.name)
        feats.append(analyze(v))
    out = SystemRun([], [], [])
    music: dict[str, list[np.ndarray]] = {"composed": [], "shuffled": []}

    def run(f: VideoFeatures, target: VideoFeatures, label: str) -> dict[str, float]:
        metrics, audio = measure(target, impl.compose(f, Controls(), gen_params), system)
        if model is not None and label in music:
            y = resample(audio, SAMPLE_RATE, SR)
            music[label].append(retrieval.music_segments(y, SR))
        return metrics

    for i, (v, f) in enumerate(zip(videos, feats, strict=True)):
        out.real.append(PieceReport(str(v), "composed", run(f, f, "composed")))
        if dependence:
            out.shuffled.append(PieceReport(str(v), "shuffled", run(shuffled(f), f, "shuffled")))
            if len(videos) > 1:
                other = feats[(i + 1) % len(videos)]
                out.swapped.append(PieceReport(str(v), "swapped", run(other, f, "swapped")))
    if model is not None:
        if len(videos) < 2:
            raise UsageError("--vmcp ranks each clip among the others: give at least 2 clips")
        v = retrieval.embed(model, [retrieval.video_segments(f) for f in feats], "video").numpy()
        out.retrieval = {}
        for label, segs in music.items():
            if segs:
                m = retrieval.embed(model, segs, "music").numpy()
                out.retrieval[label] = {
                    "vmcp": retrieval.vmcp(m, v),
                    "diffbgm_precision": retrieval.precision_at_k(m, v),
                }
    return out


def retrieval_table(scores: dict[str, dict]) -> str:
    """VMCP and P@k per condition as Markdown."""
    lines = ["", "| music | VMCP P@5 | P@10 | P@20 | AR | of | Diff-BGM P@1 | P@5 |",
             "|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for label, r in scores.items():
        v, p = r["vmcp"], r["diffbgm_precision"]
        lines.append(
            f"| {label} | {v['P@5']:.3f} | {v['P@10']:.3f} | {v['P@20']:.3f} | {v['AR']:.2f} "
            f"| {v['candidates']} | {p['P@1']:.3f} | {p['P@5']:.3f} |"
        )
    return "\n".join(lines) + "\n"


def resample(y: np.ndarray, rate: int, to: int) -> np.ndarray:
    """``y`` at ``rate`` Hz resampled to ``to`` Hz (polyphase)."""
    from math import gcd

    from scipy.signal import resample_poly

    g = gcd(rate, to)
    return resample_poly(y, to // g, rate // g).astype(np.float32)


def vmcp_pairs(folder: str | os.PathLike, progress: Progress | None = None):
    """(names, video segments, music segments) for every clip in ``folder``: ``NAME.wav`` beside
    ``NAME.mp4`` is its music, else the clip's own sound."""
    from vidscore.metrics.retrieval import music_segments, video_segments

    root = Path(folder)
    clips = sorted(p for p in root.iterdir() if p.suffix.lower() in VIDEO_EXT)
    if len(clips) < 4:
        raise InputError(f"{root}: VMCP needs at least 4 video-music pairs, found {len(clips)}")
    names, videos, music = [], [], []
    for clip in clips:
        if progress is not None:
            progress(clip.name)
        wav = clip.with_suffix(".wav")
        y = load_audio(wav if wav.is_file() else clip)
        names.append(clip.stem)
        videos.append(video_segments(analyze(clip)))
        music.append(music_segments(y, SR))
    return names, videos, music


def train_vmcp(
    data: str | os.PathLike,
    out: str | os.PathLike,
    *,
    epochs: int = 60,
    seed: int = 0,
    device: str = "auto",
    overwrite: bool = False,
    progress: Progress | None = None,
) -> dict | None:
    """Train VMCP on the pairs in ``data`` (hash-of-name split), score it on the held-out pairs
    and write its weights and manifest to ``out``; return the metrics (None on the other
    processes of a torchrun run, which write nothing)."""
    from vidscore.data.splits import split_of
    from vidscore.metrics import retrieval
    from vidscore.modules.trainer import (
        claim_main,
        init_distributed,
        leave_distributed,
        resolve_device,
    )
    from vidscore.outputs import check_output_folder

    root = Path(data)
    if not root.is_dir():
        raise UsageError(f"--data {root}: not a folder")
    resolve_device(device)  # a missing GPU is refused before the clips are analysed
    names = (retrieval.WEIGHTS_FILE, "manifest.json")
    out_dir = check_output_folder(out, names, overwrite=overwrite)
    with claim_main([out_dir / n for n in names]):  # one run writes a folder at a time
        names, videos, music = vmcp_pairs(root, progress)
        test = [i for i, n in enumerate(names) if split_of(f"vmcp/{n}") == "test"]
        train_idx = [i for i in range(len(names)) if i not in test] or list(range(len(names)))
        model = retrieval.train(
            [videos[i] for i in train_idx],
            [music[i] for i in train_idx],
            epochs=epochs,
            seed=seed,
            device=device,
        )
        try:
            if not init_distributed(resolve_device(device)).is_main:
                return None  # under torchrun, the main process alone scores and writes
            held = test if len(test) >= 2 else train_idx
            v = retrieval.embed(model, [videos[i] for i in held], "video").numpy()
            m = retrieval.embed(model, [music[i] for i in held], "music").numpy()
            metrics = {
                "pairs": len(names),
                "train": len(train_idx),
                "evaluated": len(held),
                "evaluated_on": "test split" if held is test else "training pairs (too few)",
                "vmcp": retrieval.vmcp(m, v),
                "diffbgm_precision": retrieval.precision_at_k(m, v),
            }
            retrieval.save(model, out_dir, metrics, overwrite=overwrite)
            return metrics
        finally:
            leave_distributed()


@dataclass
class Evaluation:
    """What ``vidscore evaluate`` wrote: the report document and its Markdown table."""

    doc: dict
    table: str


def expand_videos(paths: list[Path]) -> list[Path]:
    """Clips named, with folders expanded to the clips in them (sorted)."""
    clips: list[Path] = []
    for v in paths:
        if v.is_dir():
            clips += sorted(q for q in v.iterdir() if q.suffix.lower() in VIDEO_EXT)
        else:
            clips.append(v)
    return clips


def evaluate(
    *,
    outputs: list[Path],
    videos: list[Path],
    system: str | None,
    weights: str | os.PathLike | None,
    params: list[str],
    dependence: bool,
    reference: Path | None,
    reference_limit: int,
    audio_reference: Path | None,
    embedder: str,
    report: Path,
    vmcp: Path | None = None,
    markdown_path: Path | None,
    plot_path: Path | None,
    overwrite: bool,
    progress: Progress | None = None,
) -> Evaluation:
    """Measure ``outputs`` (or compose ``videos`` with ``system``), then write the JSON report,
    and the Markdown table and chart when asked. Every output is checked before the work."""
    from vidscore.metrics.report import markdown, plot, summarize
    from vidscore.outputs import atomic_path, check_output, claim

    targets = [p for p in (report, markdown_path, plot_path) if p is not None]
    if len({Path(p).resolve() for p in targets}) != len(targets):
        raise UsageError("-o, --markdown and --plot must name different files")
    for p in targets:
        check_output(p, overwrite=overwrite)
    with claim(targets):  # a second run to the same report stops here
        shuffled_reports: list[PieceReport] = []
        swapped_reports: list[PieceReport] = []
        retrieval_scores = None
        if system is not None:
            if not videos:
                raise UsageError("--system needs --videos")
            run = evaluate_system(
                system,
                videos,
                weights=weights,
                params=params,
                dependence=dependence,
                vmcp=vmcp,
                progress=progress,
            )
            pieces, shuffled_reports, swapped_reports = run.real, run.shuffled, run.swapped
            retrieval_scores = run.retrieval
        else:
            pieces = evaluate_files(outputs, videos=videos or None, progress=progress)
        ref = reference_values(reference, reference_limit) if reference else None
        quality = (
            audio_reference_quality(outputs, audio_reference, embedder) if audio_reference else None
        )
        summary = summarize(pieces)
        if quality is not None:
            summary.update({k: v for k, v in quality.items() if k in ("FAD", "KL")})
        shuffled_summary = summarize(shuffled_reports) if shuffled_reports else None
        swapped_summary = summarize(swapped_reports) if swapped_reports else None
        doc = {
            "system": system,
            "weights": str(weights) if weights else None,
            "pieces": [dataclasses.asdict(p) for p in pieces],
            "summary": summary,
            "reference": ref,
            "closeness": {k: abs(summary[k] - ref[k]) for k in ref if k in summary}
            if ref
            else None,
            "shuffled_video": shuffled_summary,
            "swapped_video": swapped_summary,
            "audio_quality": quality,
            "retrieval": retrieval_scores,
        }
        with atomic_path(report, overwrite=overwrite) as tmp:
            tmp.write_text(json.dumps(doc, indent=1, default=float))
        table = markdown(summary, ref, shuffled_summary, swapped_summary)
        if retrieval_scores:
            table += retrieval_table(retrieval_scores)
        if markdown_path is not None:
            with atomic_path(markdown_path, overwrite=overwrite) as tmp:
                tmp.write_text(table)
        if plot_path is not None:
            plot(summary, ref, plot_path, overwrite=overwrite)
        return Evaluation(doc, table)


def compare_reports(
    reports: list[Path],
    *,
    markdown_path: Path | None = None,
    plot_path: Path | None = None,
    overwrite: bool = False,
) -> str:
    """One table (and chart) of several ``vidscore evaluate`` reports, a column per system,
    beside the real music's values when a report holds them; return the table."""
    from vidscore.metrics.report import compare_markdown, compare_rows, plot_systems
    from vidscore.outputs import atomic_path, check_output

    if len(reports) < 2:
        raise UsageError("--compare needs two reports or more")
    targets = [p for p in (markdown_path, plot_path) if p is not None]
    for p in targets:
        check_output(p, overwrite=overwrite)
    if {Path(p).resolve() for p in targets} & {Path(r).resolve() for r in reports}:
        raise UsageError("an output would overwrite one of the reports compared")
    table: dict[str, dict[str, float]] = {}
    references: dict[str, dict[str, float]] = {}
    for path in reports:
        try:
            doc = json.loads(Path(path).read_text())
        except FileNotFoundError as exc:
            raise InputError(f"{path}: no such report") from exc
        except (json.JSONDecodeError, UnicodeDecodeError, IsADirectoryError) as exc:
            raise InputError(f"{path}: not a report of vidscore evaluate") from exc
        if not isinstance(doc, dict) or not isinstance(doc.get("summary"), dict):
            raise InputError(f"{path}: not a report of vidscore evaluate (no summary)")
        name = doc.get("system") or Path(path).stem
        if name in table:
            name = f"{name} ({Path(path).stem})"
        table[name] = compare_rows(doc)
        if doc.get("reference") and not references:
            references["real (reference)"] = doc["reference"]
    text = compare_markdown(table, references)
    if markdown_path is not None:
        with atomic_path(markdown_path, overwrite=overwrite) as tmp:
            tmp.write_text(text)
    if plot_path is not None:
        plot_systems(table, references, plot_path, overwrite=overwrite)
    return text
