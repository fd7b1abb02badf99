"""commex: an open exchange for communications services.

The library's public API. Build an exchange with :func:`commex.bootstrap.build_exchange` (SQLite
or PostgreSQL) or :func:`commex.bootstrap.in_memory_exchange` (tests, experiments)."""

from commex.domain.errors import (
    AuctionNotOpen,
    BidRejected,
    CommexError,
    Conflict,
    Forbidden,
    InvalidInput,
    NotEligible,
    NotFound,
    Unauthenticated,
)
from commex.domain.money import Money

__version__ = "0.1.0"

__all__ = [
    "AuctionNotOpen",
    "BidRejected",
    "CommexError",
    "Conflict",
    "Forbidden",
    "InvalidInput",
    "Money",
    "NotEligible",
    "NotFound",
    "Unauthenticated",
    "__version__",
]
