"""FAD and KL, and the embedder loaders on tiny models the test builds and saves."""

from __future__ import annotations

import numpy as np
import pytest

from vidscore.errors import ModelLoadError, UsageError
from vidscore.metrics.audio import (
    MelStats,
    audio_quality,
    frechet_distance,
    kl_divergence,
    make_embedder,
)

torch = pytest.importorskip("torch")
SR = 16000


def tone(freq: float, seconds: float = 3.0, noise: float = 0.01, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    return (0.4 * np.sin(2 * np.pi * freq * t) + noise * rng.normal(size=len(t))).astype(np.float32)


def test_frechet_distance_of_gaussians():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(4000, 3))
    b = rng.normal(size=(4000, 3)) + np.array([2.0, 0, 0])
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-6)
    assert frechet_distance(a, b) == pytest.approx(4.0, abs=0.2)  # |mu|^2, same covariance
    assert kl_divergence([0.5, 0.5], [0.5, 0.5]) == pytest.approx(0.0, abs=1e-6)
    assert kl_divergence([0.9, 0.1], [0.1, 0.9]) > 1.0


def test_fad_separates_similar_from_different_audio():
    ref = [tone(440, seed=i) for i in range(3)]
    same = [tone(440, seed=10 + i) for i in range(3)]
    other = [tone(1800, noise=0.2, seed=20 + i) for i in range(3)]
    emb = MelStats()
    assert audio_quality(ref, same, emb)["FAD"] < audio_quality(ref, other, emb)["FAD"]


class TinyAudioNet(torch.nn.Module):
    """A stand-in with VGGish's contract: (batch, samples) -> (embeddings, logits)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv1d(1, 8, kernel_size=400, stride=160)
        self.emb = torch.nn.Linear(8, 16)
        self.head = torch.nn.Linear(16, 5)

    def forward(self, x: torch.Tensor):
        h = torch.relu(self.conv(x.unsqueeze(1))).mean(-1)
        e = self.emb(h)
        return e, self.head(e)


def test_torchscript_loader_on_a_tiny_model(tmp_path):
    torch.manual_seed(0)
    path = tmp_path / "tiny.pt"
    torch.jit.script(TinyAudioNet()).save(str(path))
    emb = make_embedder(f"torchscript:{path}")
    frames = emb.embed(tone(440))
    assert frames.shape == (4, 16)  # 3 s in 0.96 s windows
    probs = emb.classify(tone(440))
    assert probs.shape == (5,) and probs.sum() == pytest.approx(1.0, abs=1e-5)
    q = audio_quality([tone(440)] * 2, [tone(880)] * 2, emb)
    assert np.isfinite(q["FAD"]) and q["KL"] >= 0 and q["embedder"] == "torchscript:tiny.pt"
    with pytest.raises(ModelLoadError):
        make_embedder(f"torchscript:{tmp_path / 'missing.pt'}")
    with pytest.raises(UsageError):
        make_embedder("vggish")


def test_clap_loader_on_a_tiny_model(tmp_path):
    import json

    transformers = pytest.importorskip("transformers")
    from tests.conftest import byte_level_chars

    specials = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
    vocab = {c: i for i, c in enumerate([*specials, *byte_level_chars()])}
    (tmp_path / "vocab.json").write_text(json.dumps(vocab))
    (tmp_path / "merges.txt").write_text("#version: 0.2\n")
    tok = transformers.RobertaTokenizer(str(tmp_path / "vocab.json"), str(tmp_path / "merges.txt"))
    fe = transformers.ClapFeatureExtractor(
        feature_size=64, sampling_rate=SR, hop_length=160, max_length_s=0.6, fft_window_size=400
    )
    text = dict(
        vocab_size=len(vocab),
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=64,
        projection_dim=8,
    )
    audio = dict(
        spec_size=64,
        patch_size=4,
        patch_stride=(4, 4),
        num_mel_bins=64,
        hidden_size=16,
        depths=[1, 1],
        num_attention_heads=[2, 2],
        window_size=4,
        patch_embeds_hidden_size=8,
        projection_dim=8,
        enable_fusion=False,
    )
    torch.manual_seed(0)
    model = transformers.ClapModel(
        transformers.ClapConfig(text_config=text, audio_config=audio, projection_dim=8)
    )
    model.save_pretrained(tmp_path)
    transformers.ClapProcessor(feature_extractor=fe, tokenizer=tok).save_pretrained(tmp_path)
    emb = make_embedder(f"clap:{tmp_path}")
    frames = emb.embed(tone(440))
    assert frames.shape == (5, 8) and np.isfinite(frames).all()  # 3 s in 0.6 s clips
    np.testing.assert_allclose(frames, emb.embed(tone(440)))  # deterministic
    q = audio_quality([tone(440), tone(450)], [tone(900), tone(910)], emb)
    assert np.isfinite(q["FAD"]) and np.isnan(q["KL"])  # CLAP gives no class probabilities
