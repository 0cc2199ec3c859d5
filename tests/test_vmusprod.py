"""V-MusProd: pieces and windows from real MIDI, the bar-level mask, and a tiny trained Melody
Transformer that follows the chords it is given."""

from __future__ import annotations

import itertools
import json
import random
from pathlib import Path

import numpy as np
import pytest
import torch

from vidscore.music.chords import Chord, ChordSpan
from vidscore.music.tokens import decode
from vidscore.systems.vmusprod.data import pop909_piece, symmv_piece
from vidscore.systems.vmusprod.model import PartTransformer, VMPConfig, bar_mask
from vidscore.systems.vmusprod.windows import batch_of, crop_notes, make_window

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
POP909 = SHARED / "POP909"
SYMMV = SHARED / "SymMV-train"


def _calibrated(*pieces):
    """Pieces with their curves ranked among themselves (as load_pieces ranks a corpus)."""
    from vidscore.curves.contract import Calibration

    cal = Calibration.fit(np.concatenate([p.raw for p in pieces]))
    for p in pieces:
        p.cond = cal.apply(p.raw)
    return pieces


def test_pop909_piece_is_key_normalised_quantised_and_split():
    piece = pop909_piece(str(POP909 / "001"))
    assert piece is not None and piece.n_beats % 4 == 0 and piece.mode in ("major", "minor")
    for n in piece.melody + piece.accompaniment:
        assert (n.start * 4) == int(n.start * 4) and n.end > n.start
    # C major / A minor after normalisation: the notes' key-profile winner is C or A
    from vidscore.music.key import detect_key

    key = detect_key(piece.melody + piece.accompaniment)
    assert (key.tonic, key.mode) in {(0, "major"), (9, "minor"), (9, "major"), (0, "minor")}
    assert piece.raw.shape == (piece.n_beats, 6)
    assert min(n.pitch for n in piece.melody) > max(36, min(n.pitch for n in piece.accompaniment))


def test_symmv_piece_tracks_beats_and_splits_by_skyline():
    piece = symmv_piece(str(SYMMV), "00001", "C major")
    assert piece is not None and 60 <= piece.tempo <= 200
    # the skyline keeps the top line: at every onset the melody note is the highest
    tops: dict[float, int] = {}
    for n in piece.melody + piece.accompaniment:
        tops[n.start] = max(tops.get(n.start, 0), n.pitch)
    assert all(n.pitch == tops[n.start] for n in piece.melody)
    on_grid = np.mean([abs(n.start * 4 - round(n.start * 4)) < 1e-9 for n in piece.melody])
    assert on_grid == 1.0


def test_a_window_decodes_back_to_the_music_it_cut():
    (piece,) = _calibrated(pop909_piece(str(POP909 / "003")))
    w = make_window(piece, "melody", 4, 8)
    from vidscore.music.tokens import CPSequence

    notes, _ = decode(CPSequence(w.target, np.zeros((len(w.target), 3), dtype=np.int64)))
    # decode reads bars from the bar tokens; the cropped melody comes back note for note
    want = crop_notes(piece.melody, 16, 48)
    assert [(n.start, n.pitch) for n in notes] == [(n.start, n.pitch) for n in want]
    # the decoder input is the target shifted by one behind a BOS
    assert (w.tokens[1:] == w.target[:-1]).all() and (w.tokens[0] == 0).all()
    # timing rows carry the window's curves and a rising progress
    assert w.timing[:, 6].min() == 1.0 and np.all(np.diff(w.timing[:, 7]) >= 0)
    null = make_window(piece, "melody", 4, 8, null=True)
    assert not null.timing[:, :7].any()


def test_the_ablations_write_every_note_from_chords_or_from_nothing():
    """Table 2's ablations train on melody and accompaniment as one stream: ``music`` reads the
    chords, ``direct`` reads only the controller."""
    from vidscore.music.tokens import CPSequence

    (piece,) = _calibrated(pop909_piece(str(POP909 / "003")))
    music, direct = make_window(piece, "music", 4, 8), make_window(piece, "direct", 4, 8)
    notes, _ = decode(CPSequence(music.target, np.zeros((len(music.target), 3), dtype=np.int64)))
    want = sorted(crop_notes(piece.melody, 16, 48) + crop_notes(piece.accompaniment, 16, 48))
    assert sorted((n.start, n.pitch) for n in notes) == sorted((n.start, n.pitch) for n in want)
    assert (direct.target == music.target).all() and direct.src_tokens is None
    assert (music.src_tokens == make_window(piece, "melody", 4, 8).src_tokens).all()


def test_bar_mask_hides_bars_two_away():
    q = torch.tensor([[0, 1, 2, 3]])
    k = torch.tensor([[0, 0, 1, 2, 3, 4]])
    m = bar_mask(q, k)
    assert m.shape == (1, 4, 6)
    assert m[0, 0].tolist() == [False, False, False, True, True, True]
    assert m[0, 3].tolist() == [True, True, True, False, False, False]


def test_a_decoder_token_cannot_see_a_source_bar_two_away():
    torch.manual_seed(0)
    model = PartTransformer(VMPConfig(stage="melody", d_model=32, n_heads=4, enc_layers=1,
                                      dec_layers=1, d_ff=64)).eval()  # fmt: skip
    (piece,) = _calibrated(pop909_piece(str(POP909 / "001")))
    w = make_window(piece, "melody", 8, 8)
    batch = batch_of([w], 512)
    # the mask sits on the cross-attention: change the encoded source of bar 5 only
    memory = model.encode(batch)
    h = model.hidden(batch, memory)
    moved = memory.clone()
    moved[0, batch["src_indices"][0, :, 0] == 5] += 1.0
    h2 = model.hidden(batch, moved)
    bars = batch["indices"][0, :, 0]
    diff = (h2 - h).abs().amax(dim=-1)[0]
    assert diff[(bars - 5).abs() >= 2].max() < 1e-5  # bars 0-3, 7: blind to bar 5
    assert diff[(bars - 5).abs() <= 1].max() > 1e-3  # bars 4-6 see it


@pytest.fixture(scope="module")
def tiny_melody():
    """A tiny Melody Transformer trained for a few hundred steps on 24 POP909 songs."""
    from vidscore.modules.trainer import TrainConfig, Trainer
    from vidscore.systems.vmusprod.model import cp_loss
    from vidscore.systems.vmusprod.windows import random_window

    songs = [p for i in range(1, 30) if (p := pop909_piece(str(POP909 / f"{i:03d}")))]
    pieces = _calibrated(*songs[:24])
    cfg = VMPConfig(stage="melody", d_model=64, n_heads=4, enc_layers=1, dec_layers=2, d_ff=128)
    torch.manual_seed(0)
    model = PartTransformer(cfg)
    trainer = Trainer(TrainConfig(epochs=24, batch_size=8, lr=3e-3, seed=0, device="cpu"))

    def collate(items, rng: random.Random):
        return batch_of([random_window(p, "melody", 4, rng, 0.2) for p in items], 400)

    return trainer.fit(model, pieces * 8, collate, lambda m, b: cp_loss(m(b), b["target"]),
                       name="tiny-melody")  # fmt: skip


def _in_chord(model, seed: int) -> list[bool]:
    """Whether each sampled melody note's pitch class belongs to its bar's chord."""
    from vidscore.systems.common.bars import BarLayout
    from vidscore.systems.vmusprod.inference import Sampling, StageSampler

    progression = [Chord(0, "maj"), Chord(9, "min"), Chord(5, "maj"), Chord(7, "maj")] * 2
    chords = [ChordSpan(4.0 * i, 4.0 * i + 4, c) for i, c in enumerate(progression)]
    layout = BarLayout([4] * 8, [False] * 8, None, 100.0)
    notes, _ = StageSampler(model, "melody").generate(
        layout, Sampling(temperature=1.0, top_p=0.9), seed, source=([], chords)
    )
    return [n.pitch % 12 in progression[int(n.start // 4)].pitch_classes for n in notes]


def test_a_tiny_trained_melody_model_follows_its_chords(tiny_melody):
    torch.manual_seed(1)
    untrained = PartTransformer(tiny_melody.cfg).eval()
    hits = [h for s in range(3) for h in _in_chord(tiny_melody, s)]
    assert len(hits) >= 24  # it writes a melody, not silence
    trained = np.mean(hits)
    blind = np.mean([h for s in range(3) for h in _in_chord(untrained, s)])
    # a triad holds 3 of the 12 pitch classes: chance is 0.25
    print(f"in-chord share: trained {trained:.3f}, untrained {blind:.3f}")
    assert trained > 0.45 and trained > blind + 0.15, (trained, blind)


def test_the_melody_grammar_writes_one_note_per_onset(tiny_melody):
    from vidscore.systems.common.bars import BarLayout
    from vidscore.systems.vmusprod.inference import Sampling, StageSampler

    layout = BarLayout([4, 4, 2, 4], [False, False, False, True], None, 120.0)
    chords = [ChordSpan(0, 16, Chord(0, "maj"))]
    notes, _ = StageSampler(tiny_melody, "melody").generate(
        layout, Sampling(), 0, source=([], chords)
    )
    onsets = [n.start for n in notes]
    assert len(onsets) == len(set(onsets))
    # the short third bar (2 beats, model beats 8-12) gets nothing past its end
    assert not [t for t in onsets if 10 <= t < 12]


@pytest.mark.parametrize("name", ["bigbuckbunny", "bikes", "carphone_pristine"])
def test_compose_each_clip_with_a_melody_over_an_accompaniment(tmp_path, name):
    from tests.conftest import CLIPS, run_cli
    from vidscore.music.midi import read_midi
    from vidscore.video.io import probe

    clip = CLIPS[name]
    out, midi, cues = tmp_path / "o.mp4", tmp_path / "m.mid", tmp_path / "c.json"
    r = run_cli("compose", clip, "-o", out, "--system", "vmusprod", "--midi", midi,
                "--cues", cues)  # fmt: skip
    assert r.returncode == 0, r.stderr
    info = probe(clip)
    assert abs(probe(out).duration - info.duration) <= 1 / info.fps + 1e-6
    score = read_midi(midi)
    tracks = {t.name: t.notes for t in score.tracks}
    assert set(tracks) == {"melody", "accompaniment"}
    melody = sorted(tracks["melody"])
    # monophonic: each melody note ends before the next starts
    assert all(a.end <= b.start + 1e-6 for a, b in itertools.pairwise(melody))
    # every bar of the clip has a melody note and an accompaniment note starting in it
    downbeats = json.loads(cues.read_text())["downbeats"]
    edges = [*downbeats, info.duration]
    for part in ("melody", "accompaniment"):
        onsets = np.asarray(score.seconds(np.array([n.start for n in tracks[part]])))
        for lo, hi in itertools.pairwise(edges):  # the cues file keeps 4 decimals
            assert ((onsets >= lo - 1e-4) & (onsets < hi - 1e-4)).any(), (part, lo, hi)


def test_the_shipped_chord_transformer_follows_the_valence_curve():
    """Through the model: the same bars asked for high or low valence give major or minor
    chords, and with the curves shuffled between the halves the chords follow them there."""
    from vidscore.curves.contract import CURVES
    from vidscore.music.key import MINOR_FAMILY
    from vidscore.systems.common.bars import BarLayout
    from vidscore.systems.vmusprod.inference import Sampling, StageSampler
    from vidscore.systems.vmusprod.system import VMusProdSystem

    chord_model = VMusProdSystem.load().models["chord"]
    bars = 8
    cond = np.full((bars * 4, len(CURVES)), 0.5, dtype=np.float32)
    cond[:, CURVES.index("boundary")] = 0.0
    bright, dark = cond.copy(), cond.copy()
    bright[:, CURVES.index("valence")] = 0.95
    dark[:, CURVES.index("valence")] = 0.05

    def minor_share(c: np.ndarray) -> float:
        layout = BarLayout([4] * bars, [False] * bars, c, 110.0)
        spans = []
        for seed in range(3):
            spans += StageSampler(chord_model, "chord").generate(layout, Sampling(), seed)[1]
        return float(np.mean([s.chord.quality in MINOR_FAMILY for s in spans]))

    assert minor_share(bright) < 0.3 < 0.7 < minor_share(dark)


def test_the_chords_end_on_the_tonic_of_the_mode_they_read_as():
    """The last bar holds the tonic (C major or A minor before transposition), whatever the
    valence asked, so a clip's music ends resolved."""
    from vidscore.curves.contract import CURVES
    from vidscore.music.key import mode_of
    from vidscore.systems.common.bars import BarLayout
    from vidscore.systems.vmusprod.inference import Sampling, StageSampler
    from vidscore.systems.vmusprod.system import VMusProdSystem

    chord_model = VMusProdSystem.load().models["chord"]
    bars = 5
    for valence, seed in itertools.product((0.05, 0.95), range(2)):
        cond = np.full((bars * 4, len(CURVES)), 0.5, dtype=np.float32)
        cond[:, CURVES.index("valence")] = valence
        layout = BarLayout([4] * bars, [False] * bars, cond, 110.0)
        spans = StageSampler(chord_model, "chord").generate(layout, Sampling(), seed)[1]
        last = spans[-1]
        assert (last.start, last.end) == ((bars - 1) * 4, bars * 4)
        want = (
            Chord(9, "min") if mode_of(s.chord for s in spans[:-1]) == "minor" else Chord(0, "maj")
        )
        assert (last.chord.root, last.chord.quality) == (want.root, want.quality)


@pytest.fixture(scope="module")
def paired(tmp_path_factory):
    """SymMV's layout with paired video: SymMV-sample's music (copied to a temporary folder)
    and ``features/ID.json`` as ``vidscore analyze`` writes them, from the shared clips."""
    import shutil

    from tests.conftest import CLIPS
    from vidscore.features.analyze import AnalysisConfig, analyze
    from vidscore.features.timeline import save_json
    from vidscore.systems.vmusprod.data import VIDEO_STREAMS

    root = tmp_path_factory.mktemp("paired") / "SymMV"
    shutil.copytree(SHARED / "SymMV-sample", root, ignore=shutil.ignore_patterns("texture"))
    (root / "features").mkdir()
    config = AnalysisConfig(series=tuple(VIDEO_STREAMS.values()))
    clips = [analyze(CLIPS[n], config) for n in ("bikes", "bigbuckbunny", "carphone_pristine")]
    ids = sorted(p.stem for p in (root / "midi").glob("*.mid"))
    for k, piece_id in enumerate(ids[:-1]):  # the last piece has no video: left out
        save_json(clips[k % len(clips)], root / "features" / f"{piece_id}.json")
    return root, ids


def test_paired_video_reaches_the_controller_and_the_compose(paired, tmp_path):
    """The paired layout: pieces carry the clip's streams per beat, a chord stage trained on
    them reads them through its controller, and compose analyses the clip for them."""
    from tests.conftest import CLIPS, run_cli
    from vidscore.modules.trainer import TrainConfig
    from vidscore.systems.vmusprod.data import load_pieces
    from vidscore.systems.vmusprod.system import VMusProdSystem
    from vidscore.systems.vmusprod.train import VMusProdTraining, run

    root, ids = paired
    corpus = load_pieces([root], cache=tmp_path / "cache")
    pieces = [p for split in ("train", "val", "test") for p in corpus[split]]
    assert sorted(p.name for p in pieces) == sorted(f"symmv/{i}" for i in ids[:-1])
    assert corpus.video_dims == {"semantic": 36, "colour": 768}
    one = pieces[0]
    assert one.video["colour"].shape == (one.n_beats, 768)
    assert np.allclose(one.video["colour"].sum(axis=1), 1.0, atol=1e-3)  # histograms per beat

    out = tmp_path / "vmp"
    tiny = VMPConfig(d_model=32, n_heads=2, enc_layers=1, dec_layers=1, d_ff=64)
    for stage in ("chord", "melody", "accompaniment"):
        run([root], out, model_cfg=tiny, cache=tmp_path / "cache",
            cfg=TrainConfig(epochs=2, batch_size=4, lr=3e-3, device="cpu"),
            opts=VMusProdTraining(stage=stage, bars=4, eval_windows=1))  # fmt: skip
    assert {"semantic", "rgb_uv_hist"} <= VMusProdSystem.feature_needs(out).series
    system = VMusProdSystem.load(out)
    assert system.streams == {"semantic": 36, "colour": 768}

    # the trained controller reads the streams: another clip's video changes the chord logits
    from dataclasses import replace

    swapped = replace(one, video={k: v[::-1].copy() for k, v in one.video.items()})
    chord = system.models["chord"]
    with torch.no_grad():
        a, b = (
            chord(batch_of([make_window(p, "chord", 0, 4)], 400))["root"] for p in (one, swapped)
        )
    assert (a - b).abs().max() > 1e-3

    # compose through the CLI: the analysis gives the clip's streams to the controller
    midi = tmp_path / "v.mid"
    r = run_cli("compose", CLIPS["bikes"], "-o", tmp_path / "v.mp4", "--system", "vmusprod",
                "--weights", out, "--midi", midi)  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert midi.is_file()
