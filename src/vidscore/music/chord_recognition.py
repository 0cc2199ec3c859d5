"""Chord recognition on a beat grid: bass-aware template matching with Viterbi smoothing.

For each beat, pitch-class weights (note overlap x velocity) and the bass (lowest sounding note)
are scored against every chord template of the chosen qualities: cosine similarity, plus a bonus
when the bass is the root (or another chord tone), minus a small prior for richer chords so that
sevenths need evidence. A Viterbi pass charges a penalty for every chord change (less on
downbeats), which removes one-beat flickers. Audio goes through beat-synchronous CQT chroma
(librosa) and the same decoder.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from vidscore.music.beats import BeatGrid
from vidscore.music.chords import NO_CHORD, QUALITIES, Chord, ChordSpan
from vidscore.music.score import Note

#: Video2Music's thirteen qualities: what we recognise by default.
DEFAULT_QUALITIES = (
    "maj",
    "min",
    "dim",
    "aug",
    "sus2",
    "sus4",
    "7",
    "maj7",
    "min7",
    "dim7",
    "hdim7",
    "maj6",
    "min6",
)
#: Score handicaps: triads need no extra evidence, richer or rarer chords a little.
QUALITY_PRIOR = {
    "maj": 0.0,
    "min": 0.0,
    "7": 0.04,
    "maj7": 0.04,
    "min7": 0.04,
    "sus2": 0.06,
    "sus4": 0.06,
    "maj6": 0.07,
    "min6": 0.07,
    "dim": 0.08,
    "aug": 0.10,
    "dim7": 0.10,
    "hdim7": 0.08,
}


@dataclass(frozen=True)
class RecognitionParams:
    qualities: tuple[str, ...] = DEFAULT_QUALITIES
    bass_root_bonus: float = 0.12
    bass_tone_bonus: float = 0.04
    change_penalty: float = 0.25
    downbeat_discount: float = 0.4  # a change on a downbeat costs this share of the penalty
    silence: float = 1e-3  # beats with less weight than this are N


def _templates(qualities: tuple[str, ...]) -> tuple[list[Chord], np.ndarray]:
    chords, rows = [], []
    for root in range(12):
        for q in qualities:
            t = np.zeros(12)
            for iv in QUALITIES[q]:
                t[(root + iv) % 12] = 1.0
            chords.append(Chord(root, q))
            rows.append(t / np.linalg.norm(t))
    return chords, np.array(rows)


def beat_chroma(notes: Iterable[Note], edges: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pitch-class weights ``(B, 12)`` and bass pitch class ``(B,)`` (-1 if silent) for the
    ``B = len(edges) - 1`` segments between consecutive ``edges`` (in beats)."""
    nb = len(edges) - 1
    chroma = np.zeros((nb, 12))
    bass_pitch = np.full(nb, 999)
    for n in notes:
        a = max(0, int(np.searchsorted(edges, n.start, side="right")) - 1)
        b = min(nb - 1, int(np.searchsorted(edges, n.end, side="left")) - 1)
        for i in range(a, b + 1):
            overlap = min(n.end, edges[i + 1]) - max(n.start, edges[i])
            if overlap <= 0:
                continue
            length = edges[i + 1] - edges[i]
            chroma[i, n.pitch % 12] += overlap / length * (0.5 + n.velocity / 254.0)
            if overlap >= 0.25 * length and n.pitch < bass_pitch[i]:
                bass_pitch[i] = n.pitch
    bass = np.where(bass_pitch < 999, bass_pitch % 12, -1)
    return chroma, bass


def decode(
    chroma: np.ndarray,
    bass: np.ndarray,
    downbeats: np.ndarray,
    params: RecognitionParams = RecognitionParams(),
) -> list[Chord]:
    """Best chord per segment (Viterbi over template scores)."""
    chords, templates = _templates(params.qualities)
    nb = len(chroma)
    if nb == 0:
        return []
    norms = np.linalg.norm(chroma, axis=1, keepdims=True)
    unit = np.divide(chroma, norms, out=np.zeros_like(chroma), where=norms > 0)
    emit = unit @ templates.T  # (B, S)
    roots = np.array([c.root for c in chords])
    prior = np.array([QUALITY_PRIOR.get(c.quality, 0.08) for c in chords])
    tone = np.array([[(pc in c.pitch_classes) for pc in range(12)] for c in chords])  # (S, 12)
    emit -= prior[None, :]
    has_bass = bass >= 0
    emit[has_bass] += params.bass_root_bonus * (roots[None, :] == bass[has_bass, None])
    emit[has_bass] += params.bass_tone_bonus * tone[:, bass[has_bass]].T
    # state N: wins only on silence
    silent = chroma.sum(axis=1) < params.silence
    n_col = np.where(silent, 1.0, -1.0)[:, None]
    emit = np.concatenate([emit, n_col], axis=1)
    states = [*chords, NO_CHORD]
    s = len(states)
    score = emit[0].copy()
    back = np.zeros((nb, s), dtype=np.int32)
    for i in range(1, nb):
        pen = params.change_penalty * (params.downbeat_discount if downbeats[i] else 1.0)
        best = int(np.argmax(score))
        stay = score
        move = score[best] - pen
        take_move = move > stay
        back[i] = np.where(take_move, best, np.arange(s))
        score = np.where(take_move, move, stay) + emit[i]
    path = np.empty(nb, dtype=np.int32)
    path[-1] = int(np.argmax(score))
    for i in range(nb - 1, 0, -1):
        path[i - 1] = back[i, path[i]]
    return [states[k] for k in path]


def merge(chords: list[Chord], edges: np.ndarray) -> list[ChordSpan]:
    """Runs of equal chords -> spans over ``edges``."""
    spans: list[ChordSpan] = []
    for i, c in enumerate(chords):
        if spans and spans[-1].chord == c:
            spans[-1] = ChordSpan(spans[-1].start, float(edges[i + 1]), c)
        else:
            spans.append(ChordSpan(float(edges[i]), float(edges[i + 1]), c))
    return spans


def recognize_notes(
    notes: Iterable[Note], grid: BeatGrid, params: RecognitionParams = RecognitionParams()
) -> list[ChordSpan]:
    """Chord spans (in beats) of symbolic notes on ``grid``."""
    edges = np.append(grid.beats, grid.beats[-1] + 1.0)
    chroma, bass = beat_chroma(notes, edges)
    return merge(decode(chroma, bass, grid.downbeats, params), edges)


def recognize_audio(
    y: np.ndarray, sr: int, params: RecognitionParams = RecognitionParams()
) -> list[ChordSpan]:
    """Chord spans (in seconds) of audio: beat-synchronous CQT chroma and bass chroma."""
    import librosa

    from vidscore.music.beats import audio_grid

    grid = audio_grid(y, sr)
    hop = 512
    chroma = librosa.feature.chroma_cqt(y=y, sr=sr, hop_length=hop)
    bass_chroma = librosa.feature.chroma_cqt(
        y=y, sr=sr, hop_length=hop, fmin=librosa.note_to_hz("C1"), n_octaves=2
    )
    frames = librosa.time_to_frames(grid.seconds, sr=sr, hop_length=hop)
    frames = np.unique(np.concatenate([[0], frames, [chroma.shape[1]]]))
    sync = librosa.util.sync(chroma, frames, aggregate=np.mean).T
    bass_sync = librosa.util.sync(bass_chroma, frames, aggregate=np.mean).T
    energy = sync.sum(axis=1)
    bass = np.where(energy > 1e-6, bass_sync.argmax(axis=1), -1)
    edges = librosa.frames_to_time(frames, sr=sr, hop_length=hop)
    downbeats = (np.arange(len(sync)) % 4) == 0
    sync = sync**2  # sharpen: CQT chroma is broad compared with note histograms
    return merge(decode(sync, bass, downbeats, params), edges)
