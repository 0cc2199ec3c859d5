"""SymMV: music videos with piano MIDI (120 BPM), texture MIDI, chord labels and tonality.

Layout (the public set; ../shared/data/SymMV-sample holds 10 pairs): ``SymMV.csv`` (tab-separated:
index, youtube_url, tonality, shazam_id), ``midi/NNNNN.mid``, ``midi/texture/NNNNN_new.mid``,
``chord/NNNNN.txt`` (start tick, end tick, label; 220 ticks per beat). Videos are not shipped
with the set (YouTube ids only); the reader returns what exists.
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from vidscore.data.splits import split_of
from vidscore.errors import InputError
from vidscore.music.chords import ChordSpan, parse_symmv
from vidscore.music.key import Key
from vidscore.music.midi import read_midi
from vidscore.music.score import Score
from vidscore.tables import fields, read_rows

TICKS_PER_BEAT = 220


@dataclass
class SymMVItem:
    index: str
    youtube_url: str
    tonality: Key | None
    shazam_id: str
    root: Path

    @property
    def midi_path(self) -> Path:
        return self.root / "midi" / f"{self.index}.mid"

    @property
    def texture_path(self) -> Path:
        return self.root / "midi" / "texture" / f"{self.index}_new.mid"

    @property
    def chord_path(self) -> Path:
        return self.root / "chord" / f"{self.index}.txt"

    @property
    def split(self) -> str:
        return split_of(f"symmv/{self.index}")

    @cached_property
    def score(self) -> Score:
        return read_midi(self.midi_path)

    def chords(self) -> list[ChordSpan]:
        """Chord labels in beats (ticks / 220)."""

        def row(parts: list[str]) -> ChordSpan:
            start, end, label = fields(parts, 3)
            return ChordSpan(
                int(start) / TICKS_PER_BEAT, int(end) / TICKS_PER_BEAT, parse_symmv(label)
            )

        return read_rows(self.chord_path, row)


def items(root: str | os.PathLike, *, split: str | None = None) -> list[SymMVItem]:
    r = Path(root)
    index = r / "SymMV.csv"
    if not index.is_file():
        raise InputError(f"{index}: SymMV index not found")
    out = []
    with open(index, encoding="utf-8", newline="") as fh:
        for n, row in enumerate(csv.DictReader(fh, delimiter="\t"), 2):
            try:
                tonality = Key.parse(row["tonality"]) if row.get("tonality") else None
                out.append(
                    SymMVItem(
                        row["index"].strip(),
                        row["youtube_url"].strip(),
                        tonality,
                        (row.get("shazam_id") or "").strip(),
                        r,
                    )
                )
            except (KeyError, ValueError) as exc:
                raise InputError(f"{index}:{n}: bad row ({exc})") from exc
    if split is not None:
        out = [i for i in out if i.split == split]
    return out


def write_chords(spans: list[ChordSpan], path: str | os.PathLike) -> None:
    """SymMV chord file: ``start_tick end_tick label`` with 220 ticks per beat (times in beats)."""
    from vidscore.outputs import atomic_path

    with atomic_path(path, overwrite=True) as tmp, open(tmp, "w", encoding="utf-8") as fh:
        for s in spans:
            if s.chord.is_none:
                continue
            fh.write(
                f"{round(s.start * TICKS_PER_BEAT)} {round(s.end * TICKS_PER_BEAT)} "
                f"{s.chord.symmv()}\n"
            )
