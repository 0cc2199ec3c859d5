"""AMT building blocks: relative attention with skewing, causality, the affective loss."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

import numpy as np  # noqa: E402

from vidscore.curves.contract import CURVES  # noqa: E402
from vidscore.modules.attention import RelativeSelfAttention, skew  # noqa: E402
from vidscore.music.chords import VIDEO2MUSIC, parse_harte  # noqa: E402
from vidscore.systems.video2music.inputs import rows  # noqa: E402
from vidscore.systems.video2music.loss import (  # noqa: E402
    END,
    PAD,
    affective_loss,
    affective_targets,
    emotion_table,
)
from vidscore.systems.video2music.model import AMT, AMTConfig, DescriptorGRU  # noqa: E402
from vidscore.types import EMOTIONS  # noqa: E402


def test_skew_matches_the_naive_relative_logits():
    torch.manual_seed(0)
    length, d = 5, 3
    q = torch.randn(length, d)
    rel = torch.randn(length, d)  # row j: distance j - (length - 1)
    skewed = skew(q @ rel.T)
    for i in range(length):
        for j in range(i + 1):  # causal part: key j <= query i
            assert skewed[i, j] == pytest.approx(float(q[i] @ rel[length - 1 - (i - j)]), abs=1e-5)


def test_decoder_is_causal_and_uses_the_video():
    torch.manual_seed(0)
    cfg = AMTConfig(semantic_dim=8, d_model=32, n_heads=4, d_ff=64, dropout=0.0, max_len=16)
    model = AMT(cfg).eval()
    video = torch.randn(1, 10, cfg.input_dim)
    roots = torch.randint(0, 12, (1, 10))
    quals = torch.randint(0, 13, (1, 10))
    out = model(video, roots, quals)
    assert out.shape == (1, 10, len(VIDEO2MUSIC))
    roots2 = roots.clone()
    roots2[0, 6:] = (roots2[0, 6:] + 3) % 12
    out2 = model(video, roots2, quals)
    assert torch.allclose(out[0, :6], out2[0, :6], atol=1e-5)  # the future does not leak back
    assert not torch.allclose(out[0, 6:], out2[0, 6:])
    out3 = model(torch.randn(1, 10, cfg.input_dim), roots, quals)
    assert not torch.allclose(out, out3)  # different video, different chords


def test_relative_attention_respects_padding():
    att = RelativeSelfAttention(16, 2, 8, 0.0).eval()
    x = torch.randn(1, 4, 16)
    pad = torch.tensor([[False, False, False, True]])
    y = att(x, pad)
    x2 = x.clone()
    x2[0, 3] = 100.0
    assert torch.allclose(y[0, :3], att(x2, pad)[0, :3], atol=1e-5)


def test_emotion_table_is_video2musics():
    table = emotion_table()
    allowed = {
        EMOTIONS[e]: {VIDEO2MUSIC.chord(i).quality for i in torch.nonzero(table[e])[:, 0].tolist()}
        for e in range(6)
    }
    assert allowed == {
        "exciting": {"maj", "sus4", "7"},
        "fearful": {"dim", "min7", "dim7", "hdim7"},
        "tense": {"dim", "sus4", "min7", "7"},
        "sad": {"min7", "min", "sus2"},
        "relaxing": {"maj", "maj6", "maj7"},
        "neutral": set(),
    }
    assert table.sum(1).tolist() == [36, 48, 48, 36, 36, 0]


def test_affective_loss_is_the_weighted_sum():
    torch.manual_seed(1)
    logits = torch.randn(1, 3, len(VIDEO2MUSIC))
    chords = torch.tensor([[VIDEO2MUSIC.index(parse_harte("C")), END, PAD]])
    emotion = torch.tensor([[0, 3, 3]])
    loss = affective_loss(logits, chords, emotion)
    ce = torch.nn.functional.cross_entropy(logits[0, :2], chords[0, :2], reduction="none")
    tgt = affective_targets(emotion, chords)[0, :2]
    bce = torch.nn.functional.binary_cross_entropy_with_logits(
        logits[0, :2], tgt, reduction="none"
    ).mean(-1)
    assert loss.item() == pytest.approx(float((0.4 * ce + 0.6 * bce).mean()), rel=1e-5)
    assert tgt[1].argmax() == END and tgt[1].sum() == 1


def test_affective_loss_pulls_towards_allowed_qualities():
    # with CE switched off (lambda = 0), training on 'sad' steps raises minor-type chords
    torch.manual_seed(0)
    logits = torch.zeros(1, 4, len(VIDEO2MUSIC), requires_grad=True)
    chords = torch.full((1, 4), VIDEO2MUSIC.index(parse_harte("C")))
    emotion = torch.full((1, 4), EMOTIONS.index("sad"))
    affective_loss(logits, chords, emotion, lam=0.0).backward()
    grad = logits.grad[0, 0]
    assert (
        grad[VIDEO2MUSIC.index(parse_harte("A:min"))]
        < 0
        < grad[VIDEO2MUSIC.index(parse_harte("A:maj"))]
    )


def test_descriptor_gru_shapes():
    gru = DescriptorGRU(16)
    assert gru(torch.randn(2, 7, 16)).shape == (2, 7, 2)
    assert sum(p.numel() for p in gru.gru.parameters()) > 0
    assert gru.gru.bidirectional and gru.gru.num_layers == 2 and gru.gru.hidden_size == 64


def test_generation_in_windows_covers_any_length():
    from vidscore.systems.video2music.inference import load_models, sample_chords
    from vidscore.systems.video2music.system import WEIGHTS

    amt, _ = load_models(WEIGHTS)
    n = 70
    rng = np.random.default_rng(0)
    cond = rows(None, rng.uniform(0, 1, (n, len(CURVES))).round())
    at_cut = [i % 9 == 0 and i > 0 for i in range(n)]
    opts = dict(temperature=1.0, top_p=0.9, max_repeat=4, affect_strength=1.0, guidance=1.5)
    chords = sample_chords(amt, cond, at_cut, seed=1, window=16, context=4, **opts)
    assert len(chords) == n and all(c.root is not None for c in chords)
    for i in range(1, n):
        if at_cut[i]:
            assert chords[i] != chords[i - 1]
        if i >= 4:  # no chord held for more than max_repeat slots
            assert len({*chords[i - 4 : i + 1]}) > 1
    again = sample_chords(amt, cond, at_cut, seed=1, window=16, context=4, **opts)
    assert chords == again


def test_weights_hash_is_checked(tmp_path):
    import shutil

    from vidscore.errors import ModelLoadError
    from vidscore.systems.video2music.inference import load_models
    from vidscore.systems.video2music.system import WEIGHTS

    for name in ("amt.safetensors", "bigru.safetensors", "manifest.json"):
        shutil.copy(WEIGHTS / name, tmp_path / name)
    load_models(tmp_path)
    data = bytearray((tmp_path / "amt.safetensors").read_bytes())
    data[-1] ^= 1
    (tmp_path / "amt.safetensors").write_bytes(bytes(data))
    with pytest.raises(ModelLoadError, match="sha256"):
        load_models(tmp_path)
