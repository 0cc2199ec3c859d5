"""analyze() end to end on the real clips and on a montage with known splice points."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from tests.conftest import CLIPS
from vidscore import analyze
from vidscore.features.analyze import AnalysisConfig
from vidscore.features.timeline import load_json, load_npz, save_json, save_npz, to_json_dict
from vidscore.types import EMOTIONS

pytestmark = pytest.mark.shared

PER_SECOND = [
    "scene_offset",
    "motion",
    "flow_1hz",
    "brightness",
    "saturation",
    "colourfulness",
    "warmth",
    "faces",
    "face_area",
    "smiles",
    "valence",
    "arousal",
    "emotion",
    "semantic",
    "rgb_uv_hist",
]


@pytest.fixture(scope="module")
def analyzed():
    return {name: analyze(path) for name, path in CLIPS.items()}


@pytest.mark.parametrize("name", list(CLIPS))
def test_every_clip_gets_a_complete_timeline(analyzed, name):
    f = analyzed[name]
    n = math.ceil(f.duration - 1e-6)
    for key in PER_SECOND:
        assert len(f[key]) == n, key
        assert np.isfinite(f[key].values).all(), key
    assert len(f["motion_0.2s"]) == math.ceil(f.duration * 5 - 1e-6)
    assert len(f["flow"]) == len(f["video_beat"]) >= f.info.n_frames - 2
    assert f["emotion"].values.shape == (n, len(EMOTIONS))
    assert np.allclose(f["emotion"].values.sum(axis=1), 1.0, atol=1e-5)
    assert np.all(np.abs(f["valence"].values) <= 1) and np.all(np.abs(f["arousal"].values) <= 1)
    assert 90.0 <= f.meta["tempo_bpm"] <= 130.0
    assert f.meta["semantic"] == {"name": "handcrafted-v1", "dim": 36}
    assert f.meta["emotion_source"] == "affect-cues"
    assert all(0 < c < f.duration for c in f.cuts)
    assert 0.0 <= f.meta["frame_similarity"] <= 1.0


def test_sound_energy_is_used_only_when_there_is_sound(analyzed):
    assert "sound_energy" in analyzed["bigbuckbunny"].meta["arousal_cues"]
    assert "sound_energy" not in analyzed["bikes"].meta["arousal_cues"]


def test_faces_found_in_the_videophone_clip(analyzed):
    # carphone shows a man's face in a car; Big Buck Bunny's first seconds are a landscape
    assert analyzed["carphone_pristine"]["faces"].values.max() >= 0.5


def test_motion_follows_the_picture(analyzed):
    # bikes (racing, fast cuts) moves more than the videophone clip (a talking head)
    assert (
        analyzed["bikes"]["motion"].values.mean()
        > analyzed["carphone_pristine"]["motion"].values.mean()
    )
    assert analyzed["bikes"].meta["tempo_bpm"] > analyzed["carphone_pristine"].meta["tempo_bpm"]


@pytest.mark.parametrize("detector", ["adaptive", "content"])
def test_montage_splices_found_within_one_frame(montage, detector):
    path, splices = montage
    f = analyze(path, AnalysisConfig(detector=detector))
    cuts = np.array(f.cuts)
    frame = 1.0 / f.info.fps
    for s in splices:
        assert np.min(np.abs(cuts - s)) <= frame + 1e-6, (s, f.cuts)
    # scene offset restarts at each splice
    offs = f["scene_offset"].values
    for s in splices:
        k = math.ceil(s)
        if k < len(offs):
            assert offs[k] < 1.0 + 1e-6


def test_json_and_npz_round_trip(analyzed, tmp_path):
    f = analyzed["bikes"]
    save_json(f, tmp_path / "f.json")
    save_npz(f, tmp_path / "f.npz")
    j, z = load_json(tmp_path / "f.json"), load_npz(tmp_path / "f.npz")
    for g in (j, z):
        assert g.info == f.info and g.cuts == pytest.approx(f.cuts) and g.meta == f.meta
        assert set(g.series) == set(f.series)
        for k, s in f.series.items():
            np.testing.assert_allclose(g[k].values, s.values, atol=1e-5)
            np.testing.assert_allclose(g[k].times, s.times, atol=1e-6)
            assert g[k].rate == s.rate and g[k].unit == s.unit
    doc = json.loads((tmp_path / "f.json").read_text())
    assert doc["series"]["motion"]["fps"] == 1.0 and doc["series"]["motion_0.2s"]["fps"] == 5.0
    assert doc["duration"] == pytest.approx(10.0)


def test_analysis_is_deterministic(small_clip):
    a = json.dumps(to_json_dict(analyze(small_clip)))
    b = json.dumps(to_json_dict(analyze(small_clip)))
    assert a == b


def test_only_the_series_asked_for_are_computed_and_dense_frames_are_kept(small_clip):
    from vidscore.features.analyze import AnalysisConfig, analyze, extractors_for
    from vidscore.video.io import FrameRequest

    assert extractors_for(("motion",)) == ["scene", "motion"]
    assert extractors_for(("emotion",)) == ["scene", "flow", "colour", "faces", "affect"]
    full = analyze(small_clip)
    request = FrameRequest("dense", 4.0, 32)  # the name an extractor uses too: no clash
    some = analyze(small_clip, AnalysisConfig(series=("motion",), frames=(request,)))
    assert set(some.series) == {"scene_offset", "motion", "motion_0.2s"}
    assert some.cuts == full.cuts
    assert np.array_equal(some["motion"].values, full["motion"].values)
    frames = some.frames["dense"]
    assert frames.images.dtype == np.uint8 and frames.images.shape[1:] == (18, 32, 3)
    assert len(frames) == pytest.approx(4.0 * some.duration, abs=1)
    assert np.all(np.diff(frames.times) > 0)
