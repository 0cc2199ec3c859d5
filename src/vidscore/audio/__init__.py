"""Sound too long to hold in memory: streamed loudness, on-disk spools and the block mix."""
