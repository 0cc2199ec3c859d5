"""vidscore's PCHE, GPS and SI beside Wu & Yang's own MusDr code, on the same POP909 songs.

    python benchmarks/musdr_check.py --musdr PATH [--songs 3]

PATH is a checkout of github.com/slSeanWU/MusDr (MIT; not a dependency of vidscore). For each of
the first ``--songs`` POP909 test songs (first 32 bars), the song is written in MusDr's input
format (REMI event ids: Bar 192, Position 193 + p for p in 0..63, Note-On = MIDI pitch) and scored
by MusDr's ``compute_piece_pitch_entropy`` (1 and 4 bars) and ``compute_piece_groove_similarity``
(64 positions); the same notes are scored by :mod:`vidscore.metrics.musdr`. For SI the song is
rendered once (vidscore's renderer), and MusDr's Python scape-plot pipeline and vidscore's are run
on the same WAV. tests/test_metrics_musdr.py holds the MusDr figures this script printed.

Writes benchmarks/results/musdr_check.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from analyze import RESULTS, SHARED

POP909 = SHARED.parent / "data" / "POP909"
BARS = 32


def excerpt(song) -> object:
    """The song's first ``BARS`` bars as a score in beats (its MIDI tracks, key as written)."""
    from vidscore.music.score import Score, Track

    score = song.score
    end = BARS * score.beats_per_bar
    tracks = [Track(t.name, [n for n in t.notes if n.start < end], t.program, t.is_drum)
              for t in score.tracks]  # fmt: skip
    return Score(tracks, score.tempos, score.time_signature)


def remi_ids(score) -> list[int]:
    """MusDr's event ids for the score's pitched onsets on a 64-position bar grid."""
    per_bar = float(score.beats_per_bar)
    onsets: dict[tuple[int, int], list[int]] = {}
    for n in score.notes():
        bar = int(n.start // per_bar)
        pos = min(63, round((n.start - bar * per_bar) / per_bar * 64))
        onsets.setdefault((bar, pos), []).append(n.pitch)
    n_bars = max(b for b, _ in onsets) + 1
    ids: list[int] = []
    for bar in range(n_bars):
        ids.append(192)
        for pos in range(64):
            if (bar, pos) in onsets:
                ids.append(193 + pos)
                ids += sorted(onsets[(bar, pos)])
    return ids


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--musdr", type=Path, required=True, help="a checkout of MusDr")
    ap.add_argument("--songs", type=int, default=3)
    args = ap.parse_args()
    sys.path[:0] = [str(args.musdr), str(args.musdr / "musdr")]  # MusDr imports side_utils bare
    import types

    import librosa
    from mueller_audio_tools import scapeplot as ref_plot
    from mueller_audio_tools import ssm_features as ref_ssm
    from musdr import eval_metrics as ref  # MusDr's own code, from the user's checkout

    from vidscore.audio.synth import SAMPLE_RATE, render_midi, write_wav
    from vidscore.data.pop909 import songs
    from vidscore.metrics import musdr
    from vidscore.music.midi import write_midi

    # MusDr (2020) calls librosa.load(path, sr) positionally, which librosa >= 0.10 refuses
    shim = types.SimpleNamespace(**{k: getattr(librosa, k) for k in ("feature", "util")})
    shim.load = lambda path, sr: librosa.load(path, sr=sr)
    ref_ssm.librosa = shim
    rows = []
    for song in songs(POP909, split="test")[: args.songs]:
        score = excerpt(song)
        ids = remi_ids(score)
        row = {
            "song": song.song_id,
            "musdr": {
                "H1": ref.compute_piece_pitch_entropy(ids, 1),
                "H4": ref.compute_piece_pitch_entropy(ids, 4),
                "GS": ref.compute_piece_groove_similarity(ids, max_pairs=10**6),
            },
            "vidscore": {
                "H1": musdr.pitch_class_histogram_entropy(score, bars=1),
                "H4": musdr.pitch_class_histogram_entropy(score, bars=4),
                "GS": musdr.grooving_pattern_similarity(score, positions=64, max_pairs=10**6),
            },
        }
        seconds = float(score.seconds(BARS * score.beats_per_bar))
        with tempfile.TemporaryDirectory() as tmp:
            write_midi(score, Path(tmp) / "song.mid")
            audio = render_midi(Path(tmp) / "song.mid")[: int(seconds * SAMPLE_RATE)]
            wav = Path(tmp) / "song.wav"
            write_wav(audio, wav, sample_rate=SAMPLE_RATE)
            _, _, _, _, s, _ = ref_ssm.compute_SM_from_filename(
                str(wav), tempo_rel_set=ref_ssm.compute_tempo_rel_set(0.5, 2, 7),
                shift_set=np.arange(12), thresh=0.25, penalty=-2,
            )  # fmt: skip
            plot = ref_plot.compute_fitness_scape_plot(ref_plot.normalization_properties_SSM(s))[0]
            with open(Path(tmp) / "plot.npy", "wb") as fh:
                np.save(fh, plot)
            row["musdr"].update({
                f"SI_{name}": ref.compute_structure_indicator(str(Path(tmp) / "plot.npy"), lo, hi)
                for name, (lo, hi) in musdr.SI_RANGES.items()
            })  # fmt: skip
            # the same input as MusDr's: the WAV as librosa reads it (SI moves by ~0.02 when the
            # top-25% threshold sees the float render instead of its 16-bit file)
            y, _ = librosa.load(str(wav), sr=22050)
            ours = musdr.structureness(y, 22050, max_seconds=len(y) / 22050)
            row["vidscore"].update({f"SI_{k}": v for k, v in ours.items()})
        row = {k: {m: round(float(v), 4) for m, v in d.items()} if isinstance(d, dict) else d
               for k, d in row.items()}  # fmt: skip
        rows.append(row)
        print(json.dumps(row), flush=True)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "musdr_check.json").write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
