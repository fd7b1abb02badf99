"""Helpers shared by the test tiers: free ports and polling, databases, worlds built through
the message bus, and page helpers (a form's CSRF token)."""
