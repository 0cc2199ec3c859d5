"""BGM909 (Diff-BGM): POP909 songs paired with videos, as per-song video features.

The released features archive (Diff-BGM's loader) holds, for each POP909 song id ``ID``:

```
ROOT/new_raw_video_feats/ID.pth   CLIP2Video features per video segment, (S, D) torch tensor
ROOT/caption_feats/ID.npy         BERT features of BLIP captions, (S, D') or (D',)
ROOT/detection/ID_scenes.txt      TransNetV2 shots, one "start_frame end_frame" per line
```
The music is POP909 itself (:mod:`vidscore.data.pop909`). ``.npy`` is accepted in place of
``.pth`` so the set can be kept without pickles. Splits follow
:func:`vidscore.data.splits.split_of` on the song id (the authors' split file is not public here).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vidscore.data.splits import split_of
from vidscore.errors import InputError
from vidscore.tables import read_rows

#: the layout's folders: CLIP2Video features, caption features, TransNetV2 shots
VISUAL, CAPTION, SCENES = "new_raw_video_feats", "caption_feats", "detection"


@dataclass
class BGM909Item:
    song_id: str
    video: np.ndarray  # (S, D) per-segment video features
    caption: np.ndarray  # caption features
    shots: list[tuple[int, int]]  # (start frame, end frame)

    @property
    def split(self) -> str:
        return split_of(f"pop909/{self.song_id}")


def _load_array(path: Path) -> np.ndarray:
    try:
        if path.suffix == ".pth":
            import torch

            t = torch.load(path, map_location="cpu", weights_only=True)
            return np.asarray(
                t.detach().cpu().numpy() if hasattr(t, "detach") else t, dtype=np.float32
            )
        return np.load(path, allow_pickle=False).astype(np.float32)
    except Exception as exc:
        raise InputError(f"{path}: cannot load features ({type(exc).__name__}: {exc})") from exc


def _shots(path: Path) -> list[tuple[int, int]]:
    """TransNetV2's ``start_frame end_frame`` lines."""
    return read_rows(path, lambda parts: (int(float(parts[0])), int(float(parts[1]))))


def song_ids(root: str | os.PathLike) -> list[str]:
    feats = Path(root) / VISUAL
    if not feats.is_dir():
        raise InputError(f"{root}: not a BGM909 folder (no {VISUAL}/)")
    return sorted({p.stem for p in feats.iterdir() if p.suffix in (".pth", ".npy")})


def load(root: str | os.PathLike, song_id: str) -> BGM909Item:
    r = Path(root)
    video = next(
        (p for p in (r / VISUAL / f"{song_id}{s}" for s in (".npy", ".pth")) if p.is_file()),
        None,
    )
    if video is None:
        raise InputError(f"{r}: no video features for song {song_id}")
    caption = r / CAPTION / f"{song_id}.npy"
    scenes = r / SCENES / f"{song_id}_scenes.txt"
    return BGM909Item(
        song_id,
        _load_array(video),
        _load_array(caption) if caption.is_file() else np.zeros(0, np.float32),
        _shots(scenes) if scenes.is_file() else [],
    )
