"""Chords: one type, the labels of POP909 (Harte), SymMV and the two systems' vocabularies.

A :class:`Chord` is a root pitch class, a quality from :data:`QUALITIES` and an optional bass pitch
class (inversions). Parsers read Harte labels (``Gb:maj``, ``A:min7/b7``, ``N``, also with
``(b7)``-style extensions), SymMV labels (``FM7``, ``Am``, ``Do``, ``C+``) and plain names. A
:class:`ChordVocabulary` maps chords to model indices: Video2Music's (N + 12 roots x 13 qualities,
END, PAD) and SymMV's (12 x 10, plus N); a quality outside a vocabulary maps to the vocabulary's
quality sharing most notes with it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from vidscore.tables import fields, read_rows

PITCH_NAMES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
_LETTER = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}

#: Quality name (Harte shorthand where one exists) -> semitones above the root.
QUALITIES: dict[str, tuple[int, ...]] = {
    "maj": (0, 4, 7),
    "min": (0, 3, 7),
    "dim": (0, 3, 6),
    "aug": (0, 4, 8),
    "sus2": (0, 2, 7),
    "sus4": (0, 5, 7),
    "7": (0, 4, 7, 10),
    "maj7": (0, 4, 7, 11),
    "min7": (0, 3, 7, 10),
    "dim7": (0, 3, 6, 9),
    "hdim7": (0, 3, 6, 10),
    "maj6": (0, 4, 7, 9),
    "min6": (0, 3, 7, 9),
    "minmaj7": (0, 3, 7, 11),
    "7sus4": (0, 5, 7, 10),
    "9": (0, 2, 4, 7, 10),
    "maj9": (0, 2, 4, 7, 11),
    "min9": (0, 2, 3, 7, 10),
}
#: Harte degree -> semitones (for inversions like /b7 and extensions like (b7)).
_DEGREES = {"1": 0, "2": 2, "3": 4, "4": 5, "5": 7, "6": 9, "7": 11, "9": 2, "11": 5, "13": 9}
#: SymMV suffix -> quality, longest first so ``M7`` wins over ``M``.
SYMMV_SUFFIX = {
    "M7": "maj7",
    "m7": "min7",
    "o7": "dim7",
    "sus2": "sus2",
    "sus4": "sus4",
    "M": "maj",
    "m": "min",
    "7": "7",
    "o": "dim",
    "+": "aug",
}
_SYMMV_NAME = {v: k for k, v in SYMMV_SUFFIX.items()}


def pitch_class(name: str) -> int:
    """``C``, ``F#``, ``Bb``, ``E-`` (music21's flat, as in SymMV.csv) ... -> 0-11."""
    if not name or name[0].upper() not in _LETTER:
        raise ValueError(f"not a note name: {name!r}")
    pc = _LETTER[name[0].upper()]
    for acc in name[1:]:
        if acc == "#":
            pc += 1
        elif acc in "b-":
            pc -= 1
        else:
            raise ValueError(f"not a note name: {name!r}")
    return pc % 12


def _degree(text: str) -> int:
    m = re.fullmatch(r"([b#]*)(\d+)", text)
    if not m or m.group(2) not in _DEGREES:
        raise ValueError(f"not a Harte degree: {text!r}")
    return (_DEGREES[m.group(2)] + m.group(1).count("#") - m.group(1).count("b")) % 12


def nearest_quality(intervals: frozenset[int], allowed: tuple[str, ...] | None = None) -> str:
    """The quality whose notes overlap ``intervals`` most (Jaccard; ties prefer fewer notes)."""
    names = allowed or tuple(QUALITIES)

    def score(q: str) -> tuple[float, int]:
        s = set(QUALITIES[q])
        return (len(s & intervals) / len(s | intervals), -len(s))

    return max(names, key=score)


@dataclass(frozen=True, order=True)
class Chord:
    """A chord: root pitch class (``None`` for no chord), quality, optional bass pitch class."""

    root: int | None
    quality: str = "maj"
    bass: int | None = None

    def __post_init__(self) -> None:
        if self.root is not None and self.quality not in QUALITIES:
            raise ValueError(f"unknown chord quality {self.quality!r}")

    @property
    def is_none(self) -> bool:
        return self.root is None

    @property
    def pitch_classes(self) -> tuple[int, ...]:
        if self.root is None:
            return ()
        return tuple(sorted((self.root + i) % 12 for i in QUALITIES[self.quality]))

    def transpose(self, semitones: int) -> Chord:
        if self.root is None:
            return self
        bass = None if self.bass is None else (self.bass + semitones) % 12
        return Chord((self.root + semitones) % 12, self.quality, bass)

    def harte(self) -> str:
        """Harte label, e.g. ``A:min7/b7``; inversions use the bass's degree above the root."""
        if self.root is None:
            return "N"
        label = f"{PITCH_NAMES[self.root]}:{self.quality.replace('7sus4', 'sus4(b7)')}"
        if self.bass is not None and self.bass != self.root:
            label += "/" + _interval_name((self.bass - self.root) % 12)
        return label

    def symmv(self) -> str:
        """SymMV label (``FM7``, ``Am``, ``Do``); the quality is first mapped to SymMV's ten."""
        if self.root is None:
            return "N"
        q = (
            self.quality
            if self.quality in _SYMMV_NAME
            else nearest_quality(frozenset(QUALITIES[self.quality]), tuple(_SYMMV_NAME))
        )
        return PITCH_NAMES[self.root] + _SYMMV_NAME[q]

    def __str__(self) -> str:
        return self.harte()


NO_CHORD = Chord(None)


def voicing(chord: Chord, *, bass_octave: int = 3, low: int = 55, high: int = 76) -> list[int]:
    """MIDI pitches for a chord: its bass (the inversion's bass, else the root) in
    ``bass_octave``, then every chord tone once in close position inside ``[low, high]``."""
    if chord.root is None:
        return []
    bass_pc = chord.root if chord.bass is None else chord.bass
    bass = 12 * (bass_octave + 1) + bass_pc
    upper = sorted(low + (pc - low) % 12 for pc in chord.pitch_classes)
    upper = [p if p <= high else p - 12 for p in upper]
    return [bass, *sorted(upper)]


def _interval_name(semitones: int) -> str:
    return ("1", "b2", "2", "b3", "3", "4", "b5", "5", "b6", "6", "b7", "7")[semitones]


def parse_harte(label: str) -> Chord:
    """Parse a Harte label: ``N``, ``X``, ``C``, ``Gb:maj``, ``A:min7/b7``, ``G:sus4(b7)``,
    ``C:(1,3,5)``."""
    label = label.strip()
    if label in ("N", "X", ""):
        return NO_CHORD
    root_text, _, rest = label.partition(":")
    rest, _, bass_text = rest.partition("/")
    try:
        root = pitch_class(root_text)
        shorthand, _, ext = rest.partition("(")
        shorthand = shorthand or ("maj" if not ext else "")
        base = set(QUALITIES.get(shorthand, ())) if shorthand else set()
        if shorthand and shorthand not in QUALITIES:
            aliases = {"sus4(b7)": "7sus4", "min(9)": "min9", "maj(9)": "maj9"}
            if shorthand in aliases:
                base = set(QUALITIES[aliases[shorthand]])
            else:
                raise ValueError(f"unknown shorthand {shorthand!r}")
        for item in filter(None, ext.rstrip(")").split(",")):
            item = item.strip()
            if item.startswith("*"):
                base.discard(_degree(item[1:]))
            else:
                base.add(_degree(item))
        base.add(0)
        intervals = frozenset(base)
        quality = next((q for q, iv in QUALITIES.items() if frozenset(iv) == intervals), None)
        quality = quality or nearest_quality(intervals)
        bass = (root + _degree(bass_text)) % 12 if bass_text else None
    except ValueError as exc:
        raise ValueError(f"bad Harte chord label {label!r}: {exc}") from exc
    return Chord(root, quality, None if bass == root else bass)


def parse_symmv(label: str) -> Chord:
    """Parse a SymMV label: root (``C``, ``G#``, ``Bb``) then ``M m 7 M7 m7 o o7 + sus2 sus4``."""
    label = label.strip()
    if label in ("N", ""):
        return NO_CHORD
    n = 2 if len(label) > 1 and label[1] in "#b" else 1
    root_text, suffix = label[:n], label[n:]
    if suffix not in SYMMV_SUFFIX:
        raise ValueError(f"bad SymMV chord label {label!r}")
    return Chord(pitch_class(root_text), SYMMV_SUFFIX[suffix])


def parse_chord(label: str) -> Chord:
    """Harte if the label has ``:`` or is ``N``; otherwise SymMV, then a bare root (major)."""
    label = label.strip()
    if ":" in label or label in ("N", "X"):
        return parse_harte(label)
    try:
        return parse_symmv(label)
    except ValueError:
        return parse_harte(label)


@dataclass(frozen=True)
class ChordSpan:
    """A chord over ``[start, end)``, in seconds or beats as the container says."""

    start: float
    end: float
    chord: Chord


def merge_repeats(spans: list[ChordSpan]) -> list[ChordSpan]:
    """One span per chord change: a chord repeated over adjoining spans becomes one span."""
    out: list[ChordSpan] = []
    for c in spans:
        if out and out[-1].chord == c.chord and abs(out[-1].end - c.start) < 1e-9:
            out[-1] = ChordSpan(out[-1].start, c.end, c.chord)
        else:
            out.append(c)
    return out


def read_chord_lab(path, *, fmt: str = "harte") -> list[ChordSpan]:
    """Read ``start end label`` lines (tab or space separated); errors name the file and line."""
    parse = parse_harte if fmt == "harte" else parse_symmv

    def row(parts: list[str]) -> ChordSpan:
        start, end, label = fields(parts, 3)
        if float(end) < float(start):
            raise ValueError("end before start")
        return ChordSpan(float(start), float(end), parse(label))

    return read_rows(path, row)


@dataclass
class ChordVocabulary:
    """Chord <-> index for a model: optional N, roots x qualities, optional END and PAD.

    Indices: N (if any) first, then ``root * len(qualities) + quality``, then END, PAD. Root and
    quality indices (for factored embeddings) reserve the last root/quality slot for N.
    """

    name: str
    qualities: tuple[str, ...]
    has_none: bool = True
    specials: tuple[str, ...] = ()
    _offset: int = field(init=False, default=0)

    def __post_init__(self) -> None:
        self._offset = 1 if self.has_none else 0

    def __len__(self) -> int:
        return self._offset + 12 * len(self.qualities) + len(self.specials)

    def special(self, name: str) -> int:
        return self._offset + 12 * len(self.qualities) + self.specials.index(name)

    def map(self, chord: Chord) -> Chord:
        """The nearest chord this vocabulary can say (inversions dropped)."""
        if chord.root is None:
            if not self.has_none:
                raise ValueError(f"vocabulary {self.name} has no N")
            return NO_CHORD
        q = (
            chord.quality
            if chord.quality in self.qualities
            else nearest_quality(frozenset(QUALITIES[chord.quality]), self.qualities)
        )
        return Chord(chord.root, q)

    def index(self, chord: Chord) -> int:
        c = self.map(chord)
        if c.root is None:
            return 0
        return self._offset + c.root * len(self.qualities) + self.qualities.index(c.quality)

    def chord(self, index: int) -> Chord:
        if self.has_none and index == 0:
            return NO_CHORD
        k = index - self._offset
        if not 0 <= k < 12 * len(self.qualities):
            raise ValueError(f"index {index} is not a chord in {self.name}")
        return Chord(k // len(self.qualities), self.qualities[k % len(self.qualities)])

    def root_quality(self, chord: Chord) -> tuple[int, int]:
        """Factored indices: root 0-11 (12 = N), quality 0..Q-1 (Q = N)."""
        c = self.map(chord)
        if c.root is None:
            return 12, len(self.qualities)
        return c.root, self.qualities.index(c.quality)


#: Video2Music's vocabulary, in its released order (vevo_meta/chord.json: N = 0, C = 1, C:dim = 2,
#: ..., B:maj7 = 156), then END = 157 and PAD = 158.
VIDEO2MUSIC = ChordVocabulary(
    "video2music",
    (
        "maj",
        "dim",
        "sus4",
        "min7",
        "min",
        "sus2",
        "aug",
        "dim7",
        "maj6",
        "hdim7",
        "7",
        "min6",
        "maj7",
    ),
    has_none=True,
    specials=("END", "PAD"),
)
SYMMV = ChordVocabulary(
    "symmv",
    ("maj", "min", "7", "maj7", "min7", "dim", "dim7", "aug", "sus2", "sus4"),
    has_none=True,
)
