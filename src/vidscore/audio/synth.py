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
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from vidscore.audio.source import MIX_RATE
from vidscore.audio.spool import Spool, SpoolWriter
from vidscore.errors import InputError, ModelLoadError
from vidscore.outputs import atomic_path

SAMPLE_RATE = MIX_RATE  # the music needs no resampling in the mix
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
    """Render a MIDI file to a mono float32 signal at ``sample_rate`` (held in memory: for
    short pieces; :func:`stream_midi` renders any length)."""
    blocks = list(
        stream_midi(midi_path, soundfont=soundfont, backend=backend, sample_rate=sample_rate)
    )
    return np.concatenate(blocks) if blocks else np.zeros(0, np.float32)


def stream_midi(
    midi_path: str | os.PathLike,
    *,
    soundfont: str | os.PathLike | None = None,
    backend: str = "auto",
    sample_rate: int = SAMPLE_RATE,
    block: int = SAMPLE_RATE,
) -> Iterator[np.ndarray]:
    """Render a MIDI file as mono float32 blocks of ``block`` samples (the last shorter), with a
    second of release after the last event. FluidSynth renders block by block in bounded
    memory; the midirenderer fallback renders the whole piece at once and is then cut up."""
    if backend not in BACKENDS:
        raise InputError(f"synth backend {backend!r}: choose from {', '.join(BACKENDS)}")
    sf2 = find_soundfont(soundfont)
    use_fluid = backend == "fluidsynth" or (backend == "auto" and fluidsynth_available())
    if use_fluid:
        if not fluidsynth_available():
            raise ModelLoadError("FluidSynth library not found (apt-get install libfluidsynth3)")
        import pretty_midi

        yield from _fluidsynth_blocks(
            pretty_midi.PrettyMIDI(str(midi_path)), sf2, sample_rate, block
        )
        return
    try:
        import midirenderer
    except ImportError as exc:
        raise ModelLoadError("no synthesiser: install libfluidsynth3 or midirenderer") from exc
    wav = midirenderer.render_wave_from(sf2.read_bytes(), Path(midi_path).read_bytes())
    audio, sr = read_wav_bytes(wav)
    del wav
    if sr != sample_rate:
        import librosa

        audio = librosa.resample(audio, orig_sr=sr, target_sr=sample_rate)
    audio = audio.astype(np.float32)
    for i in range(0, len(audio), block):
        yield audio[i : i + block]


#: FluidSynth's output gain: every part plays through one synthesiser into 16-bit samples, so
#: this leaves headroom for a full band (the result is normalised afterwards)
FLUID_GAIN = 0.1


def _fluidsynth_blocks(pm, sf2: Path, rate: int, block: int) -> Iterator[np.ndarray]:
    """One FluidSynth synthesiser, one MIDI channel per part (drums on channel 10), events
    applied at their exact sample."""
    import fluidsynth

    synth = fluidsynth.Synth(gain=FLUID_GAIN, samplerate=float(rate))
    try:
        sfid = synth.sfload(str(sf2))
        melodic = [c for c in range(16) if c != 9]
        events: list[tuple[float, int, int, int, int]] = []  # time, order, channel, a, b
        for k, inst in enumerate(pm.instruments):
            ch = 9 if inst.is_drum else melodic[k % len(melodic)]
            synth.program_select(
                ch, sfid, 128 if inst.is_drum else 0, 0 if inst.is_drum else inst.program
            )
            events += [(n.end, 0, ch, n.pitch, 0) for n in inst.notes]
            events += [(c.time, 1, ch, c.number, c.value) for c in inst.control_changes]
            events += [(b.time, 2, ch, b.pitch, 0) for b in inst.pitch_bends]
            events += [(n.start, 3, ch, n.pitch, n.velocity) for n in inst.notes]
        events.sort()  # at one instant: offs, controls, bends, then ons
        end = max((e[0] for e in events), default=0.0) + 1.0
        total, pos, i = round(end * rate), 0, 0

        def samples(n: int) -> np.ndarray:
            x = np.asarray(synth.get_samples(n), dtype=np.float32).reshape(-1, 2)
            return x.mean(axis=1) / 32768.0

        while pos < total:
            stop = min(pos + block, total)
            parts, cur = [], pos
            while i < len(events) and round(events[i][0] * rate) < stop:
                t, kind, ch, a, b = events[i]
                at = max(round(t * rate), cur)
                if at > cur:
                    parts.append(samples(at - cur))
                    cur = at
                if kind == 0:
                    synth.noteoff(ch, a)
                elif kind == 1:
                    synth.cc(ch, a, b)
                elif kind == 2:
                    synth.pitch_bend(ch, a)
                else:
                    synth.noteon(ch, a, b)
                i += 1
            if stop > cur:
                parts.append(samples(stop - cur))
            pos = stop
            yield np.concatenate(parts)
    finally:
        synth.delete()


def read_wav_bytes(data: bytes) -> tuple[np.ndarray, int]:
    """Mono float32 signal and rate of a 16-bit PCM WAV."""
    with wave.open(io.BytesIO(data)) as w:
        sr, ch, width = w.getframerate(), w.getnchannels(), w.getsampwidth()
        raw = w.readframes(w.getnframes())
    if width != 2:
        raise InputError(f"unsupported WAV sample width {width}")
    x = np.frombuffer(raw, dtype="<i2").astype(np.float32) / 32768.0
    return x.reshape(-1, ch).mean(axis=1), sr


def _fade(block: np.ndarray, offset: int, n: int, fade_in: int, fade_out: int) -> np.ndarray:
    """``block`` (samples ``offset`` on of an ``n``-sample piece) with the fades applied."""
    i = offset + np.arange(len(block))
    g = np.ones(len(block), dtype=np.float32)
    if fade_in:
        g = np.minimum(g, (i / max(fade_in - 1, 1)).astype(np.float32))
    if fade_out:
        g = np.minimum(g, ((n - 1 - i) / max(fade_out - 1, 1)).astype(np.float32))
    g = np.clip(g, 0.0, 1.0)
    return block * (g[:, None] if block.ndim == 2 else g)


def fade_seconds(duration: float) -> tuple[float, float]:
    """Fade-in and fade-out lengths for a piece of ``duration`` seconds: 0.5 s in and 2 s out
    on a long clip, a 20th and an 8th of the clip on a short one, so a 4 s clip is not half
    fade (the music follows the picture to its last second)."""
    return min(0.5, duration / 20), min(2.0, duration / 8)


def _fades(duration: float, fade_in: float | None, fade_out: float | None) -> tuple[float, float]:
    auto_in, auto_out = fade_seconds(duration)
    return (auto_in if fade_in is None else fade_in), (auto_out if fade_out is None else fade_out)


def _faded_blocks(raw: Spool, n: int, fi: int, fo: int) -> Iterator[np.ndarray]:
    offset = 0
    for b in raw.blocks(n):
        yield _fade(b, offset, n, fi, fo)
        offset += len(b)


def _fade_samples(raw: Spool, duration: float, fade_in, fade_out) -> tuple[int, int, int]:
    n = round(duration * raw.rate)
    fade_in, fade_out = _fades(duration, fade_in, fade_out)
    return n, min(n, int(fade_in * raw.rate)), min(n, int(fade_out * raw.rate))


def spool_gain(
    raw: Spool,
    *,
    duration: float,
    fade_in: float | None = None,
    fade_out: float | None = None,
    peak_db: float = -1.0,
) -> float:
    """The gain that brings ``raw``, cut to ``duration`` and faded, to ``peak_db`` dBFS."""
    n, fi, fo = _fade_samples(raw, duration, fade_in, fade_out)
    peak = max(
        (float(np.abs(b).max()) for b in _faded_blocks(raw, n, fi, fo) if len(b)), default=0.0
    )
    return (10 ** (peak_db / 20)) / peak if peak > 0 else 1.0


def finish_spool(
    raw: Spool,
    dest: str | os.PathLike,
    *,
    duration: float,
    fade_in: float | None = None,
    fade_out: float | None = None,
    peak_db: float = -1.0,
    gain: float | None = None,
) -> Spool:
    """:func:`finish` for a spooled render: exactly ``duration`` seconds into ``dest``, read
    twice in blocks (the peak after the fades, then the scaled copy). A ``gain`` given (the
    mix's, for its stems) replaces the peak normalisation, so parts finished alike sum to the
    mix."""
    if gain is None:
        gain = spool_gain(
            raw, duration=duration, fade_in=fade_in, fade_out=fade_out, peak_db=peak_db
        )
    n, fi, fo = _fade_samples(raw, duration, fade_in, fade_out)
    g = np.float32(gain)
    with SpoolWriter(dest, rate=raw.rate, channels=raw.channels) as w:
        for b in _faded_blocks(raw, n, fi, fo):
            w.write(b * g)
        return w.finish()


def finish(
    audio: np.ndarray,
    *,
    sample_rate: int,
    duration: float,
    fade_in: float | None = None,
    fade_out: float | None = None,
    peak_db: float = -1.0,
) -> np.ndarray:
    """Exactly ``duration`` seconds, faded in and out (by default :func:`fade_seconds`),
    peak-normalised to ``peak_db`` dBFS."""
    n = round(duration * sample_rate)
    fade_in, fade_out = _fades(duration, fade_in, fade_out)
    y = np.zeros(n, dtype=np.float32)
    m = min(n, len(audio))
    y[:m] = audio[:m]
    fi, fo = min(n, int(fade_in * sample_rate)), min(n, int(fade_out * sample_rate))
    y = _fade(y, 0, n, fi, fo)
    peak = float(np.abs(y).max()) if n else 0.0
    if peak > 0:
        y *= (10 ** (peak_db / 20)) / peak
    return y


def write_wav(
    audio: np.ndarray | Spool,
    path: str | os.PathLike,
    *,
    sample_rate: int = SAMPLE_RATE,
    overwrite: bool = False,
) -> None:
    """16-bit PCM WAV (mono or ``(n, channels)``, or a spool read in blocks), written
    atomically."""
    if isinstance(audio, Spool):
        blocks, channels, sample_rate = audio.blocks(), audio.channels, audio.rate
    else:
        x = np.asarray(audio, dtype=np.float32)
        x = x[:, None] if x.ndim == 1 else x
        blocks, channels = iter([x]), x.shape[1]
    with (
        atomic_path(path, overwrite=overwrite, suffix=".wav") as tmp,
        wave.open(str(tmp), "wb") as w,
    ):
        w.setnchannels(channels)
        w.setsampwidth(2)
        w.setframerate(sample_rate)
        for b in blocks:
            w.writeframes((np.clip(b, -1.0, 1.0) * 32767).astype("<i2").tobytes())
