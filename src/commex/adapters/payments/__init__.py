"""commex adapters/payments."""
