"""Per-second semantic embedding through a pluggable extractor.

* ``clip:PATH`` — a CLIP model (Hugging Face ``transformers`` layout) from a local folder, or a
  hub id already in the local cache (never downloaded). Video2Music and V-MusProd both use CLIP
  image features; with CLIP we also score Video2Music's six emotions zero-shot.
* ``handcrafted`` (default) — a compact visual descriptor that needs no model: colour (hue
  histogram, saturation, value, Lab chroma, a 2x2 layout), texture (sharpness), edges (density and
  an orientation histogram), faces and motion statistics. Every component is centred on a
  typical value so cosine similarity between frames is informative (the descriptor is not
  all-positive).

The extractor's name and dimension are recorded in the features' ``meta``.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from vidscore.errors import ModelLoadError, UsageError
from vidscore.features.base import Context
from vidscore.features.timeline import bin_mean, grid
from vidscore.types import EMOTIONS, Series, VideoInfo
from vidscore.video.io import Frame, FrameRequest

#: Prompts for CLIP zero-shot emotion, one per Video2Music emotion, in EMOTIONS order.
EMOTION_PROMPTS = tuple(f"a {e} scene" for e in EMOTIONS)
HANDCRAFTED_DIM = 36


def handcrafted_descriptor(rgb: np.ndarray) -> np.ndarray:
    """32-d image part of the handcrafted descriptor for an ``(H, W, 3)`` uint8 RGB image."""
    hsv = cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV).astype(np.float32)
    h, s, v = hsv[..., 0] * 2.0, hsv[..., 1] / 255.0, hsv[..., 2] / 255.0
    w = (s * v).reshape(-1)
    hue_hist, _ = np.histogram(h.reshape(-1), bins=12, range=(0, 360), weights=w)
    hue_hist = hue_hist / max(hue_hist.sum(), 1e-6) - 1.0 / 12
    lab = cv2.cvtColor(rgb, cv2.COLOR_RGB2LAB).astype(np.float32)
    a_mean = (lab[..., 1].mean() - 128.0) / 64.0
    b_mean = (lab[..., 2].mean() - 128.0) / 64.0
    hh, ww = v.shape
    quads = [
        v[: hh // 2, : ww // 2],
        v[: hh // 2, ww // 2 :],
        v[hh // 2 :, : ww // 2],
        v[hh // 2 :, ww // 2 :],
    ]
    layout = np.array([q.mean() for q in quads]) - v.mean()
    grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    edges = cv2.Canny(grey, 80, 160)
    edge_density = float((edges > 0).mean())
    gx = cv2.Sobel(grey, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(grey, cv2.CV_32F, 0, 1, ksize=3)
    mag = np.sqrt(gx**2 + gy**2)
    ang = (np.degrees(np.arctan2(gy, gx)) + 180.0) % 180.0
    ori, _ = np.histogram(ang, bins=8, range=(0, 180), weights=mag)
    ori = ori / max(ori.sum(), 1e-6) - 1.0 / 8
    sharp = np.log1p(cv2.Laplacian(grey, cv2.CV_32F).var()) / 10.0 - 0.5
    return np.concatenate(
        [
            2.0 * hue_hist,
            [s.mean() - 0.4, s.std() - 0.2, v.mean() - 0.5, v.std() - 0.2],
            [a_mean, b_mean],
            2.0 * layout,
            [4.0 * edge_density - 0.5, sharp],
            2.0 * ori,
        ]
    ).astype(np.float32)


class HandcraftedSemantic:
    """The model-free descriptor at ``fps``, completed per second with faces and motion."""

    name = "semantic"
    extractor_name = "handcrafted-v1"

    def __init__(self, *, fps: float = 1.0, max_side: int = 192) -> None:
        self.fps = fps
        self.max_side = max_side
        self._t: list[float] = []
        self._v: list[np.ndarray] = []

    @property
    def requests(self) -> list[FrameRequest]:
        return [FrameRequest("semantic", self.fps, self.max_side)]

    def start(self, info: VideoInfo) -> None:
        pass

    def push(self, frame: Frame) -> None:
        if "semantic" in frame.images:
            self._t.append(frame.time)
            self._v.append(handcrafted_descriptor(frame.images["semantic"]))

    def finish(self, ctx: Context) -> dict[str, Series]:
        d = ctx.duration
        image_part = bin_mean(np.array(self._t), np.array(self._v), rate=self.fps, duration=d)
        g = grid(d, self.fps)

        def per_step(name: str, scale: float, centre: float) -> np.ndarray:
            s = ctx.series.get(name)
            if s is None:
                return np.zeros(len(g), dtype=np.float32)
            return (bin_mean(s.times, s.values, rate=self.fps, duration=d) - centre) / scale

        extra = np.stack(
            [
                np.clip(per_step("faces", 2.0, 0.0), 0, 2),
                per_step("face_area", 0.2, 0.0),
                per_step("motion", 20.0, 0.5),
                per_step("flow_1hz", 2.0, 0.5),
            ],
            axis=1,
        )
        emb = np.concatenate([image_part, extra], axis=1)
        emb /= np.maximum(np.linalg.norm(emb, axis=1, keepdims=True), 1e-6)
        ctx.meta["semantic"] = {"name": self.extractor_name, "dim": int(emb.shape[1])}
        return {
            "semantic": Series(
                "semantic",
                g,
                emb,
                self.fps,
                "unit vector",
                f"{self.extractor_name} visual descriptor",
            )
        }


class ClipSemantic:
    """CLIP image embeddings at ``fps`` and zero-shot probabilities of the six emotions."""

    name = "semantic"

    def __init__(self, spec: str, *, fps: float = 1.0, batch: int = 16) -> None:
        try:
            import torch
            from transformers import CLIPModel, CLIPProcessor
        except ImportError as exc:
            raise ModelLoadError(
                "CLIP features need torch and transformers: pip install 'vidscore[clip]'"
            ) from exc
        from vidscore.hub import load_pretrained

        self._torch = torch
        self.model, self.processor, path = load_pretrained(CLIPModel, CLIPProcessor, spec, "CLIP")
        self.extractor_name = f"clip:{Path(path).name}"
        self.fps = fps
        self.batch = batch
        crop = self.processor.image_processor.crop_size
        side = getattr(crop, "height", None) or (crop["height"] if hasattr(crop, "keys") else crop)
        self.input_side = int(side)
        self.max_side = 2 * self.input_side
        with torch.no_grad():
            text = self.processor(text=list(EMOTION_PROMPTS), return_tensors="pt", padding=True)
            tf = self.model.get_text_features(**text)
            tf = getattr(tf, "pooler_output", tf)
        self._text = tf / tf.norm(dim=-1, keepdim=True)
        self._t: list[float] = []
        self._pending: list[np.ndarray] = []
        self._emb: list[np.ndarray] = []

    @property
    def requests(self) -> list[FrameRequest]:
        return [FrameRequest("semantic", self.fps, self.max_side)]

    def start(self, info: VideoInfo) -> None:
        short, long = sorted((info.width, info.height))
        # ask for frames whose short side reaches CLIP's input, so nothing is upscaled
        self.max_side = max(self.input_side, int(np.ceil(self.input_side * long / max(short, 1))))

    def _flush(self) -> None:
        if not self._pending:
            return
        torch = self._torch
        with torch.no_grad():
            pix = self.processor(images=self._pending, return_tensors="pt")
            f = self.model.get_image_features(**pix)
            f = getattr(f, "pooler_output", f)
        self._emb.append((f / f.norm(dim=-1, keepdim=True)).numpy())
        self._pending = []

    def push(self, frame: Frame) -> None:
        if "semantic" in frame.images:
            self._t.append(frame.time)
            self._pending.append(frame.images["semantic"])
            if len(self._pending) >= self.batch:
                self._flush()

    def finish(self, ctx: Context) -> dict[str, Series]:
        self._flush()
        torch = self._torch
        d = ctx.duration
        emb = np.concatenate(self._emb) if self._emb else np.zeros((0, self._text.shape[1]))
        scale = float(self.model.logit_scale.detach().exp())
        logits = torch.from_numpy(emb).float() @ self._text.T * scale
        probs = torch.softmax(logits, dim=-1).numpy()
        t = np.array(self._t)
        g = grid(d, self.fps)
        step_emb = bin_mean(t, emb, rate=self.fps, duration=d)
        step_emb /= np.maximum(np.linalg.norm(step_emb, axis=1, keepdims=True), 1e-6)
        ctx.meta["semantic"] = {"name": self.extractor_name, "dim": int(emb.shape[1])}
        return {
            "semantic": Series(
                "semantic",
                g,
                step_emb,
                self.fps,
                "unit vector",
                f"{self.extractor_name} image embedding",
            ),
            "emotion_clip": Series(
                "emotion_clip",
                grid(d, 1.0),
                bin_mean(t, probs, rate=1.0, duration=d),
                1.0,
                "probability",
                "CLIP zero-shot probabilities of " + ", ".join(EMOTIONS),
            ),
        }


def make_semantic(spec: str = "handcrafted", *, fps: float = 1.0):
    """Build the semantic extractor named by ``--semantic`` (``handcrafted`` or ``clip:PATH``)."""
    if spec == "handcrafted":
        return HandcraftedSemantic(fps=fps)
    if spec.startswith("clip:") and len(spec) > 5:
        return ClipSemantic(spec[5:], fps=fps)
    raise UsageError(f"--semantic {spec!r}: use 'handcrafted' or 'clip:PATH'")


def frame_similarity(embeddings: np.ndarray) -> float:
    """Mean pairwise cosine similarity of distinct frames (DISCO-MV keeps clips below 0.7)."""
    e = np.asarray(embeddings, dtype=np.float64)
    n = len(e)
    if n < 2:
        return float("nan")
    e = e / np.maximum(np.linalg.norm(e, axis=1, keepdims=True), 1e-12)
    total = e.sum(axis=0)  # sum of all pairs' dot products = |sum of rows|^2: no n x n matrix
    return float((total @ total - (e * e).sum()) / (n * (n - 1)))
