"""POP909 (../shared/data/POP909): 909 pop songs with MELODY, BRIDGE and PIANO tracks and human
chord, beat and key annotations.

Layout: ``NNN/NNN.mid``, ``NNN/chord_midi.txt`` and ``chord_audio.txt`` (start s, end s, Harte
label), ``NNN/beat_midi.txt`` (time s, downbeat if 2 beats/bar, downbeat if 4 beats/bar),
``NNN/key_audio.txt`` (start s, end s, key), ``index.xlsx`` (song list, beats per measure). Splits
come from :func:`vidscore.data.splits.split_of` on the song id (80/10/10).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

from vidscore.data.splits import split_of
from vidscore.errors import InputError
from vidscore.music.chords import ChordSpan, read_chord_lab
from vidscore.music.key import Key
from vidscore.music.midi import read_midi
from vidscore.music.score import Score
from vidscore.tables import fields, read_rows

TRACKS = ("MELODY", "BRIDGE", "PIANO")


@dataclass(frozen=True)
class KeySpan:
    start: float
    end: float
    key: Key


@dataclass
class Pop909Song:
    """One song's files; everything is read lazily."""

    song_id: str
    folder: Path

    @property
    def midi_path(self) -> Path:
        return self.folder / f"{self.song_id}.mid"

    @property
    def split(self) -> str:
        return split_of(f"pop909/{self.song_id}")

    @cached_property
    def score(self) -> Score:
        return read_midi(self.midi_path)

    def chords(self, source: str = "midi") -> list[ChordSpan]:
        """Human chord labels in seconds (``midi``: aligned to the MIDI; ``audio``: to the
        recording)."""
        return read_chord_lab(self.folder / f"chord_{source}.txt")

    def beats(self) -> tuple[np.ndarray, np.ndarray]:
        """Beat times (s) of the MIDI and the downbeat mask for the song's metre."""
        path = self.folder / "beat_midi.txt"
        rows = _read_table(path, 3)
        col = 2 if self.score.time_signature[0] in (4, 8) else 1
        return rows[:, 0], rows[:, col] > 0.5

    def keys(self) -> list[KeySpan]:
        def row(parts: list[str]) -> KeySpan:
            start, end, key = fields(parts, 3)
            return KeySpan(float(start), float(end), Key.parse(key))

        return read_rows(self.folder / "key_audio.txt", row)

    def main_key(self) -> Key:
        """The key that lasts longest."""
        spans = self.keys()
        if not spans:
            raise InputError(f"{self.folder / 'key_audio.txt'}: no key")
        return max(spans, key=lambda s: s.end - s.start).key


def _read_table(path: Path, columns: int) -> np.ndarray:
    def row(parts: list[str]) -> list[float]:
        if len(parts) < columns:
            raise ValueError(f"expected {columns} numbers")
        return [float(x) for x in parts[:columns]]

    return np.array(read_rows(path, row), dtype=np.float64).reshape(-1, columns)


def songs(root: str | os.PathLike, *, split: str | None = None) -> list[Pop909Song]:
    """Songs under ``root`` in id order, optionally one split."""
    r = Path(root)
    if not r.is_dir():
        raise InputError(f"{r}: POP909 folder not found")
    out = [
        Pop909Song(d.name, d)
        for d in sorted(r.iterdir())
        if d.is_dir() and (d / f"{d.name}.mid").is_file()
    ]
    if split is not None:
        out = [s for s in out if s.split == split]
    return out
