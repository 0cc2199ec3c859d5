"""The clip's own sound, decoded once into a spool at the mix rate (stereo), with what was lost
to damaged packets."""

from __future__ import annotations

import os
from pathlib import Path

from vidscore.audio.spool import Spool, SpoolWriter
from vidscore.video.io import SoundDamage, iter_audio

MIX_RATE = 48000


def spool_sound(
    video: str | os.PathLike, dest: str | os.PathLike, *, rate: int = MIX_RATE
) -> tuple[Spool | None, SoundDamage]:
    """Decode ``video``'s first sound stream into ``dest``; None when it has no sound or none of
    it decodes. Bad packets are skipped (their time kept as silence) and counted."""
    damage = SoundDamage()
    with SpoolWriter(dest, rate=rate, channels=2) as w:
        for chunk in iter_audio(video, rate=rate, layout="stereo", damage=damage):
            w.write(chunk.T)
        spool = w.finish()
    if not spool.frames:
        Path(dest).unlink()
        return None, damage
    return spool, damage
