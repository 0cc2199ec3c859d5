"""The CLIP path of the semantic extractor, on a tiny CLIP that the test builds and saves.

The real loading code runs unchanged: a local folder, or a hub id resolved from the local cache
only (no network). With CLIP, the six emotions come from zero-shot scoring.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import CLIPS, byte_level_chars, run_cli

pytestmark = pytest.mark.shared
torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")


@pytest.fixture(scope="module")
def tiny_clip(tmp_path_factory) -> Path:
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel, CLIPProcessor, CLIPTokenizer

    d = tmp_path_factory.mktemp("tiny-clip")
    chars = byte_level_chars()
    vocab = {c: i for i, c in enumerate(chars)}
    vocab.update({c + "</w>": len(chars) + i for i, c in enumerate(chars)})
    bos, eos = len(vocab), len(vocab) + 1
    vocab.update({"<|startoftext|>": bos, "<|endoftext|>": eos})
    (d / "vocab.json").write_text(json.dumps(vocab))
    (d / "merges.txt").write_text("#version: 0.2\n")  # no merges: one token per character
    tok = CLIPTokenizer(str(d / "vocab.json"), str(d / "merges.txt"))
    text = dict(
        vocab_size=len(vocab),
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        max_position_embeddings=40,
        bos_token_id=bos,
        eos_token_id=eos,
        pad_token_id=eos,
    )
    vision = dict(
        image_size=32,
        patch_size=8,
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
    )
    torch.manual_seed(0)
    model = CLIPModel(CLIPConfig(text_config=text, vision_config=vision, projection_dim=8))
    images = CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})
    model.save_pretrained(d)
    CLIPProcessor(image_processor=images, tokenizer=tok).save_pretrained(d)
    return d


def _analyze(clip_spec: str, out: Path, env: dict | None = None):
    return run_cli("analyze", CLIPS["bikes"], "-o", out, "--semantic", clip_spec, env=env)


def test_clip_from_a_local_folder(tiny_clip, tmp_path):
    r = _analyze(f"clip:{tiny_clip}", tmp_path / "f.json")
    assert r.returncode == 0, r.stderr
    doc = json.loads((tmp_path / "f.json").read_text())
    assert doc["meta"]["semantic"] == {"name": f"clip:{tiny_clip.name}", "dim": 8}
    assert doc["meta"]["emotion_source"] == "clip-zero-shot"
    emb = np.array(doc["series"]["semantic"]["values"])
    assert emb.shape == (10, 8)
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-4)
    assert np.ptp(emb, axis=0).max() > 1e-3  # frames differ, so do their embeddings
    probs = np.array(doc["series"]["emotion"]["values"])
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-4)
    np.testing.assert_allclose(probs, np.array(doc["series"]["emotion_clip"]["values"]), atol=1e-5)


def test_clip_from_the_local_hub_cache(tiny_clip, tmp_path):
    cache = tmp_path / "hub"
    snap = cache / "models--tiny--clip" / "snapshots" / ("0" * 40)
    shutil.copytree(tiny_clip, snap)
    (cache / "models--tiny--clip" / "refs").mkdir()
    (cache / "models--tiny--clip" / "refs" / "main").write_text("0" * 40)
    env = {"HF_HUB_CACHE": str(cache), "HF_HUB_OFFLINE": "1"}
    r = _analyze("clip:tiny/clip", tmp_path / "f.json", env)
    assert r.returncode == 0, r.stderr
    assert json.loads((tmp_path / "f.json").read_text())["meta"]["semantic"]["dim"] == 8
    # a hub id that is not cached is refused, not downloaded
    r = _analyze("clip:tiny/absent", tmp_path / "g.json", env)
    assert r.returncode == 2 and "never downloads" in r.stderr and "Traceback" not in r.stderr
