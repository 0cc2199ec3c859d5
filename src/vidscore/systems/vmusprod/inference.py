"""Sampling V-MusProd's three stages on a clip's bars: chords, then melody, then accompaniment.

The time plan's bars (a bar starts on every downbeat; the bar before a cut may be short) are laid
out in *model time*, four beats per bar whatever their real length, so the tokens of
:mod:`vidscore.music.tokens` apply; a short bar simply never gets an event past its end. Each
stage is generated in windows of ``window`` bars; the next window restarts ``context`` bars
before the end of the last, with those bars given as the prompt (the sliding-window habit of
:mod:`vidscore.modules.sampling`). Sampling follows the token grammar:

* every stage: positions move forward inside the bar, a new bar token closes it; EOS and PAD
  are never drawn;
* chord: a position is followed by one chord; on the first bar and on a bar that opens on a cut
  or marker the chord comes at position 0 and differs from the chord before (the cut rule every
  vidscore system keeps);
* chord, last bar (of two or more): the tonic of the mode the chords so far read as, at
  position 0 and held to the end, so the piece ends resolved (the shared arrangement's rule);
  unless that bar opens on a cut right after the tonic, where the cut's change comes first
  (``Sampling.resolve_end``; off to write a piece's opening bars, as the benchmark compares);
* melody: one note per position (a melody is monophonic), each cut where the next one starts;
* accompaniment: up to ``max_voices`` distinct pitches per position (one more for the
  ablations that write every note, melody included);
* melody and accompaniment: no bar left empty. POP909 songs open with instrumental intros, so
  the models learnt that a piece's first bars often have no melody; a clip of a few seconds is
  all "first bars", and without this rule some short clips came out without any melody.

:func:`write_parts` runs the chain (``full``) or one of the paper's Table 2 ablations
(``music``: chords then every note; ``direct``: every note from the controller).

Temperature and nucleus sampling as the paper (its reference [19]); classifier-free guidance
against the null condition (``guidance`` > 1) since the stages trained with 20% of it.
"""

from __future__ import annotations

import numpy as np
import torch

from vidscore.music.chords import NO_CHORD, SYMMV, Chord, ChordSpan
from vidscore.music.key import mode_of
from vidscore.music.score import Note
from vidscore.music.tokens import CHORD, FIELDS, NOTE, RHYTHM, STEPS_PER_BEAT, bin_velocity
from vidscore.music.tokens import tempo_class as tempo_class_of
from vidscore.systems.common.bars import BarLayout
from vidscore.systems.vmusprod.model import (
    ABLATIONS,
    CONTROLLED,
    ChordTransformer,
    PartTransformer,
)
from vidscore.systems.vmusprod.sampling import Sampling
from vidscore.systems.vmusprod.windows import (
    WIDTH,
    crop_chords,
    crop_notes,
    padded,
    stream_rows,
    timing_rows,
    tokens_of,
)

BAR = 4 * STEPS_PER_BEAT  # 16ths per model bar
#: stages that write several notes per position
POLYPHONIC = ("accompaniment", "music", "direct")
#: write_parts' chains: V-MusProd's, and the two ablations of the paper's Table 2
VARIANTS = {
    "full": ("chord", "melody", "accompaniment"),
    "music": ("chord", "music"),
    "direct": ("direct",),
}


class _Grammar:
    """What may come next in one stage's token stream (see the module docstring)."""

    def __init__(
        self, stage: str, layout: BarLayout, first_bar: int, s: Sampling,
        written: list[tuple[float, Chord]],
    ) -> None:  # fmt: skip
        self.stage, self.layout, self.first_bar = stage, layout, first_bar
        self.resolve_end = s.resolve_end
        self.max_voices = s.max_voices + (stage in ABLATIONS)  # the ablations carry the melody
        self.bar = -1  # window-relative bar of the last bar token
        self.pos = -1  # 16th of the last position token in the bar (-1: none yet)
        self.last_type = 0
        self.pitches: set[int] = set()  # pitches at the current position
        self.prev_chord: tuple[int, int] | None = None
        self.written = written  # the chords so far (the sampler's list, growing)
        self.chord_in_bar = False
        self.resolve = False  # in the chord stage's last bar, which holds the tonic

    def absolute(self) -> int:
        return self.first_bar + self.bar

    def forced_anchor(self) -> bool:
        a = self.absolute()
        return self.stage == "chord" and (a == 0 or self.layout.anchors[a])

    def tonic(self) -> tuple[int, int]:
        """The tonic chord's (root, quality) tokens: C major or A minor, as the chords read."""
        minor = mode_of(c for _, c in self.written) == "minor"
        return _root_quality(Chord(9, "min") if minor else Chord(0, "maj"))

    def types(self) -> list[int]:
        if self.bar < 0:
            return [RHYTHM]
        if self.resolve and self.pos < 0:
            return [RHYTHM]
        if self.last_type == RHYTHM and self.pos >= 0:
            return [CHORD] if self.stage == "chord" else [NOTE]
        if self.forced_anchor() and self.pos < 0:
            return [RHYTHM]
        if self.last_type == NOTE and self.stage in POLYPHONIC:
            return [NOTE, RHYTHM] if len(self.pitches) < self.max_voices else [RHYTHM]
        return [RHYTHM]

    def barbeats(self) -> list[int]:
        """Allowed BarBeat values: 1 (next bar) or 2 + a later 16th inside this bar."""
        if self.bar < 0:
            return [1]
        if (self.forced_anchor() or self.resolve) and self.pos < 0:
            return [2]
        if self.resolve and self.chord_in_bar:
            return [1]  # the tonic holds to the end
        length = self.layout.lengths[self.absolute()] * STEPS_PER_BEAT
        later = [2 + p for p in range(self.pos + 1, length)]
        if self.stage != "chord" and self.pos < 0:
            return later  # a part never leaves a whole bar empty
        return [1, *later]

    def push(self, token: list[int]) -> None:
        kind = token[0]
        if kind == RHYTHM:
            if token[1] == 1:
                self.bar += 1
                self.pos = -1
                self.chord_in_bar = False
                a, last = self.absolute(), self.layout.n_bars - 1
                self.resolve = (
                    self.resolve_end and self.stage == "chord" and last > 0 and a == last
                    and not (self.layout.anchors[a] and self.prev_chord == self.tonic())
                )  # fmt: skip
            else:
                self.pos = token[1] - 2
            self.pitches = set()
        elif kind == CHORD:
            self.prev_chord = (token[4], token[5])
            self.chord_in_bar = True
        elif kind == NOTE:
            self.pitches.add(token[2])
        self.last_type = kind


def _masked(logits: torch.Tensor, allowed: list[int]) -> torch.Tensor:
    out = torch.full_like(logits, float("-inf"))
    out[allowed] = logits[allowed]
    return out


def _draw(logits: torch.Tensor, s: Sampling, gen: torch.Generator) -> int:
    from vidscore.modules.sampling import nucleus_sample

    return nucleus_sample(logits, temperature=s.temperature, top_p=s.top_p, generator=gen)


class StageSampler:
    """Generates one stage over a :class:`BarLayout` (window by window)."""

    def __init__(self, model: ChordTransformer | PartTransformer, stage: str) -> None:
        self.model, self.stage = model, stage

    def _inputs(
        self, toks: list[list[int]], idx: list[list[int]], layout: BarLayout, first_bar: int,
        cond: np.ndarray | None,
    ) -> dict:  # fmt: skip
        tokens = np.array(toks, dtype=np.int64).reshape(-1, WIDTH)
        indices = np.array(idx, dtype=np.int64).reshape(-1, 3)
        beats = first_bar * 4 + indices[:, 0] * 4 + indices[:, 1]
        timing = timing_rows(beats, cond, layout.real_beat(beats) / max(1, layout.total_beats))
        return {
            "tokens": torch.from_numpy(tokens)[None],
            "indices": torch.from_numpy(indices)[None],
            "timing": torch.from_numpy(timing)[None],
            "pad": torch.zeros(1, len(tokens), dtype=torch.bool),
        }

    @torch.no_grad()
    def _hidden(self, batch: dict, memory: torch.Tensor | None) -> torch.Tensor:
        if isinstance(self.model, PartTransformer):
            return self.model.hidden(batch, memory)[0, -1]
        return self.model.hidden(batch)[0, -1]

    def _context(
        self, first: int, bars: int, cond, src, video: dict[str, np.ndarray]
    ) -> tuple[dict, torch.Tensor | None]:
        """The window's controller streams (chord) or encoded source tokens (parts)."""
        if self.stage in CONTROLLED:
            lo, hi = first * 4, (first + bars) * 4
            streams = {"curves": stream_rows(None if cond is None else cond[lo:hi], hi - lo)}
            for name in video:  # the paired streams, zeroed with the curves when null
                streams[name] = video[name][lo:hi] * (0.0 if cond is None else 1.0)
            extra = {
                "streams": {k: torch.from_numpy(v).float()[None] for k, v in streams.items()},
                "stream_masks": {k: torch.zeros(1, hi - lo, dtype=torch.bool) for k in streams},
            }
            return extra, None
        st, si = src
        extra = {
            "src_tokens": padded([st], len(st)),
            "src_indices": padded([si], len(si)),
            "src_pad": torch.zeros(1, len(st), dtype=torch.bool),
        }
        return extra, self.model.encode(extra)

    @torch.no_grad()
    def generate(
        self,
        layout: BarLayout,
        s: Sampling,
        seed: int,
        *,
        source: tuple[list[Note], list[ChordSpan]] | None = None,
    ) -> tuple[list[Note], list[ChordSpan]]:
        """Notes and chord spans in model beats for every bar of ``layout``; ``source`` is
        what the earlier stages wrote (melody and chords), in model beats."""
        gen = torch.Generator().manual_seed(seed)
        tc = tempo_class_of(layout.tempo)
        cond = layout.model_cond()
        video = {}
        if self.stage in CONTROLLED:
            wanted = list(self.model.cfg.video_dims)
            if set(wanted) - set(layout.video):
                raise ValueError(f"these weights read paired video streams: {', '.join(wanted)}")
            video = {k: v for k, v in layout.model_video().items() if k in wanted}
        notes: list[Note] = []
        chords: list[tuple[float, Chord]] = []
        first = 0
        while True:
            bars = min(s.window, layout.n_bars - first)
            done = 0 if first == 0 else min(s.context, bars - 1)
            lo, hi = first * 4, (first + bars) * 4
            src = None
            if source is not None:
                s_notes, s_chords = source
                src = tokens_of(crop_notes(s_notes, lo, hi), crop_chords(s_chords, lo, hi), bars,
                                layout.tempo)  # fmt: skip
            extra, memory = self._context(first, bars, cond, src, video)
            grammar = _Grammar(self.stage, layout, first, s, chords)
            toks: list[list[int]] = [[0] * WIDTH]
            idx: list[list[int]] = [[0, 0, tc]]
            if done:  # the prompt: the last bars the previous window wrote, then a bar line
                cut = lo + done * 4
                p_toks, p_idx = tokens_of(
                    crop_notes([n for n in notes if n.start < cut], lo, cut),
                    crop_chords(_spans(chords, hi), lo, cut), done, layout.tempo,
                )  # fmt: skip
                for t, i in zip(p_toks.tolist(), p_idx.tolist(), strict=True):
                    grammar.push(t)
                    toks.append(t)
                    idx.append(i)
                before = [c for t, c in chords if t < cut]
                grammar.prev_chord = _root_quality(before[-1]) if before else None
                toks.append([RHYTHM, 1, 0, 0, 0, 0, 0])
                grammar.push(toks[-1])
                idx.append([grammar.bar, 0, tc])
            while True:
                tok = self._next(toks, idx, grammar, layout, first, cond, memory, extra, s, gen)
                if tok[0] == RHYTHM and tok[1] == 1 and grammar.bar + 1 >= bars:
                    break  # the window's last bar is complete
                grammar.push(tok)
                toks.append(tok)
                idx.append([grammar.bar, max(grammar.pos, 0) // STEPS_PER_BEAT, tc])
                at = (first + grammar.bar) * 4 + max(grammar.pos, 0) / STEPS_PER_BEAT
                if tok[0] == NOTE:
                    vel = bin_velocity(tok[6]) if tok[6] > 0 else 80
                    notes.append(Note(at, at + tok[3] / STEPS_PER_BEAT, tok[2] - 1, vel))
                elif tok[0] == CHORD:
                    chords.append((at, _chord(tok)))
            if first + bars >= layout.n_bars:
                break
            first += bars - s.context if bars > s.context else bars
        return sorted(notes), _spans(chords, layout.n_bars * 4)

    def _next(self, toks, idx, grammar, layout, first, cond, memory, extra, s, gen) -> list[int]:
        """One token (its 7 attributes) sampled under the grammar."""
        h = self._hidden({**self._inputs(toks, idx, layout, first, cond), **extra}, memory)
        h_null = None
        if s.guidance != 1.0:
            null = {**self._inputs(toks, idx, layout, first, None), **extra}
            if "streams" in extra:
                null["streams"] = {k: torch.zeros_like(v) for k, v in extra["streams"].items()}
            h_null = self._hidden(null, memory)
        heads = self.model.heads

        def logits(fn) -> torch.Tensor:
            out = fn(h)
            if h_null is not None:
                base = fn(h_null)
                out = base + s.guidance * (out - base)
            return out

        kind = _draw(_masked(logits(heads.type_head), grammar.types()), s, gen)
        tok = [0] * WIDTH
        tok[0] = kind
        kind_e = heads.type_embed(torch.tensor(kind))

        def attr(name: str, allowed: list[int]) -> int:
            head = heads.attrs[FIELDS.index(name) - 1]
            raw = logits(lambda x: head(torch.cat([x, kind_e])))
            return _draw(_masked(raw, allowed), s, gen)

        if kind == RHYTHM:
            tok[1] = attr("barbeat", grammar.barbeats())
        elif kind == CHORD and grammar.resolve:
            tok[4], tok[5] = grammar.tonic()
        elif kind == CHORD:
            root = attr("root", list(range(1, 13)))
            qualities = list(range(1, len(SYMMV.qualities) + 1))
            prev = grammar.prev_chord
            if (
                grammar.forced_anchor()
                and grammar.pos == 0
                and prev is not None
                and prev[0] == root
            ):
                qualities = [q for q in qualities if q != prev[1]]
            tok[4], tok[5] = root, attr("quality", qualities)
        else:
            tok[2] = attr("pitch", [p for p in range(22, 110) if p not in grammar.pitches])
            tok[3] = attr("duration", list(range(1, 65)))
            tok[6] = attr("velocity", list(range(1, 9)))
        return tok


def _chord(tok: list[int]) -> Chord:
    root, quality = tok[4] - 1, tok[5] - 1
    return NO_CHORD if root == 12 else Chord(root, SYMMV.qualities[quality])


def _root_quality(chord: Chord) -> tuple[int, int]:
    r, q = SYMMV.root_quality(chord)
    return r + 1, q + 1


def _spans(chords: list[tuple[float, Chord]], end: float) -> list[ChordSpan]:
    """Chord onsets (model beats) -> spans, each lasting to the next onset or ``end``."""
    chords = sorted(chords, key=lambda x: x[0])
    out = []
    for k, (t, c) in enumerate(chords):
        nxt = chords[k + 1][0] if k + 1 < len(chords) else end
        if nxt > t:
            out.append(ChordSpan(t, nxt, c))
    return out


def write_parts(
    models: dict, layout: BarLayout, s: Sampling, seed: int, variant: str = "full"
) -> tuple[list[ChordSpan], list[Note], list[Note]]:
    """V-MusProd's chain in model beats: chords, a melody over them (made monophonic), an
    accompaniment over both; each stage seeded apart. The ablations (``variant`` "music" or
    "direct", :data:`VARIANTS`) return no melody and every note as the accompaniment, and
    "direct" no chords."""
    missing = [st for st in VARIANTS[variant] if st not in models]
    if missing:
        raise ValueError(f"variant {variant!r} needs the {', '.join(missing)} stage(s)")
    if variant == "direct":
        every, _ = StageSampler(models["direct"], "direct").generate(layout, s, seed)
        return [], [], every
    _, chords = StageSampler(models["chord"], "chord").generate(layout, s, seed)
    if variant == "music":
        every, _ = StageSampler(models["music"], "music").generate(
            layout, s, seed + 1, source=([], chords)
        )
        return chords, [], every
    melody, _ = StageSampler(models["melody"], "melody").generate(
        layout, s, seed + 1, source=([], chords)
    )
    melody = monophonic(melody)
    accomp, _ = StageSampler(models["accompaniment"], "accompaniment").generate(
        layout, s, seed + 2, source=(melody, chords)
    )
    return chords, melody, accomp


def monophonic(notes: list[Note]) -> list[Note]:
    """Each note cut where the next starts (one sounding note at a time)."""
    notes = sorted(notes)
    out = []
    for k, n in enumerate(notes):
        end = min(n.end, notes[k + 1].start) if k + 1 < len(notes) else n.end
        if end > n.start:
            out.append(Note(n.start, end, n.pitch, n.velocity))
    return out
