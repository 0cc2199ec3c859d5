"""Deterministic train / val / test splits that do not depend on file order or a random seed."""

from __future__ import annotations

import hashlib


def split_of(item_id: str, *, val: float = 0.1, test: float = 0.1) -> str:
    """``train``, ``val`` or ``test`` from a hash of the id: stable across machines and runs,
    and adding items never moves existing ones."""
    h = int(hashlib.sha1(item_id.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
    if h < test:
        return "test"
    if h < test + val:
        return "val"
    return "train"
