"""commex adapters."""
