"""Arrange a chord per slot into parts: voicing, patterns from density, velocity from loudness.

* Voicing: the bass plays the root (or the inversion's bass) in octave 2; the upper voices take
  the chord tones in the inversion closest to the previous chord (voice leading: least total
  movement), inside MIDI 52-76.
* Patterns follow the predicted **note density** (Video2Music's reference code keys them off
  loudness, which we treat as a bug): sustained chords, quarter pulses, eighth-note arpeggios,
  sixteenth-note arpeggios. **Loudness** sets velocity and, above 0.55 and 0.7, adds held octave
  doublings (:func:`fullness`), so a louder slot is also fuller.
* Presets by emotion (``--instruments`` overrides): ``piano``; ``strings`` (piano + string pad +
  bass); ``band`` (piano + bass + drums) for exciting and tense.
* The tempo map follows the slots (each slot's own tempo), so bar lines, chord changes and drum
  downbeats land on the cuts. The first slot enters at the picture's own intensity (the render's
  short fade-in only avoids a click). The last chord resolves to the tonic; it rings held where
  the picture is calm (density level 0) and keeps the slot's pattern where it is busy, so the
  ending follows the picture like every other slot.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vidscore.music.chords import Chord, ChordSpan
from vidscore.music.score import Note, Score, Track, bar_meters
from vidscore.systems.common.timeplan import Slot

PRESETS = {
    "piano": ("piano",),
    "strings": ("piano", "strings", "bass"),
    "band": ("piano", "bass", "drums"),
}
PRESET_FOR_EMOTION = {
    "exciting": "band",
    "tense": "band",
    "fearful": "strings",
    "sad": "strings",
    "relaxing": "piano",
    "neutral": "piano",
}
PROGRAMS = {"piano": 0, "strings": 48, "bass": 33, "drums": 0}
KICK, SNARE, HAT, CRASH = 36, 38, 42, 49
UPPER = (52, 76)


@dataclass
class Part:
    name: str
    notes: list[Note]


def upper_voicing(chord: Chord, previous: list[int] | None) -> list[int]:
    """Chord tones inside ``UPPER`` in the inversion nearest ``previous`` (voice leading)."""
    pcs = list(chord.pitch_classes)
    lo, hi = UPPER
    options = []
    for rot in range(len(pcs)):
        order = pcs[rot:] + pcs[:rot]
        for base in range(lo, lo + 12):
            if base % 12 != order[0]:
                continue
            voice, p = [], base
            for pc in order:
                while p % 12 != pc:
                    p += 1
                voice.append(p)
                p += 1
            if voice[-1] <= hi:
                options.append(voice)
    if not options:
        return sorted(lo + (pc - lo) % 12 for pc in pcs)
    if previous is None:
        centre = 64
        return min(options, key=lambda v: abs(np.mean(v) - centre))

    def cost(v: list[int]) -> float:
        a, b = sorted(v), sorted(previous)
        if len(a) == len(b):
            return float(sum(abs(x - y) for x, y in zip(a, b, strict=True)))
        return float(sum(min(abs(x - y) for y in b) for x in a))

    return min(options, key=cost)


def density_level(density: float) -> int:
    """0 sustained, 1 quarter pulses, 2 eighth arpeggios, 3 sixteenth arpeggios."""
    return int(np.digitize(density, [0.35, 0.65, 0.95]))


def fullness(voice: list[int], bass_pitch: int, loudness: float) -> list[int]:
    """Held doublings that thicken a loud slot: the top voice an octave up above loudness 0.55,
    and the bass an octave up as well above 0.7 (louder is fuller, as arrangers write it)."""
    extra = []
    if loudness > 0.55:
        extra.append(max(voice) + 12)
    if loudness > 0.7:
        extra.append(bass_pitch + 12)
    return extra


def velocity(loudness: float, accent: bool = False) -> int:
    v = 35 + 75 * float(np.clip(loudness, 0, 1)) + (8 if accent else 0)
    return int(np.clip(v, 20, 120))


def _piano(slot_beat: float, beats: int, voice: list[int], level: int, vel: int) -> list[Note]:
    """Notes per two-beat slot rise with the level: 3 (held), 6 (pulses), 7 and 14 (arpeggios
    over a struck chord, an octave up so they never collide with it)."""
    if level == 0:
        return [Note(slot_beat, slot_beat + beats, p, vel) for p in voice]
    if level == 1:
        return [
            Note(slot_beat + b, slot_beat + b + 0.9, p, vel - 4 * (b % 2))
            for b in range(beats)
            for p in voice
        ]
    struck = range(beats) if level == 3 else range(1)
    notes = [Note(slot_beat + b, slot_beat + b + 0.9, p, vel - 6) for b in struck for p in voice]
    step = 0.5 if level == 2 else 0.25
    high = [p + 12 for p in voice]
    cycle = high + high[-2:0:-1] if len(high) > 2 else high
    for i, t in enumerate(np.arange(0, beats, step)):
        notes.append(
            Note(
                slot_beat + t,
                slot_beat + t + step * 0.95,
                cycle[i % len(cycle)],
                vel - (0 if i % round(1 / step) == 0 else 10),
            )
        )
    return notes


def _bass(slot_beat: float, beats: int, pitch: int, level: int, vel: int) -> list[Note]:
    if level <= 1:
        return [Note(slot_beat, slot_beat + beats - 0.05, pitch, vel)]
    return [
        Note(slot_beat + b, slot_beat + b + 0.9, pitch, vel - 6 * (b % 2)) for b in range(beats)
    ]


def _drums(
    slot_beat: float, beats: int, bar_beat: int, level: int, vel: int, at_cut: bool
) -> list[Note]:
    notes = []
    if at_cut:
        notes.append(Note(slot_beat, slot_beat + 1, CRASH, min(127, vel + 10)))
    hat_step = 0.25 if level >= 3 else 0.5
    for b in range(beats):
        beat_in_bar = (bar_beat + b) % 4
        t = slot_beat + b
        if beat_in_bar in (0, 2):
            notes.append(Note(t, t + 0.25, KICK, vel))
        else:
            notes.append(Note(t, t + 0.25, SNARE, vel - 5))
        for h in np.arange(0, 1, hat_step):
            notes.append(Note(t + h, t + h + hat_step / 2, HAT, vel - 25))
    return notes


def arrange(
    slots: list[Slot],
    chords: list[Chord],
    *,
    density: np.ndarray,
    loudness: np.ndarray,
    preset: str,
    tonic: Chord,
) -> Score:
    """A score with one track per instrument of ``preset``; chords in ``score.chords``."""
    if preset not in PRESETS:
        raise ValueError(f"instrument preset {preset!r}: choose from {', '.join(PRESETS)}")
    parts = PRESETS[preset]
    chords = list(chords)
    # the last chord resolves, unless its slot opens on a cut after a tonic: the cut's chord
    # change comes first
    if not (slots[-1].at_cut and len(chords) > 1 and chords[-2] == tonic):
        chords[-1] = tonic
    tracks = {name: Track(name, [], PROGRAMS[name], is_drum=name == "drums") for name in parts}
    tempos: list[tuple[float, float]] = []
    # a lead-in rest before the first slot, counted in beats of the first slot's tempo
    beat = slots[0].start / slots[0].seconds_per_beat
    previous: list[int] | None = None
    bar_beat = 0
    spans = []
    bar_lines: list[float] = []
    for i, (slot, chord) in enumerate(zip(slots, chords, strict=True)):
        bpm = 60.0 / slot.seconds_per_beat
        if not tempos:
            tempos.append((0.0, bpm))
        elif abs(tempos[-1][1] - bpm) > 1e-6:
            tempos.append((beat, bpm))
        if slot.downbeat:
            bar_beat = 0
            bar_lines.append(beat)
        level = density_level(float(density[i]))
        vel = velocity(float(loudness[i]), slot.downbeat)
        ring = i == len(slots) - 1 and level == 0
        if chord.root is not None:
            voice = upper_voicing(chord, previous)
            previous = voice
            bass_pc = chord.root if chord.bass is None else chord.bass
            bass_pitch = 36 + (bass_pc - 36) % 12
            if ring:  # a calm ending: the tonic held into the fade
                held = slot.beats + 2
                if "piano" in tracks:
                    tracks["piano"].notes += [Note(beat, beat + held, p, vel) for p in voice]
                if "bass" in tracks:
                    tracks["bass"].notes.append(Note(beat, beat + held, bass_pitch, vel))
                if "strings" in tracks:
                    tracks["strings"].notes += [
                        Note(beat, beat + held, p - 12, vel - 15) for p in voice
                    ]
            else:
                if "piano" in tracks:
                    lvl = level if preset != "strings" else min(level, 2)
                    tracks["piano"].notes += _piano(beat, slot.beats, voice, lvl, vel)
                    if "bass" not in tracks:  # the pianist's left hand takes the bass
                        tracks["piano"].notes.append(
                            Note(beat, beat + slot.beats, bass_pitch + 12, vel - 10)
                        )
                    tracks["piano"].notes += [
                        Note(beat, beat + slot.beats, p, vel - 10)
                        for p in fullness(voice, bass_pitch, float(loudness[i]))
                    ]
                if "strings" in tracks:
                    tracks["strings"].notes += [
                        Note(beat, beat + slot.beats, p - 12, vel - 15) for p in voice
                    ]
                if "bass" in tracks:
                    tracks["bass"].notes += _bass(beat, slot.beats, bass_pitch, level, vel)
        if "drums" in tracks and not ring:
            tracks["drums"].notes += _drums(beat, slot.beats, bar_beat, level, vel, slot.at_cut)
        spans.append(ChordSpan(beat, beat + slot.beats, chord))
        beat += slot.beats
        bar_beat += slot.beats
    for t in tracks.values():
        t.notes.sort()
    meters = bar_meters(bar_lines, beat)
    return Score(list(tracks.values()), tempos or [(0.0, 120.0)], (4, 4), spans, meters)
