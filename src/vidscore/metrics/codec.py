"""How close a codec's reconstruction is to its input, and the naive codec to beat.

* SI-SNR (scale-invariant signal-to-noise ratio, dB; Le Roux et al. 2019): waveform fidelity.
* Multi-scale mel distance: mean absolute difference of log-mel spectrograms at several window
  sizes (EnCodec's reconstruction loss, measured with librosa): what the ear hears.
* Chroma correlation: Pearson correlation of the 12-bin chroma over time: whether the harmony
  survives, which is what a music generator reads from the tokens.
* :func:`mulaw_codec`: the same bit rate spent the naive way (resample low, mu-law quantise).
"""

from __future__ import annotations

import numpy as np

MEL_SCALES = (256, 512, 1024, 2048)


def si_snr(reference: np.ndarray, estimate: np.ndarray, eps: float = 1e-8) -> float:
    """Scale-invariant SNR of ``estimate`` against ``reference`` in dB (means removed)."""
    n = min(len(reference), len(estimate))
    s = reference[:n] - reference[:n].mean()
    e = estimate[:n] - estimate[:n].mean()
    target = (np.dot(e, s) / (np.dot(s, s) + eps)) * s
    noise = e - target
    return float(10 * np.log10((np.dot(target, target) + eps) / (np.dot(noise, noise) + eps)))


def _log_mel(y: np.ndarray, sr: int, n_fft: int) -> np.ndarray:
    import librosa

    mels = min(64, n_fft // 8)
    m = librosa.feature.melspectrogram(
        y=y, sr=sr, n_fft=n_fft, hop_length=n_fft // 4, n_mels=mels, power=1.0
    )
    return np.log(m + 1e-5)


def mel_distance(reference: np.ndarray, estimate: np.ndarray, sr: int) -> float:
    """Mean over :data:`MEL_SCALES` of the mean absolute log-mel difference."""
    n = min(len(reference), len(estimate))
    a, b = reference[:n].astype(np.float32), estimate[:n].astype(np.float32)
    return float(
        np.mean([np.abs(_log_mel(a, sr, k) - _log_mel(b, sr, k)).mean() for k in MEL_SCALES])
    )


def chroma_correlation(reference: np.ndarray, estimate: np.ndarray, sr: int) -> float:
    """Pearson correlation of the two chromagrams (librosa's STFT chroma), all bins and frames."""
    import librosa

    n = min(len(reference), len(estimate))
    a = librosa.feature.chroma_stft(y=reference[:n].astype(np.float32), sr=sr, n_fft=2048)
    b = librosa.feature.chroma_stft(y=estimate[:n].astype(np.float32), sr=sr, n_fft=2048)
    if a.std() == 0 or b.std() == 0:
        return 0.0
    return float(np.corrcoef(a.ravel(), b.ravel())[0, 1])


def mulaw_codec(y: np.ndarray, sr: int, bitrate: float, bits: int) -> np.ndarray:
    """``y`` sent at ``bitrate`` bits/s as ``bits``-bit mu-law samples at ``bitrate / bits`` Hz
    (band-limited by resampling), decoded back to ``sr``."""
    import librosa

    low = bitrate / bits
    x = librosa.resample(y.astype(np.float32), orig_sr=sr, target_sr=low)
    levels = 2**bits
    mu = levels - 1
    peak = max(float(np.max(np.abs(x))), 1e-8)  # one gain per clip (a few bits, ignored)
    c = np.sign(x / peak) * np.log1p(mu * np.abs(x / peak)) / np.log1p(mu)
    q = np.round((c + 1) / 2 * mu) / mu * 2 - 1
    x = np.sign(q) * ((1 + mu) ** np.abs(q) - 1) / mu * peak
    out = librosa.resample(x.astype(np.float32), orig_sr=low, target_sr=sr)
    return np.pad(out, (0, max(0, len(y) - len(out))))[: len(y)]
