"""The feature timeline on disk and on a grid: binning, resampling, JSON and NPZ.

JSON is for people and other tools (documented in docs/features.md); NPZ keeps full precision
and loads faster. Both round-trip to an equal :class:`~vidscore.types.VideoFeatures`.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import numpy as np

from vidscore.errors import InputError
from vidscore.outputs import atomic_path
from vidscore.types import Series, VideoFeatures, VideoInfo

FORMAT = "vidscore.features/1"


def grid(duration: float, rate: float) -> np.ndarray:
    """Start times ``k / rate`` of the intervals covering ``[0, duration)``."""
    n = max(1, math.ceil(duration * rate - 1e-6))
    return np.arange(n, dtype=np.float64) / rate


def nearest_sample(times: np.ndarray, at: np.ndarray) -> np.ndarray:
    """Index of the sample in ``times`` nearest each of ``at`` (the earlier one on a tie), by
    binary search: memory linear in the inputs, not their product."""
    order = np.argsort(times, kind="stable")
    ts = times[order]
    pos = np.searchsorted(ts, at)
    lo = np.clip(pos - 1, 0, len(ts) - 1)
    hi = np.clip(pos, 0, len(ts) - 1)
    return order[np.where(np.abs(ts[lo] - at) <= np.abs(ts[hi] - at), lo, hi)]


def bin_mean(times: np.ndarray, values: np.ndarray, *, rate: float, duration: float) -> np.ndarray:
    """Average samples into intervals of ``1/rate`` s; empty intervals take the nearest sample.

    ``values`` is ``(N,)`` or ``(N, D)``; the result has ``len(grid(duration, rate))`` rows.
    """
    times = np.asarray(times, dtype=np.float64)
    values = np.asarray(values)  # summed in float64 below, without a float64 copy of the input
    g = grid(duration, rate)
    out_shape = (len(g), *values.shape[1:])
    if len(times) == 0:
        return np.zeros(out_shape, dtype=np.float32)
    idx = np.clip(np.floor(times * rate + 1e-9).astype(int), 0, len(g) - 1)
    flat = values.reshape(len(values), -1)
    # float32 input sums in float32 (a few samples a bin): half the memory of a 30-minute
    # clip's per-second histograms
    out = np.zeros((len(g), flat.shape[1]), dtype=np.float32 if flat.dtype == np.float32 else None)
    np.add.at(out, idx, flat)
    counts = np.bincount(idx, minlength=len(g)).astype(np.float64)
    out /= np.maximum(counts, 1)[:, None]
    empty = counts == 0
    if empty.any():
        out[empty] = flat[nearest_sample(times, g[empty] + 0.5 / rate)]
    return out.reshape(out_shape).astype(np.float32, copy=False)


def resample(series: Series, rate: float, duration: float) -> Series:
    """The same series on a regular grid of ``rate`` Hz (mean when coarser, nearest when finer)."""
    if rate >= series.rate:
        g = grid(duration, rate)
        idx = np.clip(np.searchsorted(series.times, g + 1e-9, side="right") - 1, 0, len(series) - 1)
        values = series.values[idx]
    else:
        g = grid(duration, rate)
        values = bin_mean(series.times, series.values, rate=rate, duration=duration)
    return Series(series.name, g, values, rate, series.unit, series.description)


def _is_regular(s: Series) -> bool:
    n = len(s)
    return n > 0 and np.allclose(s.times, s.times[0] + np.arange(n) / s.rate, atol=1e-6)


def to_json_dict(features: VideoFeatures) -> dict[str, Any]:
    """The documented JSON layout (docs/features.md)."""
    series = {}
    for name, s in features.series.items():
        regular = _is_regular(s)
        series[name] = {
            "fps": s.rate,
            "unit": s.unit,
            "description": s.description,
            "shape": list(s.values.shape),
            "start": float(s.times[0]) if len(s) else 0.0,
            "times": None if regular else np.round(s.times, 6).tolist(),
            "values": np.round(s.values.astype(np.float64), 6).tolist(),
        }
    return {
        "format": FORMAT,
        "duration": features.duration,
        "info": features.info.to_dict(),
        "cuts": [round(float(c), 6) for c in features.cuts],
        "meta": features.meta,
        "series": series,
    }


def from_json_dict(d: dict[str, Any], *, source: str = "features") -> VideoFeatures:
    if d.get("format") != FORMAT:
        raise InputError(f"{source}: not a vidscore features file (format {d.get('format')!r})")
    series = {}
    for name, s in d["series"].items():
        values = np.asarray(s["values"], dtype=np.float32).reshape(s["shape"])
        if s["times"] is None:
            times = s["start"] + np.arange(values.shape[0]) / s["fps"]
        else:
            times = np.asarray(s["times"])
        series[name] = Series(name, times, values, s["fps"], s["unit"], s["description"])
    return VideoFeatures(
        info=VideoInfo.from_dict(d["info"]), cuts=list(d["cuts"]), series=series, meta=d["meta"]
    )


def save_json(features: VideoFeatures, path: str | os.PathLike, *, overwrite: bool = False) -> None:
    with atomic_path(path, overwrite=overwrite) as tmp:
        tmp.write_text(json.dumps(to_json_dict(features), separators=(",", ":")))


def load_json(path: str | os.PathLike) -> VideoFeatures:
    p = Path(path)
    try:
        d = json.loads(p.read_text())
    except FileNotFoundError as exc:
        raise InputError(f"{p}: no such file") from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"{p}: not valid JSON ({exc})") from exc
    return from_json_dict(d, source=str(p))


def save_npz(features: VideoFeatures, path: str | os.PathLike, *, overwrite: bool = False) -> None:
    arrays: dict[str, np.ndarray] = {}
    head = to_json_dict(VideoFeatures(features.info, features.cuts, {}, features.meta))
    head["series"] = {
        n: {"fps": s.rate, "unit": s.unit, "description": s.description}
        for n, s in features.series.items()
    }
    arrays["header"] = np.array(json.dumps(head))
    for name, s in features.series.items():
        arrays[f"{name}.times"] = s.times
        arrays[f"{name}.values"] = s.values
    with atomic_path(path, overwrite=overwrite, suffix=".npz") as tmp, open(tmp, "wb") as fh:
        np.savez_compressed(fh, **arrays)


def load_npz(path: str | os.PathLike) -> VideoFeatures:
    p = Path(path)
    try:
        z = np.load(p, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise InputError(f"{p}: not a readable NPZ file ({exc})") from exc
    with z:
        head = json.loads(str(z["header"]))
        if head.get("format") != FORMAT:
            raise InputError(f"{p}: not a vidscore features file")
        series = {
            n: Series(n, z[f"{n}.times"], z[f"{n}.values"], m["fps"], m["unit"], m["description"])
            for n, m in head["series"].items()
        }
    return VideoFeatures(VideoInfo.from_dict(head["info"]), head["cuts"], series, head["meta"])
