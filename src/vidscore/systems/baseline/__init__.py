"""The rules-only baseline system (no model)."""
