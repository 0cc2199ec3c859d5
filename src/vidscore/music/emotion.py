"""Video2Music's emotion -> chord-quality table, shared by its loss and by evaluation."""

from __future__ import annotations

#: The chord qualities Video2Music allows for each of its six emotions (neutral: none).
EMOTION_QUALITIES: dict[str, tuple[str, ...]] = {
    "exciting": ("maj", "sus4", "7"),
    "fearful": ("dim", "min7", "dim7", "hdim7"),
    "tense": ("dim", "sus4", "min7", "7"),
    "sad": ("min7", "min", "sus2"),
    "relaxing": ("maj", "maj6", "maj7"),
    "neutral": (),
}
