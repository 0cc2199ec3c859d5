"""The audio VMAs' codec and decoder learn from: excerpts of POP909 and SymMV rendered through the
project's own synthesiser, each in one of the instrument presets (piano, strings, band).

VMAs trains on 2.2 M web videos with their music; none is reachable here, so the music is what we
can make. Each piece gives one excerpt (``seconds`` long, from a seeded point past its intro), its
preset chosen by a hash of its id so a corpus holds all three: ``piano`` as written, ``strings``
moves the accompaniment to a string ensemble, ``band`` doubles its low notes on an electric bass
and adds a drum kit on the piece's beats. Rendered excerpts are cached (int16) by a key of
everything that shapes them, so a second training run starts at once.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vidscore.music.midi import write_midi
from vidscore.music.score import Note, Score, Track
from vidscore.outputs import atomic_path, user_cache, work_folder

PRESETS = ("piano", "strings", "band")
STRINGS, BASS = 48, 33
KICK, SNARE, HAT = 36, 38, 42
FORMAT = 1


@dataclass(frozen=True)
class Piece:
    """One piece to render: an id (``pop909/001``), its split and its MIDI file."""

    piece_id: str
    split: str
    midi: Path


@dataclass
class Render:
    """One rendered excerpt: mono float32 at ``rate``, with where it came from."""

    piece_id: str
    split: str
    preset: str
    audio: np.ndarray
    rate: int


def pieces(folders: Iterable[str | os.PathLike], *, limit: int = 0) -> list[Piece]:
    """The pieces of POP909 and SymMV folders (told apart by their layout)."""
    from vidscore.data import pop909, symmv
    from vidscore.errors import InputError

    out: list[Piece] = []
    for folder in folders:
        root = Path(folder)
        if (root / "midi").is_dir():
            found = [Piece(f"symmv/{i.index}", i.split, i.midi_path) for i in symmv.items(root)]
        else:
            found = [Piece(f"pop909/{s.song_id}", s.split, s.midi_path) for s in pop909.songs(root)]
        if not found:
            raise InputError(f"{root}: no POP909 songs or SymMV pieces")
        out += found[:limit] if limit else found
    return out


def preset_of(piece_id: str) -> str:
    """The piece's instrument preset: a stable hash of its id over :data:`PRESETS`."""
    digest = hashlib.sha256(piece_id.encode()).digest()
    return PRESETS[digest[0] % len(PRESETS)]


def excerpt(score: Score, start: float, seconds: float) -> Score:
    """The part of ``score`` from ``start`` seconds, ``seconds`` long (notes cut at the end)."""
    b0, b1 = float(score.beats(start)), float(score.beats(start + seconds))
    tempos = [(0.0, score.tempo_at(b0))]
    tempos += [(b - b0, bpm) for b, bpm in score.tempos if b0 < b < b1]
    tracks = []
    for t in score.tracks:
        notes = [
            Note(n.start - b0, min(n.end, b1) - b0, n.pitch, n.velocity)
            for n in t.notes
            if b0 <= n.start < b1 and min(n.end, b1) > n.start
        ]
        tracks.append(Track(t.name, notes, t.program, t.is_drum))
    return Score(tracks=tracks, tempos=tempos, time_signature=score.time_signature)


def restyle(score: Score, preset: str) -> Score:
    """``score`` played by ``preset`` (see the module docstring)."""
    if preset not in PRESETS:
        raise ValueError(f"preset {preset!r}: choose from {', '.join(PRESETS)}")
    pitched = [t for t in score.tracks if not t.is_drum]
    melody = [t for t in pitched if t.name == "MELODY"]
    accompaniment = [t for t in pitched if t.name != "MELODY"]
    tracks = [Track(t.name, list(t.notes), 0) for t in melody]
    if preset == "strings":
        tracks += [Track(t.name, list(t.notes), STRINGS) for t in accompaniment]
        return Score(tracks=tracks, tempos=score.tempos, time_signature=score.time_signature)
    tracks += [Track(t.name, list(t.notes), 0) for t in accompaniment]
    if preset == "band":
        low = [n for t in accompaniment for n in t.notes if n.pitch < 55]
        bass = [Note(n.start, n.end, max(28, n.pitch - 12), n.velocity) for n in low]
        tracks.append(Track("bass", bass, BASS))
        tracks.append(Track("drums", _drums(score.end_beat), 0, is_drum=True))
    return Score(tracks=tracks, tempos=score.tempos, time_signature=score.time_signature)


def _drums(beats: float) -> list[Note]:
    """A plain kit: kick on 1 and 3, snare on 2 and 4, closed hi-hat on eighths."""
    notes = []
    for b in range(int(beats)):
        notes.append(Note(b, b + 0.25, KICK if b % 2 == 0 else SNARE, 90 if b % 4 == 0 else 80))
        notes += [Note(b + h, b + h + 0.25, HAT, 55) for h in (0.0, 0.5)]
    return notes


def excerpt_start(piece_id: str, score: Score, seconds: float, seed: int) -> float | None:
    """Where the piece's excerpt starts (s): seeded, past the first 10 s where the piece allows;
    None when the piece is shorter than the excerpt."""
    length = float(score.seconds(score.end_beat))
    if length < seconds + 2:
        return None
    rng = random.Random(f"{seed}:{piece_id}")
    return rng.uniform(min(10.0, length - seconds - 1), length - seconds - 1)


def render_piece(piece: Piece, *, seconds: float, rate: int, seed: int) -> Render | None:
    """Render ``piece``'s excerpt (None when the piece is shorter than the excerpt)."""
    from vidscore.audio.synth import render_midi
    from vidscore.music.midi import read_midi

    score = read_midi(piece.midi)
    start = excerpt_start(piece.piece_id, score, seconds, seed)
    if start is None:
        return None
    preset = preset_of(piece.piece_id)
    part = restyle(excerpt(score, start, seconds), preset)
    with work_folder() as tmp:
        path = tmp / "excerpt.mid"
        write_midi(part, path)
        audio = render_midi(path, sample_rate=rate)[: round(seconds * rate)]
    if len(audio) < round(seconds * rate) or not np.any(audio):
        return None
    peak = float(np.max(np.abs(audio)))
    audio = (audio * (0.7 / peak)).astype(np.float32)  # the mix's level, with headroom
    return Render(piece.piece_id, piece.split, preset, audio, rate)


def load_renders(
    folders: Iterable[str | os.PathLike],
    *,
    seconds: float = 20.0,
    rate: int = 16000,
    limit: int = 0,
    seed: int = 0,
    cache: str | os.PathLike | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> list[Render]:
    """Every piece's excerpt, rendered once and then read from the cache (``cache`` or the
    user's cache). ``progress(done, total)`` is called as pieces render."""
    todo = pieces(folders, limit=limit)
    key = json.dumps(
        {"format": FORMAT, "ids": [p.piece_id for p in todo], "seconds": seconds, "rate": rate,
         "seed": seed},
        sort_keys=True,
    )  # fmt: skip
    name = hashlib.sha256(key.encode()).hexdigest()[:16]
    path = Path(cache) if cache is not None else user_cache() / "vmas-renders"
    file = path / f"renders-{name}.npz"
    if file.is_file():
        return _read(file, rate)
    out = []
    for i, piece in enumerate(todo):
        r = render_piece(piece, seconds=seconds, rate=rate, seed=seed)
        if r is not None:
            out.append(r)
        if progress is not None:
            progress(i + 1, len(todo))
    file.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(file, overwrite=True, suffix=".npz") as tmp:
        np.savez(
            tmp,
            ids=np.array([r.piece_id for r in out]),
            splits=np.array([r.split for r in out]),
            presets=np.array([r.preset for r in out]),
            audio=np.stack([np.round(r.audio * 32767).astype(np.int16) for r in out]),
        )
    return out


def _read(file: Path, rate: int) -> list[Render]:
    with np.load(file) as z:
        audio = z["audio"].astype(np.float32) / 32767
        return [
            Render(str(i), str(s), str(p), a, rate)
            for i, s, p, a in zip(z["ids"], z["splits"], z["presets"], audio, strict=True)
        ]
