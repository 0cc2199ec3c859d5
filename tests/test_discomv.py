"""The DISCO-MV-style paired layout: scanning, decoding a pair in one pass, the frame filter."""

from __future__ import annotations

import numpy as np
import pytest

from tests.conftest import PAIRED_SPLITS
from vidscore.data.discomv import frame_similarity, load_clip, scan, square
from vidscore.errors import InputError


@pytest.mark.shared
def test_a_paired_folder_gives_each_clips_frames_flow_and_its_own_music(paired_layout):
    from vidscore.metrics.codec import chroma_correlation

    root, music = paired_layout
    items = scan(root)
    assert {(i.clip_id, i.split) for i in items} == set(PAIRED_SPLITS.items())
    item = next(i for i in items if i.clip_id == "bikes")
    clip = load_clip(item, fps=9.6, size=32, rate=16000)
    assert clip.frames.shape[1:] == (32, 32, 3) and clip.frames.dtype == np.uint8
    assert abs(len(clip.frames) - clip.duration * 9.6) <= 2  # the encoder's rate
    assert np.all(np.diff(clip.frame_times) > 0)
    assert len(clip.flow) == len(clip.flow_times) > len(clip.frames)  # flow on every frame
    # the soundtrack read back is the music muxed under this clip, not another clip's
    ref = {k: v[::3] for k, v in music.items()}  # 48 kHz -> 16 kHz is every third sample
    n = min(len(clip.audio), *(len(v) for v in ref.values()))
    own = chroma_correlation(ref["bikes"][:n], clip.audio[:n], 16000)
    other = chroma_correlation(ref["carphone_pristine"][:n], clip.audio[:n], 16000)
    assert own > 0.8 and own > other + 0.3


@pytest.mark.shared
def test_the_similarity_filter_tells_a_still_video_from_a_moving_one(paired_layout):
    root, _ = paired_layout
    clip = load_clip(scan(root)[0], fps=4.0, size=48, rate=16000)
    assert frame_similarity(clip.frames) < 0.7  # a real clip passes the paper's filter
    still = np.repeat(clip.frames[:1], 8, axis=0)
    assert frame_similarity(still) > 0.99


def test_square_crops_the_centre_and_a_missing_or_empty_layout_is_refused(tmp_path):
    frames = np.zeros((2, 40, 80, 3), np.uint8)
    frames[:, :, 20:60] = 255  # the centre square is white, the sides black
    out = square(frames, 16)
    assert out.shape == (2, 16, 16, 3) and out.min() == 255
    with pytest.raises(InputError, match="no such folder"):
        scan(tmp_path / "absent")
    (tmp_path / "train").mkdir()
    (tmp_path / "train" / "notes.txt").write_text("x")
    with pytest.raises(InputError, match="no videos"):
        scan(tmp_path)


def test_a_video_without_sound_is_not_a_pair(tmp_path):
    from tests.conftest import make_clip
    from vidscore.data.discomv import PairedVideo

    path = make_clip(tmp_path / "silent.mp4", acodec=None, seconds=1.0)
    with pytest.raises(InputError, match="no sound"):
        load_clip(PairedVideo("silent", "train", path), fps=4.0, size=16, rate=16000)
