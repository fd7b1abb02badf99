"""Processing services: one named capability per module."""
