"""Throttling (O3): what a run of attempts from one key (a login name, a client address, an
account saving cards) may still do, and for how long it must wait.

Each key counts its attempts in a window that restarts once the key has been quiet for the
rule's ``window``. The first ``free`` attempts pass; every one after them blocks the key for a
time that doubles each time (``base``, 2 x ``base``, 4 x ``base`` ...) up to ``cap``. An attempt
made while blocked is refused and counts nothing, so a patient caller is never locked out for
longer than ``cap``, and a guesser gets fewer than ``free + log2(cap/base)`` guesses per window.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from commex.domain.errors import Throttled


@dataclass(frozen=True, slots=True)
class ThrottleRule:
    """How many attempts pass, and how long the blocks after them last."""

    what: str  # in words, for the refusal: "wrong passwords for this name"
    free: int
    window: timedelta
    base: timedelta = timedelta(seconds=1)
    cap: timedelta = timedelta(minutes=15)


@dataclass(frozen=True, slots=True)
class ThrottleState:
    """A key's attempts in its current window, its last attempt and its block."""

    failures: int
    last_at: datetime
    blocked_until: datetime


def check(state: ThrottleState | None, rule: ThrottleRule, now: datetime) -> None:
    """Raise :class:`Throttled` while the key is blocked."""
    if state is None or now >= state.blocked_until:
        return
    wait = math.ceil((state.blocked_until - now).total_seconds())
    raise Throttled(
        f"too many {rule.what}; try again in {wait} second{'s' if wait != 1 else ''}", wait
    )


def count(state: ThrottleState | None, rule: ThrottleRule, now: datetime) -> ThrottleState:
    """The key's state after one more counted attempt at ``now``."""
    quiet = state is None or now - state.last_at >= rule.window
    failures = 1 if quiet or state is None else state.failures + 1
    blocked_until = now
    beyond = failures - rule.free
    if beyond > 0:
        block = rule.base * (2 ** min(beyond - 1, 40))
        blocked_until = now + min(block, rule.cap)
    return ThrottleState(failures, now, blocked_until)


# The exchange's rules. Login names get few tries; an address gets more (people share one
# behind a NAT); signups and card saves are counted whether they succeed or not.
LOGIN_NAME = ThrottleRule("wrong passwords for this name", free=5, window=timedelta(minutes=15))
LOGIN_ADDRESS = ThrottleRule(
    "wrong passwords from your address", free=20, window=timedelta(minutes=15)
)
SIGNUP_ADDRESS = ThrottleRule(
    "accounts opened from your address", free=10, window=timedelta(hours=1)
)
CARD_ACCOUNT = ThrottleRule("cards saved by this account", free=5, window=timedelta(hours=1))
CARD_ADDRESS = ThrottleRule("cards saved from your address", free=10, window=timedelta(hours=1))
