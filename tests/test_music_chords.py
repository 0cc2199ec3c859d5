"""Chord labels and vocabularies, on the labels POP909 and SymMV actually use."""

from __future__ import annotations

import pytest

from tests.conftest import SHARED
from vidscore.errors import InputError
from vidscore.music.chords import (
    SYMMV,
    VIDEO2MUSIC,
    Chord,
    parse_chord,
    parse_harte,
    parse_symmv,
    read_chord_lab,
)

pytestmark = pytest.mark.shared
POP909 = SHARED / "data" / "POP909"


@pytest.mark.parametrize(
    ("label", "root", "quality", "bass"),
    [
        ("Gb:maj", 6, "maj", None),
        ("A:min7/b7", 9, "min7", 7),
        ("C:maj/3", 0, "maj", 4),
        ("G:sus4(b7)", 7, "7sus4", None),
        ("Bb:hdim7", 10, "hdim7", None),
        ("D", 2, "maj", None),
        ("E:(1,b3,5)", 4, "min", None),
        ("F#:min(9)", 6, "min9", None),
    ],
)
def test_parse_harte(label, root, quality, bass):
    assert parse_harte(label) == Chord(root, quality, bass)


def test_no_chord_and_bad_labels():
    assert parse_harte("N").is_none and parse_chord("N").is_none
    with pytest.raises(ValueError, match="H:maj"):
        parse_harte("H:maj")
    with pytest.raises(ValueError):
        parse_symmv("Cxyz")


def test_every_pop909_label_parses_and_round_trips():
    labels = set()
    for path in sorted(POP909.glob("0[0-4]*/chord_midi.txt")):
        labels |= {span.chord for span in read_chord_lab(path)}
    assert len(labels) > 100
    for chord in labels:
        assert parse_harte(chord.harte()) == chord


@pytest.mark.parametrize(
    ("label", "expected"),
    [
        ("FM7", Chord(5, "maj7")),
        ("Am", Chord(9, "min")),
        ("Do", Chord(2, "dim")),
        ("C+", Chord(0, "aug")),
        ("G#M", Chord(8, "maj")),
        ("Csus2", Chord(0, "sus2")),
        ("Bbm7", Chord(10, "min7")),
        ("Eo7", Chord(4, "dim7")),
    ],
)
def test_parse_symmv(label, expected):
    assert parse_symmv(label) == expected
    assert parse_symmv(expected.symmv()) == expected


def test_video2music_vocabulary_matches_its_release():
    # Video2Music's vevo_meta/chord.json: N=0, C=1, C:dim=2, C:maj7=13, C#=14, B:maj7=156
    assert len(VIDEO2MUSIC) == 159
    assert VIDEO2MUSIC.index(parse_harte("N")) == 0
    assert VIDEO2MUSIC.index(parse_harte("C")) == 1
    assert VIDEO2MUSIC.index(parse_harte("C:dim")) == 2
    assert VIDEO2MUSIC.index(parse_harte("C:maj7")) == 13
    assert VIDEO2MUSIC.index(parse_harte("C#")) == 14
    assert VIDEO2MUSIC.index(parse_harte("B:maj7")) == 156
    assert (VIDEO2MUSIC.special("END"), VIDEO2MUSIC.special("PAD")) == (157, 158)
    for i in range(157):
        assert VIDEO2MUSIC.index(VIDEO2MUSIC.chord(i)) == i


def test_vocabularies_map_unknown_qualities_to_the_nearest():
    assert VIDEO2MUSIC.map(parse_harte("C:9")) == Chord(0, "7")
    assert VIDEO2MUSIC.map(parse_harte("A:min7/b7")) == Chord(9, "min7")  # inversion dropped
    assert SYMMV.map(parse_harte("B:hdim7")) == Chord(11, "dim")
    assert SYMMV.map(parse_harte("C:maj6")) == Chord(0, "maj")
    assert len(SYMMV) == 121
    assert SYMMV.root_quality(parse_harte("N")) == (12, 10)


def test_voicing_is_close_position_over_the_bass():
    from vidscore.music.chords import voicing

    v = voicing(parse_harte("A:min7/b7"))
    assert v[0] == 55  # G3: the inversion's bass
    assert sorted(p % 12 for p in v[1:]) == [0, 4, 7, 9]
    assert all(55 <= p <= 76 for p in v[1:]) and max(v[1:]) - min(v[1:]) < 12
    assert voicing(parse_harte("N")) == []


def test_pitch_classes_and_transpose():
    assert parse_harte("A:min7").pitch_classes == (0, 4, 7, 9)
    assert parse_harte("A:min7/b7").transpose(3) == parse_harte("C:min7/b7")


def test_malformed_annotation_names_file_and_line(tmp_path):
    bad = tmp_path / "chord_midi.txt"
    bad.write_text("0.0\t1.0\tC:maj\n1.0\t2.0\tQ:wat\n")
    with pytest.raises(InputError, match=r"chord_midi.txt:2"):
        read_chord_lab(bad)
