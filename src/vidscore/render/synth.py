"""MIDI to audio with a General MIDI SoundFont.

FluidSynth renders (through pretty_midi and pyfluidsynth) when its library is installed;
``scripts/setup.sh`` installs Debian's ``libfluidsynth3`` and the fuller FluidR3_GM SoundFont. On a
pip-only machine without the FluidSynth library, the pure-wheel ``midirenderer`` (a Rust SoundFont
synthesiser) renders the same file with the same SoundFont instead. SoundFont choice:
``--soundfont``, else a system GM SoundFont (FluidR3_GM), else the small TimGM6mb that pretty_midi
ships.
"""

from __future__ import annotations

import io
import os
import wave
from pathlib import Path

import numpy as np

from vidscore.errors import InputError, ModelLoadError
from vidscore.outputs import atomic_path

SAMPLE_RATE = 48000  # the mux rate, so the music needs no resampling
SYSTEM_SOUNDFONTS = (
    "/usr/share/sounds/sf2/FluidR3_GM.sf2",
    "/usr/share/soundfonts/FluidR3_GM.sf2",
    "/usr/share/sounds/sf2/default-GM.sf2",
)
BACKENDS = ("auto", "fluidsynth", "midirenderer")


def find_soundfont(explicit: str | os.PathLike | None = None) -> Path:
    if explicit is not None:
        p = Path(explicit)
        if not p.is_file():
            raise InputError(f"{p}: SoundFont not found")
        with open(p, "rb") as f:
            head = f.read(12)
        if head[:4] != b"RIFF" or head[8:12] != b"sfbk":
            raise InputError(f"{p}: not a SoundFont (.sf2)")
        return p
    for candidate in SYSTEM_SOUNDFONTS:
        if Path(candidate).is_file():
            return Path(candidate)
    import pretty_midi

    return Path(pretty_midi.__file__).parent / "TimGM6mb.sf2"


def fluidsynth_available() -> bool:
    try:
        import fluidsynth  # noqa: F401  (pyfluidsynth loads libfluidsynth on import)
    except (ImportError, OSError):
        return False
    return True


def render_midi(
    midi_path: str | os.PathLike,
    *,
    soundfont: str | os.PathLike | None = None,
    backend: str = "auto",
    sample_rate: int = SAMPLE_RATE,
) -> np.ndarray:
    """Render a MIDI file to a mono float32 signal at ``sample_rate``."""
    if backend not in BACKENDS:
        raise InputError(f"synth backend {backend!r}: choose from {', '.join(BACKENDS)}")
    sf2 = find_soundfont(soundfont)
    use_fluid = backend == "fluidsynth" or (backend == "auto" and fluidsynth_available())
    if use_fluid:
        if not fluidsynth_available():
            raise ModelLoadError("FluidSynth library not found (apt-get install libfluidsynth3)")
        import pretty_midi

        pm = pretty_midi.PrettyMIDI(str(midi_path))
        audio = pm.fluidsynth(fs=sample_rate, synthesizer=str(sf2))
        return np.asarray(audio, dtype=np.float32)
    try:
        import midirenderer
    except ImportError as exc:
        raise ModelLoadError("no synthesiser: install libfluidsynth3 or midirenderer") from exc
    wav = midirenderer.render_wave_from(sf2.read_bytes(), Path(midi_path).read_bytes())
    audio, sr = read_wav_bytes(wav)
    if sr != sample_rate:
        import librosa

        audio = librosa.resample(audio, orig_sr=sr, target_sr=sample_rate)
    return audio.astype(np.float32)


def read_wav_bytes(data: bytes) -> tuple[np.ndarray, int]:
    """Mono float32 signal and rate of a 16-bit PCM WAV."""
    with wave.open(io.BytesIO(data)) as w:
        sr, ch, width = w.getframerate(), w.getnchannels(), w.getsampwidth()
        raw = w.readframes(w.getnframes())
    if width != 2:
        raise InputError(f"unsupported WAV sample width {width}")
    x = np.frombuffer(raw, dtype="<i2").astype(np.float32) / 32768.0
    return x.reshape(-1, ch).mean(axis=1), sr


def finish(
    audio: np.ndarray,
    *,
    sample_rate: int,
    duration: float,
    fade_in: float = 0.5,
    fade_out: float = 2.0,
    peak_db: float = -1.0,
) -> np.ndarray:
    """Exactly ``duration`` seconds, faded in and out, peak-normalised to ``peak_db`` dBFS."""
    n = round(duration * sample_rate)
    y = np.zeros(n, dtype=np.float32)
    m = min(n, len(audio))
    y[:m] = audio[:m]
    fi, fo = min(n, int(fade_in * sample_rate)), min(n, int(fade_out * sample_rate))
    if fi:
        y[:fi] *= np.linspace(0.0, 1.0, fi, dtype=np.float32)
    if fo:
        y[n - fo :] *= np.linspace(1.0, 0.0, fo, dtype=np.float32)
    peak = float(np.abs(y).max()) if n else 0.0
    if peak > 0:
        y *= (10 ** (peak_db / 20)) / peak
    return y


def write_wav(
    audio: np.ndarray,
    path: str | os.PathLike,
    *,
    sample_rate: int = SAMPLE_RATE,
    overwrite: bool = False,
) -> None:
    """16-bit PCM WAV (mono or ``(n, channels)``), written atomically."""
    x = np.asarray(audio, dtype=np.float32)
    if x.ndim == 1:
        x = x[:, None]
    pcm = (np.clip(x, -1.0, 1.0) * 32767).astype("<i2")
    with (
        atomic_path(path, overwrite=overwrite, suffix=".wav") as tmp,
        wave.open(str(tmp), "wb") as w,
    ):
        w.setnchannels(pcm.shape[1])
        w.setsampwidth(2)
        w.setframerate(sample_rate)
        w.writeframes(pcm.tobytes())
