"""``vidscore data annotate``: SymMV-style annotations for MIDI or audio pieces.

For each piece: chords (``chord/NAME.txt``, SymMV's ``start_tick end_tick label`` at 220 ticks
per beat), melody and accompaniment MIDI (skyline split), and ``meta/NAME.json`` with the key
(Krumhansl-Schmuckler), tempo, beats and downbeats (seconds), and per-second note density and
loudness (Video2Music's descriptors). Audio is transcribed with basic-pitch first; its chords come
from beat-synchronous chroma and its loudness from the signal.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from vidscore.data.symmv import write_chords
from vidscore.errors import InputError, VidscoreError
from vidscore.music.beats import score_grid
from vidscore.music.chord_recognition import recognize_audio, recognize_notes
from vidscore.music.chords import ChordSpan
from vidscore.music.descriptors import audio_loudness, midi_loudness, note_density
from vidscore.music.key import detect_key
from vidscore.music.midi import read_midi, write_midi
from vidscore.music.score import Score, Track
from vidscore.music.skyline import split_melody
from vidscore.outputs import atomic_path, check_output

MIDI_EXT = {".mid", ".midi"}
AUDIO_EXT = {".wav", ".mp3", ".flac", ".ogg", ".m4a", ".aac"}


@dataclass
class AnnotateReport:
    done: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)


def find_pieces(target: str | os.PathLike) -> list[Path]:
    p = Path(target)
    if p.is_dir():
        found = sorted(q for q in p.rglob("*") if q.suffix.lower() in MIDI_EXT | AUDIO_EXT)
        if not found:
            raise InputError(f"{p}: no MIDI or audio files inside")
        return found
    if not p.exists():
        raise InputError(f"{p}: no such file")
    if p.suffix.lower() not in MIDI_EXT | AUDIO_EXT:
        raise InputError(f"{p}: not a MIDI or audio file (.mid, .wav, .mp3, .flac, ...)")
    return [p]


def _outputs(out: Path, name: str) -> dict[str, Path]:
    return {
        "chord": out / "chord" / f"{name}.txt",
        "melody": out / "melody" / f"{name}.mid",
        "accompaniment": out / "accompaniment" / f"{name}.mid",
        "meta": out / "meta" / f"{name}.json",
    }


def annotate_piece(path: Path, out: Path, *, overwrite: bool = False) -> dict:
    """Write one piece's annotations; return its meta dict."""
    targets = _outputs(out, path.stem)
    for t in targets.values():
        t.parent.mkdir(parents=True, exist_ok=True)
        check_output(t, overwrite=overwrite)
    is_audio = path.suffix.lower() in AUDIO_EXT
    if is_audio:
        import librosa

        from vidscore.music.transcribe import transcribe

        try:
            y, sr = librosa.load(str(path), sr=22050, mono=True)
        except Exception as exc:
            raise InputError(f"{path}: cannot read audio ({type(exc).__name__})") from exc
        tempo = float(np.atleast_1d(librosa.beat.beat_track(y=y, sr=sr)[0])[0]) or 120.0
        score = transcribe(path, tempo_bpm=tempo)
        spans_sec = recognize_audio(y, sr)
        chords = [
            ChordSpan(float(score.beats(s.start)), float(score.beats(s.end)), s.chord)
            for s in spans_sec
        ]
        duration = len(y) / sr
        loudness = audio_loudness(y, sr)
    else:
        score = read_midi(path)
        chords = []
        duration = 0.0
        loudness = None
    notes = score.notes()
    if not notes:
        raise InputError(f"{path}: no notes to annotate")
    grid = score_grid(score)
    if not is_audio:
        chords = recognize_notes(notes, grid)
        duration = float(score.seconds(score.end_beat))
    key = detect_key(notes)
    melody, accomp = split_melody(notes)
    sec = [(float(score.seconds(n.start)), float(score.seconds(n.end)), n.velocity) for n in notes]
    density = note_density([(s, e) for s, e, _ in sec], duration)
    if loudness is None:
        loudness = midi_loudness(sec, duration)
    write_chords(chords, targets["chord"])
    for part, ns, prog in (("melody", melody, 0), ("accompaniment", accomp, 0)):
        write_midi(
            Score([Track(part, ns, prog)], score.tempos, score.time_signature),
            targets[part],
            overwrite=True,
        )
    meta = {
        "source": str(path),
        "kind": "audio" if is_audio else "midi",
        "key": str(key),
        "tempo_bpm": round(grid.tempo_bpm, 3),
        "time_signature": list(score.time_signature),
        "beats": np.round(grid.seconds, 4).tolist(),
        "downbeats": np.round(grid.seconds[grid.downbeats], 4).tolist(),
        "chords": [
            [
                round(float(score.seconds(c.start)), 4),
                round(float(score.seconds(c.end)), 4),
                c.chord.harte(),
            ]
            for c in chords
        ],
        "note_density": density.tolist(),
        "loudness": np.round(loudness, 5).tolist(),
        "melody_notes": len(melody),
        "accompaniment_notes": len(accomp),
    }
    with atomic_path(targets["meta"], overwrite=True) as tmp:
        tmp.write_text(json.dumps(meta, indent=1))
    return meta


def annotate(
    target: str | os.PathLike,
    out: str | os.PathLike,
    *,
    overwrite: bool = False,
    on_piece: Callable[[str, str | None], None] | None = None,
) -> AnnotateReport:
    """Annotate every piece under ``target``; a bad piece is reported and skipped."""
    pieces = find_pieces(target)
    out_path = Path(out)
    try:
        out_path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise VidscoreError(f"{out_path}: cannot create output folder ({exc.strerror})") from exc
    report = AnnotateReport()
    for p in pieces:
        try:
            annotate_piece(p, out_path, overwrite=overwrite)
            report.done.append(str(p))
            err = None
        except VidscoreError as exc:
            report.failed.append((str(p), str(exc)))
            err = str(exc)
        except Exception as exc:  # one broken piece must not stop a corpus run
            err = f"{p}: internal error: {type(exc).__name__}: {exc}"
            report.failed.append((str(p), err))
        if on_piece is not None:
            on_piece(str(p), err)
    return report
