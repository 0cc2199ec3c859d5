"""Symbolic music: chords, keys, melody, descriptors, tokens, piano-rolls, scores and MIDI."""
