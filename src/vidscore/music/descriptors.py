"""Per-second note density and loudness, as Video2Music defines them.

* note density: the number of notes overlapping each 1-s window;
* loudness from MIDI: mean velocity / 127 of the notes overlapping the window (0 when silent);
* loudness from audio: RMS per window in dB relative to the loudest window (librosa's
  ``amplitude_to_db(ref=max)``), converted back to amplitude: RMS / max RMS, in [0, 1].
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np


def _windows(duration: float, window: float) -> int:
    return max(1, math.ceil(duration / window - 1e-9))


def note_density(
    notes_sec: Iterable[tuple[float, float]], duration: float, window: float = 1.0
) -> np.ndarray:
    """Notes (start, end in seconds) overlapping each window."""
    out = np.zeros(_windows(duration, window))
    for s, e in notes_sec:
        a = int(max(0.0, s) // window)
        b = int(max(s, e - 1e-9) // window)
        out[a : min(b, len(out) - 1) + 1] += 1
    return out


def midi_loudness(
    notes_sec: Iterable[tuple[float, float, int]], duration: float, window: float = 1.0
) -> np.ndarray:
    """Mean velocity / 127 of notes (start, end, velocity) overlapping each window."""
    n = _windows(duration, window)
    total, count = np.zeros(n), np.zeros(n)
    for s, e, v in notes_sec:
        a = int(max(0.0, s) // window)
        b = min(int(max(s, e - 1e-9) // window), n - 1)
        total[a : b + 1] += v / 127.0
        count[a : b + 1] += 1
    return np.divide(total, count, out=np.zeros(n), where=count > 0)


def audio_loudness(y: np.ndarray, sr: int, window: float = 1.0) -> np.ndarray:
    """Per-window loudness: RMS -> dB re. the loudest window (floor -80 dB) -> amplitude."""
    hop = round(sr * window)
    n = _windows(len(y) / sr, window)
    rms = np.zeros(n)
    for i in range(n):
        seg = np.asarray(y[i * hop : (i + 1) * hop], dtype=np.float64)
        rms[i] = float(np.sqrt(np.mean(seg**2))) if seg.size else 0.0
    ref = rms.max()
    if ref <= 0:
        return rms
    db = np.maximum(20.0 * np.log10(np.maximum(rms, 1e-12) / ref), -80.0)
    return 10.0 ** (db / 20.0)
