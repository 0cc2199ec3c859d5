"""Dataset readers: POP909 and the SymMV sample from ../shared, MuVi-Sync and BGM909 on small
fixtures written in their released layouts."""

from __future__ import annotations

import numpy as np
import pytest

from tests.conftest import SHARED
from vidscore.data import bgm909, pop909, symmv
from vidscore.data.muvisync import MuViSync
from vidscore.errors import InputError
from vidscore.music.chords import Chord
from vidscore.music.key import Key

pytestmark = pytest.mark.shared


def test_pop909_songs_and_splits():
    songs = pop909.songs(SHARED / "data" / "POP909")
    assert len(songs) == 909
    counts = {s: sum(x.split == s for x in songs) for s in ("train", "val", "test")}
    assert sum(counts.values()) == 909 and counts["train"] > 650 and counts["test"] > 60
    again = pop909.songs(SHARED / "data" / "POP909", split="test")
    assert [s.song_id for s in again] == [s.song_id for s in songs if s.split == "test"]
    song = songs[0]
    assert [t.name for t in song.score.tracks] == ["MELODY", "BRIDGE", "PIANO"]
    assert song.main_key() == Key(6, "major")
    times, down = song.beats()
    assert len(times) == len(down) > 200 and down[0]
    assert song.chords()[4].chord == Chord(11, "maj")


def test_symmv_sample():
    items = symmv.items(SHARED / "data" / "SymMV-sample")
    assert len(items) == 10
    assert items[8].tonality == Key(3, "major")  # written "E- major"
    first = items[0]
    assert first.texture_path.is_file() and first.midi_path.is_file()
    chords = first.chords()
    assert chords[0].start == 1.0 and chords[0].chord == Chord(9, "min")
    assert first.score.tempos[0][1] == pytest.approx(120.0)


def _write_muvisync(root, ids):
    d = {
        "chord": root / "vevo_chord" / "lab_v2_norm" / "all",
        "emotion": root / "vevo_emotion" / "6c_l14p" / "all",
        "semantic": root / "vevo_semantic" / "all" / "2d" / "clip_l14p",
        "split": root / "vevo_meta" / "split" / "v1",
    }
    for name in ("motion", "scene_offset", "loudness", "note_density"):
        d[name] = root / f"vevo_{name}" / "all"
    for p in d.values():
        p.mkdir(parents=True)
    for vid in ids:
        (d["chord"] / f"{vid}.lab").write_text("key C major\n0 N\n1 C\n2 A:min\n3 G:7\n")
        (d["emotion"] / f"{vid}.lab").write_text(
            "time exciting_prob fearful_prob tense_prob sad_prob relaxing_prob neutral_prob\n"
            + "".join(f"{t} 0.1 0.1 0.1 0.1 0.5 0.1\n" for t in range(4))
        )
        for name, vals in (
            ("motion", "0.5"),
            ("scene_offset", "2"),
            ("loudness", "0.3"),
            ("note_density", "4"),
        ):
            (d[name] / f"{vid}.lab").write_text("".join(f"{t} {vals}\n" for t in range(4)))
        np.save(d["semantic"] / f"{vid}.npy", np.ones((4, 8), np.float32))
    (d["split"] / "train.txt").write_text("\n".join([*ids, "999"]) + "\n")  # 999 has no files
    return d


def test_muvisync_reader_on_its_layout(tmp_path):
    _write_muvisync(tmp_path, ["001", "002"])
    ds = MuViSync(tmp_path)
    items = ds.items("train")
    assert [i.video_id for i in items] == ["001", "002"]
    it = items[0]
    assert it.key == Key(0, "major")
    assert [c.harte() for c in it.chords] == ["N", "C:maj", "A:min", "G:7"]
    assert it.emotion.shape == (4, 6) and it.emotion[0, 4] == pytest.approx(0.5)
    assert it.semantic.shape == (4, 8)
    assert list(it.note_density) == [4, 4, 4, 4] and it.scene_offset[2] == 2


def test_muvisync_bad_line_names_file_and_line(tmp_path):
    d = _write_muvisync(tmp_path, ["001"])
    (d["motion"] / "001.lab").write_text("0 0.5\n1 fast\n")
    with pytest.raises(InputError, match=r"001.lab:2"):
        MuViSync(tmp_path).item("001")
    with pytest.raises(InputError, match="not a MuVi-Sync folder"):
        MuViSync(tmp_path / "vevo_meta")


def test_bgm909_reader(tmp_path):
    torch = pytest.importorskip("torch")
    (tmp_path / "new_raw_video_feats").mkdir()
    (tmp_path / "caption_feats").mkdir()
    (tmp_path / "detection").mkdir()
    torch.save(torch.ones(5, 16), tmp_path / "new_raw_video_feats" / "001.pth")
    np.save(tmp_path / "new_raw_video_feats" / "002.npy", np.zeros((3, 16), np.float32))
    np.save(tmp_path / "caption_feats" / "001.npy", np.ones(32, np.float32))
    (tmp_path / "detection" / "001_scenes.txt").write_text("0 120\n121 300\n")
    assert bgm909.song_ids(tmp_path) == ["001", "002"]
    item = bgm909.load(tmp_path, "001")
    assert item.video.shape == (5, 16) and item.caption.shape == (32,)
    assert item.shots == [(0, 120), (121, 300)]
    assert bgm909.load(tmp_path, "002").shots == []
