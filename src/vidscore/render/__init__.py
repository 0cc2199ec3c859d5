"""From a Soundtrack to sound: a score through a SoundFont, audio as it is; and its plot."""
