"""VMAs (Lin et al. 2024): music as audio, from codec tokens predicted by a video-conditioned
autoregressive decoder. See ``docs/vmas.md`` for what is built, how it is trained here (from
music alone, through the control curves) and where it departs from the paper.

* :mod:`.renders`: the audio the codec and decoder learn from (POP909 / SymMV rendered through
  the project's synthesiser with the instrument presets);
* :mod:`.codec`: the EnCodec-style codec (SEANet + residual VQ) and the loader for pretrained
  EnCodec weights from a local folder;
* :mod:`.codec_train`: its training (``vidscore train codec``).
"""
