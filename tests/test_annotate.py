"""``vidscore data annotate`` on real MIDI and on audio (transcribed with basic-pitch)."""

from __future__ import annotations

import json
import wave

import numpy as np
import pytest

from tests.conftest import SHARED
from tests.conftest import run_cli as run
from vidscore.music.chords import parse_symmv

pytestmark = pytest.mark.shared


def test_annotate_midi_writes_symmv_style_files(tmp_path):
    r = run("data", "annotate", SHARED / "data" / "POP909" / "001" / "001.mid", "-o", tmp_path)
    assert r.returncode == 0, r.stderr
    lines = (tmp_path / "chord" / "001.txt").read_text().splitlines()
    assert len(lines) > 20
    for line in lines:
        start, end, label = line.split()
        assert int(end) > int(start) >= 0 and int(start) % 1 == 0
        parse_symmv(label)
    meta = json.loads((tmp_path / "meta" / "001.json").read_text())
    assert meta["key"] == "F# major"  # annotated Gb:maj
    assert meta["tempo_bpm"] > 40 and len(meta["beats"]) > 100 and meta["downbeats"]
    assert len(meta["note_density"]) == len(meta["loudness"]) > 100
    assert (tmp_path / "melody" / "001.mid").is_file()
    assert (tmp_path / "accompaniment" / "001.mid").is_file()
    again = run("data", "annotate", SHARED / "data" / "POP909" / "001" / "001.mid", "-o", tmp_path)
    assert again.returncode == 2 and "already exists" in again.stderr


def _progression_wav(path, sr=22050):
    def tone(pitches, dur):
        t = np.arange(int(sr * dur)) / sr
        env = np.minimum(1, t * 20) * np.exp(-t * 1.5)
        return sum(np.sin(2 * np.pi * 440 * 2 ** ((p - 69) / 12) * t) for p in pitches) * env / 4

    prog = [[48, 60, 64, 67], [45, 57, 60, 64], [41, 53, 57, 60], [43, 55, 59, 62]]
    y = np.concatenate([tone(ch, 1.0) for ch in prog * 2 for _ in range(2)])
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(sr)
        w.writeframes((y * 0.8 * 32767).astype(np.int16).tobytes())


def test_annotate_audio_transcribes_and_finds_the_chords(tmp_path):
    wav = tmp_path / "prog.wav"
    _progression_wav(wav)
    r = run("data", "annotate", wav, "-o", tmp_path / "out")
    assert r.returncode == 0, r.stderr
    meta = json.loads((tmp_path / "out" / "meta" / "prog.json").read_text())
    assert meta["kind"] == "audio" and meta["key"] == "C major"
    roots = [c[2].split(":")[0] for c in meta["chords"] if c[2] != "N"]
    assert roots[:4] == ["C", "A", "F", "G"]
    assert meta["melody_notes"] > 0 and meta["accompaniment_notes"] > 0


def test_annotate_bad_input(tmp_path):
    fake = tmp_path / "fake.mid"
    fake.write_text("not midi")
    r = run("data", "annotate", fake, "-o", tmp_path / "o")
    assert r.returncode == 2 and "fake.mid" in r.stderr and "Traceback" not in r.stderr
    other = tmp_path / "notes.txt"
    other.write_text("x")
    r = run("data", "annotate", other, "-o", tmp_path / "o")
    assert r.returncode == 2 and "not a MIDI or audio file" in r.stderr


def test_a_note_at_time_zero_off_the_fitted_grid_is_never_written_before_zero(tmp_path):
    """Issue 10 item 16: most onsets sit 0.2 beat past the beat, one note starts at 0, so the
    fitted 16th grid rounds it to -0.05 beat and mido refused to write the melody file."""
    from vidscore.data.annotate import annotate_piece
    from vidscore.music.midi import read_midi, write_midi
    from vidscore.music.score import Note, Score, Track
    from vidscore.music.skyline import split_melody

    notes = [Note(0.0, 1.0, 76, 90)] + [
        Note(k + 0.2, k + 0.7, 60 + (k % 5) * 2, 80) for k in range(1, 24)
    ]
    melody, accomp = split_melody(notes)
    assert min(n.start for n in melody + accomp) >= 0
    piece = tmp_path / "piece.mid"
    write_midi(Score([Track("piano", notes)]), piece)
    annotate_piece(piece, tmp_path / "out")
    assert read_midi(tmp_path / "out" / "melody" / "piece.mid").notes()[0].start >= 0


def test_a_piece_failing_in_any_way_is_listed_and_the_rest_finish(tmp_path, monkeypatch):
    import vidscore.data.annotate as annotate_module

    real = annotate_module.annotate_piece

    def flaky(path, out, **kw):
        if path.stem == "b":
            raise RuntimeError("something unforeseen")
        return real(path, out, **kw)

    from vidscore.music.midi import write_midi
    from vidscore.music.score import Note, Score, Track

    src = tmp_path / "in"
    src.mkdir()
    for name in ("a", "b", "c"):
        notes = [Note(k * 0.5, k * 0.5 + 0.5, 60 + k % 7, 80) for k in range(32)]
        write_midi(Score([Track("piano", notes)]), src / f"{name}.mid")
    monkeypatch.setattr(annotate_module, "annotate_piece", flaky)
    report = annotate_module.annotate(src, tmp_path / "out")
    assert [p.split("/")[-1] for p in report.done] == ["a.mid", "c.mid"]
    assert len(report.failed) == 1 and "internal error: RuntimeError" in report.failed[0][1]
