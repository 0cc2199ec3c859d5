"""How V-MusProd's three transformers are sampled (no torch here, so the system's parameters
can take their defaults from it at import time)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Sampling:
    """How the three transformers are sampled. Temperature and top-p were chosen on SymMV's
    validation split (``benchmarks/vmusprod_sampling.py``: 1.1 / 0.9 of a 2 x 3 grid was the
    closest to real music in SC, PE, PCE and EBR)."""

    temperature: float = 1.1
    top_p: float = 0.9
    guidance: float = 1.0
    window: int = 8  # bars the model sees at once
    context: int = 4  # bars carried into the next window
    max_voices: int = 6
    resolve_end: bool = True  # the last bar holds the tonic (off for excerpts of openings)
