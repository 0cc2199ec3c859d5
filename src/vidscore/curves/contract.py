"""The control contract: six curves per beat, each on the same 0-1 scale from music and video.

=========== ============================================ ======================================
curve       from music (training)                        from video (inference)
=========== ============================================ ======================================
activity    note onsets per second                       motion (mean absolute RGB difference)
intensity   mean velocity and number of sounding voices  arousal (motion, colour, cuts, sound)
boundary    phrase / section starts (0 or 1)             cuts and user markers (0 or 1)
accent      loudness of the attacks on the beat          optical-flow peaks (VMAs' video beats)
valence     chord quality and the mode of the key        colour affect, faces (or CLIP emotion)
register    mean pitch of the sounding notes             brightness (pitch-brightness
                                                         correspondence, Marks 1987)
=========== ============================================ ======================================

Both sides map onto one scale by rank: a music value becomes its quantile among the training
music's values (:class:`Calibration`, stored with the weights), a video value its quantile
within the clip (:func:`rank01`), blended with a fixed absolute map so a still clip stays calm
(:mod:`.video`). So "the busiest tenth of the clip" asks for "the busiest tenth of the music".
``boundary`` is 0 or 1 on both sides.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import numpy as np
from scipy.stats import rankdata

CURVES: tuple[str, ...] = ("activity", "intensity", "boundary", "accent", "valence", "register")
#: curves kept as 0/1 events rather than ranked
EVENTS = frozenset({"boundary"})
QUANTILES = 101


def rank01(x: np.ndarray) -> np.ndarray:
    """Each value's mid-rank quantile within ``x``, in (0, 1); a constant gives 0.5 throughout."""
    x = np.asarray(x, dtype=np.float64)
    if len(x) == 0:
        return x
    return (rankdata(x, method="average") - 0.5) / len(x)


def quantile_rank(x: np.ndarray, table: np.ndarray | list[float]) -> np.ndarray:
    """Each value's mid-rank among a sorted quantile ``table``, in [0, 1] (ties sit in the middle
    of their run)."""
    q = np.asarray(table, dtype=np.float64)
    lo = np.searchsorted(q, x, side="left")
    hi = np.searchsorted(q, x, side="right")
    return np.clip((lo + hi) / 2 / len(q), 0, 1)


def quantiles(x: np.ndarray) -> list[float]:
    """The :data:`QUANTILES`-point quantile table of ``x`` (what :func:`quantile_rank` reads)."""
    return (
        np.quantile(np.asarray(x, dtype=np.float64), np.linspace(0, 1, QUANTILES)).round(6).tolist()
    )


def shuffled_bars(rows: np.ndarray, seed: int, beats_per_bar: int = 4) -> np.ndarray:
    """Per-beat ``rows`` with their whole bars in a random order (a last, incomplete bar stays in
    place): the time-shuffle ablation of per-beat conditions, each beat keeping its bar position."""
    n = len(rows) // beats_per_bar
    order = np.random.default_rng(seed).permutation(n)
    head = rows[: n * beats_per_bar].reshape(n, beats_per_bar, *rows.shape[1:])[order]
    return np.concatenate([head.reshape(-1, *rows.shape[1:]), rows[n * beats_per_bar :]])


def mark_events(times, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """``(N,)`` 0/1: 1 on each beat ``[starts[i], ends[i])`` that an event time falls in (an
    event on a beat's start belongs to it; events past the last beat are dropped)."""
    out = np.zeros(len(starts))
    t = np.asarray(times, dtype=np.float64)
    if len(t) and len(starts):
        idx = np.searchsorted(starts, t + 1e-6, side="right") - 1
        out[idx[(idx >= 0) & (t < ends[-1])]] = 1.0
    return out


@dataclass
class CurveSet:
    """Curves on a beat grid: ``values[i]`` (in :data:`CURVES` order) covers the seconds
    ``[starts[i], ends[i])``."""

    starts: np.ndarray  # (N,) seconds
    ends: np.ndarray  # (N,) seconds
    values: np.ndarray  # (N, len(CURVES)) float32, 0-1
    source: str = "music"  # "music" or "video"
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.starts = np.asarray(self.starts, dtype=np.float64)
        self.ends = np.asarray(self.ends, dtype=np.float64)
        self.values = np.asarray(self.values, dtype=np.float32).reshape(len(self.starts), -1)
        if self.values.shape[1] != len(CURVES):
            raise ValueError(f"{self.values.shape[1]} curves, the contract has {len(CURVES)}")

    def __len__(self) -> int:
        return len(self.starts)

    def __getitem__(self, name: str) -> np.ndarray:
        return self.values[:, CURVES.index(name)]

    def replace(self, name: str, values: np.ndarray) -> CurveSet:
        out = self.values.copy()
        out[:, CURVES.index(name)] = values
        return CurveSet(self.starts, self.ends, out, self.source, dict(self.meta))

    def group(self, sizes: list[int]) -> CurveSet:
        """Consecutive beats merged into steps of ``sizes`` beats: the mean of each curve, the
        maximum of event curves (a step holds a boundary if any of its beats does)."""
        if sum(sizes) != len(self):
            raise ValueError(f"steps of {sum(sizes)} beats for {len(self)} beats")
        edges = np.concatenate([[0], np.cumsum(sizes)]).astype(int)
        pairs = list(itertools.pairwise(edges))
        vals = np.stack([self.values[a:b].mean(axis=0) for a, b in pairs])
        for name in EVENTS:
            k = CURVES.index(name)
            vals[:, k] = [self.values[a:b, k].max() for a, b in pairs]
        return CurveSet(self.starts[edges[:-1]], self.ends[edges[1:] - 1], vals, self.source)

    def per_second(self, duration: float) -> np.ndarray:
        """``(ceil(duration), len(CURVES))``: the curve in force at the middle of each second."""
        mids = np.arange(int(np.ceil(duration))) + 0.5
        idx = np.clip(np.searchsorted(self.starts, mids, side="right") - 1, 0, len(self) - 1)
        return self.values[idx] if len(self) else np.zeros((len(mids), len(CURVES)), np.float32)

    def shuffled(self, seed: int = 0) -> CurveSet:
        """The same values in a random order in time (the ablation of every steering table)."""
        order = np.random.default_rng(seed).permutation(len(self))
        return CurveSet(self.starts, self.ends, self.values[order], self.source, dict(self.meta))

    def to_dict(self) -> dict:
        return {
            "names": list(CURVES),
            "source": self.source,
            "starts": np.round(self.starts, 4).tolist(),
            "values": np.round(self.values, 4).tolist(),
        }


@dataclass
class Calibration:
    """The training music's quantiles of each ranked curve: raw value -> rank in the corpus."""

    quantiles: dict[str, list[float]]

    @classmethod
    def fit(cls, raw: np.ndarray) -> Calibration:
        """From ``(N, len(CURVES))`` raw values pooled over the training music."""
        return cls(
            {name: quantiles(raw[:, k]) for k, name in enumerate(CURVES) if name not in EVENTS}
        )

    def apply(self, raw: np.ndarray) -> np.ndarray:
        """``(N, len(CURVES))`` raw -> 0-1 (mid-rank among the table, so ties sit in the middle
        of their run); event curves pass through."""
        out = np.asarray(raw, dtype=np.float64).copy()
        for k, name in enumerate(CURVES):
            if name not in EVENTS:
                out[:, k] = quantile_rank(out[:, k], self.quantiles[name])
        return out.astype(np.float32)

    def to_dict(self) -> dict:
        return {"quantiles": self.quantiles}

    @classmethod
    def from_dict(cls, d: dict) -> Calibration:
        return cls({k: list(map(float, v)) for k, v in d["quantiles"].items()})
