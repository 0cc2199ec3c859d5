"""Each feature's formula on inputs whose answer is known."""

from __future__ import annotations

import numpy as np
import pytest

from vidscore.features.affect import (
    PROTOTYPES,
    cut_density,
    emotion_probabilities,
    kaiser_smooth,
    valdez_mehrabian,
)
from vidscore.features.color import colour_stats, rgb_uv_histogram
from vidscore.features.flow import video_beats
from vidscore.features.motion import TEMPO_RANGE, motion_to_tempo
from vidscore.features.scene import scene_offset
from vidscore.features.semantic import frame_similarity, handcrafted_descriptor
from vidscore.features.timeline import bin_mean, grid, resample
from vidscore.types import EMOTIONS, Series


def test_tempo_map_is_linear_and_clipped():
    assert motion_to_tempo(2.0, motion_range=(2.0, 42.0)) == TEMPO_RANGE[0]
    assert motion_to_tempo(22.0, motion_range=(2.0, 42.0)) == pytest.approx(110.0)
    assert motion_to_tempo(42.0, motion_range=(2.0, 42.0)) == TEMPO_RANGE[1]
    assert motion_to_tempo(0.0) == 90.0 and motion_to_tempo(1e6) == 130.0


def test_video_beats_are_window_maxima():
    x = np.array([0, 1, 5, 1, 0, 0, 2, 3, 2, 0, 0, 0, 9, 0], dtype=float)
    assert list(np.flatnonzero(video_beats(x, 2))) == [2, 7, 12]
    # a wider window keeps only the strongest peak among close ones
    assert list(np.flatnonzero(video_beats(x, 5))) == [2, 12]
    assert not video_beats(np.zeros(10), 2).any()


def test_rgb_uv_histogram_follows_the_colour():
    red = np.zeros((8, 8, 3), np.uint8)
    red[..., 0] = 220
    red[..., 1:] = 30
    h = rgb_uv_histogram(red, bins=16)
    assert h.shape == (3, 16, 16) and h.sum() == pytest.approx(1.0)
    # red's own channel sees log(R/G) > 0 and log(R/B) > 0: mass in the upper-right quadrant
    assert h[0, 8:, 8:].sum() == pytest.approx(h[0].sum())
    grey = np.full((8, 8, 3), 128, np.uint8)
    g = rgb_uv_histogram(grey, bins=16)
    assert g[:, 8, 8].sum() == pytest.approx(1.0)  # u = v = 0 for every channel


def test_colour_stats_on_plain_images():
    grey = np.full((10, 10, 3), 128, np.uint8)
    b, s, c, w = colour_stats(grey)
    assert b == pytest.approx(128 / 255, abs=0.01) and s == 0 and c == 0 and w == 0
    orange = np.zeros((10, 10, 3), np.uint8)
    orange[..., 0], orange[..., 1] = 255, 128
    b, s, c, w = colour_stats(orange)
    assert s == pytest.approx(1.0) and w == pytest.approx(1.0)
    assert c == pytest.approx(0.3 * np.hypot(127.0, 191.5), rel=1e-3)  # flat colour: mean term only


def test_valdez_mehrabian_is_the_published_equation():
    b, s = np.array([0.35, 0.5]), np.array([0.4, 0.25])  # inside the unclipped range
    v, a = valdez_mehrabian(b, s)
    pleasure = 0.69 * b + 0.22 * s
    arousal = -0.31 * b + 0.60 * s
    # rescaling is affine and monotone: order and differences are the equation's
    assert np.sign(v[1] - v[0]) == np.sign(pleasure[1] - pleasure[0])
    assert (a[1] - a[0]) / (v[1] - v[0]) == pytest.approx(
        (arousal[1] - arousal[0]) / (pleasure[1] - pleasure[0])
    )


def test_cut_density_rises_with_short_shots():
    t = grid(20.0, 1.0)
    fast = cut_density([1, 2, 3, 4, 5], t[:5], 20.0, 5.0)
    slow = cut_density([], t, 20.0, 5.0)
    assert np.allclose(fast, 1.0) and np.all(slow < 0.05)


def test_emotion_probabilities_pick_the_nearest_prototype():
    p = emotion_probabilities(PROTOTYPES[:, 0], PROTOTYPES[:, 1], 0.15)
    assert np.allclose(p.sum(axis=1), 1.0)
    assert list(p.argmax(axis=1)) == list(range(len(EMOTIONS)))


def test_kaiser_smoothing_keeps_constants_and_length():
    x = np.full(20, 0.3)
    assert np.allclose(kaiser_smooth(x, 9, 5.0), 0.3)
    assert len(kaiser_smooth(np.arange(4.0), 9, 5.0)) == 4


def test_scene_offset_counts_from_the_last_cut():
    t = grid(6.0, 1.0)
    assert list(scene_offset([2.5, 4.0], t)) == [0, 1, 2, 0.5, 0, 1]


def test_frame_similarity():
    same = np.tile([[1.0, 2.0, 3.0]], (4, 1))
    assert frame_similarity(same) == pytest.approx(1.0)
    assert frame_similarity(np.eye(3)) == pytest.approx(0.0)
    assert np.isnan(frame_similarity(np.ones((1, 3))))


def test_handcrafted_descriptor_separates_different_images():
    rng = np.random.default_rng(0)
    noise = rng.integers(0, 256, (64, 96, 3), dtype=np.uint8)
    sky = np.zeros((64, 96, 3), np.uint8)
    sky[..., 2] = 230
    a, b = handcrafted_descriptor(noise), handcrafted_descriptor(sky)
    assert a.shape == b.shape == (32,)
    assert frame_similarity(np.stack([a, a])) > frame_similarity(np.stack([a, b]))


def test_bin_mean_and_resample():
    times = np.array([0.0, 0.5, 1.0, 2.2, 2.7])
    vals = np.array([1.0, 3.0, 5.0, 7.0, 9.0])
    assert list(bin_mean(times, vals, rate=1.0, duration=4.0)) == [2.0, 5.0, 8.0, 9.0]
    s = Series("x", grid(4.0, 1.0), np.array([1.0, 2.0, 3.0, 4.0]), 1.0)
    up = resample(s, 2.0, 4.0)
    assert list(up.values) == [1, 1, 2, 2, 3, 3, 4, 4]
    down = resample(up, 0.5, 4.0)
    assert list(down.values) == [1.5, 3.5]


def test_nearest_sample_agrees_with_brute_force_without_the_square_matrix():
    """bin_mean's gap filling once built an (empty bins x samples) matrix: 0.5 GB for a
    30-minute clip's emotion at 10 Hz (issue 10 item 1)."""
    from vidscore.features.timeline import nearest_sample

    rng = np.random.default_rng(0)
    for _ in range(100):
        t = np.sort(rng.uniform(0, 100, rng.integers(1, 50)))
        at = rng.uniform(-5, 105, 30)
        brute = np.abs(t[None, :] - at[:, None]).min(axis=1)
        assert np.allclose(np.abs(t[nearest_sample(t, at)] - at), brute)
    assert nearest_sample(np.array([0.0, 1.0]), np.array([0.5])).tolist() == [0]  # tie: earlier


def test_rows_keep_every_row_in_order_past_their_first_size():
    from vidscore.features.base import Rows

    r = Rows(3, capacity=2)
    for i in range(10):
        r.append([i, 2 * i, 3 * i])
    assert len(r) == 10 and r.array()[:, 1].tolist() == [2.0 * i for i in range(10)]
