"""V-MusProd's training pieces: chords, melody and accompaniment on a 16th grid, with curves.

Every piece becomes a :class:`Piece` in beats of its own beat grid (first downbeat = beat 0,
4/4), key-normalised to C major / A minor (the paper's pipeline, Sec. 3.3), notes quantised to
16ths (Sec. 4.2), chords reduced to SymMV's 12 roots x 10 qualities, plus the raw control
curves of every beat (:func:`vidscore.curves.music.raw_curves`) that stand in for the video.

* **SymMV** (``SymMV.csv`` + ``midi/`` + ``chord/``): the piano transcriptions sit on a nominal
  120 BPM grid that is not the music's beat, so the beats are tracked from the notes' onset
  envelope (librosa's dynamic-programming tracker; V-MusProd ran madmom on the audio, which is
  not shipped); the bar phase is the one that puts the most chord changes on downbeats;
  melody and accompaniment are split by the skyline (as SymMV does).
* **POP909**: the annotated MIDI beats and downbeats; melody is the MELODY track, accompaniment
  BRIDGE + PIANO (POP909 separates them by hand, so the skyline is not needed).

Phrase starts (the first melody note after 1.5 beats or more of rest) are the boundaries.
Building the pieces reads ~2000 MIDI files; :func:`load_pieces` caches them in one pickle.

**Paired video** (the layout V-MusProd trains on, for people who have SymMV's videos): a data
folder with ``features/ID.json`` beside the music, one per piece, as ``vidscore analyze VIDEOS
--out-dir features`` writes them (the video file named by the piece's id). Each piece then also
carries the clip's semantic descriptor and RGB-uv colour histogram per beat (the means over the
beat's seconds, :data:`VIDEO_STREAMS`), which the controller reads beside the curves. Every
folder of one corpus must be paired, or none.
"""

from __future__ import annotations

import hashlib
import itertools
import os
import pickle
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vidscore.curves.contract import Calibration
from vidscore.curves.music import raw_curves
from vidscore.curves.video import span_means
from vidscore.errors import InputError
from vidscore.music.chords import NO_CHORD, SYMMV, Chord, ChordSpan
from vidscore.music.key import Key, normalizing_shift
from vidscore.music.score import Note, Score, Track
from vidscore.music.skyline import skyline
from vidscore.outputs import atomic_path
from vidscore.types import VideoFeatures

STEPS = 4  # 16ths per beat
BEATS_PER_BAR = 4
CACHE_FORMAT = 2
MIN_BARS = 4
#: the controller's paired video streams -> the feature series they are read from
VIDEO_STREAMS = {"semantic": "semantic", "colour": "rgb_uv_hist"}


@dataclass
class Piece:
    """One piece as V-MusProd's three stages see it (times in beats, beat 0 a downbeat)."""

    name: str
    split: str
    tempo: float  # BPM (median of the beat grid)
    mode: str  # major / minor (after normalisation: C major or A minor)
    n_beats: int
    chords: list[ChordSpan]  # SymMV vocabulary, one span per run of equal beat chords
    melody: list[Note]
    accompaniment: list[Note]
    raw: np.ndarray  # (n_beats, len(CURVES)) raw control curves per beat
    beat_seconds: np.ndarray  # (n_beats + 1,) when each beat starts in the recording
    cond: np.ndarray | None = None  # (n_beats, len(CURVES)) ranked, once calibrated
    video: dict[str, np.ndarray] | None = None  # stream -> (n_beats, D), paired folders only

    @property
    def n_bars(self) -> int:
        return self.n_beats // BEATS_PER_BAR


def quantise(
    notes: list[tuple[float, float, int, int]], beat_times: np.ndarray, shift: int, n_beats: int
) -> list[Note]:
    """``(on s, off s, pitch, velocity)`` -> notes in beats of ``beat_times`` on the 16th grid,
    transposed by ``shift``; notes outside ``[0, n_beats)`` are dropped."""
    if not notes:
        return []
    arr = np.array([(a, b) for a, b, _, _ in notes], dtype=np.float64)
    index = np.arange(len(beat_times), dtype=np.float64)
    pos = np.interp(arr, beat_times, index, left=-1.0, right=np.inf)
    out = []
    for (s, e), (_, _, pitch, vel) in zip(pos, notes, strict=True):
        if not np.isfinite(s):
            continue
        a = round(s * STEPS)
        b = max(a + 1, round(e * STEPS)) if np.isfinite(e) else a + 1
        p = pitch + shift
        if a < 0 or a >= n_beats * STEPS or not 0 <= p < 128:
            continue
        out.append(Note(a / STEPS, min(b, n_beats * STEPS) / STEPS, p, int(vel)))
    # one note per (onset, pitch): quantising can merge two
    seen: dict[tuple[float, int], Note] = {}
    for n in sorted(out):
        seen.setdefault((n.start, n.pitch), n)
    return sorted(seen.values())


def beat_chords(spans: list[ChordSpan], beat_times: np.ndarray, shift: int) -> list[Chord]:
    """The chord covering most of each beat (spans in seconds), transposed, in SymMV's set."""
    out = []
    starts = np.array([s.start for s in spans])
    for a, b in itertools.pairwise(beat_times):
        best, best_len = NO_CHORD, 0.0
        for k in range(max(0, int(np.searchsorted(starts, a)) - 2), len(spans)):
            s = spans[k]
            if s.start >= b:
                break
            overlap = min(b, s.end) - max(a, s.start)
            if overlap > best_len:
                best, best_len = s.chord, overlap
        out.append(SYMMV.map(best.transpose(shift)) if not best.is_none else NO_CHORD)
    return out


def runs(chords: list[Chord]) -> list[ChordSpan]:
    """Beat chords -> spans (a change starts a new span)."""
    spans: list[ChordSpan] = []
    for i, c in enumerate(chords):
        if spans and spans[-1].chord == c:
            spans[-1] = ChordSpan(spans[-1].start, i + 1.0, c)
        else:
            spans.append(ChordSpan(float(i), i + 1.0, c))
    return spans


def phrase_starts(melody: list[Note], rest: float = 1.5) -> list[float]:
    """Beats where a phrase starts: 0 and each melody note after ``rest`` beats of silence."""
    out = [0.0]
    last_end = None
    for n in sorted(melody):
        if last_end is not None and n.start - last_end >= rest:
            out.append(n.start)
        last_end = n.end if last_end is None else max(last_end, n.end)
    return out


def make_piece(
    name: str,
    split: str,
    beat_times: np.ndarray,
    melody: list[tuple[float, float, int, int]],
    accompaniment: list[tuple[float, float, int, int]],
    chord_spans: list[ChordSpan],
    key: Key,
) -> Piece | None:
    """A :class:`Piece` from notes and chords in seconds and beats whose first is a downbeat."""
    n_beats = (len(beat_times) - 1) // BEATS_PER_BAR * BEATS_PER_BAR
    if n_beats < MIN_BARS * BEATS_PER_BAR:
        return None
    beat_times = beat_times[: n_beats + 1]
    shift = normalizing_shift(key)
    mel = quantise(melody, beat_times, shift, n_beats)
    acc = quantise(accompaniment, beat_times, shift, n_beats)
    if not mel or not acc:
        return None
    chords = beat_chords(chord_spans, beat_times, shift)
    tempo = float(60.0 / np.median(np.diff(beat_times)))
    score = Score([Track("melody", mel), Track("accompaniment", acc)], [(0.0, tempo)])
    spb = 60.0 / tempo
    starts = np.arange(n_beats) * spb
    raw = raw_curves(
        score, starts, starts + spb, chords=chords, mode=key.mode,
        boundaries=[b * spb for b in phrase_starts(mel)],
    )  # fmt: skip
    return Piece(name, split, tempo, key.mode, n_beats, runs(chords), mel, acc, raw, beat_times)


# --- the two corpora ---------------------------------------------------------------------------


def pop909_piece(folder: str) -> Piece | None:
    """One POP909 song (its MELODY track as the melody, BRIDGE and PIANO as accompaniment)."""
    from vidscore.data.pop909 import Pop909Song

    song = Pop909Song(Path(folder).name, Path(folder))
    times, downbeats = song.beats()
    if not downbeats.any():
        return None
    times = times[int(np.argmax(downbeats)) :]
    score = song.score

    def seconds(names: tuple[str, ...]) -> list[tuple[float, float, int, int]]:
        out = []
        for t in score.tracks:
            if t.name.upper() in names:
                out += [
                    (
                        float(score.seconds(n.start)),
                        float(score.seconds(n.end)),
                        n.pitch,
                        n.velocity,
                    )
                    for n in t.notes
                ]
        return out

    return make_piece(
        f"pop909/{song.song_id}", song.split, times, seconds(("MELODY",)),
        seconds(("BRIDGE", "PIANO")), song.chords("midi"), song.main_key(),
    )  # fmt: skip


def track_beats(onsets: np.ndarray, velocities: np.ndarray, fps: int = 100) -> np.ndarray:
    """Beat times (s) tracked from note onsets: librosa's tracker on their velocity envelope."""
    import librosa

    env = np.zeros(int(onsets.max() * fps) + fps)
    np.add.at(env, (onsets * fps).astype(int), velocities / 127.0)
    env = np.convolve(env, np.hanning(5), mode="same")
    _, beats = librosa.beat.beat_track(
        onset_envelope=env, sr=fps * 512, hop_length=512, units="time"
    )
    return np.asarray(beats, dtype=np.float64)


def bar_phase(beat_times: np.ndarray, changes: np.ndarray) -> int:
    """The beat (0-3) to start bars on: the one that puts the most chord changes on downbeats."""
    if len(changes) == 0 or len(beat_times) < 2:
        return 0
    nearest = np.abs(changes[:, None] - beat_times[None, :]).argmin(axis=1)
    return int(np.bincount(nearest % BEATS_PER_BAR, minlength=BEATS_PER_BAR).argmax())


def symmv_piece(root: str, index: str, tonality: str) -> Piece | None:
    """One SymMV piece: tracked beats, skyline melody, its chord file and tonality."""
    from vidscore.data.symmv import SymMVItem
    from vidscore.music.skyline import quantize

    item = SymMVItem(index, "", None, "", Path(root))
    score = item.score
    notes = score.notes()
    if len(notes) < 32 or not tonality:
        return None
    on = np.array([float(score.seconds(n.start)) for n in notes])
    off = np.array([float(score.seconds(n.end)) for n in notes])
    beats = track_beats(on, np.array([n.velocity for n in notes], dtype=np.float64))
    if len(beats) < 8:
        return None
    spans = [
        ChordSpan(float(score.seconds(c.start)), float(score.seconds(c.end)), c.chord)
        for c in item.chords()
    ]
    beats = beats[bar_phase(beats, np.array([s.start for s in spans[1:]])) :]
    # skyline on the notes in tracked beats, then back to seconds for make_piece
    index_ = np.arange(len(beats), dtype=np.float64)
    in_beats = [
        Note(float(a), max(float(b), float(a) + 1 / STEPS), n.pitch, n.velocity)
        for a, b, n in zip(
            np.interp(on, beats, index_), np.interp(off, beats, index_), notes, strict=True
        )
    ]
    melody, accomp = skyline(quantize(in_beats))
    back = _beats_to_seconds(beats)
    return make_piece(
        f"symmv/{index}", item.split, beats, back(melody), back(accomp), spans, Key.parse(tonality)
    )


def _beats_to_seconds(beats: np.ndarray) -> Callable[[list[Note]], list[tuple]]:
    index = np.arange(len(beats), dtype=np.float64)

    def convert(notes: list[Note]) -> list[tuple[float, float, int, int]]:
        return [
            (float(np.interp(n.start, index, beats)), float(np.interp(n.end, index, beats)),
             n.pitch, n.velocity)
            for n in notes
        ]  # fmt: skip

    return convert


# --- loading -----------------------------------------------------------------------------------


def _jobs(data: Path, limit: int) -> list[tuple[Callable[..., Piece | None], tuple]]:
    """One job per piece of a POP909 or SymMV folder."""
    if (data / "SymMV.csv").is_file():
        from vidscore.data.symmv import items

        found = [
            (symmv_piece, (str(data), it.index, str(it.tonality) if it.tonality else ""))
            for it in items(data)
        ]
    else:
        from vidscore.data.pop909 import songs

        found = [(pop909_piece, (str(s.folder),)) for s in songs(data)]
    if not found:
        raise InputError(f"{data}: neither a SymMV folder (SymMV.csv) nor POP909 songs")
    return found[:limit] if limit else found


def _run(job: tuple[Callable[..., Piece | None], tuple]) -> Piece | None:
    fn, args = job
    try:
        return fn(*args)
    except (InputError, ValueError, KeyError, OSError):
        return None  # an unusable piece (no beats, no key, a broken file) is left out


def build_pieces(
    data: Path, *, limit: int = 0, workers: int = 2, progress: Callable | None = None
) -> list[Piece]:
    """The usable pieces of one data folder, built on ``workers`` processes."""
    jobs = _jobs(data, limit)
    out = []
    with ProcessPoolExecutor(max_workers=max(1, workers)) as pool:
        for k, piece in enumerate(pool.map(_run, jobs, chunksize=4)):
            if progress is not None:
                progress(k + 1, len(jobs))
            if piece is not None:
                out.append(piece)
    return out


def cached_pieces(
    data: Path, *, limit: int = 0, cache: Path | None = None, progress: Callable | None = None
) -> list[Piece]:
    """:func:`build_pieces`, kept in ``cache`` (one pickle per folder, format and limit)."""
    key = hashlib.sha256(repr((CACHE_FORMAT, str(data.resolve()), limit)).encode()).hexdigest()
    path = cache / f"vmusprod-pieces-{key[:16]}.pkl" if cache is not None else None
    if path is not None and path.is_file():
        with open(path, "rb") as fh:
            return pickle.load(fh)
    pieces = build_pieces(data, limit=limit, progress=progress)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path, overwrite=True) as tmp, open(tmp, "wb") as fh:
            pickle.dump(pieces, fh)
    return pieces


@dataclass
class Corpus:
    """Pieces by split, ranked by the calibration fitted on the training split."""

    splits: dict[str, list[Piece]]
    calibration: Calibration

    def __getitem__(self, split: str) -> list[Piece]:
        return self.splits.get(split, [])

    @property
    def video_dims(self) -> dict[str, int]:
        """Stream -> feature size of the paired video (empty when the music is unpaired)."""
        first = self["train"][0].video
        return {k: int(v.shape[1]) for k, v in first.items()} if first else {}


def video_per_beat(
    features: VideoFeatures,
    starts: np.ndarray,
    ends: np.ndarray,
    streams: tuple[str, ...] = tuple(VIDEO_STREAMS),
) -> dict[str, np.ndarray]:
    """The clip's video ``streams`` (names of :data:`VIDEO_STREAMS`) per beat: the means over
    each beat's seconds ``[starts, ends)``; training pieces and compose read them the same way."""
    out = {}
    for name in streams:
        series = features[VIDEO_STREAMS[name]]
        out[name] = span_means(series, starts, ends, features.duration).astype(np.float32)
    return out


def attach_video(pieces: list[Piece], data: Path) -> list[Piece]:
    """The pieces of ``data`` that have ``features/ID.json``, with their paired streams."""
    from vidscore.features.timeline import load_json

    out = []
    for p in pieces:
        path = data / "features" / f"{p.name.split('/')[-1]}.json"
        if not path.is_file():
            continue
        features = load_json(path)
        missing = [s for s in VIDEO_STREAMS.values() if s not in features.series]
        if missing:
            raise InputError(f"{path}: no {', '.join(missing)} series (re-run vidscore analyze)")
        p.video = video_per_beat(features, p.beat_seconds[:-1], p.beat_seconds[1:])
        out.append(p)
    if not out:
        raise InputError(f"{data / 'features'}: no features file matches a piece of {data}")
    return out


def load_pieces(
    data: list[str | os.PathLike],
    *,
    limit: int = 0,
    cache: str | os.PathLike | None = None,
    progress: Callable | None = None,
) -> Corpus:
    """The corpus of one or more data folders (cached in ``cache`` when given); paired folders
    (``features/``) give their pieces the clip's streams."""
    paths = [Path(d) for d in data]
    for p in paths:
        if not p.is_dir():
            raise InputError(f"{p}: data folder not found")
    paired = [(p / "features").is_dir() for p in paths]
    if any(paired) and not all(paired):
        raise InputError(
            "some --data folders have paired video features/ and some do not: train on "
            "paired folders only, or on none"
        )
    where = Path(cache) if cache is not None else None
    pieces = []
    for p, with_video in zip(paths, paired, strict=True):
        found = cached_pieces(p, limit=limit, cache=where, progress=progress)
        pieces += attach_video(found, p) if with_video else found
    splits: dict[str, list[Piece]] = {"train": [], "val": [], "test": []}
    for p in pieces:
        splits[p.split].append(p)
    if not splits["train"]:
        raise InputError("no usable training pieces in " + ", ".join(map(str, paths)))
    calibration = Calibration.fit(np.concatenate([p.raw for p in splits["train"]]))
    for group in splits.values():
        for p in group:
            p.cond = calibration.apply(p.raw)
    return Corpus(splits, calibration)
