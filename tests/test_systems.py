"""The system contract, for every registered system: a short clip -> Soundtrack -> muxed clip,
cues and plot; parameters validated before work; the registry; the rules-only baseline."""

from __future__ import annotations

import json
import wave

import av
import numpy as np
import pytest

from tests.conftest import CLIPS, run_cli
from vidscore.errors import UsageError
from vidscore.music.chords import parse_harte
from vidscore.systems.base import parse_params, registered, system_class
from vidscore.video.io import probe

pytestmark = pytest.mark.shared


def test_registry_lists_the_default_first_and_the_baseline():
    names = registered()
    assert names[0] == "diffbgm" and "baseline" in names  # the systems table's first
    for name in names:
        cls = system_class(name)
        assert cls.name == name and cls.output in ("score", "audio")
        assert cls.weights_status() in ("shipped", "none needed")


@pytest.mark.parametrize("name", registered())
def test_every_system_scores_a_clip_end_to_end(tmp_path, small_clip, name):
    cls = system_class(name)
    args = ["compose", small_clip, "-o", tmp_path / "o.mp4", "--system", name, "--seed", 3]
    args += [
        "--cues",
        tmp_path / "c.json",
        "--plot",
        tmp_path / "p.png",
        "--wav",
        tmp_path / "w.wav",
    ]
    if cls.output == "score":
        args += ["--midi", tmp_path / "m.mid"]
    r = run_cli(*args)
    assert r.returncode == 0, r.stderr
    info, got = probe(small_clip), probe(tmp_path / "o.mp4")
    assert got.has_audio and abs(got.duration - info.duration) <= 1 / info.fps + 1e-6
    with av.open(str(tmp_path / "o.mp4")) as c:
        assert c.streams.video[0].codec_context.name == info.codec  # picture copied
    with wave.open(str(tmp_path / "w.wav")) as w:
        assert abs(w.getnframes() / w.getframerate() - info.duration) < 0.01
        x = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(float) / 32768
    assert np.sqrt(np.mean(x**2)) > 0.01
    cues = json.loads((tmp_path / "c.json").read_text())
    assert cues["system"] == name and cues["duration"] == pytest.approx(info.duration)
    assert cues["tempo_map"] and cues["sections"][0]["start"] == 0.0
    assert cues["sections"][-1]["end"] == pytest.approx(info.duration)
    assert cues["kind"] == cls.output
    if cls.output == "audio":  # no bar lines to place: sections open on the cuts themselves
        for cut in cues["cuts"]:
            assert min(abs(s["start"] - cut) for s in cues["sections"]) < 1e-3
        assert cues["beats"] and all(0 <= b < info.duration for b in cues["beats"])
    else:
        assert cues["aligned_cuts"]  # the small clip's splice at 1.5 s is reachable
    for cut in cues["aligned_cuts"]:  # every aligned cut opens a bar and a section
        assert min(abs(d - cut) for d in cues["downbeats"]) < 1e-3
        assert min(abs(s["start"] - cut) for s in cues["sections"]) < 1e-3
    if cls.output == "score":
        changes = [c["start"] for c in cues["chords"][1:]]
        for cut in cues["aligned_cuts"]:
            assert min(abs(c - cut) for c in changes) < 1e-3
        assert (tmp_path / "m.mid").stat().st_size > 100
        # it ends resolved: the last chord is the tonic of the piece's key, in its mode
        tonic, mode = cues["key"].split()
        last = parse_harte(cues["chords"][-1]["symbol"])
        assert last.root == parse_harte(f"{tonic}:maj").root, (cues["key"], last)
        assert last.quality.startswith("min" if mode == "minor" else "maj"), (cues["key"], last)
    tail = x[-int(0.01 * len(x) / info.duration) :]
    assert np.abs(tail).max() < 0.02  # faded out by the clip's last frame
    assert (tmp_path / "p.png").stat().st_size > 10_000


@pytest.mark.parametrize("name", registered())
def test_parameters_are_checked_before_any_work(tmp_path, name):
    cls = system_class(name)
    with pytest.raises(UsageError, match="unknown parameter"):
        parse_params(cls.Params, ["no_such_knob=1"])
    r = run_cli(
        "compose",
        tmp_path / "missing.mp4",
        "-o",
        tmp_path / "o.mp4",
        "--system",
        name,
        "--param",
        "no_such_knob=1",
    )
    # the parameter is refused before the missing clip is even looked at
    assert r.returncode == 2 and "no_such_knob" in r.stderr


def test_a_window_past_the_model_is_clamped(small_clip):
    from vidscore import analyze
    from vidscore.systems.base import load_system
    from vidscore.types import Controls

    system = load_system("video2music")
    params = parse_params(system.Params, {"window": 1000, "context": 400})
    st = system.compose(analyze(small_clip), Controls(), params)
    assert st.timeline.chords
    with pytest.raises(UsageError, match="not a int"):
        parse_params(system.Params, {"window": 128.5})


def test_amt_parameters_parse_and_validate():
    cls = system_class("video2music")
    p = parse_params(cls.Params, ["temperature=0.5", "top_p=1", "max_repeat=2"])
    assert (p.temperature, p.top_p, p.max_repeat) == (0.5, 1.0, 2)
    for bad in ("temperature=0", "temperature=hot", "top_p=1.5", "context=300"):
        with pytest.raises(UsageError):
            parse_params(cls.Params, [bad])


def test_systems_command_lists_systems_weights_and_parameters():
    r = run_cli("systems")
    assert r.returncode == 0, r.stderr
    assert "video2music" in r.stdout and "baseline" in r.stdout and "shipped" in r.stdout
    assert "--param temperature=0.9" in r.stdout and "none needed" in r.stdout


def test_baseline_follows_emotion_seed_and_markers():
    from vidscore import analyze
    from vidscore.music.emotion import EMOTION_QUALITIES
    from vidscore.systems.base import load_system
    from vidscore.types import Controls

    feats = analyze(CLIPS["bikes"])
    base = load_system("baseline")
    sad = base.compose(feats, Controls(emotion="sad"))
    happy = base.compose(feats, Controls(emotion="exciting"))
    assert sad.key.endswith("minor") and happy.key.endswith("major")
    for st, emotion in ((sad, "sad"), (happy, "exciting")):
        qualities = [c.chord.quality for c in st.timeline.chords[:-1]]
        assert np.mean([q in EMOTION_QUALITIES[emotion] for q in qualities]) >= 0.6, qualities
    seeds = {
        tuple(c.chord for c in base.compose(feats, Controls(seed=s)).timeline.chords)
        for s in range(4)
    }
    assert len(seeds) > 1
    marked = base.compose(feats, Controls(markers=(6.5,)))
    assert any(abs(s.start - 6.5) < 1e-6 for s in marked.timeline.sections)
    assert any(abs(d - 6.5) < 1e-6 for d in marked.timeline.downbeats)


def test_markers_past_the_end_are_refused(tmp_path, small_clip):
    r = run_cli("compose", small_clip, "-o", tmp_path / "o.mp4", "--markers", "1.0,99")
    assert r.returncode == 2 and "past the end" in r.stderr
    assert not (tmp_path / "o.mp4").exists()


def test_weights_a_system_cannot_use_are_refused_before_any_work(tmp_path):
    missing = tmp_path / "missing.mp4"  # never probed: the weights are refused first
    r = run_cli("compose", missing, "-o", tmp_path / "o.mp4", "--system", "baseline",
                "--weights", tmp_path)  # fmt: skip
    assert r.returncode == 2 and "has no weights" in r.stderr
    r = run_cli("compose", missing, "-o", tmp_path / "o.mp4", "--weights", tmp_path)
    assert r.returncode == 2 and "missing manifest.json" in r.stderr


def test_keys_differ_between_clips_and_the_mode_follows_valence_through_the_model(small_clip):
    """Clips no longer all come out in C major: the tonic is drawn from the clip and the seed,
    and the mode is what the AMT's chords read as, so a forced sad mood (low valence control)
    gives minor and an exciting one major, with the affective boost off."""
    from vidscore import analyze
    from vidscore.features.analyze import AnalysisConfig
    from vidscore.systems.base import load_system
    from vidscore.types import Controls

    v2m = load_system("video2music")
    config = AnalysisConfig(series=tuple(v2m.needs.series))
    clips = {n: analyze(p, config) for n, p in (("bikes", CLIPS["bikes"]), ("small", small_clip))}
    keys = {v2m.compose(f, Controls()).key for f in clips.values()}
    keys |= {v2m.compose(clips["bikes"], Controls(seed=s)).key for s in (1, 2, 3)}
    assert len({k.split()[0] for k in keys}) >= 3, keys
    sad = v2m.compose(clips["bikes"], Controls(emotion="sad"))
    happy = v2m.compose(clips["bikes"], Controls(emotion="exciting"))
    assert sad.key.endswith("minor") and happy.key.endswith("major"), (sad.key, happy.key)
