"""The cues JSON ``compose --cues`` writes: what the music does against the picture, in seconds.

Read from a :class:`~vidscore.soundtrack.Soundtrack`'s timeline and the clip's features only,
so it is the same for every system: tempo map, downbeats, chords (symbol, start, end), sections,
the beats detected in the music when a system makes audio (it has no score to read them from),
the cuts detected and those aligned to, per-second emotion, the control curves the music was
composed from (per beat), and what the system chose.
"""

from __future__ import annotations

import numpy as np

from vidscore.soundtrack import Soundtrack
from vidscore.types import EMOTIONS, Controls, VideoFeatures

FORMAT = "vidscore.cues/3"


def cues(
    features: VideoFeatures, soundtrack: Soundtrack, *, system: str, controls: Controls
) -> dict:
    """The cues document (see the module docstring)."""
    tl = soundtrack.timeline
    doc = {
        "format": FORMAT,
        "duration": features.duration,
        "system": system,
        "kind": soundtrack.kind,
        "key": soundtrack.key,
        "instruments": soundtrack.instruments,
        "seed": controls.seed,
        "markers": list(controls.markers),
        "cuts_ignored": controls.ignore_cuts,
        **(
            {"regenerated": {"range": list(controls.regenerate), "kept": controls.keep}}
            if controls.regenerate is not None
            else {}
        ),
        "tempo_bpm": round(tl.tempo_bpm, 3),
        "tempo_map": [{"time": round(t, 4), "bpm": round(b, 3)} for t, b in tl.tempo_map],
        "chords": [
            {"start": round(c.start, 4), "end": round(c.end, 4), "symbol": c.chord.harte()}
            for c in tl.chords
        ],
        "downbeats": [round(d, 4) for d in tl.downbeats],
        **({"beats": [round(b, 4) for b in tl.beats]} if tl.beats else {}),
        "sections": [
            {"start": round(s.start, 4), "end": round(s.end, 4), "label": s.label}
            for s in tl.sections
        ],
        "cuts": [round(c, 4) for c in features.cuts],
        "aligned_cuts": [round(c, 4) for c in tl.aligned_cuts],
    }
    if "emotion" in features.series:
        doc["emotion"] = [
            {
                "second": i,
                "label": EMOTIONS[int(np.argmax(row))],
                "probabilities": {
                    e: round(float(p), 4) for e, p in zip(EMOTIONS, row, strict=True)
                },
            }
            for i, row in enumerate(features["emotion"].values)
        ]
    if soundtrack.curves is not None:
        doc["curves"] = soundtrack.curves.to_dict()  # per beat, 0-1 (vidscore.curves)
    doc["decisions"] = soundtrack.meta
    return doc
