"""Faces and smiles with OpenCV's Haar cascades: how many faces, how much of the frame, who smiles.

These feed the affect estimate (a smiling face raises valence). Haar cascades are old but ship
with OpenCV, run in milliseconds on a CPU and need no downloaded model.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from vidscore.features.base import Context
from vidscore.features.timeline import bin_mean, grid
from vidscore.types import Series, VideoInfo
from vidscore.video.io import Frame, FrameRequest


def _cascade(name: str) -> cv2.CascadeClassifier:
    path = Path(cv2.data.haarcascades) / name
    clf = cv2.CascadeClassifier(str(path))
    if clf.empty():  # pragma: no cover - only on a broken OpenCV install
        raise RuntimeError(f"OpenCV Haar cascade missing: {path}")
    return clf


class FaceDetector:
    """Frontal faces and, inside their lower half, smiles."""

    def __init__(self) -> None:
        self.faces = _cascade("haarcascade_frontalface_default.xml")
        self.smiles = _cascade("haarcascade_smile.xml")

    def __call__(self, grey: np.ndarray) -> tuple[int, float, float]:
        """(face count, summed face area as a fraction of the frame, share of faces smiling)."""
        grey = cv2.equalizeHist(grey)
        boxes = self.faces.detectMultiScale(grey, scaleFactor=1.2, minNeighbors=5, minSize=(20, 20))
        if len(boxes) == 0:
            return 0, 0.0, 0.0
        area = float(sum(w * h for _, _, w, h in boxes)) / grey.size
        smiling = 0
        for x, y, w, h in boxes:
            mouth = grey[y + h // 2 : y + h, x : x + w]
            found = self.smiles.detectMultiScale(
                mouth, scaleFactor=1.7, minNeighbors=20, minSize=(max(8, w // 5), max(4, h // 10))
            )
            smiling += int(len(found) > 0)
        return len(boxes), area, smiling / len(boxes)


class FaceExtractor:
    """Face count, face area and smile share, sampled at ``fps`` and averaged per second."""

    name = "faces"

    def __init__(self, *, fps: float = 1.0, max_side: int = 320) -> None:
        self.fps = fps
        self.max_side = max_side
        self._detector = FaceDetector()
        self._t: list[float] = []
        self._v: list[tuple[int, float, float]] = []

    @property
    def requests(self) -> list[FrameRequest]:
        return [FrameRequest("faces", self.fps, self.max_side, gray=True)]

    def start(self, info: VideoInfo) -> None:
        pass

    def push(self, frame: Frame) -> None:
        if "faces" in frame.images:
            self._t.append(frame.time)
            self._v.append(self._detector(frame.images["faces"]))

    def finish(self, ctx: Context) -> dict[str, Series]:
        d = ctx.duration
        g = grid(d, 1.0)
        v = bin_mean(
            np.array(self._t),
            np.array(self._v, dtype=np.float64).reshape(-1, 3),
            rate=1.0,
            duration=d,
        )
        return {
            "faces": Series("faces", g, v[:, 0], 1.0, "count", "frontal faces (Haar cascade)"),
            "face_area": Series("face_area", g, v[:, 1], 1.0, "fraction", "frame area in faces"),
            "smiles": Series("smiles", g, v[:, 2], 1.0, "fraction", "share of faces smiling"),
        }
