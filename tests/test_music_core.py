"""Keys, beats, chord recognition, skyline, descriptors, tokens, piano-rolls and MIDI I/O,
on constructed cases and on real POP909 / SymMV files."""

from __future__ import annotations

import mir_eval
import numpy as np
import pytest

from tests.conftest import SHARED
from vidscore.errors import InputError
from vidscore.music import pianoroll, tokens
from vidscore.music.beats import grid_offset, score_grid
from vidscore.music.chord_recognition import recognize_notes
from vidscore.music.chords import Chord, ChordSpan, read_chord_lab
from vidscore.music.descriptors import audio_loudness, midi_loudness, note_density
from vidscore.music.key import Key, detect_key, normalizing_shift, transpose_notes
from vidscore.music.midi import read_midi, write_midi
from vidscore.music.score import Note, Score, Track
from vidscore.music.skyline import quantize, skyline

pytestmark = pytest.mark.shared
POP909 = SHARED / "data" / "POP909"
SYMMV = SHARED / "data" / "SymMV-sample"


def scale(tonic: int, steps: list[int]) -> list[Note]:
    return [Note(i, i + 1, 60 + tonic + s) for i, s in enumerate(steps * 4)]


def test_key_detection_and_normalisation():
    major = [0, 2, 4, 5, 7, 9, 11, 12, 7, 4, 0]
    assert detect_key(scale(0, major)) == Key(0, "major")
    assert detect_key(scale(3, major)) == Key(3, "major")
    minor = [0, 2, 3, 5, 7, 8, 11, 12, 7, 3, 0, 0]
    assert detect_key(scale(9, minor)) == Key(9, "minor")
    assert normalizing_shift(Key(2, "major")) == -2 and normalizing_shift(Key(0, "minor")) == -3
    notes = scale(7, major)
    shifted = transpose_notes(notes, normalizing_shift(detect_key(notes)))
    assert detect_key(shifted) == Key(0, "major")
    assert Key.parse("Gb:maj") == Key(6) and Key.parse("E- major") == Key(3)
    # the scale a key's notes are counted in (relative keys share one)
    assert Key.parse("A minor").pitch_classes == Key(0).pitch_classes == {0, 2, 4, 5, 7, 9, 11}
    assert 6 in Key.parse("D major").pitch_classes and 6 not in Key(0).pitch_classes


def test_grid_offset_finds_the_phase():
    onsets = np.arange(0, 16, 0.5) + 1 / 12
    assert grid_offset(onsets) == pytest.approx(1 / 12)


def test_chord_recognition_on_a_constructed_progression():
    prog = [(48, (0, 4, 7)), (45, (0, 3, 7)), (41, (0, 4, 7)), (43, (0, 4, 7, 10))]
    notes = []
    for bar, (bass, shape) in enumerate(prog):
        for beat in range(4):
            t = bar * 4 + beat
            notes.append(Note(t, t + 1, bass, 90))
            notes += [Note(t, t + 1, bass + 12 + iv, 70) for iv in shape]
    score = Score([Track("piano", notes)], [(0.0, 120.0)], (4, 4))
    spans = recognize_notes(notes, score_grid(score, align=False))
    assert [(s.start, s.chord.harte()) for s in spans if not s.chord.is_none] == [
        (0.0, "C:maj"),
        (4.0, "A:min"),
        (8.0, "F:maj"),
        (12.0, "G:7"),
    ]


def test_chord_recognition_on_pop909_matches_the_annotation():
    score = read_midi(POP909 / "003" / "003.mid")
    spans = recognize_notes(score.notes(), score_grid(score))
    ref = read_chord_lab(POP909 / "003" / "chord_midi.txt")
    ri = np.array([[c.start, c.end] for c in ref])
    est = np.array([[score.seconds(c.start), score.seconds(c.end)] for c in spans])
    res = mir_eval.chord.evaluate(
        ri, [c.chord.harte() for c in ref], est, [c.chord.harte() for c in spans]
    )
    assert res["root"] > 0.9 and res["majmin"] > 0.9


def test_skyline_keeps_the_top_line():
    chords = [Note(t, t + 2, p) for t in (0, 2) for p in (48, 52, 55)]
    tune = [Note(0, 1, 72), Note(1, 2, 74), Note(2, 4, 76)]
    melody, accomp = skyline(quantize(chords + tune))
    assert [(n.start, n.pitch) for n in melody] == [(0, 72), (1, 74), (2, 76)]
    assert len(accomp) == 6
    # a long low note is cut when a new top note starts above it
    melody, _ = skyline([Note(0, 4, 60), Note(2, 3, 67)])
    assert [(n.start, n.end, n.pitch) for n in melody] == [(0, 2, 60), (2, 3, 67)]


def test_descriptors():
    d = note_density([(0.0, 0.5), (0.2, 1.5), (2.1, 2.2)], 3.0)
    assert list(d) == [2, 1, 1]
    loud = midi_loudness([(0.0, 0.5, 127), (0.0, 0.5, 0)], 2.0)
    assert list(loud) == pytest.approx([0.5, 0.0])
    sr = 8000
    t = np.arange(3 * sr) / sr
    y = np.sin(2 * np.pi * 220 * t) * np.repeat([0.1, 0.5, 1.0], sr)
    assert audio_loudness(y, sr) == pytest.approx([0.1, 0.5, 1.0], rel=1e-3)


def _quantised(score: Score) -> list[Note]:
    q = quantize(score.notes(), offset=0.0)
    unique = {(n.start, n.pitch): n for n in q}  # one note per onset and pitch
    return sorted(
        Note(n.start, min(n.end, n.start + 16), n.pitch, n.velocity) for n in unique.values()
    )


@pytest.mark.parametrize("source", ["pop909", "symmv"])
def test_cp_tokens_round_trip_real_music(source):
    if source == "pop909":
        score = read_midi(POP909 / "001" / "001.mid")
        notes = _quantised(score)
        chords = recognize_notes(notes, score_grid(score, align=False))
        bpb = 2
    else:
        from vidscore.data.symmv import items

        item = items(SYMMV)[0]
        notes = _quantised(item.score)
        chords = item.chords()
        bpb = 4
    seq = tokens.encode(
        notes,
        chords,
        beats_per_bar=bpb,
        tempo_bpm=score.tempos[0][1] if source == "pop909" else 120.0,
    )
    assert seq.tokens.shape[1] == 7 and seq.indices.shape == (len(seq), 3)
    back_notes, back_chords = tokens.decode(seq, beats_per_bar=bpb)
    assert [(n.start, n.end, n.pitch) for n in back_notes] == [
        (n.start, n.end, n.pitch) for n in notes
    ]
    # velocity comes back to the centre of its bin (16 wide)
    assert max(abs(a.velocity - b.velocity) for a, b in zip(back_notes, notes, strict=True)) <= 8
    from vidscore.music.chords import SYMMV as V

    want = [(c.start, c.end, V.map(c.chord)) for c in chords if not c.chord.is_none]
    got = [(c.start, c.end, c.chord) for c in back_chords if not c.chord.is_none]
    assert got == want


def test_pianoroll_round_trip_real_music():
    score = read_midi(POP909 / "002" / "002.mid")
    notes = [n for n in _quantised(score) if n.start < 64]
    rolls = pianoroll.segments(notes, end_beat=64, beats_per_bar=4)
    assert rolls.shape == (2, 2, 128, 128)
    back = []
    for i, roll in enumerate(rolls):
        back += pianoroll.from_pianoroll(roll, start_beat=i * 32)
    # notes crossing a segment boundary are cut there; compare within segments
    cut = sorted(Note(n.start, min(n.end, (n.start // 32 + 1) * 32), n.pitch) for n in notes)
    assert [(n.start, n.end, n.pitch) for n in back] == [(n.start, n.end, n.pitch) for n in cut]


@pytest.mark.parametrize("path", [POP909 / "001" / "001.mid", SYMMV / "midi" / "00001.mid"])
def test_midi_round_trip(tmp_path, path):
    score = read_midi(path)
    score.chords = [ChordSpan(0.0, 4.0, Chord(0, "maj"))]
    write_midi(score, tmp_path / "out.mid")
    back = read_midi(tmp_path / "out.mid")
    assert [t.name for t in back.tracks] == [t.name for t in score.tracks]
    for a, b in zip(score.tracks, back.tracks, strict=True):
        assert len(a.notes) == len(b.notes)
        for x, y in zip(a.notes, b.notes, strict=True):
            assert (x.pitch, x.velocity) == (y.pitch, y.velocity)
            assert abs(x.start - y.start) < 1e-3 and abs(x.end - y.end) < 1e-3
    assert back.tempos[0][1] == pytest.approx(score.tempos[0][1])
    assert back.time_signature == score.time_signature
    assert score.seconds(score.beats(12.5)) == pytest.approx(12.5)


def test_malformed_midi_names_the_file(tmp_path):
    bad = tmp_path / "broken.mid"
    bad.write_bytes(b"MThd\x00\x00\x00\x06garbage")
    with pytest.raises(InputError, match=r"broken\.mid"):
        read_midi(bad)
