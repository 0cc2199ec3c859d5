"""Control curves: what the music should do, beat by beat, computed from music or from video.

Every learnt system trains on the curves of its target music and composes from the curves of a
clip (the way CMT and V2M-Zero learn video-to-music without paired data). :mod:`.contract` holds
the curve names, the :class:`CurveSet` and the rank normalisation; :mod:`.music` and
:mod:`.video` are the two extractors.
"""

from vidscore.curves.contract import CURVES, Calibration, CurveSet, rank01

__all__ = ["CURVES", "Calibration", "CurveSet", "rank01"]
