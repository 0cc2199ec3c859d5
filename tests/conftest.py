"""Shared fixtures: the real clips in ../shared/videos and montages built from them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from vidscore.video.montage import build_montage

SHARED = Path(__file__).resolve().parents[2] / "shared"
VIDEOS = SHARED / "videos"
CLIPS = {
    "bigbuckbunny": VIDEOS / "bigbuckbunny.mp4",
    "bikes": VIDEOS / "bikes.mp4",
    "carphone_pristine": VIDEOS / "carphone_pristine.mp4",
}
#: Montage pieces in seconds; the splices fall at their running sums. Each source is used for
#: less than its length or loops far from a splice (a loop is a cut of its own).
MONTAGE_SEGMENTS = [2.0, 2.6, 3.2, 2.2, 2.4, 2.8]


def tone_spool(path: Path, x, *, rate: int = 48000):
    """A spool holding the samples ``x`` (``(n,)`` mono or ``(n, 2)``)."""
    import numpy as np

    from vidscore.audio.spool import SpoolWriter

    a = np.asarray(x, dtype=np.float32)
    with SpoolWriter(path, rate=rate, channels=1 if a.ndim == 1 else a.shape[1]) as w:
        w.write(a)
        return w.finish()


def make_clip(
    path: Path,
    *,
    vcodec: str = "mpeg4",
    acodec: str | None = "aac",
    seconds: float = 2.0,
    size: tuple[int, int] = (160, 120),
    fps: int = 25,
    fmt: str | None = None,
) -> Path:
    """A small clip made with PyAV: a moving gradient picture and, unless ``acodec`` is None, a
    440 Hz tone that is silent for its first half second (so lost sound shows as a shift)."""
    import av
    import numpy as np

    w, h = size
    with av.open(str(path), "w", format=fmt) as c:
        v = c.add_stream(vcodec, rate=fps)
        v.width, v.height = w, h
        v.pix_fmt = "rgb24" if vcodec == "cinepak" else "yuv420p"
        if acodec is not None:
            a = c.add_stream(acodec, rate=48000, layout="stereo")
            t = np.arange(int(48000 * seconds)) / 48000
            x = (0.3 * np.sin(2 * np.pi * 440 * t) * (t >= 0.5)).astype(np.float32)
            fs = a.codec_context.frame_size or 1024
            layout = a.codec_context.format.name
            for i in range(0, len(x) - fs + 1, fs):
                blk = np.stack([x[i : i + fs]] * 2)
                if not layout.endswith("p"):
                    blk = blk.T.reshape(1, -1)
                if layout.startswith("s16"):
                    blk = (blk * 32767).astype(np.int16)
                frame = av.AudioFrame.from_ndarray(
                    np.ascontiguousarray(blk), format=layout, layout="stereo"
                )
                frame.sample_rate, frame.pts = 48000, i
                for p in a.encode(frame):
                    c.mux(p)
            for p in a.encode():
                c.mux(p)
        yy, xx = np.mgrid[0:h, 0:w]
        for i in range(int(seconds * fps)):
            img = np.stack([(xx * 2 + i * 6) % 256, (yy * 2) % 256, (xx + yy + i * 3) % 256], -1)
            for p in v.encode(av.VideoFrame.from_ndarray(img.astype(np.uint8), format="rgb24")):
                c.mux(p)
        for p in v.encode():
            c.mux(p)
    return path


def run_cli(*args, env: dict | None = None, timeout: int = 600) -> subprocess.CompletedProcess:
    """Run ``python -m vidscore ARGS`` as a user would, capturing its output."""
    return subprocess.run(
        [sys.executable, "-m", "vidscore", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


def byte_level_chars() -> list[str]:
    """The GPT-2 / CLIP / RoBERTa byte-to-unicode table: every byte one printable character,
    so a vocabulary of these plus no merges is a valid (if tiny) BPE tokenizer for tests."""
    keep = [*range(33, 127), *range(161, 173), *range(174, 256)]
    extra = [256 + i for i in range(256 - len(keep))]
    return [chr(c) for c in keep + extra]


def pytest_collection_modifyitems(config, items):
    if not VIDEOS.is_dir():
        skip = pytest.mark.skip(reason=f"{VIDEOS} not found (tests need ../shared)")
        for item in items:
            if "shared" in item.keywords:
                item.add_marker(skip)


@pytest.fixture(scope="session")
def montage(tmp_path_factory) -> tuple[Path, list[float]]:
    """A 15.2 s, 320x180, 25 fps montage of the three clips with splices at known frames."""
    out = tmp_path_factory.mktemp("montage") / "montage.mp4"
    order = [CLIPS["bikes"], CLIPS["bigbuckbunny"], CLIPS["carphone_pristine"]]
    splices = build_montage(order, out, segments=MONTAGE_SEGMENTS, size=(320, 180), fps=25)
    return out, splices


@pytest.fixture(scope="session")
def small_clip(tmp_path_factory) -> Path:
    """A 3 s 160x90 montage, quick to analyze."""
    out = tmp_path_factory.mktemp("small") / "small.mp4"
    build_montage(
        [CLIPS["bigbuckbunny"], CLIPS["bikes"]], out, segments=[1.5, 1.5], size=(160, 90), fps=25
    )
    return out


#: The paired fixture's layout: each real clip with a POP909 excerpt muxed under it as its music
PAIRED_SPLITS = {"bikes": "train", "bigbuckbunny": "train", "carphone_pristine": "val"}


@pytest.fixture(scope="session")
def paired_layout(tmp_path_factory) -> tuple[Path, dict]:
    """A DISCO-MV-style folder (ROOT/train, ROOT/val) made from the clips in ../shared/videos,
    each carrying a rendered POP909 excerpt as its soundtrack; returns the root and the music
    (mono, 48 kHz) muxed under each clip."""
    from vidscore.audio.source import MIX_RATE
    from vidscore.systems.vmas.renders import pieces, render_piece
    from vidscore.video.io import probe
    from vidscore.video.mux import mux

    root = tmp_path_factory.mktemp("paired")
    candidates = pieces([SHARED / "data" / "POP909"], limit=12)
    music = {}
    for i, (name, split) in enumerate(sorted(PAIRED_SPLITS.items())):
        info = probe(CLIPS[name])
        render = None
        for piece in candidates[i * 4 :]:
            render = render_piece(piece, seconds=info.duration, rate=MIX_RATE, seed=0)
            if render is not None:
                break
        assert render is not None, "no POP909 piece long enough for the paired fixture"
        (root / split).mkdir(exist_ok=True)
        spool = tone_spool(root / f"{name}.f32", render.audio)
        mux(CLIPS[name], spool, root / split / f"{name}.mp4", info=info, original=None)
        music[name] = render.audio
    return root, music


@pytest.fixture(scope="session")
def tiny_codec_and_clip():
    """A tiny codec trained for a few seconds on one real POP909 excerpt, and that excerpt."""
    import numpy as np
    import torch

    from vidscore.systems.vmas.codec import Codec, CodecConfig
    from vidscore.systems.vmas.codec_train import MelLoss, codec_loss
    from vidscore.systems.vmas.renders import Piece, render_piece

    pop909 = SHARED / "data" / "POP909"
    if not pop909.is_dir():
        pytest.skip("needs ../shared/data/POP909")
    r = render_piece(Piece("pop909/001", "train", pop909 / "001" / "001.mid"), seconds=4,
                     rate=16000, seed=0)  # fmt: skip
    torch.manual_seed(0)
    cfg = CodecConfig(channels=32, blocks=1, codebooks=2, codebook_size=32)
    codec = Codec(cfg)
    mel = MelLoss(cfg.sample_rate)
    opt = torch.optim.Adam(codec.parameters(), lr=3e-3)
    x = torch.from_numpy(r.audio)
    rng = np.random.default_rng(0)
    for _ in range(60):
        starts = rng.integers(0, len(x) - 8000, 8)
        batch = torch.stack([x[s : s + 8000] for s in starts])
        loss = codec_loss(codec, batch, mel)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return codec.eval(), r.audio[:32000]
