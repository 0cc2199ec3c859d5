"""Reading videos (probe, streaming decode) and writing them back (mux)."""
