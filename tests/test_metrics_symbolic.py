"""Symbolic metrics: ours against muspy's on the same notes of real POP909 and SymMV files."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tests.conftest import SHARED
from vidscore.metrics.symbolic import (
    all_metrics,
    empty_beat_rate,
    groove_consistency,
    grooving_pattern_similarity,
    inter_onset_interval,
    pitch_class_entropy,
    pitch_class_histogram_entropy,
    pitch_entropy,
    scale_consistency,
)
from vidscore.music.score import Note, Score, Track

pytestmark = pytest.mark.shared
muspy = pytest.importorskip("muspy")

FILES = [
    SHARED / "data" / "POP909" / "001" / "001.mid",
    SHARED / "data" / "POP909" / "250" / "250.mid",
    SHARED / "data" / "SymMV-sample" / "midi" / "00003.mid",
]


def from_muspy(m) -> tuple[Score, int]:
    """The very notes muspy parsed, as our Score (beats = ticks / resolution)."""
    tracks = [
        Track(
            t.name or f"t{i}",
            sorted(
                Note(n.time / m.resolution, n.end / m.resolution, n.pitch, n.velocity)
                for n in t.notes
            ),
            t.program,
            t.is_drum,
        )
        for i, t in enumerate(m.tracks)
    ]
    ts = m.time_signatures[0] if m.time_signatures else None
    sig = (ts.numerator, ts.denominator) if ts else (4, 4)
    return Score(tracks, [(0.0, 120.0)], sig), m.resolution


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_matches_muspy(path):
    m = muspy.read_midi(path)
    for t in m.tracks:  # muspy's piece length also counts lyric / marker events; ours is notes
        t.lyrics, t.annotations, t.chords = [], [], []
    score, res = from_muspy(m)
    bar = int(score.beats_per_bar * res)
    assert scale_consistency(score) == pytest.approx(muspy.scale_consistency(m))
    assert pitch_entropy(score) == pytest.approx(muspy.pitch_entropy(m))
    assert pitch_class_entropy(score) == pytest.approx(muspy.pitch_class_entropy(m))
    assert empty_beat_rate(score) == pytest.approx(muspy.empty_beat_rate(m))
    assert groove_consistency(score, res) == pytest.approx(muspy.groove_consistency(m, bar))


def test_metrics_on_constructed_music():
    # a C major scale, one note per beat at 120 BPM, then four silent beats, then one note
    notes = [Note(i, i + 1, p) for i, p in enumerate([60, 62, 64, 65, 67, 69, 71, 72])]
    notes.append(Note(12, 13, 60))
    s = Score([Track("p", notes)], [(0.0, 120.0)], (4, 4))
    assert scale_consistency(s) == 1.0
    assert pitch_class_entropy(s) == pytest.approx(
        -sum(p * math.log2(p) for p in [3 / 9] + [1 / 9] * 6)
    )  # C three times, six others once
    assert empty_beat_rate(s) == pytest.approx(3 / 14)  # beats 9-11 empty of 0..13
    ioi = np.diff([0, 1, 2, 3, 4, 5, 6, 7, 12]) * 0.5
    assert inter_onset_interval(s) == pytest.approx(ioi.mean())
    # bars 1-2 have an onset on every beat, bar 3 none, bar 4 one on its downbeat
    assert groove_consistency(s, 4) == pytest.approx(1 - (0 + 4 + 1) / (16 * 3))
    # one 8-bar window holds every note: PCHE is the piece's pitch-class entropy; bars 1-2 share a
    # groove, bar 3 is empty, bar 4 has one onset: GPS over the 6 pairs at 16 positions a bar
    assert pitch_class_histogram_entropy(s) == pytest.approx(pitch_class_entropy(s))
    gps = 1 - np.array([0, 4, 3, 4, 3, 1]) / 16
    assert grooving_pattern_similarity(s) == pytest.approx(gps.mean())
    empty = Score([Track("p", [])])
    assert all(math.isnan(v) for v in all_metrics(empty).values())
