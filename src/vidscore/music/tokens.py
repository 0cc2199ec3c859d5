"""V-MusProd's compound-word (CP) event tokens: encode and decode quantised music without loss.

Every token stacks seven attributes ``[Type, BarBeat, Pitch, Duration, Root, Quality, Velocity]``
(V-MusProd Sec. 4.2, after CP Transformer, plus CP Transformer's velocity); attributes a token
type does not use are 0 ("ignore"):

* **Rhythm** tokens (``Type = 1``) carry BarBeat: 1 starts a new bar, 2 + p marks the 16th-note
  position p (0-15) inside the bar where the next events sound.
* **Chord** tokens (``Type = 2``) carry Root (1-12; 13 = N) and Quality (1 + index in the
  vocabulary's qualities, SymMV's ten by default); a chord lasts until the next chord token.
* **Note** tokens (``Type = 3``) carry Pitch (1 + MIDI pitch), Duration (number of 16ths, 1-64)
  and Velocity (1 + one of :data:`VELOCITY_BINS` equal bins of 0-127).
* ``Type = 4`` ends the piece (its bar index marks where the last chord stops).

Beside the tokens, :class:`CPSequence` keeps per-token indices for V-MusProd's embeddings: the
absolute bar, the beat inside the bar, and a tempo class (:data:`TEMPO_BINS`).

Departure from miditok: miditok's ``CPWord`` fuses position and bar into one family and derives
chords itself; V-MusProd's Chord tokens carry given chords, so this module implements the paper's
layout directly. Departure from V-MusProd: its Note tokens carry no velocity, so its music cannot
get louder by playing harder; vidscore keeps CP Transformer's velocity attribute, binned, so the
intensity control (velocity and voices) can be followed. Notes longer than 4 bars are clipped to
64 sixteenths.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vidscore.music.chords import NO_CHORD, SYMMV, Chord, ChordSpan, ChordVocabulary
from vidscore.music.score import Note

PAD, RHYTHM, CHORD, NOTE, EOS = 0, 1, 2, 3, 4
FIELDS = ("type", "barbeat", "pitch", "duration", "root", "quality", "velocity")
STEPS_PER_BEAT = 4
MAX_DURATION = 64
VELOCITY_BINS = 8
#: Tempo classes (BPM upper edges) for the Tempo Embedding; SymMV's tempos fall in 60-200.
TEMPO_BINS = np.array([60, 70, 80, 90, 100, 110, 120, 130, 140, 160, 180, 1000])


@dataclass
class CPSequence:
    """Tokens ``(N, 7)`` and their ``(N, 3)`` bar / beat / tempo-class indices."""

    tokens: np.ndarray
    indices: np.ndarray

    def __len__(self) -> int:
        return len(self.tokens)


def _fill_gaps(chords: list[ChordSpan], end: float) -> list[ChordSpan]:
    """Chords with N spans in the gaps and up to ``end``: a chord token lasts until the next."""
    out: list[ChordSpan] = []
    for c in sorted(chords, key=lambda c: c.start):
        if out and c.start > out[-1].end + 1e-9:
            out.append(ChordSpan(out[-1].end, c.start, NO_CHORD))
        out.append(c)
    if out and out[-1].end < end - 1e-9 and not out[-1].chord.is_none:
        out.append(ChordSpan(out[-1].end, end, NO_CHORD))
    return out


def velocity_bin(velocity: int) -> int:
    """1 + the bin of a MIDI velocity (0 is "ignore")."""
    return 1 + min(VELOCITY_BINS - 1, max(0, int(velocity)) * VELOCITY_BINS // 128)


def bin_velocity(value: int) -> int:
    """The MIDI velocity at the centre of a bin token (1..VELOCITY_BINS)."""
    return int((value - 0.5) * 128 / VELOCITY_BINS)


def tempo_class(bpm: float) -> int:
    return int(np.searchsorted(TEMPO_BINS, bpm, side="left"))


def encode(
    notes: list[Note],
    chords: list[ChordSpan],
    *,
    beats_per_bar: int = 4,
    tempo_bpm: float = 120.0,
    vocab: ChordVocabulary = SYMMV,
) -> CPSequence:
    """Tokens of notes and chords whose times (beats) lie on the 16th grid."""
    steps_per_bar = beats_per_bar * STEPS_PER_BEAT
    events: dict[int, tuple[list[Chord], list[Note]]] = {}
    end_step = max(
        [round(n.end * STEPS_PER_BEAT) for n in notes]
        + [round(c.end * STEPS_PER_BEAT) for c in chords]
        + [0]
    )
    for c in _fill_gaps(chords, end_step / STEPS_PER_BEAT):
        step = round(c.start * STEPS_PER_BEAT)
        events.setdefault(step, ([], []))[0].append(vocab.map(c.chord))
    for n in notes:
        step = round(n.start * STEPS_PER_BEAT)
        events.setdefault(step, ([], []))[1].append(n)
    tc = tempo_class(tempo_bpm)
    toks, idx = [], []
    current_bar = -1
    for step in sorted(events):
        bar, pos = divmod(step, steps_per_bar)
        beat = pos // STEPS_PER_BEAT
        while current_bar < bar:
            current_bar += 1
            toks.append([RHYTHM, 1, 0, 0, 0, 0, 0])
            idx.append([current_bar, 0, tc])
        toks.append([RHYTHM, 2 + pos, 0, 0, 0, 0, 0])
        idx.append([bar, beat, tc])
        chord_list, note_list = events[step]
        for c in chord_list:
            root, quality = vocab.root_quality(c)
            toks.append([CHORD, 0, 0, 0, root + 1, quality + 1, 0])
            idx.append([bar, beat, tc])
        for n in sorted(note_list, key=lambda n: (n.pitch, n.end)):
            dur = min(MAX_DURATION, max(1, round((n.end - n.start) * STEPS_PER_BEAT)))
            toks.append([NOTE, 0, n.pitch + 1, dur, 0, 0, velocity_bin(n.velocity)])
            idx.append([bar, beat, tc])
    toks.append([EOS, 0, 0, 0, 0, 0, 0])
    idx.append([end_step // steps_per_bar, (end_step % steps_per_bar) // STEPS_PER_BEAT, tc])
    tokens = np.array(toks, dtype=np.int64).reshape(-1, len(FIELDS))
    indices = np.array(idx, dtype=np.int64).reshape(-1, 3)
    # remember the exact end for chords: EOS's duration field holds the 16ths past its bar start
    tokens[-1, 3] = end_step - (end_step // steps_per_bar) * steps_per_bar
    return CPSequence(tokens, indices)


def decode(
    seq: CPSequence, *, beats_per_bar: int = 4, vocab: ChordVocabulary = SYMMV, velocity: int = 80
) -> tuple[list[Note], list[ChordSpan]]:
    """Notes and chord spans (in beats) back from tokens (``velocity`` for notes without a
    velocity bin)."""
    steps_per_bar = beats_per_bar * STEPS_PER_BEAT
    notes: list[Note] = []
    starts: list[tuple[int, Chord]] = []
    bar, step, end_step = -1, 0, 0
    for tok, ind in zip(seq.tokens, seq.indices, strict=True):
        kind = int(tok[0])
        if kind == RHYTHM:
            if tok[1] == 1:
                bar += 1
                step = bar * steps_per_bar
            else:
                step = bar * steps_per_bar + int(tok[1]) - 2
        elif kind == CHORD:
            root, quality = int(tok[4]) - 1, int(tok[5]) - 1
            chord = NO_CHORD if root == 12 else Chord(root, vocab.qualities[quality])
            starts.append((step, chord))
        elif kind == NOTE:
            s = step / STEPS_PER_BEAT
            vel = bin_velocity(int(tok[6])) if tok[6] > 0 else velocity
            notes.append(Note(s, s + int(tok[3]) / STEPS_PER_BEAT, int(tok[2]) - 1, vel))
        elif kind == EOS:
            end_step = int(ind[0]) * steps_per_bar + int(tok[3])
    spans = []
    for i, (s, c) in enumerate(starts):
        e = starts[i + 1][0] if i + 1 < len(starts) else max(end_step, s)
        spans.append(ChordSpan(s / STEPS_PER_BEAT, e / STEPS_PER_BEAT, c))
    return sorted(notes), spans
