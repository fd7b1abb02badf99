"""The Idempotency-Key rule: a caller names a request so that a retry of it is answered, not
done again. One rule for bids, "pay now" and the payment gateways' own keys."""

from __future__ import annotations

from commex.domain.errors import InvalidInput

MAX_KEY = 128


def check_idempotency_key(
    key: object, *, field: str = "Idempotency-Key", limit: int = MAX_KEY
) -> str | None:
    """``key`` when it is 1 to ``limit`` printable characters, None when there is none; any
    other key is refused naming ``field``."""
    if key is None:
        return None
    if not isinstance(key, str) or not 0 < len(key) <= limit or not key.isprintable():
        raise InvalidInput(f"{field} must be 1 to {limit} printable characters", field)
    return key


GATEWAY_MAX_KEY = 255  # what Stripe accepts, and so what every payment gateway adapter does


def check_gateway_key(key: object) -> str:
    """A payment gateway's idempotency key: the same rule, required, up to Stripe's limit."""
    checked = check_idempotency_key(
        "" if key is None else key, field="idempotency_key", limit=GATEWAY_MAX_KEY
    )
    assert checked is not None  # the empty text was refused above
    return checked
