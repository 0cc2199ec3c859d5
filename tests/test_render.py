"""Slot planning on cuts, voicing, arrangement, SoundFont rendering and muxing."""

from __future__ import annotations

import itertools

import av
import numpy as np
import pytest

from tests.conftest import CLIPS, tone_spool
from vidscore.audio.synth import SAMPLE_RATE, fade_seconds, finish, render_midi
from vidscore.music.chords import Chord, parse_harte
from vidscore.music.midi import write_midi
from vidscore.soundtrack import Timeline
from vidscore.systems.common.arrange import PRESETS, arrange, upper_voicing
from vidscore.systems.common.timeplan import plan
from vidscore.video.io import probe
from vidscore.video.mux import mux, picture_plan

pytestmark = pytest.mark.shared


def test_plan_puts_a_slot_boundary_and_downbeat_on_every_reachable_cut():
    cuts = list(np.cumsum([2.4, 3.1, 4.0, 2.2, 3.6, 2.8, 5.0, 2.5]))[:-1]
    tp = plan(30.0, cuts, 110)
    slots = tp.slots
    assert tp.aligned_cuts == cuts
    starts = {round(s.start, 6): s for s in slots}
    for c in cuts:
        s = starts[round(c, 6)]
        assert s.downbeat and s.at_cut
    for s in slots[:-1]:
        assert 0.9 * 60 / 110 - 1e-9 <= s.seconds_per_beat <= 1.1 * 60 / 110 + 1e-9
    assert slots[0].start == 0 and slots[-1].end == 30.0
    assert all(a.end == pytest.approx(b.start) for a, b in itertools.pairwise(slots))


def test_no_bar_of_one_beat_unless_two_anchors_are_one_beat_apart():
    """bikes' cuts left one-beat bars (4 + 1) before two of its cuts; a beat left over now makes
    the last two bars 3 + 2, and the bar lengths still sum to each gap's beats."""
    from vidscore.systems.common.timeplan import bar_lengths

    assert bar_lengths(5) == [3, 2] and bar_lengths(9) == [4, 3, 2] and bar_lengths(1) == [1]
    assert bar_lengths(6) == [4, 2] and bar_lengths(8) == [4, 4] and bar_lengths(7) == [4, 3]
    for n in range(1, 40):
        assert sum(bar_lengths(n)) == n and (n == 1 or 1 not in bar_lengths(n))
    cuts = [1.2, 3.03, 5.5, 7.5, 9.7]  # about bikes.mp4's cuts: the old plan made 4 + 1 twice
    tp = plan(10.0, cuts, 119)
    beats = [s.beats for s in tp.slots]
    bars, current = [], 0
    for slot, n in zip(tp.slots, beats, strict=True):
        if slot.downbeat and current:
            bars.append(current)
            current = 0
        current += n
    bars.append(current)
    assert 1 not in bars, bars
    assert set(tp.aligned_cuts) <= set(tp.downbeats)


def test_plan_skips_cuts_it_cannot_reach():
    aligned = plan(10.0, [0.2, 4.0, 4.3, 9.9], 120).aligned_cuts
    # 0.2 is too close to the start, 9.9 to the end; of 4.0 and 4.3 (too close to both be
    # reached) the one opening the long scene wins
    assert aligned == [4.3]
    assert plan(10.0, [4.0], 120).aligned_cuts == [4.0]


def test_a_marker_at_a_rounded_cut_time_is_that_cut_and_unplaceable_markers_are_reported():
    tp = plan(10.0, [4.0333333], 110, markers=(4.03,))
    assert tp.aligned_cuts == [4.0333333] and tp.dropped_markers == []
    tp = plan(10.0, [], 110, markers=(4.0, 4.2, 9.9))
    assert tp.anchors == [4.2] and tp.dropped_markers == [4.0, 9.9]


def test_a_cut_on_the_last_slot_keeps_its_chord_change():
    # one slot after the cut at 9.0; the chord before it is the tonic, so resolving the last
    # slot to the tonic would erase the cut's change
    tp = plan(10.0, [9.0], 120)
    assert tp.slots[-1].at_cut
    chords = [Chord(9, "min")] * (len(tp.slots) - 1) + [Chord(5, "maj")]
    score = arrange(
        tp.slots,
        chords,
        density=np.zeros(len(tp.slots)),
        loudness=np.full(len(tp.slots), 0.5),
        preset="piano",
        tonic=Chord(9, "min"),
    )
    changes = Timeline.from_score(score, duration=10.0, downbeats=[], aligned_cuts=[9.0])
    assert any(abs(c - 9.0) < 1e-6 for c in changes.chord_changes())


def test_a_marker_outweighs_the_cuts_near_it():
    # the marker at 4.2 and the cut at 4.0 cannot both be reached: the marker wins; a marker
    # is an anchor (bar line, chord change) but not a cut
    tp = plan(10.0, [4.0, 7.0], 120, markers=(4.2,))
    assert tp.anchors == [4.2, 7.0] and tp.aligned_cuts == [7.0]
    slot = next(s for s in tp.slots if abs(s.start - 4.2) < 1e-9)
    assert slot.downbeat and slot.at_cut
    assert plan(10.0, [4.0, 7.0], 120).anchors == [4.0, 7.0]


def test_voice_leading_moves_little():
    c, am, f = parse_harte("C"), parse_harte("A:min"), parse_harte("F")
    v1 = upper_voicing(c, None)
    v2 = upper_voicing(am, v1)
    v3 = upper_voicing(f, v2)
    for a, b in ((v1, v2), (v2, v3)):
        assert sum(abs(x - y) for x, y in zip(sorted(a), sorted(b), strict=True)) <= 4
    assert sorted(p % 12 for p in v2) == [0, 4, 9]


@pytest.mark.parametrize("preset", list(PRESETS))
def test_arrangement_follows_density_and_resolves(preset):
    slots = plan(12.0, [4.0, 8.0], 120).slots
    chords = [
        parse_harte(x)
        for x in ["C", "A:min", "F", "G", "C", "E:min", "F", "G:7", "C", "A:min", "D:min", "G"]
    ][: len(slots)]
    sparse = arrange(
        slots,
        chords,
        density=np.zeros(len(slots)),
        loudness=np.full(len(slots), 0.5),
        preset=preset,
        tonic=Chord(0, "maj"),
    )
    busy = arrange(
        slots,
        chords,
        density=np.full(len(slots), 1.2),
        loudness=np.full(len(slots), 0.5),
        preset=preset,
        tonic=Chord(0, "maj"),
    )
    assert [t.name for t in sparse.tracks] == list(PRESETS[preset])
    assert len(busy.track("piano").notes) > 2 * len(sparse.track("piano").notes)
    assert sparse.chords[-1].chord == Chord(0, "maj")
    changes = Timeline.from_score(
        busy, duration=12.0, downbeats=[], aligned_cuts=[4.0, 8.0]
    ).chord_changes()
    assert any(abs(c - 4.0) < 1e-6 for c in changes) and any(abs(c - 8.0) < 1e-6 for c in changes)
    loud = arrange(
        slots,
        chords,
        density=np.zeros(len(slots)),
        loudness=np.ones(len(slots)),
        preset=preset,
        tonic=Chord(0, "maj"),
    )
    assert np.mean([n.velocity for n in loud.notes()]) > np.mean(
        [n.velocity for n in sparse.notes()]
    )


def test_the_ending_and_the_entry_follow_the_picture():
    # the last slot is the tonic either way; calm there, it rings held past the clip's end;
    # busy there, it keeps moving like the slots before it. The first slot is as loud as the
    # picture asks (no velocity fade-in written into the score).
    slots = plan(8.0, [], 120).slots
    chords = [parse_harte(x) for x in ["C", "A:min", "F", "G"] * 2][: len(slots)]

    def with_last(level: float):
        density = np.full(len(slots), 1.2)
        density[-1] = level
        return arrange(slots, chords, density=density, loudness=np.full(len(slots), 0.6),
                       preset="band", tonic=Chord(0, "maj"))  # fmt: skip

    calm, busy = with_last(0.0), with_last(1.2)
    start = calm.chords[-1].start
    for score in (calm, busy):
        assert score.chords[-1].chord == Chord(0, "maj")
    held = [n for n in calm.track("piano").notes if n.start >= start]
    assert held and min(n.end for n in held) > calm.chords[-1].end  # rings past the last slot
    assert not [n for n in calm.track("drums").notes if n.start >= start]
    moving = [n for n in busy.track("piano").notes if n.start >= start]
    assert len({n.start for n in moving}) > 4 and busy.track("drums").notes[-1].start >= start
    first = [n.velocity for n in busy.track("piano").notes if n.start < busy.chords[1].start]
    middle = [n.velocity for n in busy.track("piano").notes
              if busy.chords[2].start <= n.start < busy.chords[3].start]  # fmt: skip
    assert max(first) >= max(middle) - 8  # the downbeat accent, no fade


def test_fades_scale_with_the_clip():
    assert fade_seconds(60.0) == (0.5, 2.0)
    fade_in, fade_out = fade_seconds(4.0)
    assert fade_in <= 0.2 and fade_out <= 0.5  # a 4 s clip is not half fade
    y = finish(np.ones(4 * SAMPLE_RATE, dtype=np.float32), sample_rate=SAMPLE_RATE, duration=4.0)
    assert y[int(3.4 * SAMPLE_RATE)] == pytest.approx(y.max())  # full level 0.6 s from the end
    assert y[-1] < 0.01


def test_synth_renders_sound(tmp_path):
    slots = plan(4.0, [], 120).slots
    score = arrange(
        slots,
        [parse_harte("C")] * len(slots),
        density=np.full(len(slots), 0.5),
        loudness=np.full(len(slots), 0.6),
        preset="band",
        tonic=Chord(0, "maj"),
    )
    write_midi(score, tmp_path / "s.mid")
    for backend in ("fluidsynth", "midirenderer"):
        if backend == "fluidsynth":
            pytest.importorskip("fluidsynth")
        audio = render_midi(tmp_path / "s.mid", backend=backend)
        assert np.sqrt(np.mean(audio**2)) > 1e-3
        y = finish(audio, sample_rate=SAMPLE_RATE, duration=4.0)
        assert len(y) == 4 * SAMPLE_RATE and np.abs(y).max() == pytest.approx(10 ** (-1 / 20))
        assert np.abs(y[-100:]).max() < 0.01  # faded out


@pytest.mark.parametrize("clip", ["bigbuckbunny", "bikes"])
def test_mux_copies_the_picture_and_matches_length(tmp_path, clip):
    src = CLIPS[clip]
    info = probe(src)
    t = np.arange(int(SAMPLE_RATE * info.duration)) / SAMPLE_RATE
    music = tone_spool(tmp_path / "m.f32", 0.3 * np.sin(2 * np.pi * 440 * t))
    out = tmp_path / "out.mp4"
    assert picture_plan(src, out) == "copy"
    mux(src, music, out, info=info)
    with av.open(str(src)) as a, av.open(str(out)) as b:
        pa = [bytes(p) for p in a.demux(a.streams.video[0]) if p.size]
        pb = [bytes(p) for p in b.demux(b.streams.video[0]) if p.size]
        assert pa == pb  # the picture is copied bit for bit
        audio = b.streams.audio[0]
        assert audio.codec_context.name == "aac"
    out_info = probe(out)
    assert abs(out_info.duration - info.duration) <= 1 / info.fps + 1e-6
