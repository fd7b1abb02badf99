"""commex services."""
