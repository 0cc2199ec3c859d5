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
from vidscore.systems.vmas.data import COND_DIM, PULSE, beat_condition, moved_pulse, pulse
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


def test_the_beat_condition_carries_the_pulse_and_the_time_since_it():
    beats = np.zeros(12)
    beats[[3, 8]] = 1
    cols = beat_condition(beats, window=2)
    assert cols[:, 0].tolist() == beats.tolist()
    assert np.all(cols[:3, 1] == 0)  # no beat yet
    assert cols[3, 1] == cols[8, 1] == 1.0
    assert np.allclose(cols[4:8, 1], np.exp(-np.arange(1, 5) / 2))  # decays until the next
    assert np.allclose(cols[9, 1], np.exp(-0.5))


def test_a_pulse_held_to_a_rate_keeps_the_strongest_window_maxima():
    x = np.zeros(40)
    x[[5, 15, 25, 35]] = [1.0, 4.0, 2.0, 3.0]  # four window maxima
    assert np.flatnonzero(pulse(x, 3)).tolist() == [5, 15, 25, 35]  # all above the mean
    assert np.flatnonzero(pulse(x, 3, count=2)).tolist() == [15, 35]
    assert np.flatnonzero(pulse(x, 3, count=3)).tolist() == [15, 25, 35]
    assert pulse(x, 3, count=10).sum() == 4  # no more beats than the curve has maxima
    assert pulse(x, 3, count=0).sum() == 0


def test_a_moved_pulse_keeps_the_curves_and_the_number_of_beats():
    rng = np.random.default_rng(0)
    beats = (rng.random(300) < 0.08).astype(np.float32)
    cond = np.concatenate(
        [rng.random((300, PULSE)).astype(np.float32), beat_condition(beats, 5)], axis=1
    )
    moved = moved_pulse(cond, 50.0, 5, seed=1)
    assert np.array_equal(moved[:, :PULSE], cond[:, :PULSE])
    assert moved[:, PULSE].sum() == beats.sum()
    assert not np.array_equal(moved[:, PULSE], beats)
    assert np.array_equal(moved[:, PULSE:], beat_condition(moved[:, PULSE], 5))  # accent redrawn
    assert np.array_equal(cond[:, PULSE], beats)  # the input is not modified


def test_guidance_mixes_the_conditional_null_and_moved_pulse_logits():
    from vidscore.systems.vmas.inference import Sampling, mix

    c, null, moved = torch.tensor([2.0]), torch.tensor([1.0]), torch.tensor([0.5])
    assert mix(torch.stack([c]), Sampling(guidance=1.0)) == 2.0
    assert mix(torch.stack([c, null]), Sampling(guidance=3.0)) == 1.0 + 3.0 * 1.0
    assert mix(torch.stack([c, moved]), Sampling(guidance=1.0, beat_guidance=2.0)) == 2.0 + 1.5
    both = mix(torch.stack([c, null, moved]), Sampling(guidance=3.0, beat_guidance=2.0))
    assert both == 4.0 + 1.0 * 1.5
    with pytest.raises(ValueError):
        Sampling(beat_guidance=0.5)


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
    beat = Sampling(window=1.0, overlap=0.4, guidance=2.0, beat_guidance=3.0, seed=3)
    with pytest.raises(ValueError, match="pulse moved"):
        generate(model, cond, beat)
    contrast = torch.from_numpy(moved_pulse(cond.numpy(), 50.0, 5, seed=1))
    guided = generate(model, cond, beat, contrast=contrast)
    assert guided.shape == (4, 130) and not torch.equal(guided, out)


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


def test_a_decoder_trained_before_the_beat_accent_is_refused_with_a_clear_error(
    tmp_path, tiny_codec_and_clip
):
    from vidscore.errors import ModelLoadError
    from vidscore.modules.checkpoint import save_module
    from vidscore.systems.vmas.codec_train import KIND as CODEC_KIND
    from vidscore.systems.vmas.codec_train import update_manifest
    from vidscore.systems.vmas.model import VMAsConfig, VMAsDecoder
    from vidscore.systems.vmas.system import VMAsSystem
    from vidscore.systems.vmas.train import KIND

    codec, _ = tiny_codec_and_clip
    config = codec.cfg.to_dict()
    sha = save_module(codec, tmp_path / "codec.safetensors", kind=CODEC_KIND, config=config)
    update_manifest(tmp_path, "codec.safetensors", sha, "codec", {"config": config})
    for cond_dim in (COND_DIM, COND_DIM - 1):  # today's, and one without the accent column
        cfg = VMAsConfig(codebooks=codec.codebooks, cardinality=codec.cardinality,
                         codec_dim=codec.cfg.dim, cond_dim=cond_dim, d_model=32, layers=1,
                         heads=2, d_ff=64)  # fmt: skip
        sha = save_module(VMAsDecoder(cfg), tmp_path / "decoder.safetensors", kind=KIND,
                          config=cfg.to_dict(), overwrite=True)  # fmt: skip
        entry = {"config": cfg.to_dict(), "train": {"beat_window": 5}, "pulse_rate": 3.5}
        update_manifest(tmp_path, "decoder.safetensors", sha, "decoder", entry)
        if cond_dim == COND_DIM:
            assert VMAsSystem.load(tmp_path).pulse_rate == 3.5
        else:
            with pytest.raises(ModelLoadError, match="retrain"):
                VMAsSystem.load(tmp_path)
