"""Benchmark vidscore's music annotation on POP909 against its human annotations.

For every song (or the first N with --limit): chord recognition on all tracks (scored with
mir_eval's root / majmin / tetrads, duration-weighted, against chord_midi.txt), key detection
(mir_eval's key score and exact match against the longest key in key_audio.txt) and skyline melody
extraction (mir_eval note F1, onset within 50 ms, offsets ignored, against the MELODY track on the
same 16th grid). In the same run: chorder (the chord tool SymMV used) on the same MIDI, and
music21's key analysis (``Stream.analyze('key')``) on the same notes.

    python benchmarks/music_annotation.py [--limit N] [--workers 2]
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from multiprocessing import Pool
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
POP909 = ROOT.parent / "shared" / "data" / "POP909"
RESULTS = ROOT / "benchmarks" / "results"
CHORD_METRICS = ("root", "majmin", "tetrads", "sevenths", "mirex")
CHORDER_QUALITY = {
    "M": "maj",
    "m": "min",
    "o": "dim",
    "+": "aug",
    "7": "7",
    "M7": "maj7",
    "m7": "min7",
    "o7": "dim7",
    "/o7": "hdim7",
    "sus2": "sus2",
    "sus4": "sus4",
}


def chord_scores(ref, est_intervals, est_labels) -> dict[str, float]:
    import mir_eval

    ref = [c for c in ref if c.end > c.start]
    ri = np.array([[c.start, c.end] for c in ref])
    rl = [c.chord.harte() for c in ref]
    keep = [i for i, (a, b) in enumerate(est_intervals) if b > a]
    ei = np.array([est_intervals[i] for i in keep]).reshape(-1, 2)
    el = [est_labels[i] for i in keep]
    # mir_eval.chord.evaluate's own recipe, minus its segmentation scores (which reject the
    # zero-length pieces its interval adjustment can create at the edges)
    u = mir_eval.util
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t0, t1 = float(ri.min()), float(ri.max())
        ri, rl = u.adjust_intervals(
            ri, rl, t0, t1, mir_eval.chord.NO_CHORD, mir_eval.chord.NO_CHORD
        )
        ei, el = u.adjust_intervals(
            ei, el, t0, t1, mir_eval.chord.NO_CHORD, mir_eval.chord.NO_CHORD
        )
        iv, r, e = u.merge_labeled_intervals(ri, rl, ei, el)
        durations = u.intervals_to_durations(iv)
        return {
            k: float(mir_eval.chord.weighted_accuracy(getattr(mir_eval.chord, k)(r, e), durations))
            for k in CHORD_METRICS
        }


def ours(song) -> dict:
    from vidscore.music.beats import score_grid
    from vidscore.music.chord_recognition import recognize_notes
    from vidscore.music.key import detect_key

    score = song.score
    t0 = time.perf_counter()
    spans = recognize_notes(score.notes(), score_grid(score))
    key = detect_key(score.notes())
    elapsed = time.perf_counter() - t0
    iv = [[score.seconds(c.start), score.seconds(c.end)] for c in spans]
    return {
        "chords": chord_scores(song.chords(), iv, [c.chord.harte() for c in spans]),
        "key": str(key),
        "seconds": elapsed,
    }


def chorder_chords(song) -> dict:
    import miditoolkit
    from chorder import Dechorder

    from vidscore.music.chords import Chord

    mid = miditoolkit.MidiFile(str(song.midi_path))
    t0 = time.perf_counter()
    chords = Dechorder.dechord(mid)
    elapsed = time.perf_counter() - t0
    tick_to_time = mid.get_tick_to_time_mapping()
    tpb = mid.ticks_per_beat
    iv, labels = [], []
    for i, c in enumerate(chords):
        a = tick_to_time[min(i * tpb, len(tick_to_time) - 1)]
        b = tick_to_time[min((i + 1) * tpb, len(tick_to_time) - 1)]
        if c.root_pc is None or c.quality not in CHORDER_QUALITY:
            label = "N"
        else:
            bass = None if c.bass_pc is None else int(c.bass_pc)
            label = Chord(int(c.root_pc), CHORDER_QUALITY[c.quality], bass).harte()
        iv.append([a, b])
        labels.append(label)
    return {"chords": chord_scores(song.chords(), iv, labels), "seconds": elapsed}


def music21_key(song) -> str:
    from music21 import note, stream

    st = stream.Stream()
    for n in song.score.notes():
        x = note.Note(n.pitch)
        x.quarterLength = max(1 / 16, round((n.end - n.start) * 16) / 16)
        st.insert(round(n.start * 16) / 16, x)
    k = st.analyze("key")
    return f"{k.tonic.name.replace('-', 'b')} {k.mode}"


def melody_f1(song) -> float:
    import mir_eval

    from vidscore.music.beats import grid_offset
    from vidscore.music.skyline import quantize, skyline

    score = song.score
    notes = score.notes()
    off = grid_offset(np.array([n.start for n in notes]))
    est, _ = skyline(quantize(notes, offset=off))
    ref = quantize(score.track("MELODY").notes, offset=off)

    def arr(ns):
        iv = np.array([[score.seconds(n.start), score.seconds(n.end)] for n in ns]).reshape(-1, 2)
        hz = np.array([440.0 * 2 ** ((n.pitch - 69) / 12) for n in ns])
        return iv, hz

    (ri, rp), (ei, ep) = arr(ref), arr(est)
    _, _, f1, _ = mir_eval.transcription.precision_recall_f1_overlap(
        ri, rp, ei, ep, onset_tolerance=0.05, offset_ratio=None
    )
    return float(f1)


def evaluate_song(song_dir: str) -> dict:
    import mir_eval

    from vidscore.data.pop909 import Pop909Song

    d = Path(song_dir)
    song = Pop909Song(d.name, d)
    ref_key = song.main_key()
    mine = ours(song)
    other = chorder_chords(song)
    m21 = music21_key(song)

    def key_score(est: str) -> float:
        return float(mir_eval.key.weighted_score(str(ref_key), est))

    return {
        "song": song.song_id,
        "ours": {
            **mine["chords"],
            "key_score": key_score(mine["key"]),
            "key_exact": float(mine["key"] == str(ref_key)),
            "seconds": mine["seconds"],
            "melody_f1": melody_f1(song),
        },
        "chorder": {**other["chords"], "seconds": other["seconds"]},
        "music21": {"key_score": key_score(m21), "key_exact": float(m21 == str(ref_key))},
    }


def summarize(rows: list[dict]) -> dict:
    out = {}
    for tool in ("ours", "chorder", "music21"):
        keys = rows[0][tool].keys()
        out[tool] = {k: round(float(np.mean([r[tool][k] for r in rows])), 4) for k in keys}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--limit", type=int, default=0, help="only the first N songs")
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    dirs = sorted(str(d) for d in POP909.iterdir() if d.is_dir())
    if args.limit:
        dirs = dirs[: args.limit]
    t0 = time.perf_counter()
    with Pool(args.workers) as pool:
        rows = []
        for i, row in enumerate(pool.imap(evaluate_song, dirs, chunksize=4), 1):
            rows.append(row)
            if i % 100 == 0:
                print(f"{i}/{len(dirs)} songs", flush=True)
    summary = summarize(rows)
    result = {
        "benchmark": "music_annotation",
        "songs": len(rows),
        "wall_s": round(time.perf_counter() - t0, 1),
        "mean_over_songs": summary,
        "targets": {"root": 0.80, "majmin": 0.70, "key_exact": 0.75},
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "music_annotation.json").write_text(json.dumps({**result, "per_song": rows}))
    print(f"\nPOP909, {len(rows)} songs, mean over songs ({result['wall_s']} s)\n")
    print(f"{'metric':<14}{'vidscore':>10}{'chorder':>10}{'music21':>10}")
    for k in (*CHORD_METRICS, "key_exact", "key_score", "melody_f1", "seconds"):
        vals = [summary[t].get(k) for t in ("ours", "chorder", "music21")]
        cells = "".join(f"{v:>10.3f}" if v is not None else f"{'-':>10}" for v in vals)
        print(f"{k:<14}{cells}")
    print(f"wrote {RESULTS / 'music_annotation.json'}")


if __name__ == "__main__":
    main()
