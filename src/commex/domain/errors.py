"""One error tree for commex, grouped by kind.

Every failure a user can cause is a :class:`CommexError` of one of four kinds (invalid input,
not found, forbidden, conflict), plus unauthenticated. The kinds map to HTTP statuses and
command-line exit codes in one table (:data:`STATUS`), so every entrypoint answers alike.
An expected outcome, such as losing an auction, is a result and never an error.
"""

from __future__ import annotations


class CommexError(Exception):
    """The root of every error commex raises on purpose."""

    code = "error"

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class InvalidInput(CommexError):
    """Raised when an input breaks a rule of its own (a bad amount, a bad term, a bad field)."""

    code = "invalid"


class NotFound(CommexError):
    """Raised when a named object (account, auction, contract) does not exist."""

    code = "not_found"


class Forbidden(CommexError):
    """Raised when the caller may not do this to this object (not eligible, not the owner)."""

    code = "forbidden"


class Unauthenticated(CommexError):
    """Raised when a call carries no credential or one that is not valid."""

    code = "unauthenticated"


class Conflict(CommexError):
    """Raised when the object's state refuses the action (auction closed, already rated)."""

    code = "conflict"


class BidRejected(InvalidInput):
    """Raised when a bid's amount breaks the auction's rules (increment, ceiling, currency)."""

    code = "bid_rejected"


class NotEligible(Forbidden):
    """Raised when a bidder does not meet the auction's eligibility rules (A6)."""

    code = "not_eligible"


class PaymentMethodRequired(Conflict):
    """Raised when an account without a saved card asks for something charged to a card (a
    subcontract is charged to the provider that opens it)."""

    code = "payment_method_required"


class AuctionNotOpen(Conflict):
    """Raised when a bid or a cancel reaches an auction that is closed or cancelled."""

    code = "auction_not_open"


class Suspended(Forbidden):
    """Raised when a suspended account (or a device of one) calls: it may do nothing until the
    operator reinstates it."""

    code = "account_suspended"


class Throttled(CommexError):
    """Raised when too many attempts came from one name, address or account: try again after
    ``retry_after`` seconds (HTTP 429 with ``Retry-After``)."""

    code = "too_many_requests"

    def __init__(self, message: str, retry_after: int, field: str | None = None) -> None:
        super().__init__(message, field)
        self.retry_after = max(1, retry_after)


class Unavailable(CommexError):
    """Raised when a part of the exchange that a call needs is down for a moment (the server's
    bid writer); the call may be sent again (HTTP 503)."""

    code = "unavailable"


# kind -> (HTTP status, command-line exit code). Subclasses inherit their kind's entry.
STATUS: dict[type[CommexError], tuple[int, int]] = {
    InvalidInput: (422, 2),
    NotFound: (404, 3),
    Forbidden: (403, 4),
    Unauthenticated: (401, 5),
    Conflict: (409, 6),
    Throttled: (429, 7),
    Unavailable: (503, 8),
    CommexError: (400, 1),
}


def status_of(error: CommexError) -> tuple[int, int]:
    """The (HTTP status, exit code) pair for ``error``, found through its kind."""
    for cls in type(error).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return STATUS[CommexError]
