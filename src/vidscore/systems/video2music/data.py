"""Training sequences for the AMT and the biGRU: chord steps with their input rows (:mod:`.inputs`).

From **MuVi-Sync** (the paper's data) the rows come from its per-second video features through
the same functions inference uses. From **POP909**, which has no video, they are derived from the
music itself, as the weights' card says:
scene offset counts from phrase starts (first melody note after a rest of 1.5 beats or more),
motion is note-onset density, and emotion comes from music cues mapped through the same
valence/arousal circumplex the video side uses (mode and the qualities of nearby chords for
valence; onset density and velocity for arousal). One chord step is half a 4/4 bar (two beats);
chords are the human annotations, normalised to C major / A minor.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vidscore.data.pop909 import Pop909Song
from vidscore.errors import InputError
from vidscore.features.affect import emotion_probabilities
from vidscore.music.chords import NO_CHORD, VIDEO2MUSIC, Chord
from vidscore.music.key import normalizing_shift
from vidscore.systems.common.plan import motion_activity
from vidscore.systems.video2music.inputs import FIXED_COLUMNS, offset_input, rows

BEATS_PER_STEP = 2
#: onsets per second that count as full activity (about the 90th percentile of POP909 steps)
ONSET_FULL = 14.0
#: typical activity / loudness mix of a POP909 step, the centre of the arousal scale
AROUSAL_CENTRE = 0.55
#: valence of each chord quality, for the music-side emotion cue
QUALITY_VALENCE = {
    "maj": 0.5,
    "maj7": 0.4,
    "maj6": 0.4,
    "7": 0.2,
    "sus2": 0.1,
    "sus4": 0.1,
    "aug": -0.2,
    "min": -0.4,
    "min7": -0.3,
    "min6": -0.3,
    "dim": -0.6,
    "dim7": -0.7,
    "hdim7": -0.6,
    "minmaj7": -0.3,
    "7sus4": 0.1,
    "9": 0.3,
    "maj9": 0.4,
    "min9": -0.3,
}


@dataclass
class ChordSequence:
    """One piece as the models see it."""

    name: str
    chords: np.ndarray  # (L,) Video2Music vocabulary indices
    roots: np.ndarray  # (L,) factored root indices (12 = N)
    qualities: np.ndarray  # (L,) factored quality indices (13 = N)
    cond: np.ndarray  # (L, semantic_dim + 8) input rows (see .inputs)
    density: np.ndarray  # (L,) notes sounding per second, / ONSET_FULL
    loudness: np.ndarray  # (L,) mean velocity / 127

    @property
    def emotion(self) -> np.ndarray:
        return self.cond[:, -6:].argmax(axis=1)


def factor(chords: list[Chord]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    idx = np.array([VIDEO2MUSIC.index(c) for c in chords], dtype=np.int64)
    rq = np.array([VIDEO2MUSIC.root_quality(c) for c in chords], dtype=np.int64).reshape(-1, 2)
    return idx, rq[:, 0], rq[:, 1]


def music_emotion(valence: np.ndarray, density: np.ndarray, loudness: np.ndarray) -> np.ndarray:
    """Six emotion probabilities from music cues, through the video side's circumplex."""
    mix = 0.6 * np.clip(density, 0, 1) + 0.4 * loudness
    arousal = np.clip((mix - AROUSAL_CENTRE) / 0.3, -1, 1)
    return emotion_probabilities(np.clip(valence, -1, 1), arousal, 0.15)


def _smooth(x: np.ndarray, radius: int = 2) -> np.ndarray:
    if len(x) == 0:
        return x
    k = np.ones(2 * radius + 1) / (2 * radius + 1)
    return np.convolve(np.pad(x, radius, mode="edge"), k, mode="valid")


def pop909_sequence(song: Pop909Song) -> ChordSequence | None:
    """Chord steps of one POP909 song with music-derived conditioning (None if unusable)."""
    beat_times, downbeats = song.beats()
    if len(beat_times) < 8 or not downbeats.any():
        return None
    first = int(np.argmax(downbeats))
    bounds = beat_times[first::BEATS_PER_STEP]
    if len(bounds) < 4:
        return None
    starts, ends = bounds[:-1], bounds[1:]
    key = song.main_key()
    shift = normalizing_shift(key)
    spans = song.chords("midi")
    chords: list[Chord] = []
    for a, b in zip(starts, ends, strict=True):
        best, best_len = NO_CHORD, 0.0
        for s in spans:
            overlap = min(b, s.end) - max(a, s.start)
            if overlap > best_len:
                best, best_len = s.chord, overlap
        chords.append(VIDEO2MUSIC.map(best.transpose(shift)))
    score = song.score
    notes = score.notes()
    on = np.array([score.seconds(n.start) for n in notes])
    off = np.array([score.seconds(n.end) for n in notes])
    vel = np.array([n.velocity for n in notes], dtype=np.float64)
    lengths = ends - starts
    onsets = np.array([np.sum((on >= a) & (on < b)) for a, b in zip(starts, ends, strict=True)])
    sounding = np.array([np.sum((on < b) & (off > a)) for a, b in zip(starts, ends, strict=True)])
    loud = np.array(
        [
            vel[(on < b) & (off > a)].mean() / 127 if np.any((on < b) & (off > a)) else 0.0
            for a, b in zip(starts, ends, strict=True)
        ]
    )
    activity = np.clip(onsets / lengths / ONSET_FULL, 0, 1)
    mode_val = 0.25 if key.mode == "major" else -0.25
    qual_val = np.array([0.0 if c.is_none else QUALITY_VALENCE.get(c.quality, 0.0) for c in chords])
    valence = mode_val + _smooth(qual_val)
    emotion = music_emotion(valence, activity, loud)
    offset = _phrase_offsets(song, starts)
    cond = rows(None, offset_input(offset), activity, emotion)
    idx, roots, quals = factor(chords)
    return ChordSequence(
        song.song_id,
        idx,
        roots,
        quals,
        cond,
        np.clip(sounding / lengths / ONSET_FULL, 0, 3).astype(np.float32),
        loud.astype(np.float32),
    )


def _phrase_offsets(song: Pop909Song, starts: np.ndarray) -> np.ndarray:
    """Seconds since the latest phrase start (first melody note after >= 1.5 beats of rest)."""
    score = song.score
    try:
        melody = sorted(score.track("MELODY").notes)
    except KeyError:
        melody = []
    phrase_starts = [0.0]
    last_end = None
    for n in melody:
        if last_end is None or n.start - last_end >= 1.5:
            phrase_starts.append(float(score.seconds(n.start)))
        last_end = n.end if last_end is None else max(last_end, n.end)
    ps = np.array(sorted(phrase_starts))
    idx = np.searchsorted(ps, starts + 1e-6, side="right") - 1
    return starts - ps[np.clip(idx, 0, None)]


def load_sequences(data: str | os.PathLike, *, limit: int = 0) -> dict[str, list[ChordSequence]]:
    """Train / val / test sequences from POP909 or MuVi-Sync, told apart by layout."""
    root = Path(data)
    if not root.is_dir():
        raise InputError(f"--data {root}: not a folder")
    out = muvisync_sequences(root, limit) if is_muvisync(root) else pop909_sequences(root, limit)
    if not out["train"]:
        raise InputError(f"{root}: no usable training pieces")
    return out


def is_muvisync(root: Path) -> bool:
    return (root / "vevo_chord").is_dir()


def pop909_sequences(root: Path, limit: int = 0) -> dict[str, list[ChordSequence]]:
    from vidscore.data.pop909 import songs

    all_songs = songs(root)[: limit or None]
    out: dict[str, list[ChordSequence]] = {"train": [], "val": [], "test": []}
    for song in all_songs:
        seq = pop909_sequence(song)
        if seq is not None:
            out[song.split].append(seq)
    return out


def muvisync_sequences(root: Path, limit: int = 0) -> dict[str, list[ChordSequence]]:
    """MuVi-Sync's per-second features and chords, through the inference input functions."""
    from vidscore.data.muvisync import MuViSync

    ds = MuViSync(root)
    out = {}
    for split in ("train", "val", "test"):
        seqs = []
        for it in ds.items(split)[: limit or None]:
            parts = (it.chords, it.emotion, it.motion, it.scene_offset, it.semantic)
            n = min(len(x) for x in parts)
            if n < 4:
                continue
            idx, roots, quals = factor(it.chords[:n])
            cond = rows(
                it.semantic[:n],
                offset_input(it.scene_offset[:n]),
                motion_activity(it.motion[:n]),
                it.emotion[:n, :6],
            )
            seqs.append(
                ChordSequence(
                    it.video_id,
                    idx,
                    roots,
                    quals,
                    cond,
                    it.note_density[:n].astype(np.float32) / ONSET_FULL,
                    it.loudness[:n].astype(np.float32),
                )
            )
        out[split] = seqs
    return out


def semantic_dim(seqs: dict[str, list[ChordSequence]]) -> int:
    """Width of the semantic part of the rows (0 for POP909)."""
    return seqs["train"][0].cond.shape[1] - FIXED_COLUMNS
