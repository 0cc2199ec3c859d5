"""Evaluation: every metric the four papers report, and the checks that keep the music honest."""
