"""From chords to sound: arrangement into parts, and MIDI to audio with a SoundFont."""
