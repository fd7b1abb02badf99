"""commex web."""
