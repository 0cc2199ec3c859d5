"""MuVi-Sync, the layout Video2Music released (features archive), read per video id.

```
ROOT/vevo_chord/lab_v2_norm/all/ID.lab      "key C major" then "SECOND CHORD" (C, C:min7, N ...)
ROOT/vevo_emotion/6c_l14p/all/ID.lab        header "time ...", then "SECOND p1 .. p6"
ROOT/vevo_motion/all/ID.lab                 "SECOND VALUE"      (same for scene_offset,
ROOT/vevo_scene_offset/all/ID.lab                                loudness, note_density)
ROOT/vevo_loudness/all/ID.lab
ROOT/vevo_note_density/all/ID.lab
ROOT/vevo_semantic/all/2d/clip_l14p/ID.npy  (T, D) per-second CLIP features
ROOT/vevo_meta/split/v1/{train,val,test}.txt one id per line
```
Chords are key-normalised (C major / A minor) in ``lab_v2_norm``; every series is one value per
second. Items missing any file are skipped, as Video2Music's loader does.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vidscore.errors import InputError
from vidscore.music.chords import Chord, parse_harte
from vidscore.music.key import Key
from vidscore.tables import read_rows

SCALARS = ("motion", "scene_offset", "loudness", "note_density")


@dataclass
class MuViSyncItem:
    """One video's per-second features and chords."""

    video_id: str
    key: Key | None
    chords: list[Chord]  # one per second
    emotion: np.ndarray  # (T, 6) or (T, 5)
    semantic: np.ndarray  # (T, D)
    motion: np.ndarray
    scene_offset: np.ndarray
    loudness: np.ndarray
    note_density: np.ndarray


def _series(path: Path, width: int = 1) -> np.ndarray:
    """``SECOND v1 .. vW`` lines (an optional ``time ...`` header) as a per-second array."""

    def row(parts: list[str]) -> tuple[int, list[float]] | None:
        if parts[0] == "time":
            return None
        values = [float(x) for x in parts[1 : 1 + width]]
        if len(values) != width:
            raise ValueError(f"expected {width} values")
        return int(parts[0]), values

    rows = dict(read_rows(path, row))
    if not rows:
        return np.zeros((0, width) if width > 1 else (0,), dtype=np.float32)
    out = np.zeros((max(rows) + 1, width), dtype=np.float32)
    for t, v in rows.items():
        out[t] = v
    return out if width > 1 else out[:, 0]


def _chords(path: Path) -> tuple[Key | None, list[Chord]]:
    """``key C major`` then ``SECOND CHORD`` lines: the key and one chord per second."""
    key: list[Key] = []

    def row(parts: list[str]) -> tuple[int, Chord] | None:
        if parts[0] == "key":
            key.append(Key.parse(" ".join(parts[1:3])))
            return None
        return int(parts[0]), parse_harte(parts[1])

    by_time = dict(read_rows(path, row))
    chords = [by_time.get(t, parse_harte("N")) for t in range(max(by_time, default=-1) + 1)]
    return (key[0] if key else None), chords


class MuViSync:
    """Reader over a MuVi-Sync root; ``emotion_model`` is ``6c_l14p`` or ``5c_l14p``."""

    def __init__(
        self,
        root: str | os.PathLike,
        *,
        split_version: str = "v1",
        emotion_model: str = "6c_l14p",
        semantic_model: str = "2d/clip_l14p",
    ) -> None:
        self.root = Path(root)
        if not (self.root / "vevo_chord").is_dir():
            raise InputError(f"{self.root}: not a MuVi-Sync folder (no vevo_chord/)")
        self.split_version = split_version
        self.emotion_model = emotion_model
        self.semantic_model = semantic_model

    def ids(self, split: str) -> list[str]:
        path = self.root / "vevo_meta" / "split" / self.split_version / f"{split}.txt"
        if not path.is_file():
            raise InputError(f"{path}: split list not found")
        return read_rows(path, lambda parts: parts[0])

    def _paths(self, vid: str) -> dict[str, Path]:
        r = self.root
        paths = {
            "chord": r / "vevo_chord" / "lab_v2_norm" / "all" / f"{vid}.lab",
            "emotion": r / "vevo_emotion" / self.emotion_model / "all" / f"{vid}.lab",
            "semantic": r / "vevo_semantic" / "all" / self.semantic_model / f"{vid}.npy",
        }
        for name in SCALARS:
            paths[name] = r / f"vevo_{name}" / "all" / f"{vid}.lab"
        return paths

    def item(self, vid: str) -> MuViSyncItem:
        p = self._paths(vid)
        missing = [str(v) for v in p.values() if not v.is_file()]
        if missing:
            raise InputError(f"MuVi-Sync item {vid}: missing {missing[0]}")
        key, chords = _chords(p["chord"])
        width = 6 if self.emotion_model.startswith("6") else 5
        try:
            semantic = np.load(p["semantic"], allow_pickle=False).astype(np.float32)
        except (OSError, ValueError) as exc:
            raise InputError(f"{p['semantic']}: not a readable .npy ({exc})") from exc
        return MuViSyncItem(
            vid,
            key,
            chords,
            _series(p["emotion"], width),
            semantic,
            *(_series(p[name]) for name in SCALARS),
        )

    def items(self, split: str) -> list[MuViSyncItem]:
        """Every item of a split that has all its files."""
        out = []
        for vid in self.ids(split):
            if all(v.is_file() for v in self._paths(vid).values()):
                out.append(self.item(vid))
        return out
