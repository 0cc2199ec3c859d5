"""Parts every system shares."""
