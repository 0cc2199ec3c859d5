"""Diff-BGM: SAC-Att masks from a cut plan, the denoiser, training, sampling, the system."""

from __future__ import annotations

import numpy as np
import pytest

from tests.conftest import SHARED
from vidscore.systems.common.plan import beat_spans
from vidscore.systems.common.timeplan import plan
from vidscore.systems.diffbgm.sacatt import beat_shots, query_mask, shot_mask, two_block_mask


def test_each_beat_attends_to_its_own_shot_from_the_cut_plan():
    # 16 s at 120 BPM is one 8-bar segment of 32 beats; the cuts at 4 s and 11 s land on beats 8
    # and 22 (the plan starts a bar on each)
    tp = plan(16.0, [4.0, 11.0], 120)
    starts, _ = beat_spans(tp.slots)
    shots = beat_shots(starts[:32], tp.anchors)
    assert list(np.flatnonzero(np.diff(shots)) + 1) == [8, 22]
    mask = shot_mask(shots)
    assert mask.diagonal().all()  # no beat is left with nothing to attend to
    assert mask[0, 7] and not mask[0, 8] and mask[8, 21] and not mask[21, 22] and mask[22, 31]
    # the reference's fixed halves ignore where the cuts are
    fixed = two_block_mask(32)
    assert fixed[0, 15] and not fixed[15, 16] and fixed[8, 0]
    assert (fixed != mask).any()


def test_feature_map_rows_take_the_mask_of_the_beats_they_cover():
    shots = np.repeat([0, 1, 2], [8, 15, 9])  # cuts on beats 8 and 23 (23 is odd)
    mask = shot_mask(shots)
    full = query_mask(mask, rows=128, width=3)  # 4 rows a beat, 3 pitch columns
    assert full.shape == (384, 32)
    assert (full[::3][::4] == mask).all() and (full[0] == full[2]).all()
    deep = query_mask(mask, rows=16, width=2).reshape(16, 2, 32)[:, 0]
    assert (deep[3] == mask[6]).all()  # beats 6-7: one shot
    assert (deep[11] == (mask[22] | mask[23])).all()  # beats 22-23 hold the cut: both shots


def test_cross_attention_under_the_shot_mask_ignores_other_shots_tokens():
    import torch
    from diffusers.models.attention_processor import Attention

    from vidscore.systems.diffbgm.model import MaskedCrossAttention

    torch.manual_seed(0)
    attn = Attention(query_dim=16, cross_attention_dim=8, heads=2, dim_head=8,
                     processor=MaskedCrossAttention())  # fmt: skip
    shots = np.repeat([0, 1], [12, 20])  # a cut on beat 12
    mask = torch.from_numpy(shot_mask(shots))[None]
    rows, cols = 16, 4  # a deep level of a 128 x 32 roll: two beats a row
    x, tokens = torch.randn(1, rows * cols, 16), torch.randn(1, 32, 8)
    moved = tokens.clone()
    moved[:, 12:] += 1.0  # only the second shot's condition changes
    kw = {"beat_mask": mask, "roll_rows": 128, "roll_cols": 32}
    with torch.no_grad():
        a = attn(x, tokens, **kw).view(rows, cols, 16)
        b = attn(x, moved, **kw).view(rows, cols, 16)
        unmasked = attn(x, moved, roll_rows=128, roll_cols=32).view(rows, cols, 16)
    assert torch.allclose(a[:6], b[:6])  # rows 0-5 hold beats 0-11: the first shot only
    assert not torch.allclose(a[6:], b[6:], atol=1e-3)
    assert not torch.allclose(a[:6], unmasked[:6], atol=1e-3)  # without SAC-Att they would move


def test_the_condition_switch_and_the_null_token():
    import torch

    from vidscore.systems.diffbgm.model import DiffBGM, DiffBGMConfig

    torch.manual_seed(0)
    model = DiffBGM(DiffBGMConfig(width=8, pitches=32, cond_dim=16)).eval()
    dyn, sem = torch.rand(3, 32, 4), torch.rand(3, 32, 2)
    t = torch.tensor([900, 201, 200])
    tokens = model.condition(t, dyn, sem, dropped=torch.tensor([False, False, True]))
    place = model.position  # each token carries its beat's place in the segment
    assert torch.allclose(tokens[0], model.semantic(sem[0]) + place)  # noisy steps: semantic
    assert torch.allclose(tokens[1], model.semantic(sem[1]) + place)
    assert torch.allclose(tokens[2], model.null.expand(32, 16))  # dropped: the null token
    below = model.condition(t[2:], dyn[2:], sem[2:])[0]
    assert torch.allclose(below, model.dynamic(dyn[2]) + place)
    x = torch.randn(3, 2, 128, 32)
    with torch.no_grad():
        out = model(x, t, dyn, sem, beat_mask=torch.ones(3, 32, 32, dtype=torch.bool))
    assert out.shape == x.shape


def test_the_curves_enter_as_planes_under_their_beats():
    import torch

    from vidscore.systems.diffbgm.model import DiffBGM, DiffBGMConfig

    model = DiffBGM(DiffBGMConfig(width=8, pitches=16, cond_dim=16))
    dyn, sem = torch.rand(2, 32, 4), torch.rand(2, 32, 2)
    x = torch.randn(2, 2, 128, 16)
    planes = model.curve_planes(x, dyn, sem, dropped=torch.tensor([False, True]))
    assert planes.shape == (2, 2 + 4 + 2 + 1, 128, 16)
    assert torch.equal(planes[:, :2], x)
    # beat 5's activity under its four sixteenths, at every pitch; "given" is 1
    assert torch.allclose(planes[0, 2, 20:24], dyn[0, 5, 0].expand(4, 16))
    assert torch.allclose(planes[0, 7, 0], sem[0, 0, 1].expand(16))
    assert bool((planes[0, 8] == 1).all())
    assert not planes[1, 2:].any()  # dropped: no curves, "given" 0


def test_the_shipped_denoiser_follows_the_activity_curve():
    """Through the model alone (no rule between curve and notes): same seeds, same other curves,
    busier activity asks give more onsets; with guidance 0 (the null condition) they give
    exactly the same roll, so the difference is the condition's."""
    from vidscore.systems.diffbgm.inference import DiffusionSampling, sample_roll
    from vidscore.systems.diffbgm.system import DiffBGMSystem

    model = DiffBGMSystem.load().model

    def onsets(activity: float, guidance: float) -> list[int]:
        dyn = np.zeros((32, 4), np.float32)
        dyn[:, 0], dyn[:, 1], dyn[::16, 2], dyn[::4, 3] = activity, 0.5, 1.0, 0.5
        sem = np.full((32, 2), 0.5, np.float32)
        s = DiffusionSampling(steps=10, guidance=guidance)
        rolls = [sample_roll(model, dyn, sem, np.zeros(32, int), s, seed) for seed in range(3)]
        return [int((r[0] > 0).sum()) for r in rolls]

    calm, busy = onsets(0.1, 2.0), onsets(0.9, 2.0)
    assert sum(busy) > 1.2 * sum(calm), (calm, busy)
    assert onsets(0.1, 0.0) == onsets(0.9, 0.0)


def _pop909_windows(count: int, cfg):
    from vidscore.curves.contract import Calibration
    from vidscore.systems.diffbgm.data import windows
    from vidscore.systems.vmusprod.data import pop909_piece

    pieces = [
        pop909_piece(str(SHARED / "data" / "POP909" / f"{i:03d}")) for i in range(1, count + 1)
    ]
    cal = Calibration.fit(np.concatenate([p.raw for p in pieces]))
    for p in pieces:
        p.cond = cal.apply(p.raw)
    return pieces, [w for p in pieces for w in windows(p, cfg, hop_bars=4)]


@pytest.mark.shared
def test_windows_hold_the_music_and_its_own_curves():
    from vidscore.music.pianoroll import from_pianoroll
    from vidscore.systems.diffbgm.model import DiffBGMConfig

    cfg = DiffBGMConfig(pitches=64, low_pitch=32)
    (piece,), found = _pop909_windows(1, cfg)
    w = found[1]  # bars 5-12
    assert w.start_beat == 16 and w.roll.shape == (2, 128, 64)
    # every onset inside the window and the pitch range, once (a melody note doubled by the
    # accompaniment is one cell of the roll)
    inside = {(n.start - 16, n.pitch) for n in piece.melody + piece.accompaniment
              if 16 <= n.start < 48 and 32 <= n.pitch < 96}  # fmt: skip
    decoded = [(n.start, n.pitch + 32) for n in from_pianoroll(w.roll)]
    assert len(decoded) == len(set(decoded)) and set(decoded) == inside
    assert np.allclose(w.dynamic[:, 0], piece.cond[16:48, 0])  # activity, the window's own
    assert w.shots[0] == 0 and np.all(np.diff(w.shots) >= 0)


@pytest.mark.shared
def test_a_tiny_denoiser_trains_on_pop909_windows():
    import random

    import torch

    from vidscore.modules.trainer import TrainConfig, Trainer
    from vidscore.systems.diffbgm.model import DiffBGM, DiffBGMConfig, scheduler
    from vidscore.systems.diffbgm.train import DiffBGMTraining, collate, denoising_loss, fit

    cfg = DiffBGMConfig(width=8, pitches=64, low_pitch=32, cond_dim=16)
    _, found = _pop909_windows(3, cfg)
    batch = collate(found[:8], random.Random(1), cfg, cond_drop=0.0)
    trainer = Trainer(TrainConfig(epochs=4, batch_size=8, lr=3e-3, seed=0, device="cpu"))
    torch.manual_seed(0)
    untrained = DiffBGM(cfg).eval()
    model = fit(trainer, found, cfg, DiffBGMTraining())
    noise = scheduler(cfg, "ddpm")
    with torch.no_grad():
        before = float(denoising_loss(untrained, batch, noise))
        after = float(denoising_loss(model, batch, noise))
    assert after < 0.5 * before, (before, after)


def test_ddim_with_the_true_noise_walks_back_to_the_clean_roll():
    import torch

    from vidscore.systems.diffbgm.model import DiffBGMConfig, scheduler

    sched = scheduler(DiffBGMConfig(), "ddim")
    sched.set_timesteps(20)
    gen = torch.Generator().manual_seed(0)
    x0 = (torch.rand(1, 2, 128, 64, generator=gen) > 0.9).float() * 2 - 1
    eps = torch.randn(x0.shape, generator=gen)
    x = sched.add_noise(x0, eps, sched.timesteps[:1])
    assert (x - x0).abs().max() > 1  # the first step is almost all noise
    for t in sched.timesteps:
        x = sched.step(eps, t, x).prev_sample
    assert torch.allclose(x, x0, atol=1e-4)


def _tiny(**kw):
    import torch

    from vidscore.systems.diffbgm.model import DiffBGM, DiffBGMConfig

    torch.manual_seed(0)
    return DiffBGM(DiffBGMConfig(width=8, pitches=16, low_pitch=56, cond_dim=16, **kw)).eval()


def test_segments_chain_by_inpainting_their_overlap_and_known_cells_stay():
    from vidscore.systems.diffbgm.inference import (
        DiffusionSampling,
        Known,
        sample_roll,
        segment_starts,
    )

    assert segment_starts(128, 2) == [0] and segment_starts(129, 2) == [0, 96]
    assert segment_starts(48 * 16, 2)[-1] + 128 >= 48 * 16
    model = _tiny()
    s = DiffusionSampling(steps=4, guidance=2.0)
    rng = np.random.default_rng(0)
    dyn, sem = rng.random((48, 4), dtype=np.float32), rng.random((48, 2), dtype=np.float32)
    sections = np.zeros(48, dtype=int)
    long = sample_roll(model, dyn, sem, sections, s, seed=3)
    assert long.shape == (2, 192, 16)
    # the first segment is what 8 bars alone give, and the second keeps its overlap (bars 7-8)
    alone = sample_roll(model, dyn[:32], sem[:32], sections[:32], s, seed=3)
    assert np.array_equal(long[:, :128], alone)
    assert not np.array_equal(long, sample_roll(model, dyn, sem, sections, s, seed=4))
    # cells the caller knows come back as they were, the rest is written anew
    known = Known.empty(192, 16)
    known.roll[:, :, :] = np.where(rng.random((2, 192, 16)) > 0.8, 1.0, -1.0)
    known.mask[:, :64] = known.mask[:, 160:] = True
    again = sample_roll(model, dyn, sem, sections, s, seed=3, known=known)
    assert np.array_equal(again[:, :64], known.roll[:, :64])
    assert np.array_equal(again[:, 160:], known.roll[:, 160:])


def test_the_plan_sections_give_each_model_beat_its_shot():
    from vidscore.systems.common.bars import BarLayout

    # bars of 4, 4, 2 (cut), 4, 4 (marker) beats: three shots, the short bar padded in model time
    layout = BarLayout([4, 4, 2, 4, 4], [False, False, False, True, True], None, 120.0)
    sections = layout.model_sections()
    assert sections.tolist() == [0] * 12 + [1] * 4 + [2] * 4
    mask = shot_mask(sections)
    assert mask[0, 11] and not mask[11, 12] and not mask[15, 16]


@pytest.mark.shared
@pytest.mark.parametrize("name", ["bigbuckbunny", "bikes", "carphone_pristine"])
def test_compose_each_clip_with_a_piano_texture(tmp_path, name):
    import json

    from tests.conftest import CLIPS, run_cli
    from vidscore.music.midi import read_midi
    from vidscore.video.io import probe

    clip = CLIPS[name]
    out, midi, cues = tmp_path / "o.mp4", tmp_path / "m.mid", tmp_path / "c.json"
    r = run_cli("compose", clip, "-o", out, "--system", "diffbgm", "--midi", midi,
                "--cues", cues)  # fmt: skip
    assert r.returncode == 0, r.stderr
    info = probe(clip)
    assert abs(probe(out).duration - info.duration) <= 1 / info.fps + 1e-6
    score = read_midi(midi)
    assert [t.name for t in score.tracks] == ["piano"]
    notes = score.notes()
    onsets = np.asarray(score.seconds(np.array([n.start for n in notes])))
    assert onsets.min() >= 0 and onsets.max() < info.duration
    # a texture, not a wall: chords of a few notes, and at least one onset a second
    assert len(notes) / len(set(onsets.round(3))) < 8
    assert len(set(onsets.round(3))) >= info.duration
    doc = json.loads(cues.read_text())
    assert doc["system"] == "diffbgm" and doc["key"]


@pytest.mark.shared
def test_regenerate_rewrites_only_the_range_and_leaves_no_gap(tmp_path):
    from tests.conftest import CLIPS, run_cli
    from vidscore.music.midi import read_midi

    clip = CLIPS["bikes"]
    first, second = tmp_path / "a.mid", tmp_path / "b.mid"
    r = run_cli("compose", clip, "-o", tmp_path / "a.mp4", "--system", "diffbgm", "--midi", first)
    assert r.returncode == 0, r.stderr
    r = run_cli("compose", clip, "-o", tmp_path / "b.mp4", "--system", "diffbgm", "--midi",
                second, "--keep", first, "--regenerate", "3-6.5", "--seed", "7")  # fmt: skip
    assert r.returncode == 0, r.stderr

    def timed(path):
        s = read_midi(path)
        return sorted((round(float(s.seconds(n.start)), 3), round(float(s.seconds(n.end)), 3),
                       n.pitch, n.velocity) for n in s.notes())  # fmt: skip

    a, b = timed(first), timed(second)
    assert [n for n in a if not 3 <= n[0] < 6.5] == [n for n in b if not 3 <= n[0] < 6.5]
    inside_a, inside_b = ([n for n in x if 3 <= n[0] < 6.5] for x in (a, b))
    assert inside_b and inside_a != inside_b
    # the new range sounds from its start to its end (something starts or rings in each half
    # second)
    for t in np.arange(3.0, 6.5, 0.5):
        assert any(n[0] < t + 0.5 and n[1] > t for n in b), t


def test_regenerate_needs_a_take_and_a_system_that_can(tmp_path):
    from tests.conftest import make_clip, run_cli

    clip = make_clip(tmp_path / "c.mp4", seconds=2.0)
    take = tmp_path / "take.mid"
    take.write_bytes(b"not midi")
    for system, args, says in [
        ("diffbgm", ["--regenerate", "1-2"], "--keep and --regenerate go together"),
        ("diffbgm", ["--keep", take, "--regenerate", "1-2"], "not a valid MIDI file"),
        ("diffbgm", ["--keep", take, "--regenerate", "2-1"], "START < END"),
        ("diffbgm", ["--keep", take, "--regenerate", "a-b"], "seconds START-END"),
        ("vmusprod", ["--keep", take, "--regenerate", "1-2"], "cannot rewrite"),
    ]:
        r = run_cli("compose", clip, "-o", tmp_path / "o.mp4", "--system", system, *args)
        assert r.returncode == 2 and says in r.stderr, (args, r.stderr)
        assert len(r.stderr.strip().splitlines()) == 1 and not (tmp_path / "o.mp4").exists()


def _bgm909_fixture(root, rng):
    """BGM909's features layout for POP909 001 (held out) and 002 (training); 003 lacks its
    caption features, so it is left out."""
    import torch

    from vidscore.data import bgm909

    for d in (bgm909.VISUAL, bgm909.CAPTION, bgm909.SCENES):
        (root / d).mkdir(parents=True)
    visual = {}
    for sid, frames in (("001", 90), ("002", 70), ("003", 60)):
        visual[sid] = rng.standard_normal((frames, 512)).astype(np.float32)
        torch.save(torch.from_numpy(visual[sid]), root / bgm909.VISUAL / f"{sid}.pth")
        (root / bgm909.SCENES / f"{sid}_scenes.txt").write_text("0 99\n100 249\n250 399\n")
        if sid != "003":
            caption = rng.standard_normal((frames // 2, 768)).astype(np.float32)
            np.save(root / bgm909.CAPTION / f"{sid}.npy", caption)
    return visual


def test_bgm909_features_are_read_onto_the_beats_by_share_of_the_song(tmp_path):
    from types import SimpleNamespace

    from vidscore.data.bgm909 import VISUAL
    from vidscore.errors import InputError
    from vidscore.systems.diffbgm import bgm909

    visual = _bgm909_fixture(tmp_path, np.random.default_rng(0))
    pieces = [SimpleNamespace(name=f"pop909/{i:03d}", n_beats=200) for i in (1, 3, 4)]
    found = bgm909.paired(tmp_path, pieces)
    assert [p.name for p, _ in found] == ["pop909/001"]  # 003 lacks captions, 004 everything
    c = found[0][1]
    assert c.dynamic.shape == (200, 512) and c.semantic.shape == (200, 768)
    assert np.array_equal(c.dynamic[0], visual["001"][0])
    assert np.array_equal(c.dynamic[199], visual["001"][199 * 90 // 200])
    # shots start at frames 100 and 250 of 400: beats 50 and 125 of 200
    assert np.flatnonzero(c.starts).tolist() == [50, 125]
    with pytest.raises(InputError, match="not a BGM909 folder"):
        bgm909.check_folder(tmp_path / VISUAL)


@pytest.mark.shared
def test_train_on_bgm909_features_from_a_fixture(tmp_path):
    import json

    from tests.conftest import CLIPS, run_cli

    _bgm909_fixture(tmp_path / "bgm909", np.random.default_rng(1))
    out = tmp_path / "w"
    r = run_cli("train", "diffbgm", "--data", SHARED / "data" / "POP909", "--features",
                tmp_path / "bgm909", "--out", out, "--epochs", "1", "--width", "8", "--pitches",
                "16", "--low-pitch", "56", "--hop-bars", "8", "--limit", "4", "--cache",
                tmp_path / "cache", "--device", "cpu")  # fmt: skip
    assert r.returncode == 0, r.stderr
    m = json.loads((out / "manifest.json").read_text())
    assert m["config"]["conditions"] == "bgm909" and not m["config"]["curve_input"]
    assert (m["config"]["dynamic_dim"], m["config"]["semantic_dim"]) == (512, 768)
    assert m["metrics"]["pieces with features"] == {"train": 1, "val": 0, "test": 1}
    assert m["metrics"]["real"]["loss_dynamic"] > 0
    assert "BGM909's video features" in (out / "CARD.md").read_text()
    # such weights cannot score a clip here: one line, exit 2
    r = run_cli("compose", CLIPS["bikes"], "-o", tmp_path / "x.mp4", "--system", "diffbgm",
                "--weights", out)  # fmt: skip
    assert r.returncode == 2 and "CLIP2Video" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "x.mp4").exists()
    r = run_cli("train", "diffbgm", "--data", SHARED / "data" / "POP909", "--features",
                tmp_path / "cache", "--out", tmp_path / "w2", "--limit", "4")  # fmt: skip
    assert r.returncode == 2 and "not a BGM909 folder" in r.stderr
