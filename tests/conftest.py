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
