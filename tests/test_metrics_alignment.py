"""AV-Align, its baselines, cut alignment, density-motion correlation and chord measures."""

from __future__ import annotations

import numpy as np
import pytest

from vidscore.metrics.alignment import (
    av_align,
    av_align_report,
    cut_alignment,
    density_motion_correlation,
)
from vidscore.metrics.chords import emotion_correspondence, hits_at_k, rmse
from vidscore.music.chords import parse_harte


def test_av_align_is_matched_over_union():
    video = np.array([1.0, 2.0, 3.0])
    assert av_align(video, video, 0.04) == 1.0
    assert av_align(np.array([1.01, 5.0]), video, 0.04) == pytest.approx(1 / 4)
    assert av_align(np.array([1.0, 1.01]), np.array([1.0]), 0.04) == pytest.approx(1 / 2)


def test_onsets_on_flow_peaks_beat_the_same_count_between_them():
    rng = np.random.default_rng(0)
    peaks = np.sort(rng.uniform(0, 30, 40))
    on = peaks + rng.normal(0, 0.01, len(peaks))
    between = (peaks[:-1] + peaks[1:]) / 2
    assert av_align(on, peaks, 1 / 25) > 0.8 > 0.2 > av_align(between, peaks, 1 / 25)
    report = av_align_report(on, peaks, duration=30.0, fps=25.0)
    assert report.lift_over_even > 0.5 and report.lift_over_random > 0.5
    # a dense steady click scores above zero by density alone; its lift over the baselines is ~0
    click = np.arange(0, 30, 1 / 8)
    dense = av_align_report(click, peaks, duration=30.0, fps=25.0)
    assert dense.score > 0.05 and abs(dense.lift_over_even) < 0.05


def test_cut_alignment_and_correlation():
    assert cut_alignment([2.0, 4.0], [0.0, 2.03, 3.0]) == 0.5
    assert np.isnan(cut_alignment([], [1.0]))
    motion = np.array([1, 2, 3, 4, 5.0])
    assert density_motion_correlation(motion * 2 + 1, motion) == pytest.approx(1.0)
    assert np.isnan(density_motion_correlation(np.ones(5), motion))


def test_chord_measures():
    logits = np.array([[0.1, 0.9, 0.0], [0.8, 0.1, 0.2]])
    assert hits_at_k(logits, np.array([1, 2]), ks=(1, 2)) == {"hits@1": 0.5, "hits@2": 1.0}
    chords = [parse_harte(x) for x in ["A:min", "C", "D:min7", "C"]]
    assert emotion_correspondence(chords, ["sad", "sad", "sad", "neutral"]) == pytest.approx(2 / 3)
    assert rmse([1, 2, 3], [1, 2, 5]) == pytest.approx(np.sqrt(4 / 3))
