"""MIDI files <-> :class:`~vidscore.music.score.Score`, through miditoolkit (tick-exact).

Reading keeps every track (name, program, drum flag), the tempo map and the first time
signature; a file that is not valid MIDI raises :class:`~vidscore.errors.InputError` naming it.
"""

from __future__ import annotations

import os
from pathlib import Path

import miditoolkit

from vidscore.errors import InputError
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
    )


def to_miditoolkit(score: Score, ticks_per_beat: int = TICKS_PER_BEAT) -> miditoolkit.MidiFile:
    mid = miditoolkit.MidiFile(ticks_per_beat=ticks_per_beat)
    mid.tempo_changes = [
        miditoolkit.TempoChange(bpm, round(b * ticks_per_beat)) for b, bpm in score.tempos
    ]
    num, den = score.time_signature
    mid.time_signature_changes = [miditoolkit.TimeSignature(num, den, 0)]
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
