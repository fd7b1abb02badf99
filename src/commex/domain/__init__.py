"""commex domain."""
