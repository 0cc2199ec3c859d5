"""The control contract: one scale from music and from video, and models that listen to it."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import spearmanr

from tests.conftest import CLIPS, SHARED
from vidscore.curves.contract import CURVES, Calibration, CurveSet, rank01
from vidscore.curves.music import beat_grid, raw_curves, score_curves
from vidscore.music.chords import parse_harte
from vidscore.music.score import Note, Score, Track


def test_rank_normalisation_is_a_quantile_and_ties_sit_in_the_middle():
    assert rank01(np.array([3.0, 1.0, 2.0])) == pytest.approx([5 / 6, 1 / 6, 3 / 6])
    assert rank01(np.full(7, 4.2)) == pytest.approx(np.full(7, 0.5))
    raw = np.zeros((1000, len(CURVES)))
    raw[:, 0] = np.arange(1000)
    cal = Calibration.fit(raw)
    got = cal.apply(np.array([[-5, 0, 0, 0, 0, 0], [250, 0, 0, 0, 0, 0], [10**6, 0, 1, 0, 0, 0]]))
    assert got[:, 0] == pytest.approx([0.0, 0.25, 1.0], abs=0.01)
    assert got[1, 1] == pytest.approx(0.5)  # a curve constant in the corpus: the middle
    assert got[:, CURVES.index("boundary")].tolist() == [0, 0, 1]  # events pass through
    assert Calibration.from_dict(cal.to_dict()).quantiles == cal.quantiles


def _score() -> Score:
    """Bar 1: one held C major chord, soft and low; bar 2: sixteen loud high notes in A minor."""
    calm = [Note(0, 4, p, 40) for p in (48, 52, 55)]
    busy = [Note(4 + i / 4, 4 + (i + 1) / 4, 81 + (i % 3) * 3, 110) for i in range(16)]
    return Score([Track("piano", calm + busy)], [(0.0, 120.0)], chords=[])


def test_music_curves_measure_what_they_name():
    score = _score()
    starts, ends = beat_grid(score)
    assert len(starts) == 8 and starts[1] == pytest.approx(0.5)
    chords = [parse_harte("C")] * 4 + [parse_harte("A:min")] * 4
    raw = raw_curves(score, starts, ends, chords=chords, mode="major", boundaries=[2.0])
    col = {name: raw[:, k] for k, name in enumerate(CURVES)}
    assert col["activity"][0] == pytest.approx(3 / 0.5) and col["activity"][1] == 0
    assert col["activity"][4] == pytest.approx(4 / 0.5)
    assert col["intensity"][5] > col["intensity"][1]  # loud beats are more intense
    assert col["register"][1] == pytest.approx(np.mean([48, 52, 55]))  # carried while held
    assert col["register"][6] > 80
    assert col["valence"][0] > col["valence"][5]  # major chord brighter than minor
    assert col["boundary"].tolist() == [0, 0, 0, 0, 1, 0, 0, 0]
    assert col["accent"][4] > col["accent"][2] == 0  # an attack on the beat vs none


def test_curve_sets_merge_into_steps_and_seconds():
    values = np.zeros((4, len(CURVES)))
    values[:, 0] = [0.1, 0.3, 0.5, 0.9]
    values[2, CURVES.index("boundary")] = 1
    cs = CurveSet(np.arange(4) * 0.5, np.arange(1, 5) * 0.5, values)
    steps = cs.group([2, 2])
    assert steps["activity"] == pytest.approx([0.2, 0.7])
    assert steps["boundary"].tolist() == [0, 1]
    assert steps.starts.tolist() == [0.0, 1.0] and steps.ends.tolist() == [1.0, 2.0]
    assert cs.per_second(2.0)[:, 0] == pytest.approx([0.3, 0.9])  # at 0.5 s and 1.5 s
    assert sorted(cs.shuffled(1)["activity"]) == sorted(cs["activity"])
    with pytest.raises(ValueError):
        cs.group([3, 2])


def test_arranged_music_measures_back_the_density_and_loudness_it_was_asked_for():
    """The arrangement the learnt systems hand their density and loudness to: more asked, more
    measured (activity from the onsets, intensity from velocity and voices)."""
    from vidscore.music.chords import Chord
    from vidscore.systems.common.arrange import arrange
    from vidscore.systems.common.timeplan import Slot

    n = 24
    asked = np.repeat([0.1, 0.5, 0.8, 1.0, 0.3, 0.7], 4)
    slots = [Slot(float(i), float(i + 1), 2, i % 2 == 0, False) for i in range(n)]
    chords = [Chord(0, "maj"), Chord(9, "min")] * (n // 2)
    score = arrange(slots, chords, density=asked, loudness=np.full(n, 0.6), preset="piano",
                    tonic=Chord(0, "maj"))  # fmt: skip
    raw = np.zeros((100, len(CURVES)))
    raw[:, 0] = np.linspace(0, 30, 100)
    raw[:, 1] = np.linspace(0, 1, 100)
    got = score_curves(score, Calibration.fit(raw))
    measured = got.group([2] * n + [1] * (len(got) - 2 * n))["activity"][: n - 1]
    assert spearmanr(measured, asked[: n - 1]).statistic > 0.9
    loud = np.repeat([0.3, 0.8, 0.5, 0.9, 0.4, 0.6], 4)
    score = arrange(slots, chords, density=np.full(n, 0.5), loudness=loud, preset="piano",
                    tonic=Chord(0, "maj"))  # fmt: skip
    got = score_curves(score, Calibration.fit(raw))
    measured = got.group([2] * n + [1] * (len(got) - 2 * n))["intensity"][: n - 1]
    assert spearmanr(measured, loud[: n - 1]).statistic > 0.8


@pytest.mark.shared
def test_video_curves_follow_the_clip_and_a_forced_emotion():
    from vidscore import analyze
    from vidscore.curves.video import EMOTION_LEVELS, video_curves
    from vidscore.features.analyze import AnalysisConfig

    series = ("motion", "arousal", "valence", "brightness")
    features = analyze(CLIPS["bikes"], AnalysisConfig(series=series))
    d = features.duration
    starts = np.arange(0, d - 0.5, 0.5)
    curves = video_curves(features, starts, starts + 0.5, boundaries=features.cuts)
    assert curves.values.min() >= 0 and curves.values.max() <= 1
    motion = features["motion"].values[np.floor(starts + 0.25).astype(int)]  # second of the beat
    assert spearmanr(curves["activity"], motion).statistic > 0.8
    assert curves["boundary"].sum() == len([c for c in features.cuts if c < starts[-1] + 0.5])
    sad = video_curves(features, starts, starts + 0.5, emotion="sad")
    assert np.allclose(sad["valence"], EMOTION_LEVELS["sad"][0])
    assert sad["intensity"].mean() < curves["intensity"].mean()


@pytest.mark.shared
def test_the_shipped_models_listen_to_their_controls():
    """Held-out POP909 songs, teacher-forced: the shipped AMT predicts their chords better from
    their own controls than from the same controls shuffled, and the biGRU's density follows the
    activity control. Fails if the model (or its wiring) stops listening."""
    import json
    import random

    import torch

    from vidscore.data.pop909 import songs
    from vidscore.systems.video2music.data import Sequences, condition, pop909_sequence
    from vidscore.systems.video2music.inference import descriptors, load_models
    from vidscore.systems.video2music.inputs import COLUMN, rows
    from vidscore.systems.video2music.loss import affective_loss
    from vidscore.systems.video2music.system import WEIGHTS
    from vidscore.systems.video2music.train import ablated, collate

    amt, gru = load_models(WEIGHTS)
    cal = Calibration.from_dict(json.loads((WEIGHTS / "manifest.json").read_text())["calibration"])
    test = [s for s in songs(SHARED / "data" / "POP909", split="test")[:4]]
    seqs = Sequences({"test": [condition(pop909_sequence(s), cal) for s in test]}, cal)["test"]

    def loss(fed: list[np.ndarray]) -> float:
        with torch.no_grad():
            total = 0.0
            for s, c in zip(seqs, fed, strict=True):
                video, vmask, r, q, tgt, emo, pad = collate([s], 300, random.Random(0), False,
                                                               cond=[c])  # fmt: skip
                total += float(affective_loss(amt(video, r, q, pad, vmask), tgt, emo, lam=1.0))
            return total / len(seqs)

    real, shuffled = loss(ablated(seqs, "real")), loss(ablated(seqs, "shuffled"))
    assert real < shuffled - 0.1, (real, shuffled)
    # more activity and intensity asked: busier and louder (not quieter, as before the curves)
    calm, busy = rows(None, np.full((16, len(CURVES)), 0.1)), rows(None, np.full((16, 6), 0.9))
    assert (descriptors(gru, busy).mean(0) > descriptors(gru, calm).mean(0) + 0.1).all()
    # the same curves all along a clip ask for the same music all along it: no intro or outro
    # of its own (trained on whole songs, the biGRU's loudness fell by up to 0.1 towards the end)
    for level in (0.2, 0.5, 0.8):
        steady = descriptors(gru, rows(None, np.full((10, len(CURVES)), level)))
        assert np.ptp(steady, axis=0).max() < 0.05, (level, steady)
    for s in seqs:
        density = descriptors(gru, s.cond)[:, 0]
        assert spearmanr(density, s.cond[:, COLUMN["activity"]]).statistic > 0.6
        scrambled = s.cond[np.random.default_rng(0).permutation(len(s.cond))]
        moved = descriptors(gru, scrambled)[:, 0]
        assert spearmanr(moved, s.cond[:, COLUMN["activity"]]).statistic < 0.3
