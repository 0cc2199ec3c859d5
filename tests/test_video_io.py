"""Probe and streaming decode on the real clips and on the formats users bring."""

from __future__ import annotations

from fractions import Fraction

import av
import numpy as np
import pytest

from tests.conftest import CLIPS
from vidscore.video.io import FrameRequest, audio_rms, fit_size, iter_frames, probe
from vidscore.video.montage import build_montage

pytestmark = pytest.mark.shared


@pytest.mark.parametrize(
    ("name", "size", "fps", "duration", "audio"),
    [
        ("bigbuckbunny", (1280, 720), 25.0, 5.3, True),
        ("bikes", (640, 272), 25.0, 10.0, False),
        ("carphone_pristine", (176, 144), 29.97, 4.0, False),
    ],
)
def test_probe_reads_the_real_clips(name, size, fps, duration, audio):
    info = probe(CLIPS[name])
    assert (info.width, info.height) == size
    assert info.fps == pytest.approx(fps, abs=0.01)
    assert info.duration == pytest.approx(duration, abs=0.05)
    assert info.has_audio is audio
    assert info.codec == "h264" and info.bit_depth == 8 and info.rotation == 0


def test_requests_get_their_rate_and_size():
    info = probe(CLIPS["bikes"])
    reqs = [FrameRequest("all", None, 128), FrameRequest("one", 1.0, 320, gray=True)]
    frames = list(iter_frames(CLIPS["bikes"], reqs))
    assert len(frames) == pytest.approx(info.n_frames, abs=1)
    ones = [f for f in frames if "one" in f.images]
    assert [round(f.time) for f in ones] == list(range(10))
    assert ones[0].images["one"].shape == (136, 320)  # grey, aspect kept
    assert frames[0].images["all"].shape == (54, 128, 3)
    times = np.array([f.time for f in frames])
    assert np.all(np.diff(times) > 0)


def test_fit_size_never_upscales_and_stays_even():
    assert fit_size(176, 144, 256) == (176, 144)
    assert fit_size(1280, 720, 256) == (256, 144)
    w, h = fit_size(175, 97, 64)
    assert w % 2 == 0 and h % 2 == 0 and w <= 64


@pytest.mark.parametrize(
    ("suffix", "codec", "pix_fmt"),
    [
        (".avi", "mpeg4", "yuv420p"),
        (".mkv", "libx264", "yuv420p"),
        (".mov", "libx264", "yuv420p"),
        (".webm", "libvpx-vp9", "yuv420p"),
        (".mp4", "libx264", "yuv420p"),
    ],
)
def test_containers_decode(tmp_path, suffix, codec, pix_fmt):
    out = tmp_path / f"clip{suffix}"
    build_montage(
        [CLIPS["bikes"]], out, segments=[1.0], size=(160, 68), fps=25, codec=codec, pix_fmt=pix_fmt
    )
    info = probe(out)
    n = sum(1 for _ in iter_frames(out, [FrameRequest("f", None, 64)], info=info))
    assert n == 25
    assert info.duration == pytest.approx(1.0, abs=0.1)


def test_ten_bit_video(tmp_path):
    out = tmp_path / "ten.mkv"
    build_montage(
        [CLIPS["bikes"]],
        out,
        segments=[0.6],
        size=(160, 68),
        fps=25,
        codec="ffv1",
        pix_fmt="yuv420p10le",
    )
    info = probe(out)
    assert info.bit_depth == 10
    frame = next(iter(iter_frames(out, [FrameRequest("f", None, 160)], info=info)))
    assert frame.images["f"].dtype == np.uint8 and frame.images["f"].mean() > 10


def test_odd_size_video(tmp_path):
    out = tmp_path / "odd.mkv"
    build_montage(
        [CLIPS["carphone_pristine"]],
        out,
        segments=[0.5],
        size=(175, 97),
        fps=25,
        codec="ffv1",
        pix_fmt="yuv444p",
    )
    info = probe(out)
    assert (info.width, info.height) == (175, 97)
    frames = list(iter_frames(out, [FrameRequest("f", None, 400)], info=info))
    assert frames[0].images["f"].shape[:2] in {(96, 174), (98, 176), (96, 176), (98, 174)}


def _write(path, frames_pts, time_base, size=(64, 48), rotation=None):
    with av.open(str(path), "w") as out:
        s = out.add_stream("libx264", rate=25)
        s.width, s.height, s.pix_fmt = size[0], size[1], "yuv420p"
        s.time_base = time_base
        s.codec_context.time_base = time_base
        if rotation is not None:
            s.set_display_rotation(rotation)
        for i, pts in enumerate(frames_pts):
            img = np.zeros((size[1], size[0], 3), np.uint8)
            img[: size[1] // 2, :, 0] = 255  # red top half: tells which way is up
            img[..., 1] = (i * 7) % 255
            f = av.VideoFrame.from_ndarray(img, format="rgb24")
            f.pts = pts
            for p in s.encode(f):
                out.mux(p)
        for p in s.encode():
            out.mux(p)


def test_variable_frame_rate_keeps_true_times(tmp_path):
    out = tmp_path / "vfr.mkv"
    pts_ms = [0, 40, 80, 200, 240, 600, 640, 680, 1000, 1500, 1540, 2000]
    _write(out, pts_ms, Fraction(1, 1000))
    frames = list(iter_frames(out, [FrameRequest("f", None, 64)]))
    assert [round(f.time * 1000) for f in frames] == pts_ms


def test_rotation_metadata_is_applied(tmp_path):
    out = tmp_path / "rot.mp4"
    _write(out, list(range(10)), Fraction(1, 25), size=(64, 48), rotation=90)
    info = probe(out)
    assert info.rotation in (90, 270)
    assert (info.width, info.height) == (48, 64)
    img = next(iter(iter_frames(out, [FrameRequest("f", None, 64)], info=info))).images["f"]
    assert img.shape[:2] == (64, 48)
    # the red half was the top of the coded picture; rotated by 90 degrees it is a side
    left, right = img[:, :24, 0].mean(), img[:, 24:, 0].mean()
    assert abs(left - right) > 100


def test_audio_rms_per_second():
    rms = audio_rms(CLIPS["bigbuckbunny"], rate=1.0)
    assert len(rms) == 6 and np.all(rms >= 0) and rms.max() > 0.001
    assert len(audio_rms(CLIPS["bikes"])) == 0


def test_thumbnails_show_the_picture_at_each_time_asked(tmp_path):
    """The plot's picture strip: one frame at or just after each time (compared with the frame
    the full decode gives there), the clip's aspect kept, none past the end."""
    from vidscore.video.io import FrameRequest, iter_frames, thumbnails

    clip = CLIPS["bikes"]
    shots = thumbnails(clip, [0.0, 3.3, 7.7, 12.0], max_side=96)
    assert [round(t, 1) for t, _ in shots] == [0.0, 3.3, 7.7]  # 12 s is past the 10 s clip
    h, w, _ = shots[0][1].shape
    assert w == 96 and abs(w / h - 640 / 272) < 0.1
    full = {
        round(f.time, 2): f.images["t"] for f in iter_frames(clip, [FrameRequest("t", max_side=96)])
    }
    for t, img in shots:
        assert np.array_equal(img, full[round(t, 2)])  # the very frame a full decode gives
