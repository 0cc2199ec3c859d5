"""Sound that streams: the loudness meter, spools, the loudness-relative mix, damaged sound
streams, and the muxed file's layout (interleaved, index first, picture copied or re-encoded)."""

from __future__ import annotations

import math

import av
import numpy as np
import pyloudnorm
import pytest

from tests.conftest import CLIPS, make_clip, run_cli, tone_spool
from vidscore.audio.loudness import LoudnessMeter
from vidscore.audio.mix import PEAK, mix_blocks, plan_mix
from vidscore.errors import CorruptVideoError
from vidscore.video.io import SoundDamage, iter_audio, probe

RATE = 48000


def sine(seconds: float, freq: float, amp: float) -> np.ndarray:
    t = np.arange(int(RATE * seconds)) / RATE
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def test_streamed_loudness_equals_pyloudnorm_on_the_whole_signal():
    rng = np.random.default_rng(0)
    x = np.stack([sine(7, 440, 0.3) + 0.05 * rng.standard_normal(7 * RATE), sine(7, 90, 0.1)], 1)
    x[: 3 * RATE] *= 0.01  # a quiet start that the relative gate drops
    meter = LoudnessMeter(RATE, 2)
    for i in range(0, len(x), 12345):  # blocks that do not line up with the 100 ms steps
        meter.push(x[i : i + 12345])
    assert meter.integrated() == pytest.approx(
        pyloudnorm.Meter(RATE).integrated_loudness(x), abs=0.01
    )
    assert LoudnessMeter(RATE, 1).integrated() == -math.inf  # nothing heard: no loudness


def test_spool_reads_back_in_blocks_padded_or_cut(tmp_path):
    x = np.arange(10, dtype=np.float32)
    s = tone_spool(tmp_path / "x.f32", x)
    assert s.frames == 10 and s.peak == 9
    longer = np.concatenate(list(s.blocks(14, block=4)))[:, 0]
    assert longer.tolist() == [*range(10), 0, 0, 0, 0]
    assert np.concatenate(list(s.blocks(6, block=4)))[:, 0].tolist() == list(range(6))


def mix_of(tmp_path, music: np.ndarray, original: np.ndarray, **kw) -> tuple[np.ndarray, object]:
    m = tone_spool(tmp_path / "m.f32", music)
    o = tone_spool(tmp_path / "o.f32", original)
    plan = plan_mix(m, o, frames=len(music), **kw)
    return np.concatenate(list(mix_blocks(m, o, plan, frames=len(music)))), plan


@pytest.mark.parametrize("gain_db", [-12.0, -3.0])
def test_original_gain_is_the_loudness_difference_in_the_mix(tmp_path, gain_db):
    music = sine(6, 440, 0.5)
    rng = np.random.default_rng(1)
    original = np.repeat((0.02 * rng.standard_normal(6 * RATE))[:, None], 2, 1)  # ~ -28 LUFS
    out, plan = mix_of(tmp_path, music, original, original_gain_db=gain_db, duck_db=0.0)
    heard_original = out - plan.scale * music[:, None]  # what the clip's sound adds
    meter = pyloudnorm.Meter(RATE)
    diff = meter.integrated_loudness(heard_original) - meter.integrated_loudness(
        plan.scale * np.repeat(music[:, None], 2, 1)
    )
    assert diff == pytest.approx(gain_db, abs=0.3)
    assert np.abs(out).max() <= PEAK + 1e-6


def test_music_ducks_where_the_clips_sound_rises_above_its_usual_level(tmp_path):
    music = sine(8, 440, 0.5)
    rng = np.random.default_rng(2)
    noise = 0.01 * rng.standard_normal(8 * RATE)
    noise[5 * RATE : 6 * RATE] *= 8  # a shout, 18 dB over the rest
    original = np.repeat(noise[:, None], 2, 1).astype(np.float32)
    _, plan = mix_of(tmp_path, music, original, duck_db=6.0)
    t, g = plan.duck_times, plan.duck_gains
    assert np.interp(5.5, t, g) == pytest.approx(10 ** (-6 / 20), abs=0.01)
    assert np.interp(2.0, t, g) > 0.95 and np.interp(7.5, t, g) > 0.95


def corrupt_first_sound_packet(path, bad):
    """Zero the first bytes of the first sound packet's payload, as in a clip whose first AC3
    frame is damaged: the container is intact, the decoder refuses the packet."""
    with av.open(str(path)) as c:
        first = next(p for p in c.demux(c.streams.audio[0]) if p.size)
        pos, payload = first.pos, bytes(first)
    data = bytearray(path.read_bytes())
    at = data.find(payload[:16], pos)
    data[at : at + 8] = bytes(8)
    bad.write_bytes(bytes(data))
    return bad


@pytest.fixture
def damaged(tmp_path):
    good = make_clip(tmp_path / "good.mkv", acodec="ac3")
    return good, corrupt_first_sound_packet(good, tmp_path / "bad.mkv")


def decode(path, damage=None):
    return np.concatenate(list(iter_audio(path, rate=RATE, layout="stereo", damage=damage)), 1)


def test_a_bad_sound_packet_is_skipped_in_time_and_counted(damaged):
    good, bad = damaged
    damage = SoundDamage()
    a, b = decode(good), decode(bad, damage)
    assert damage.skipped == 1 and damage.packets > 50
    assert "1 of" in str(damage) and "replaced by silence" in str(damage)
    assert abs(a.shape[1] - b.shape[1]) < 0.01 * RATE  # the rest is all there ...
    onset = [int(np.argmax(np.abs(x[0]) > 0.1)) for x in (a, b)]
    assert abs(onset[0] - onset[1]) < 0.002 * RATE  # ... and still in time with the picture
    with pytest.raises(CorruptVideoError, match="cannot be decoded"):
        list(iter_audio(bad, rate=RATE, strict=True))


@pytest.mark.shared
def test_compose_keeps_the_clips_sound_past_a_bad_packet_and_says_so(damaged, tmp_path):
    _, bad = damaged
    r = run_cli("compose", bad, "-o", tmp_path / "o.mp4", "--system", "baseline")
    assert r.returncode == 0, r.stderr
    assert "1 of" in r.stderr and "sound packets could not be decoded" in r.stderr
    r = run_cli(
        "compose", bad, "-o", tmp_path / "dry.mp4", "--system", "baseline", "--replace-audio"
    )
    assert r.returncode == 0, r.stderr
    with_sound, music_only = decode(tmp_path / "o.mp4"), decode(tmp_path / "dry.mp4")
    n = min(with_sound.shape[1], music_only.shape[1])
    assert np.sqrt(np.mean((with_sound[:, :n] - music_only[:, :n]) ** 2)) > 0.005


def packets(path):
    """(stream kind, seconds, byte position) of every packet, in file order."""
    with av.open(str(path)) as c:
        return [
            (p.stream.type, float(p.dts * p.time_base), p.pos)
            for p in c.demux()
            if p.dts is not None and p.size
        ]


@pytest.mark.shared
def test_scored_clip_streams_interleaved_with_its_index_first(tmp_path):
    out = tmp_path / "o.mp4"
    r = run_cli("compose", CLIPS["bikes"], "-o", out, "--system", "baseline")
    assert r.returncode == 0, r.stderr
    seen = {"audio": 0.0, "video": 0.0}
    for kind, t, _ in sorted(packets(out), key=lambda p: p[2]):
        seen[kind] = t
        assert abs(seen["audio"] - seen["video"]) < 1.0 or t < 1.0
    head = out.read_bytes()[:64]
    assert head.find(b"moov") != -1 and head.find(b"moov") < 64  # the index before the data


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return 10 * math.log10(255**2 / max(mse, 1e-12))


@pytest.mark.shared
@pytest.mark.parametrize("suffix", [".mp4", ".mkv"])
def test_an_old_codec_is_re_encoded_close_to_the_source(tmp_path, suffix):
    src = make_clip(tmp_path / "tree.avi", vcodec="cinepak", acodec="pcm_s16le", seconds=3.0)
    out = tmp_path / f"t{suffix}"
    r = run_cli("compose", src, "-o", out, "--system", "baseline")
    assert r.returncode == 0, r.stderr
    assert "re-encoding it as H.264" in r.stderr
    a, b = probe(src), probe(out)
    assert b.codec == "h264" and b.has_audio and b.audio_codec == "aac"
    assert abs(a.duration - b.duration) <= 1 / a.fps + 1e-6
    sound = decode(out)
    assert abs(sound.shape[1] / RATE - a.duration) < 0.05
    with av.open(str(src)) as x, av.open(str(out)) as y:
        fa = [f.to_ndarray(format="rgb24") for f in x.decode(video=0)]
        fb = [f.to_ndarray(format="rgb24") for f in y.decode(video=0)]
    assert len(fa) == len(fb)
    assert min(psnr(p, q) for p, q in zip(fa, fb, strict=True)) > 30
