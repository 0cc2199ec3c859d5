"""The music under the clip's own sound, mixed block by block from two spools.

Levels are set by measured loudness (ITU-R BS.1770, :mod:`.loudness`), not by peaks, so
``original_gain_db`` means what it says: the clip's sound ends up that many LU away from the
music's integrated loudness (boosted by at most ``MAX_BOOST_DB``). Where the clip's sound rises
above its usual level (speech, effects: its momentary loudness above its median), the music is
ducked by up to ``duck_db``, fully at 6 LU above the median, following the 400 ms momentary
loudness. The whole mix is then scaled once so that its peak is at most -1 dBFS, which keeps
the balance. Every gain is decided before the first block is written (:func:`plan_mix`).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from vidscore.audio.loudness import ABSOLUTE_GATE, BLOCK_STEPS, STEP
from vidscore.audio.spool import Spool

PEAK = 10 ** (-1 / 20)
MAX_BOOST_DB = 20.0
FULL_DUCK_LU = 6.0


@dataclass(frozen=True)
class MixPlan:
    """Every gain of one mix: the clip's sound (linear), the music's ducking curve (linear
    gains at ``duck_times`` seconds) and the final scale of the sum."""

    original_gain: float
    duck_times: np.ndarray
    duck_gains: np.ndarray
    scale: float
    music_lufs: float
    original_lufs: float  # as it sounds in the mix; -inf when there is none or it is silent


def heard_lufs(spool: Spool) -> float:
    """Loudness as played in the stereo mix: a mono spool goes to both channels (+3 LU)."""
    return spool.loudness + (10 * math.log10(2) if spool.channels == 1 else 0.0)


def _original_gain_db(music: Spool, original: Spool, gain_db: float) -> float:
    if math.isinf(music.loudness) or math.isinf(original.loudness):
        return gain_db  # nothing measurable to balance against: a plain gain
    return min(heard_lufs(music) + gain_db - heard_lufs(original), MAX_BOOST_DB)


def _ducking(original: Spool, duck_db: float) -> tuple[np.ndarray, np.ndarray]:
    m = original.momentary
    heard = m[m > ABSOLUTE_GATE]
    times = STEP * np.arange(len(m)) + STEP * BLOCK_STEPS / 2
    if not len(heard) or duck_db <= 0:
        return np.zeros(1), np.ones(1)
    presence = np.clip((m - np.median(heard)) / FULL_DUCK_LU, 0.0, 1.0)
    return times, 10 ** (-duck_db * presence / 20)


def _stereo(x: np.ndarray) -> np.ndarray:
    """A ``(n, 2)`` copy of a mono or stereo block."""
    return np.repeat(x[:, :1], 2, axis=1) if x.shape[1] == 1 else x[:, :2].copy()


def _blocks(
    music: Spool,
    original: Spool | None,
    frames: int,
    original_gain: float,
    duck: tuple[np.ndarray, np.ndarray],
    scale: float,
) -> Iterator[np.ndarray]:
    rate = music.rate
    others = original.blocks(frames) if original is not None else None
    start = 0
    for m in music.blocks(frames):
        n = len(m)
        out = _stereo(m)
        if others is not None:
            t = (start + np.arange(n)) / rate
            out *= np.interp(t, *duck).astype(np.float32)[:, None]
            out += original_gain * _stereo(next(others))
        start += n
        yield out * scale if scale != 1.0 else out


def plan_mix(
    music: Spool,
    original: Spool | None,
    *,
    frames: int,
    original_gain_db: float = -12.0,
    duck_db: float = 6.0,
) -> MixPlan:
    """Decide the gains, then read both spools once to find the scale that keeps the peak."""
    if original is None:
        g_db, duck = -math.inf, (np.zeros(1), np.ones(1))
    else:
        g_db, duck = (
            _original_gain_db(music, original, original_gain_db),
            _ducking(original, duck_db),
        )
    gain = 0.0 if original is None else 10 ** (g_db / 20)
    peak = max(
        (float(np.abs(b).max()) for b in _blocks(music, original, frames, gain, duck, 1.0)),
        default=0.0,
    )
    return MixPlan(
        original_gain=gain,
        duck_times=duck[0],
        duck_gains=duck[1],
        scale=PEAK / peak if peak > PEAK else 1.0,
        music_lufs=heard_lufs(music),
        original_lufs=-math.inf if original is None else heard_lufs(original) + g_db,
    )


def mix_blocks(
    music: Spool, original: Spool | None, plan: MixPlan, *, frames: int
) -> Iterator[np.ndarray]:
    """The mix as ``(n, 2)`` float32 blocks of :data:`~.spool.BLOCK` frames, ``frames`` in all."""
    duck = (plan.duck_times, plan.duck_gains)
    return _blocks(music, original, frames, plan.original_gain, duck, plan.scale)
