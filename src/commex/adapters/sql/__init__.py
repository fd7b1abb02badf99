"""commex adapters/sql."""
