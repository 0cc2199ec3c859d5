"""Wu & Yang's structure metrics (The Jazz Transformer on the Front Line, ISMIR 2020), as their
MusDr code computes them, which Diff-BGM reports: PCHE, GPS and SI.

* **PCHE**, pitch-class histogram entropy: for every window of ``bars`` bars sliding a bar at a
  time, the entropy (bits) of the window's pitch classes counted once per note onset; the mean
  over windows that have notes. MusDr reports 1- and 4-bar windows; Diff-BGM's table uses its
  8-bar segments.
* **GPS**, grooving pattern similarity: each bar's grooving vector marks which of its
  ``positions`` onset positions hold a note onset; GPS is the mean of ``1 - XOR / positions`` over
  every pair of bars, empty bars included (MusDr samples 1000 pairs when there are more, without a
  seed; here the sample is seeded). MusDr's grid has 64 positions a bar; Diff-BGM's published GPS
  counts 16 (sixteenth notes, the grid every vidscore system writes), which is the default.
* **SI**, structureness indicator: the audio's chroma (librosa STFT chroma at 22050 Hz, 10 Hz,
  smoothed over 21 frames and downsampled to 2 Hz), a transposition- and tempo-invariant
  self-similarity matrix (12 shifts, 7 relative tempi from 0.5 to 2, path smoothing over 16
  frames, forward and backward), thresholded to its top 25% (scaled to [0, 1], the rest -2, the
  diagonal 1), and Müller's fitness scape plot of it (libfmp, the FMP notebooks' own code, which
  MusDr copies). SI over a range of segment lengths is the largest fitness of any segment that
  long: short 3-8 s, mid 8-15 s, long 15 s and more.

Pitch metrics count every pitched note (MusDr scored lead-sheet melodies; vidscore's systems write
textures, and Diff-BGM scores its whole piano roll). Drums are left out. SI's scape plot costs
about N^3 for N frames at 2 Hz, so :func:`structureness` scores at most ``max_seconds`` (default
120 s) of audio, as a user of MusDr on long pieces has to.
"""

from __future__ import annotations

import contextlib
import io
import math
from itertools import combinations

import numpy as np

from vidscore.music.score import Note, Score

#: SI's ranges of segment length in seconds, as MusDr's driver reports them
SI_RANGES = {"short": (3.0, 8.0), "mid": (8.0, 15.0), "long": (15.0, 128.0)}
FEATURE_RATE = 2.0  # Hz, the chroma rate of the self-similarity matrix


def _bars(score: Score) -> tuple[list[list[Note]], float]:
    """The pitched notes of each bar (by onset) from beat 0 to the bar of the last onset."""
    notes = score.notes()
    per_bar = float(score.beats_per_bar)
    if not notes:
        return [], per_bar
    n_bars = int(max(n.start for n in notes) // per_bar) + 1
    bars: list[list[Note]] = [[] for _ in range(n_bars)]
    for n in notes:
        bars[int(n.start // per_bar)].append(n)
    return bars, per_bar


def entropy_bits(counts: np.ndarray) -> float:
    """Shannon entropy (bits) of a histogram; NaN when it is empty."""
    total = counts.sum()
    if total <= 0:
        return math.nan
    p = counts[counts > 0] / total
    return float(-(p * np.log2(p)).sum())


def pitch_class_histogram_entropy(score: Score, bars: int = 8) -> float:
    """Mean entropy of the pitch-class onset histograms of ``bars``-bar windows sliding by a bar
    (NaN with no notes)."""
    per_bar, _ = _bars(score)
    if not per_bar:
        return math.nan
    width = min(bars, len(per_bar))
    counts = np.zeros((len(per_bar), 12))
    for i, bar in enumerate(per_bar):
        for n in bar:
            counts[i, n.pitch % 12] += 1
    values = []
    for start in range(len(per_bar) - width + 1):
        window = counts[start : start + width].sum(axis=0)
        if window.sum() > 0:
            values.append(entropy_bits(window))
    return float(np.mean(values)) if values else math.nan


def grooving_vectors(score: Score, positions: int = 16) -> np.ndarray:
    """``(bars, positions)`` booleans: which onset positions of each bar hold a note onset."""
    per_bar, length = _bars(score)
    out = np.zeros((len(per_bar), positions), dtype=bool)
    for i, bar in enumerate(per_bar):
        for n in bar:
            slot = round((n.start - i * length) / length * positions)
            out[i, min(slot, positions - 1)] = True
    return out


def grooving_pattern_similarity(
    score: Score, positions: int = 16, max_pairs: int = 1000, seed: int = 0
) -> float:
    """Mean ``1 - XOR / positions`` over all pairs of bars (a seeded sample of ``max_pairs``
    when there are more; NaN under two bars)."""
    vectors = grooving_vectors(score, positions)
    pairs = list(combinations(range(len(vectors)), 2))
    if not pairs:
        return math.nan
    if len(pairs) > max_pairs:
        rng = np.random.default_rng(seed)
        pairs = [pairs[i] for i in rng.choice(len(pairs), size=max_pairs, replace=False)]
    a = vectors[[i for i, _ in pairs]]
    b = vectors[[j for _, j in pairs]]
    return float(np.mean(1.0 - np.count_nonzero(a != b, axis=1) / positions))


def self_similarity(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """MusDr's thresholded, transposition- and tempo-invariant chroma SSM at 2 Hz."""
    import libfmp.c3
    import libfmp.c4
    import librosa

    rate = 22050
    y = np.asarray(audio, dtype=np.float32)
    if y.ndim == 2:
        y = y.mean(axis=1)
    if sample_rate != rate:
        y = librosa.resample(y, orig_sr=sample_rate, target_sr=rate)
    chroma = librosa.feature.chroma_stft(y=y, sr=rate, tuning=0, norm=2, hop_length=2205,
                                         n_fft=4410)  # fmt: skip
    x, _ = libfmp.c3.smooth_downsample_feature_sequence(chroma, rate / 2205, filt_len=21,
                                                        down_sampling=5)  # fmt: skip
    x = libfmp.c3.normalize_feature_sequence(x, norm="2", threshold=0.001)
    tempi = libfmp.c4.compute_tempo_rel_set(0.5, 2, 7)
    s, _ = libfmp.c4.compute_sm_ti(x, x, L=16, tempo_rel_set=tempi, shift_set=np.arange(12),
                                   direction=2)  # fmt: skip
    with contextlib.redirect_stdout(io.StringIO()):  # libfmp prints when the SSM is constant
        s = libfmp.c4.threshold_matrix(s, thresh=0.25, strategy="relative", scale=True,
                                       penalty=-2)  # fmt: skip
    np.fill_diagonal(s, 1.0)
    return s


def fitness_scape_plot(ssm: np.ndarray) -> np.ndarray:
    """Müller's fitness of every segment: ``[length - 1, start]`` in frames."""
    import libfmp.c4

    return np.asarray(libfmp.c4.compute_fitness_scape_plot(ssm)[0])


def structureness_of_plot(plot: np.ndarray, low: float, high: float) -> float:
    """The largest fitness of a segment ``low`` to ``high`` seconds long (0 when the piece is
    shorter than ``low``), MusDr's bounds: both ends included at 2 Hz."""
    first, stop = int(FEATURE_RATE * low) - 1, int(FEATURE_RATE * high)
    if first >= len(plot):
        return 0.0
    return float(plot[first:stop].max())


def structureness(
    audio: np.ndarray, sample_rate: int, max_seconds: float = 120.0
) -> dict[str, float]:
    """SI short / mid / long of (at most the first ``max_seconds`` of) the audio."""
    clip = np.asarray(audio)[: int(max_seconds * sample_rate)]
    plot = fitness_scape_plot(self_similarity(clip, sample_rate))
    return {name: structureness_of_plot(plot, lo, hi) for name, (lo, hi) in SI_RANGES.items()}
