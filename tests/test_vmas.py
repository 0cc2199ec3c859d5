"""VMAs' parts: delay pattern, Eq. 2-4, the codec (trained tiny here), the pretrained-EnCodec
loader, and the decoder's cached sampling."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from tests.conftest import CLIPS, run_cli
from vidscore.systems.vmas.alignment import (
    beat_overlap,
    beat_weights,
    contrastive_loss,
    weighted_token_loss,
    window_peaks,
)
from vidscore.systems.vmas.data import COND_DIM
from vidscore.systems.vmas.pattern import delay, undelay, valid


def test_delay_pattern_round_trip_and_padding():
    codes = torch.randint(0, 8, (2, 4, 11))
    d = delay(codes, special=8)
    assert d.shape == (2, 4, 14)
    assert torch.equal(undelay(d), codes)
    # codebook k starts k steps late; the places before and after hold the special token
    assert d[0, 3, :3].eq(8).all() and d[0, 0, 11:].eq(8).all()
    assert torch.equal(d[:, 2, 2:13], codes[:, 2])
    mask = valid(4, 14)
    assert int(mask.sum()) == 4 * 11
    assert torch.equal(d[0][~mask], torch.full((int((~mask).sum()),), 8))


def test_window_peaks_and_beat_weights_on_constructed_onsets():
    flow = np.zeros(40)
    flow[[5, 7, 20, 33]] = [1.0, 3.0, 2.0, 0.5]
    video = window_peaks(flow, 3)
    assert np.flatnonzero(video).tolist() == [7, 20, 33]  # 5 is beaten by 7 within ±3
    music = np.zeros(40)
    music[[8, 15, 20, 37]] = 1  # 8 is one step from the video beat at 7; 37 four from 33
    assert np.flatnonzero(beat_overlap(music, video, 2)).tolist() == [8, 20]
    w = beat_weights(music, video, 2, floor=0.25)
    assert w[8] == w[20] == 1.0
    assert np.all(w[[0, 15, 37]] == 0.25)
    assert np.all(beat_weights(music, video, 2, floor=1.0) == 1.0)  # the plain loss
    with pytest.raises(ValueError):
        beat_weights(music, video, 2, floor=1.5)


def test_weighted_token_loss_counts_only_weighted_valid_steps():
    logits = torch.zeros(1, 1, 4, 4)
    logits[0, 0, 0, 2] = 10.0  # step 0 confidently right, steps 1-2 uniform
    targets = torch.tensor([[[2, 1, 1, 4]]])  # step 3 is delay padding (the special token 4)
    valid = torch.tensor([[[True, True, True, False]]])
    right_only = weighted_token_loss(logits, targets, valid, torch.tensor([[[1.0, 0, 0, 1]]]))
    uniform = weighted_token_loss(logits, targets, valid, torch.ones(1, 1, 4))
    assert right_only < 0.01
    assert uniform == pytest.approx((2 * np.log(4) + float(right_only)) / 3, rel=1e-3)


def test_contrastive_loss_falls_on_paired_data_and_not_on_shuffled():
    def train(shuffle: bool) -> tuple[float, float]:
        g = torch.Generator().manual_seed(0)
        video = torch.randn(256, 8, generator=g)
        music = video @ torch.randn(8, 8, generator=g) + 0.1 * torch.randn(256, 8, generator=g)
        if shuffle:
            music = music[torch.randperm(256, generator=g)]
        torch.manual_seed(0)
        f, h = torch.nn.Linear(8, 16), torch.nn.Linear(8, 16)
        opt = torch.optim.Adam([*f.parameters(), *h.parameters()], lr=1e-2)
        losses = []
        for step in range(150):
            idx = torch.arange(32) + 32 * (step % 8)
            loss = contrastive_loss(f(music[idx]), h(video[idx]), temperature=0.1)
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(float(loss.detach()))
        return np.mean(losses[:10]), np.mean(losses[-10:])

    first, last = train(shuffle=False)
    assert last < 0.3 * first
    _s_first, s_last = train(shuffle=True)
    assert s_last > 0.8 * np.log(32)  # nothing to learn: stays near chance, log(batch)


@pytest.mark.shared
def test_a_trained_codec_reconstructs_music_far_better_than_silence(tiny_codec_and_clip):
    from vidscore.metrics.codec import mel_distance

    codec, clip = tiny_codec_and_clip
    codes = codec.encode(torch.from_numpy(clip)[None])
    assert codes.shape == (1, 2, 100) and codes.dtype == torch.long
    assert int(codes.min()) >= 0 and int(codes.max()) < 32
    out = codec.decode(codes)[0].numpy()
    assert out.shape == clip.shape
    silence = mel_distance(clip, np.zeros_like(clip), 16000)
    assert mel_distance(clip, out, 16000) < 0.6 * silence
    # the first codebook alone decodes too (quantiser dropout), and worse than both
    one = codec.decode(codes[:, :1])[0].numpy()
    assert mel_distance(clip, one, 16000) < silence


def test_the_waveform_codec_trains_a_step_and_decodes_any_prefix_of_codebooks():
    from vidscore.systems.vmas.codec import Codec, CodecConfig
    from vidscore.systems.vmas.codec_train import MelLoss, codec_loss

    torch.manual_seed(0)
    codec = Codec(CodecConfig(kind="seanet", filters=4, lstm_layers=1, codebooks=3,
                              codebook_size=16))  # fmt: skip
    x = 0.3 * torch.sin(torch.arange(2 * 4000) * 0.05).reshape(2, 4000)
    loss = codec_loss(codec, x, MelLoss(16000))
    loss.backward()
    assert torch.isfinite(loss)
    assert all(p.grad is not None for p in codec.encoder.parameters())
    codec.eval()
    codes = codec.encode(x)
    assert codes.shape == (2, 3, 13)  # 4000 samples padded to whole frames of 320
    for k in (1, 2, 3):
        assert codec.decode(codes[:, :k]).shape == (2, 13 * 320)


def test_pretrained_encodec_loads_from_a_local_folder(tmp_path):
    from transformers import EncodecConfig, EncodecModel

    from vidscore.errors import ModelLoadError
    from vidscore.systems.vmas.codec import load_encodec

    torch.manual_seed(0)
    cfg = EncodecConfig(
        sampling_rate=8000, num_filters=4, hidden_size=16, upsampling_ratios=[4, 4],
        num_lstm_layers=1, codebook_size=16, target_bandwidths=[2.0, 4.0, 8.0],
    )  # fmt: skip
    reference = EncodecModel(cfg).eval()
    reference.save_pretrained(tmp_path / "encodec")
    codec = load_encodec(tmp_path / "encodec", codebooks=2)
    assert (codec.sample_rate, codec.frame_rate, codec.cardinality) == (8000, 500.0, 16)
    x = torch.randn(1, 4000)
    codes = codec.encode(x)
    assert codes.shape == (1, 2, 250)
    with torch.no_grad():
        expected = reference.encode(x[:, None], bandwidth=4.0).audio_codes[0]
        assert torch.equal(codes, expected)
        decoded = reference.decode(expected[None], [None])[0][:, 0]
        assert torch.allclose(codec.decode(codes), decoded)
    with pytest.raises(ModelLoadError):
        load_encodec(tmp_path / "missing")


def test_cached_sampling_matches_teacher_forcing_and_windows_continue():
    from vidscore.systems.vmas.inference import Sampling, generate
    from vidscore.systems.vmas.model import Cache, VMAsConfig, VMAsDecoder

    torch.manual_seed(0)
    model = VMAsDecoder(VMAsConfig(cardinality=16, d_model=32, layers=2, heads=2, d_ff=64)).eval()
    codes = torch.randint(0, 16, (2, 4, 12))
    d = delay(codes, 16)
    mem = model.memory(torch.rand(2, 15, COND_DIM))
    with torch.no_grad():
        full, _ = model(d, mem)
        cache, prev, steps = Cache(), torch.full((2, 4), 16), []
        for s in range(d.shape[-1]):
            steps.append(model.step(prev, mem, cache))
            prev = d[..., s]
    assert torch.allclose(torch.stack(steps, dim=2), full, atol=1e-5)
    cond = torch.rand(130, COND_DIM)
    s = Sampling(window=1.0, overlap=0.4, guidance=2.0, seed=3)
    out = generate(model, cond, s)
    assert out.shape == (4, 130) and int(out.max()) < 16  # never the special token
    assert torch.equal(out, generate(model, cond, s))  # a seed gives the same tokens


@pytest.mark.shared
@pytest.mark.parametrize("name", sorted(CLIPS))
def test_vmas_scores_each_real_clip_with_music_that_is_neither_silent_nor_clipped(tmp_path, name):
    import wave

    from vidscore.video.io import probe

    out, cues, wav = tmp_path / "o.mp4", tmp_path / "c.json", tmp_path / "w.wav"
    r = run_cli("compose", CLIPS[name], "-o", out, "--system", "vmas", "--cues", cues,
                "--wav", wav)  # fmt: skip
    assert r.returncode == 0, r.stderr
    info = probe(CLIPS[name])
    assert probe(out).has_audio
    doc = json.loads(cues.read_text())
    assert doc["kind"] == "audio" and doc["system"] == "vmas"
    assert doc["beats"] and doc["decisions"]["video_beats"]
    with wave.open(str(wav)) as w:
        assert abs(w.getnframes() / w.getframerate() - info.duration) < 0.01
        x = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(float) / 32768
    assert np.sqrt(np.mean(x**2)) > 0.01  # not silent
    assert np.mean(np.abs(x) > 0.999) < 1e-4  # not clipping
