"""``vidscore evaluate``: measure composed outputs (MIDI, WAV, MP4) and write the report.

Per output, what its kind allows: symbolic metrics from its MIDI; AV-Align against the video's
flow peaks (with baselines) from its sound; cut alignment, emotion correspondence and
density-motion correlation when the cues JSON and MIDI that ``compose`` writes sit beside it
(``NAME.scored.mp4`` with ``NAME.mid`` and ``NAME.cues.json``, or the same stem). A reference
folder of MIDI gives the real music's values and the closeness |generated - real|. Video
dependence: the same metrics for music composed from the clip's features shuffled in time
(``--dependence`` with ``--system``); a system whose scores do not move ignores the video.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from vidscore.errors import InputError, UsageError
from vidscore.metrics.alignment import (
    audio_onsets,
    av_align_report,
    cut_alignment,
    density_motion_correlation,
    video_peaks,
)
from vidscore.metrics.chords import emotion_correspondence
from vidscore.metrics.symbolic import METRICS, all_metrics
from vidscore.music.chords import parse_harte
from vidscore.music.descriptors import note_density
from vidscore.music.midi import read_midi
from vidscore.outputs import atomic_path
from vidscore.video.io import read_audio

MIDI_EXT = {".mid", ".midi"}
AUDIO_EXT = {".wav", ".flac", ".mp3", ".ogg"}
VIDEO_EXT = {".mp4", ".mov", ".mkv", ".webm", ".avi", ".m4v"}
SR = 22050
Progress = Callable[[str], None]


@dataclass
class PieceReport:
    path: str
    kind: str
    metrics: dict[str, float] = field(default_factory=dict)


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


def symbolic(midi: Path) -> dict[str, float]:
    return all_metrics(read_midi(midi))


def video_metrics(
    audio: np.ndarray, features, midi: Path | None, cues: dict | None, sr: int = SR
) -> dict:
    out: dict[str, float] = {}
    report = av_align_report(
        audio_onsets(audio, sr),
        video_peaks(features),
        duration=features.duration,
        fps=features.info.fps,
    )
    out.update(
        {f"av_align_{k}" if k != "score" else "av_align": v for k, v in report.to_dict().items()}
    )
    if cues is not None:
        changes = [c["start"] for c in cues["chords"]] + list(cues.get("downbeats", []))
        out["cut_alignment"] = cut_alignment(features.cuts, changes)
        per_second = [e["label"] for e in cues["emotion"]]
        chords, emotions = [], []
        for c in cues["chords"][:-1]:  # the last chord is the forced tonic
            second = min(int(c["start"]), len(per_second) - 1)
            chords.append(parse_harte(c["symbol"]))
            emotions.append(per_second[second])
        out["emotion_correspondence"] = emotion_correspondence(chords, emotions)
    if midi is not None:
        score = read_midi(midi)
        notes = [
            (float(score.seconds(n.start)), float(score.seconds(n.end))) for n in score.notes()
        ]
        density = note_density(notes, features.duration)
        out["density_motion_correlation"] = density_motion_correlation(
            density, features["motion"].values
        )
    return out


def evaluate_files(
    outputs: list[Path], *, videos: list[Path] | None = None, progress: Progress | None = None
) -> list[PieceReport]:
    """Measure each output; WAV files pair with ``videos`` in order."""
    from vidscore.features.analyze import analyze

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
            reports.append(PieceReport(str(p), "midi", symbolic(p)))
            continue
        if suffix not in AUDIO_EXT | VIDEO_EXT:
            raise InputError(f"{p}: not a MIDI, audio or video file")
        midi, cues_path = siblings(p)
        cues = json.loads(cues_path.read_text()) if cues_path else None
        clip = video_for.get(p, p)
        features = analyze(clip)
        metrics = symbolic(midi) if midi else {}
        metrics.update(video_metrics(load_audio(p), features, midi, cues))
        reports.append(PieceReport(str(p), "video" if suffix in VIDEO_EXT else "audio", metrics))
    return reports


def reference_values(folder: Path, limit: int = 0) -> dict[str, float]:
    """Mean symbolic metrics of the MIDI files under ``folder`` (the real music)."""
    files = sorted(q for q in folder.rglob("*") if q.suffix.lower() in MIDI_EXT)
    if limit:
        files = files[:limit]
    if not files:
        raise InputError(f"{folder}: no MIDI files for a reference")
    rows = [symbolic(f) for f in files]
    return {k: float(np.nanmean([r[k] for r in rows])) for k in METRICS}


def summarize(reports: list[PieceReport]) -> dict[str, float]:
    keys = sorted({k for r in reports for k in r.metrics})
    out = {}
    for k in keys:
        vals = [r.metrics[k] for r in reports if k in r.metrics and not _nan(r.metrics[k])]
        out[k] = float(np.mean(vals)) if vals else math.nan
    return out


def _nan(x) -> bool:
    return isinstance(x, float) and math.isnan(x)


def markdown(
    summary: dict[str, float],
    reference: dict[str, float] | None,
    shuffled: dict[str, float] | None = None,
    swapped: dict[str, float] | None = None,
) -> str:
    """A table ready to paste into the README."""
    cols = ["metric", "generated"]
    if reference:
        cols += ["real (reference)", "abs difference"]
    if shuffled:
        cols += ["shuffled video", "change"]
    if swapped:
        cols += ["swapped video", "change"]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for k, v in summary.items():
        row = [k, _fmt(v)]
        if reference:
            r = reference.get(k)
            row += [_fmt(r), _fmt(abs(v - r)) if r is not None else ""]
        for other in (shuffled, swapped):
            if other:
                o = other.get(k)
                row += [_fmt(o), _fmt(v - o) if o is not None else ""]
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines) + "\n"


def _fmt(x) -> str:
    if x is None:
        return ""
    if isinstance(x, int):
        return str(x)
    return "nan" if _nan(x) else f"{x:.3f}"


def plot(
    summary: dict[str, float],
    reference: dict[str, float] | None,
    path: str | os.PathLike,
    *,
    overwrite: bool = False,
) -> None:
    """Bar chart of the symbolic metrics, generated beside real."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = [k for k in METRICS if k in summary]
    fig, axes = plt.subplots(1, len(keys), figsize=(2.2 * len(keys), 3), layout="constrained")
    for ax, k in zip(np.atleast_1d(axes), keys, strict=False):
        vals = [summary[k]] + ([reference[k]] if reference else [])
        ax.bar(["gen", "real"][: len(vals)], vals, color=["#1982c4", "#8ac926"][: len(vals)])
        ax.set_title(k)
    with atomic_path(path, overwrite=overwrite, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=100, format="png")
    plt.close(fig)


def shuffled(features, seed: int = 0):
    """The same features with every per-second series permuted in time (one permutation) and
    the cuts moved to random times: what the video says, scrambled."""
    import dataclasses

    from vidscore.types import Series

    rng = np.random.default_rng(seed)
    n = len(features["motion"])
    perm = rng.permutation(n)
    series = {}
    for name, s in features.series.items():
        if s.rate == 1.0 and len(s) == n:
            series[name] = Series(s.name, s.times, s.values[perm], s.rate, s.unit, s.description)
        else:
            series[name] = s
    cuts = sorted(rng.uniform(0, features.duration, len(features.cuts)).tolist())
    return dataclasses.replace(features, series=series, cuts=cuts)


def measure_composition(features, comp, system: str, workdir: Path) -> dict[str, float]:
    """Metrics of a composition against the real clip's features (rendered offline)."""
    from vidscore.music.midi import write_midi
    from vidscore.pipeline import cues as make_cues
    from vidscore.render.synth import SAMPLE_RATE, finish, render_midi
    from vidscore.types import Controls

    midi = workdir / "piece.mid"
    write_midi(comp.score, midi, overwrite=True)
    audio = finish(render_midi(midi), sample_rate=SAMPLE_RATE, duration=features.duration)
    cues = make_cues(features, comp, system, Controls())
    metrics = symbolic(midi)
    metrics.update(video_metrics(audio, features, midi, cues, sr=SAMPLE_RATE))
    return metrics


def evaluate_system(
    system: str,
    videos: list[Path],
    *,
    dependence: bool = False,
    progress: Progress | None = None,
) -> tuple[list[PieceReport], list[PieceReport], list[PieceReport]]:
    """Compose each clip with ``system`` and measure it against the clip. With ``dependence``,
    also compose from the clip's features shuffled in time, and from the next clip's features
    (swapped), each measured against the real clip."""
    import tempfile

    from vidscore.features.analyze import analyze
    from vidscore.systems.base import load_system
    from vidscore.types import Controls

    impl = load_system(system)
    feats = []
    for v in videos:
        if progress is not None:
            progress(v.name)
        feats.append(analyze(v))
    real, shuffled_reports, swapped_reports = [], [], []
    with tempfile.TemporaryDirectory(prefix="vidscore-eval-") as tmp:
        work = Path(tmp)
        for i, (v, f) in enumerate(zip(videos, feats, strict=True)):
            comp = impl.compose(f, Controls())
            real.append(PieceReport(str(v), "composed", measure_composition(f, comp, system, work)))
            if dependence:
                comp = impl.compose(shuffled(f), Controls())
                shuffled_reports.append(
                    PieceReport(str(v), "shuffled", measure_composition(f, comp, system, work))
                )
                if len(videos) > 1:
                    other = feats[(i + 1) % len(videos)]
                    comp = impl.compose(other, Controls())
                    swapped_reports.append(
                        PieceReport(str(v), "swapped", measure_composition(f, comp, system, work))
                    )
    return real, shuffled_reports, swapped_reports
