"""BGM909's video features as Diff-BGM's conditions, for people who have them.

BGM909 (the Diff-BGM authors' dataset) pairs POP909's music with video features; vidscore reads
its music from POP909 itself and the features from a folder laid out as the reference reads
them (``data/dataset.py`` of the Diff-BGM code), through the dataset reader
:mod:`vidscore.data.bgm909`:

* ``new_raw_video_feats/{id}.pth``: CLIP2Video visual features, a ``(T, 512)`` tensor;
* ``caption_feats/{id}.npy``: BLIP captions encoded by BERT, ``(T, 768)``;
* ``detection/{id}_scenes.txt``: TransNetV2 shots, one ``start end`` frame pair a line.

``{id}`` is POP909's song number (``001`` ...). As in the reference, each stream is read onto the
piece's beats by its share of the song (beat ``i`` of ``n`` takes row ``floor(i T / n)``); the
features carry no time stamps, so that is the only alignment there is. vidscore's pieces start at
the first downbeat, so the pickup (under a bar) shifts the rows by less than a bar. Unlike the
reference, which only counts the shots, the shots here are placed on the beats by the same share
of the song (frame ``f`` of ``F`` falls on beat ``floor(f n / F)``) and give SAC-Att its masks.

Weights trained on these features take the reference's conditioning (cross-attention alone,
visual tokens at t <= 200, caption tokens above); composing with them needs CLIP2Video and BLIP
features of the clip, which vidscore does not compute, so the system refuses them.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from vidscore.data import bgm909 as dataset
from vidscore.systems.diffbgm.data import Conditions


def check_folder(folder: str | os.PathLike) -> Path:
    """The features folder, or one clear error when it lacks BGM909's layout."""
    dataset.song_ids(folder)
    return Path(folder)


def song_id(piece_name: str) -> str:
    """``pop909/012`` -> ``012``."""
    return piece_name.rsplit("/", 1)[-1]


def per_beat(rows: np.ndarray, n_beats: int) -> np.ndarray:
    """``rows`` spread over ``n_beats`` by share of the song (the reference's floor lookup); a
    single vector (a caption for the whole song) is held over every beat."""
    rows = np.atleast_2d(np.asarray(rows, dtype=np.float32))
    if rows.ndim != 2 or rows.size == 0:
        raise ValueError(f"features of shape {rows.shape}: want (T, dims) with T >= 1")
    return rows[(np.arange(n_beats) * len(rows)) // n_beats]


def scene_starts(shots: list[tuple[int, int]], n_beats: int) -> np.ndarray:
    """``(n_beats,)`` booleans: True at the beat where each shot after the first starts."""
    starts = np.zeros(n_beats, dtype=bool)
    if shots:
        frames = np.asarray(shots, dtype=np.int64)
        total = int(frames[:, 1].max()) + 1
        beats = (frames[1:, 0] * n_beats) // total
        starts[beats[(beats > 0) & (beats < n_beats)]] = True
    return starts


def paired(folder: Path, pieces: list) -> list[tuple[object, Conditions]]:
    """Each piece that has BGM909 visual and caption features, with its conditions per beat
    (read by :mod:`vidscore.data.bgm909`; the folder is listed once)."""
    ids = set(dataset.song_ids(folder))
    out = []
    for p in pieces:
        if song_id(p.name) not in ids:
            continue
        item = dataset.load(folder, song_id(p.name))
        if item.caption.size:
            c = Conditions(
                per_beat(item.video, p.n_beats), per_beat(item.caption, p.n_beats),
                scene_starts(item.shots, p.n_beats),
            )  # fmt: skip
            out.append((p, c))
    return out
