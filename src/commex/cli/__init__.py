"""commex cli."""
