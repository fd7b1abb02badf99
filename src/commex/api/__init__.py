"""commex api."""
