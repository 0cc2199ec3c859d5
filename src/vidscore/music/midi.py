"""MIDI files <-> :class:`~vidscore.music.score.Score`, through miditoolkit (tick-exact).

Reading keeps every track (name, program, drum flag), the tempo map, the time signature and its
changes (``Score.meters``) and the first key signature; writing puts them back, with the chords
as marker events; a file that is not valid MIDI raises :class:`~vidscore.errors.InputError`
naming it.
"""

from __future__ import annotations

import os
from pathlib import Path

import miditoolkit

from vidscore.errors import InputError
from vidscore.music.chords import PITCH_NAMES
from vidscore.music.key import Key
from vidscore.music.score import Note, Score, Track
from vidscore.outputs import atomic_path

TICKS_PER_BEAT = 480


def read_midi(path: str | os.PathLike) -> Score:
    p = Path(path)
    if not p.is_file():
        raise InputError(f"{p}: no such MIDI file")
    try:
        mid = miditoolkit.MidiFile(str(p))
    except Exception as exc:  # mido raises a zoo of types for broken files
        raise InputError(f"{p}: not a valid MIDI file ({type(exc).__name__}: {exc})") from exc
    tpb = mid.ticks_per_beat
    tempos = [(tc.time / tpb, float(tc.tempo)) for tc in mid.tempo_changes] or [(0.0, 120.0)]
    if tempos[0][0] > 0:
        tempos.insert(0, (0.0, tempos[0][1]))
    dedup: dict[float, float] = {}
    for b, t in tempos:
        dedup[b] = t
    ts = mid.time_signature_changes
    tracks, seen = [], {}
    for i, inst in enumerate(mid.instruments):
        name = inst.name.strip() or f"track{i}"
        seen[name] = seen.get(name, 0) + 1
        if seen[name] > 1:
            name = f"{name}_{seen[name]}"
        notes = [
            Note(n.start / tpb, n.end / tpb, int(n.pitch), int(n.velocity))
            for n in inst.notes
            if n.end > n.start
        ]
        tracks.append(Track(name, sorted(notes), int(inst.program), bool(inst.is_drum)))
    return Score(
        tracks=tracks,
        tempos=sorted(dedup.items()),
        time_signature=(ts[0].numerator, ts[0].denominator) if ts else (4, 4),
        meters=[(t.time / tpb, t.numerator, t.denominator) for t in ts[1:]],  # as written
        key=_key_name(mid.key_signature_changes[0].key_name) if mid.key_signature_changes else None,
    )


def _key_name(name: str) -> str | None:
    """miditoolkit's ``"Bbm"`` / ``"F#"`` -> ``"Bb minor"`` / ``"F# major"`` (None if odd)."""
    minor = name.endswith("m")
    try:
        return str(Key.parse(f"{name[:-1] if minor else name} {'minor' if minor else 'major'}"))
    except ValueError:
        return None


def to_miditoolkit(score: Score, ticks_per_beat: int = TICKS_PER_BEAT) -> miditoolkit.MidiFile:
    mid = miditoolkit.MidiFile(ticks_per_beat=ticks_per_beat)
    mid.tempo_changes = [
        miditoolkit.TempoChange(bpm, round(b * ticks_per_beat)) for b, bpm in score.tempos
    ]
    num, den = score.time_signature
    changes = {0: (num, den)} | {round(b * ticks_per_beat): (n, d) for b, n, d in score.meters}
    mid.time_signature_changes = [
        miditoolkit.TimeSignature(n, d, tick) for tick, (n, d) in sorted(changes.items())
    ]
    if score.key is not None:
        k = Key.parse(score.key)
        name = PITCH_NAMES[k.tonic] + ("m" if k.mode == "minor" else "")
        mid.key_signature_changes = [miditoolkit.KeySignature(name, 0)]
    for t in score.tracks:
        inst = miditoolkit.Instrument(program=t.program, is_drum=t.is_drum, name=t.name)
        for n in t.notes:
            s, e = round(n.start * ticks_per_beat), round(n.end * ticks_per_beat)
            inst.notes.append(miditoolkit.Note(n.velocity, n.pitch, s, max(e, s + 1)))
        mid.instruments.append(inst)
    for c in score.chords:
        mid.markers.append(miditoolkit.Marker(c.chord.harte(), round(c.start * ticks_per_beat)))
    return mid


def write_midi(score: Score, path: str | os.PathLike, *, overwrite: bool = False) -> None:
    """Write atomically; chords go in as marker events (Harte labels)."""
    with atomic_path(path, overwrite=overwrite, suffix=".mid") as tmp:
        to_miditoolkit(score).dump(str(tmp))
