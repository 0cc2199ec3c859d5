"""V-MusProd: chord, melody and accompaniment transformers steered by control curves."""
