"""``vidscore compose`` end to end on the real clips: the product a user runs."""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import re
import wave

import av
import numpy as np
import pytest

from tests.conftest import CLIPS
from tests.conftest import run_cli as run
from vidscore.types import EMOTIONS
from vidscore.video.io import probe

pytestmark = pytest.mark.shared


def one_line_error(r, needle):
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert r.returncode == 2 and len(lines) == 1 and "Traceback" not in r.stderr, r.stderr
    assert needle in lines[0], lines[0]


@pytest.mark.parametrize("name", list(CLIPS))
def test_compose_each_clip(tmp_path, name):
    src = CLIPS[name]
    out = tmp_path / "out.mp4"
    r = run(
        "compose",
        src,
        "-o",
        out,
        "--midi",
        tmp_path / "m.mid",
        "--cues",
        tmp_path / "cues.json",
        "--wav",
        tmp_path / "m.wav",
        "--plot",
        tmp_path / "p.png",
    )
    assert r.returncode == 0, r.stderr
    info, got = probe(src), probe(out)
    assert abs(got.duration - info.duration) <= 1 / info.fps + 1e-6
    with av.open(str(out)) as c:
        assert c.streams.video and c.streams.audio
    with wave.open(str(tmp_path / "m.wav")) as w:
        x = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.float64) / 32768
    assert np.sqrt(np.mean(x**2)) > 0.01  # the music is not silent
    cues = json.loads((tmp_path / "cues.json").read_text())
    assert cues["duration"] == pytest.approx(info.duration)
    assert (
        cues["chords"]
        and cues["tempo_map"]
        and len(cues["emotion"]) == int(np.ceil(info.duration - 1e-6))
    )
    first = cues["emotion"][0]  # the probabilities carry the emotions' names
    assert set(first["probabilities"]) == set(EMOTIONS)
    assert first["label"] == max(first["probabilities"], key=first["probabilities"].get)
    assert cues["decisions"]["emotion_forced"] is False
    assert (tmp_path / "m.mid").stat().st_size > 100 and (tmp_path / "p.png").stat().st_size > 1000


def test_same_seed_same_midi_other_seed_other_midi(tmp_path, montage):
    digests = []
    for i, seed in enumerate((3, 3, 4)):
        r = run(
            "compose",
            montage[0],
            "-o",
            tmp_path / f"{i}.mp4",
            "--midi",
            tmp_path / f"{i}.mid",
            "--seed",
            seed,
        )
        assert r.returncode == 0, r.stderr
        digests.append(hashlib.sha256((tmp_path / f"{i}.mid").read_bytes()).hexdigest())
    assert digests[0] == digests[1]
    assert digests[0] != digests[2]


def test_cuts_land_on_downbeats_and_chord_changes(tmp_path, montage):
    """Every scene of 2 s or more starts on a downbeat with the default system, and on a chord
    change with Video2Music (whose chords are planned on the cuts; Diff-BGM's are read from its
    notes and may spell the same chord across a cut: docs/compose.md)."""
    path, splices = montage
    cues = {}
    for system in ("default", "video2music"):
        extra = ["--system", system] if system != "default" else []
        r = run("compose", path, "-o", tmp_path / f"{system}.mp4", "--cues",
                tmp_path / f"{system}.json", *extra)  # fmt: skip
        assert r.returncode == 0, r.stderr
        cues[system] = json.loads((tmp_path / f"{system}.json").read_text())
    bounds = [0.0, *splices, cues["default"]["duration"]]
    long_scenes = [s for i, s in enumerate(splices) if bounds[i + 2] - s >= 2.0]
    downbeats = np.array(cues["default"]["downbeats"])
    assert all(np.min(np.abs(downbeats - s)) <= 0.05 for s in long_scenes), long_scenes
    changes = np.array([c["start"] for c in cues["video2music"]["chords"]])
    hits = [np.min(np.abs(changes - s)) <= 0.05 for s in long_scenes]
    assert np.mean(hits) >= 0.9, (long_scenes, changes)


def test_emotion_steers_video2musics_chords(tmp_path):
    """Video2Music's measure: the share of chords whose quality the forced emotion allows."""
    from vidscore.music.emotion import EMOTION_QUALITIES

    for emotion in ("sad", "exciting"):
        out, cues = tmp_path / f"{emotion}.mp4", tmp_path / f"{emotion}.json"
        r = run("compose", CLIPS["bikes"], "-o", out, "--system", "video2music", "--emotion",
                emotion, "--cues", cues)  # fmt: skip
        assert r.returncode == 0, r.stderr
        chords = json.loads((tmp_path / f"{emotion}.json").read_text())["chords"][:-1]
        qualities = [c["symbol"].split(":")[1].split("/")[0] for c in chords]
        share = np.mean([q in EMOTION_QUALITIES[emotion] for q in qualities])
        assert share >= 0.8, (emotion, qualities)


def test_a_forced_emotion_sets_the_default_systems_mode(tmp_path):
    """With the default system, --emotion sad gives a minor key and exciting a major one (the
    mode follows the valence the emotion sets; docs/compose.md says which part is a rule)."""
    for emotion, mode in (("sad", "minor"), ("exciting", "major")):
        cues = tmp_path / f"{emotion}.json"
        r = run("compose", CLIPS["bikes"], "-o", tmp_path / f"{emotion}.mp4", "--emotion",
                emotion, "--cues", cues)  # fmt: skip
        assert r.returncode == 0, r.stderr
        assert json.loads(cues.read_text())["key"].endswith(mode), emotion


def test_shuffled_features_lose_the_cut_alignment(montage):
    from vidscore import analyze
    from vidscore.systems.base import load_system
    from vidscore.types import Controls

    path, splices = montage
    feats = analyze(path)
    system = load_system("video2music")
    rng = np.random.default_rng(0)
    shuffled = dataclasses.replace(
        feats, cuts=sorted(rng.uniform(0, feats.duration, len(feats.cuts)))
    )

    def alignment(f):
        changes = np.array(system.compose(f, Controls(seed=0)).timeline.chord_changes())
        return np.mean([np.min(np.abs(changes - s)) <= 0.05 for s in splices])

    assert alignment(feats) >= 0.9 > alignment(shuffled) + 0.3


def test_compose_bad_input(tmp_path, small_clip):
    one_line_error(run("compose", tmp_path / "nope.mp4", "-o", tmp_path / "o.mp4"), "no such file")
    text = tmp_path / "t.mp4"
    text.write_text("hello")
    one_line_error(run("compose", text, "-o", tmp_path / "o.mp4"), "not a readable video")
    one_line_error(
        run("compose", small_clip, "-o", tmp_path / "o.mp4", "--emotion", "angry"), "emotion"
    )
    one_line_error(
        run("compose", small_clip, "-o", tmp_path / "o.mp4", "--key", "H major"), "--key"
    )
    one_line_error(
        run("compose", small_clip, "-o", tmp_path / "o.mp4", "--instruments", "kazoo"),
        "--instruments",
    )
    one_line_error(
        run("compose", small_clip, "-o", tmp_path / "o.mp4", "--system", "magic"), "--system"
    )
    one_line_error(run("compose", small_clip, "-o", tmp_path / "o.avi"), ".mp4, .mov or .mkv")
    existing = tmp_path / "exists.mp4"
    existing.write_bytes(b"keep")
    one_line_error(run("compose", small_clip, "-o", existing), "already exists")
    assert existing.read_bytes() == b"keep"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["exists.mp4", "t.mp4"]


def test_a_compose_probes_the_clip_once_and_decodes_its_sound_once(tmp_path, monkeypatch):
    """Issue 10 item 17: the sound was decoded twice (analysis and mix) and the clip probed
    three times."""
    import vidscore.audio.source
    import vidscore.features.analyze
    import vidscore.pipeline
    import vidscore.video.io
    from vidscore.pipeline import compose

    calls = {"probe": 0, "sound": 0}

    def counting(name, fn):
        def wrapper(*args, **kwargs):
            calls[name] += 1
            return fn(*args, **kwargs)

        return wrapper

    probe = counting("probe", vidscore.video.io.probe)
    for module in (vidscore.pipeline, vidscore.features.analyze, vidscore.video.io):
        monkeypatch.setattr(module, "probe", probe)
    sound = counting("sound", vidscore.video.io.iter_audio)
    for module in (vidscore.audio.source, vidscore.video.io):
        monkeypatch.setattr(module, "iter_audio", sound)
    compose(CLIPS["bigbuckbunny"], tmp_path / "o.mp4", system="baseline")
    assert calls == {"probe": 1, "sound": 1}


def test_ignore_cuts_leaves_only_the_markers(tmp_path):
    """bikes.mp4 has cuts; with --ignore-cuts the sections start at the markers alone, a
    downbeat on each, and the cues still list the detected cuts."""
    cues = {}
    for name, extra in (("ignored", ["--ignore-cuts"]), ("kept", [])):
        r = run("compose", CLIPS["bikes"], "-o", tmp_path / f"{name}.mp4", "--system", "baseline",
                "--markers", "5", "--cues", tmp_path / f"{name}.json", *extra)  # fmt: skip
        assert r.returncode == 0, r.stderr
        cues[name] = json.loads((tmp_path / f"{name}.json").read_text())
    ignored, kept = cues["ignored"], cues["kept"]
    assert ignored["cuts"] == kept["cuts"] and len(ignored["cuts"]) >= 3
    assert ignored["cuts_ignored"] and not kept["cuts_ignored"]
    assert [s["start"] for s in ignored["sections"]] == [0.0, 5.0]
    assert ignored["aligned_cuts"] == [] and kept["aligned_cuts"]
    assert min(abs(d - 5.0) for d in ignored["downbeats"]) < 0.05
    assert len(kept["sections"]) > len(ignored["sections"])


def _wav(path) -> np.ndarray:
    with wave.open(str(path)) as w:
        return np.frombuffer(w.readframes(w.getnframes()), "<i2").astype(np.float64) / 32767


def test_stems_sum_to_the_music_and_carry_the_tracks_names(tmp_path, small_clip):
    """--stems (issue 14 item 4): one WAV per part, named as the MIDI's tracks, each as long
    as the music; together they are the music within -40 dB of residual."""
    from vidscore.music.midi import read_midi

    stems = tmp_path / "stems"
    r = run("compose", small_clip, "-o", tmp_path / "s.mp4", "--system", "baseline",  # 3 parts
            "--instruments", "band", "--wav",
            tmp_path / "music.wav", "--midi", tmp_path / "m.mid", "--stems", stems)  # fmt: skip
    assert r.returncode == 0, r.stderr
    names = sorted(t.name for t in read_midi(tmp_path / "m.mid").tracks)
    assert names == ["bass", "drums", "piano"]
    assert sorted(p.stem for p in stems.iterdir()) == names
    music = _wav(tmp_path / "music.wav")
    parts = [_wav(stems / f"{n}.wav") for n in names]
    assert all(len(p) == len(music) for p in parts)
    assert all(np.abs(p).max() > 0.01 for p in parts)  # every part sounds
    residual = sum(parts) - music
    db = 20 * np.log10(np.sqrt(np.mean(residual**2)) / np.sqrt(np.mean(music**2)))
    assert db < -40, db
    r = run("compose", small_clip, "-o", tmp_path / "t.mp4", "--stems", stems)
    assert r.returncode == 2 and "already holds WAV files" in r.stderr
    assert not (tmp_path / "t.mp4").exists()


def test_the_midi_meters_key_and_printed_tempo_match_what_plays(tmp_path):
    """Issue 14 item 8: every bar of the MIDI sits under a time signature of its own length (a
    2-beat bar before a cut is 2/4, not a 4/4 cut short), the MIDI carries the key the cues
    name, and the tempo printed is the tempo that plays most of the clip."""
    from vidscore.music.midi import read_midi

    mid, cues_path = tmp_path / "m.mid", tmp_path / "c.json"
    r = run("compose", CLIPS["bikes"], "-o", tmp_path / "s.mp4", "--system", "baseline",
            "--midi", mid, "--cues", cues_path)  # fmt: skip
    assert r.returncode == 0, r.stderr
    score, cues = read_midi(mid), json.loads(cues_path.read_text())
    bars = np.asarray(score.beats(np.array(cues["downbeats"])))
    lengths = np.diff([*bars, score.beats(cues["duration"])])
    assert len(bars) > 3 and {round(n) for n in lengths[:-1]} != {4}  # bikes' cuts cut bars
    meters = [(0.0, *score.time_signature), *score.meters]
    for start, n in zip(bars[:-1], lengths[:-1], strict=True):
        num = [m for b, m, _ in meters if b <= start + 1e-3][-1]
        assert num == round(n), (start, n, meters)
    assert score.key == cues["key"]
    times = [t["time"] for t in cues["tempo_map"]] + [cues["duration"]]
    spans = [(t["bpm"], b - a) for (a, b), t in
             zip(itertools.pairwise(times), cues["tempo_map"], strict=True)]  # fmt: skip
    printed = int(re.search(r"(\d+) BPM", r.stdout)[1])
    assert printed == round(cues["tempo_bpm"]), r.stdout
    total = sum(d for _, d in spans)  # at least half the clip plays at or below it, and above
    assert sum(d for bpm, d in spans if bpm <= cues["tempo_bpm"] + 1e-6) >= total / 2
    assert sum(d for bpm, d in spans if bpm >= cues["tempo_bpm"] - 1e-6) >= total / 2
