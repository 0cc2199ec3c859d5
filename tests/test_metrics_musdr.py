"""Wu & Yang's PCHE, GPS and SI against figures their MusDr code printed on the same inputs.

The MusDr figures come from github.com/slSeanWU/MusDr at b034cf8, run by
``benchmarks/musdr_check.py --musdr PATH`` (POP909) and on the signal :func:`sections` builds
(written as a 16-bit WAV, scored by MusDr's ``run_python_scapeplot`` pipeline).
"""

from __future__ import annotations

import numpy as np
import pytest

from tests.conftest import SHARED
from vidscore.metrics.musdr import (
    grooving_pattern_similarity,
    pitch_class_histogram_entropy,
    structureness,
)
from vidscore.music.score import Note, Score, Track

CHORDS = {
    "A": [(60, 64, 67), (57, 60, 64), (65, 69, 72), (67, 71, 74)],
    "B": [(62, 65, 69), (64, 67, 71), (60, 64, 67), (67, 71, 74)],
    "C": [(58, 62, 65), (63, 67, 70), (56, 60, 63), (61, 65, 68)],
}


def sections(form: str, rate: int = 22050) -> np.ndarray:
    """Sections of four 1 s sine triads in ``form`` order, at 16-bit WAV levels."""
    t = np.arange(rate) / rate
    parts = [
        sum(np.sin(2 * np.pi * 440 * 2 ** ((p - 69) / 12) * t) for p in chord) / 4
        for name in form
        for chord in CHORDS[name]
    ]
    return (np.round(np.concatenate(parts) * 32767).astype(np.int16) / 32768).astype(np.float32)


@pytest.mark.shared
def test_pche_and_gps_equal_musdr_on_a_pop909_song():
    from vidscore.data.pop909 import songs

    song = songs(SHARED / "data" / "POP909", split="test")[0]
    score = song.score
    end = 32 * score.beats_per_bar  # its first 32 bars (of 2/4, as its MIDI file says)
    tracks = [Track(t.name, [n for n in t.notes if n.start < end], t.program, t.is_drum)
              for t in score.tracks]  # fmt: skip
    excerpt = Score(tracks, score.tempos, score.time_signature)
    assert song.song_id == "001"
    # MusDr: H1 1.9579, H4 2.5995, GS 0.9326 (64 positions a bar, all 496 pairs)
    assert pitch_class_histogram_entropy(excerpt, bars=1) == pytest.approx(1.9579, abs=1e-4)
    assert pitch_class_histogram_entropy(excerpt, bars=4) == pytest.approx(2.5995, abs=1e-4)
    gps = grooving_pattern_similarity(excerpt, positions=64, max_pairs=10**6)
    assert gps == pytest.approx(0.9326, abs=1e-4)


def test_si_equals_musdr_and_finds_repetition():
    si = structureness(sections("ABABCABAB"), 22050)
    # MusDr on the same samples: 0.36198, 0.45071, 0.47234
    assert si["short"] == pytest.approx(0.36198, abs=1e-4)
    assert si["mid"] == pytest.approx(0.45071, abs=1e-4)
    assert si["long"] == pytest.approx(0.47234, abs=1e-4)
    # the same 36 chords with nothing repeated score lower at every scale
    chords = [c for name in "ABC" for c in CHORDS[name]]
    rng = np.random.default_rng(0)
    CHORDS["X"] = [tuple(p + int(rng.integers(-5, 6)) for p in chords[i % 12]) for i in range(36)]
    try:
        unrepeated = structureness(sections("X"), 22050)
    finally:
        del CHORDS["X"]
    assert all(unrepeated[k] < si[k] for k in si)


def test_gps_is_one_for_a_steady_groove_and_pche_zero_for_one_pitch_class():
    steady = Score([Track("p", [Note(b + o, b + o + 0.25, 60 + 12 * (b % 2))
                                for b in range(0, 32, 4) for o in (0, 1.5, 2, 3)])])  # fmt: skip
    assert grooving_pattern_similarity(steady) == 1.0
    assert pitch_class_histogram_entropy(steady) == 0.0
    broken = Score([Track("p", [*steady.tracks[0].notes, Note(5.25, 5.5, 62)])])
    assert grooving_pattern_similarity(broken) < 1.0
    assert pitch_class_histogram_entropy(broken, bars=1) > 0.0
