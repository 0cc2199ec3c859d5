"""Diff-BGM: piano-roll diffusion with segment-aware cross-attention (issue 13, in progress)."""
