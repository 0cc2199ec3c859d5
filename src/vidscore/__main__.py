"""`python -m vidscore` runs the CLI."""

from vidscore.cli import run

run()
