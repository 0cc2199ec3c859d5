"""Analyze or score many clips: resumable, past bad clips, locally or as Ray tasks.

A job (:class:`AnalyzeJob`, :class:`ComposeJob`) turns one clip into its files under
``OUT_DIR/NAME``, each written atomically, a JSON marker last (the features, or the cues) with
the clip's key (:func:`clip_key`: its bytes and the job's settings) in its ``meta``. A clip whose
marker carries its current key is finished and skipped on the next run; a clip that changed, or
was done with other settings, is done again. NAME keeps the clip's path below its
input folder, so two clips never share one (:func:`unique_stems`), and each clip's outputs are
claimed while it is worked on, so two runs into one folder never write the same files. A
failing clip is recorded and the run goes on; the caller lists failures at the end.
``executor="ray"`` sends one task per clip to a local Ray or to the cluster at ``address``
(DISCO-MV-sized corpora need many machines).
"""

from __future__ import annotations

import dataclasses
import glob
import hashlib
import importlib.util
import json
import os
import socket
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from vidscore.errors import InputError, UsageError, VidscoreError
from vidscore.features.analyze import AnalysisConfig, analyze
from vidscore.types import Controls

VIDEO_EXTENSIONS = {".mp4", ".mov", ".mkv", ".avi", ".webm", ".m4v", ".mpg", ".mpeg", ".ts", ".flv"}
FORMATS = ("json", "npz", "png")  # analyze: features JSON (always), NPZ, timeline plot
#: compose: the scored clip and its cues (always), MIDI, WAV, timeline plot; their file endings
COMPOSE_SUFFIXES = {
    "mp4": ".mp4", "json": ".cues.json", "mid": ".mid", "wav": ".wav", "png": ".png"
}  # fmt: skip
COMPOSE_FORMATS = tuple(COMPOSE_SUFFIXES)
EXECUTORS = ("local", "ray")


@dataclass
class BatchReport:
    """Outcome of a batch: clips done now, skipped as already done, and failures with reasons."""

    done: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)


def find_videos(inputs: Iterable[str]) -> list[Path]:
    """Expand folders (recursively, by video extension), globs and plain files, in stable order."""
    found: list[Path] = []
    for item in inputs:
        p = Path(item)
        if p.is_dir():
            found += sorted(
                q
                for q in p.rglob("*")
                if q.suffix.lower() in VIDEO_EXTENSIONS
                and q.is_file()
                and not any(part.startswith(".") for part in q.relative_to(p).parts)
            )  # hidden files (our own partial outputs among them) are not clips
        elif any(ch in item for ch in "*?["):
            found += sorted(Path(q) for q in glob.glob(item, recursive=True) if Path(q).is_file())
        else:
            found.append(p)  # a missing or bad file is reported as that clip's failure
    if not found:
        raise InputError(f"no videos found in {', '.join(inputs)}")
    seen: set[Path] = set()
    return [p for p in found if not (p in seen or seen.add(p))]


def output_stem(video: Path, roots: list[Path]) -> str:
    """A name unique within the batch: the path below its input folder, '/' turned into '__'."""
    absolute = Path(os.path.abspath(video))  # not resolve(): keep symlinked clips under their root
    for root in roots:
        if root.is_dir():
            try:
                rel = absolute.relative_to(os.path.abspath(root))
            except ValueError:
                continue
            return "__".join(rel.with_suffix("").parts)
    return video.stem


def unique_stems(videos: list[Path], roots: list[Path]) -> dict[Path, str]:
    """Output names, one per clip and never shared: :func:`output_stem`, then the extension for
    names two clips would share (``clip.mp4`` and ``clip.mkv``), then a short hash of the clip's
    absolute path (``a/bikes.mp4`` and ``b/bikes.mp4`` given as two files). The same clip always
    gets the same name, so a rerun finds what it wrote."""
    stems = {v: output_stem(v, roots) for v in videos}
    for step in ("suffix", "hash"):
        counts = Counter(stems.values())
        for v, stem in stems.items():
            if counts[stem] > 1:
                if step == "suffix":
                    stems[v] = f"{stem}.{v.suffix.lstrip('.').lower()}"
                else:
                    digest = hashlib.sha1(os.path.abspath(v).encode()).hexdigest()[:8]
                    stems[v] = f"{stem}.{digest}"
    return stems


FINGERPRINT_BYTES = 1 << 20


def clip_key(video: Path, settings: dict) -> str | None:
    """What a finished output was made from: the clip's size and its first and last MiB (a
    fingerprint that any re-encode, trim or other clip breaks, without reading gigabytes), and
    the job's settings. None when the clip cannot be read (that clip then fails)."""
    h = hashlib.sha256()
    try:
        size = video.stat().st_size
        with open(video, "rb") as f:
            h.update(f.read(FINGERPRINT_BYTES))
            if size > 2 * FINGERPRINT_BYTES:
                f.seek(-FINGERPRINT_BYTES, os.SEEK_END)
            h.update(f.read())
    except OSError:
        return None
    h.update(json.dumps([size, settings], sort_keys=True, default=str).encode())
    return h.hexdigest()[:20]


def finished(files: list[str], marker: str, key: str | None) -> bool:
    """Whether every file exists and the ``marker`` JSON was written from the clip and settings
    of ``key``."""
    if key is None or not all(Path(f).is_file() for f in files):
        return False
    try:
        meta = json.loads(Path(marker).read_text()).get("meta", {})
    except (OSError, ValueError, AttributeError):
        return False
    return meta.get("batch_key") == key


def _failure(video: str, exc: Exception) -> str:
    if isinstance(exc, VidscoreError):
        return str(exc)
    return f"{video}: internal error: {type(exc).__name__}: {exc}"


@dataclass(frozen=True)
class AnalyzeJob:
    """``vidscore analyze --out-dir``: the features JSON (the marker), and NPZ / timeline PNG."""

    config: AnalysisConfig
    formats: tuple[str, ...] = ("json",)
    verb = "analyzed"

    def check(self) -> None:
        bad = [f for f in self.formats if f not in FORMATS]
        if bad:
            raise UsageError(f"--formats {','.join(bad)}: choose from {', '.join(FORMATS)}")

    def files(self, base: str) -> list[str]:
        return [f"{base}.{f}" for f in dict.fromkeys(("json", *self.formats))]

    def marker(self, base: str) -> str:
        return base + ".json"

    def settings(self) -> dict:
        return {k: v for k, v in dataclasses.asdict(self.config).items() if k != "frames"}

    def run(self, video: str, base: str, key: str | None) -> None:
        from vidscore.features.timeline import save_json, save_npz
        from vidscore.outputs import claim

        with claim(self.files(base)):
            feats = analyze(video, self.config)
            feats.meta["batch_key"] = key
            if "npz" in self.formats:
                save_npz(feats, base + ".npz", overwrite=True)
            if "png" in self.formats:
                from vidscore.features.plot import plot_timeline

                plot_timeline(feats, base + ".png", overwrite=True)
            save_json(feats, base + ".json", overwrite=True)  # last: marks the clip as done


@dataclass(frozen=True)
class ComposeJob:
    """``vidscore compose --out-dir``: the scored clip ``NAME.mp4`` and its cues
    ``NAME.cues.json`` (the marker, written last), and the MIDI, WAV and plot if asked."""

    system: str
    controls: Controls = field(default_factory=Controls)
    weights: str | None = None
    params: tuple[str, ...] = ()
    formats: tuple[str, ...] = ("mp4", "json")
    soundfont: str | None = None
    synth: str = "auto"
    original_gain_db: float = -12.0
    replace_audio: bool = False
    verb = "scored"

    def check(self) -> None:
        bad = [f for f in self.formats if f not in COMPOSE_FORMATS]
        if bad:
            raise UsageError(f"--formats {','.join(bad)}: choose from {', '.join(COMPOSE_FORMATS)}")
        if self.controls.keep is not None:
            raise UsageError("--keep and --regenerate rewrite one take: score a single clip")
        from vidscore.pipeline import check_settings

        check_settings(
            self.system,
            weights=self.weights,
            params=list(self.params),
            controls=self.controls,
            synth=self.synth,
            soundfont=self.soundfont,
        )

    def files(self, base: str) -> list[str]:
        kinds = dict.fromkeys(("mp4", "json", *self.formats))
        return [base + COMPOSE_SUFFIXES[k] for k in kinds]

    def marker(self, base: str) -> str:
        return base + COMPOSE_SUFFIXES["json"]

    def settings(self) -> dict:
        from vidscore.version import __version__

        job = dataclasses.asdict(self)
        del job["formats"]  # a format added later is made by a rerun: its file is missing
        job["weights"] = None if self.weights is None else os.path.abspath(self.weights)
        # weights retrained into the same folder are other settings: key on their manifest
        job["weights_manifest"] = _manifest_digest(self.system, self.weights)
        return {**job, "vidscore": __version__}

    def run(self, video: str, base: str, key: str | None) -> None:
        from vidscore.pipeline import compose

        wants = set(self.formats)
        compose(
            video,
            base + ".mp4",
            system=self.system,
            weights=self.weights,
            params=list(self.params),
            controls=self.controls,
            midi=base + ".mid" if "mid" in wants else None,
            wav=base + ".wav" if "wav" in wants else None,
            plot=base + ".png" if "png" in wants else None,
            cues_path=self.marker(base),  # the pipeline writes the cues last: the clip is done
            cues_meta={"batch_key": key},
            soundfont=self.soundfont,
            synth=self.synth,
            original_gain_db=self.original_gain_db,
            replace_audio=self.replace_audio,
            overwrite=True,
        )


Job = AnalyzeJob | ComposeJob


def _manifest_digest(system: str, weights: str | None) -> str | None:
    """sha256 of the manifest of the weights ``system`` loads (it lists every file's digest), or
    None for a system without weights."""
    from vidscore.modules.checkpoint import MANIFEST, file_sha256
    from vidscore.systems.base import system_class

    cls = system_class(system)
    if not cls.weight_files:
        return None
    manifest = cls.weights_folder(weights) / MANIFEST
    return file_sha256(manifest) if manifest.is_file() else None


def _run_one(job: Job, video: str, base: str, key: str | None) -> tuple[str, str | None]:
    """Do ``job`` for one clip; return (video, error message or None): one broken clip must not
    stop a corpus run."""
    try:
        job.run(video, base, key)
        return video, None
    except Exception as exc:
        return video, _failure(video, exc)


def run_many(
    inputs: list[str],
    out_dir: str | os.PathLike,
    job: Job,
    *,
    executor: str = "local",
    address: str | None = None,
    on_clip: Callable[[str, str | None], None] | None = None,
    on_start: Callable[[int], None] | None = None,
) -> BatchReport:
    """Do ``job`` for every clip under ``inputs`` into ``out_dir``; see the module docstring."""
    if executor not in EXECUTORS:
        raise UsageError(f"--executor {executor!r}: choose from {', '.join(EXECUTORS)}")
    job.check()
    if executor == "ray":  # before anything is made: no Ray, or nobody at --address
        if importlib.util.find_spec("ray") is None:
            raise UsageError("--executor ray needs Ray: pip install 'vidscore[ray]'")
        if not _ray_running():
            check_ray_address(address)
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise VidscoreError(f"{out}: cannot create output folder ({exc.strerror})") from exc
    if not os.access(out, os.W_OK | os.X_OK):
        raise VidscoreError(f"{out}: output folder is not writable")
    roots = [Path(i) for i in inputs]
    videos = find_videos(inputs)
    report = BatchReport()
    todo: list[tuple[str, str, str | None]] = []
    stems = unique_stems(videos, roots)
    settings = job.settings()
    for v in videos:
        base = str(out / stems[v])
        key = clip_key(v, settings)
        if finished(job.files(base), job.marker(base), key):
            report.skipped.append(str(v))
        else:
            todo.append((str(v), base, key))
    if on_start is not None:
        on_start(len(todo))

    def record(video: str, err: str | None) -> None:
        if err is None:
            report.done.append(video)
        else:
            report.failed.append((video, err))
        if on_clip is not None:
            on_clip(video, err)

    if executor == "local":
        for video, base, key in todo:
            record(*_run_one(job, video, base, key))
    else:
        _run_ray(todo, job, address, record)
    return report


def analyze_many(
    inputs: list[str],
    out_dir: str | os.PathLike,
    config: AnalysisConfig | None = None,
    *,
    formats: tuple[str, ...] = ("json",),
    **kwargs,
) -> BatchReport:
    """Analyze every clip under ``inputs`` into ``out_dir`` (:func:`run_many` of an
    :class:`AnalyzeJob`)."""
    return run_many(inputs, out_dir, AnalyzeJob(config or AnalysisConfig(), formats), **kwargs)


def _ray_running() -> bool:
    import sys

    ray = sys.modules.get("ray")
    return ray is not None and ray.is_initialized()


def check_ray_address(address: str | None, timeout: float = 3.0) -> None:
    """Fail in seconds, with one line, when nothing listens at ``HOST:PORT`` (Ray itself retries
    for minutes); ``None`` and ``auto`` are left to Ray."""
    if address is None or address == "auto":
        return
    host, sep, port = address.removeprefix("ray://").rpartition(":")
    if not sep or not port.isdigit():
        raise UsageError(f"--address {address!r}: say HOST:PORT (or ray://HOST:PORT)")
    try:
        socket.create_connection((host or "127.0.0.1", int(port)), timeout=timeout).close()
    except OSError as exc:
        raise InputError(f"--address {address}: no Ray cluster reachable there ({exc})") from exc


def _run_ray(todo, job: Job, address, record) -> None:
    import ray

    started = not ray.is_initialized()
    if started:
        try:
            ray.init(
                address=address,
                include_dashboard=False,
                log_to_driver=False,
                configure_logging=False,
            )
        except ConnectionError as exc:
            raise InputError(f"--address {address}: no Ray cluster reachable there") from exc
    try:
        task = ray.remote(_run_one)
        pending = [task.remote(job, video, base, key) for video, base, key in todo]
        while pending:
            ready, pending = ray.wait(pending, num_returns=1)
            record(*ray.get(ready[0]))
    finally:
        if started:
            ray.shutdown()
