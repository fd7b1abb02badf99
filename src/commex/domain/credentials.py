"""How long a web session and a password-reset link last (O3).

A web session ends :data:`SESSION_IDLE` (an hour) after it was last used, and at the latest
:data:`SESSION_LIFETIME` (12 hours) after it began, however busy it was: a cookie left on a
shared computer, or copied off one, stops working within the hour, and a live one cannot be
kept open for ever. Its last use is written at most every :data:`SESSION_TOUCH` (a minute), so
a busy page costs one small write a minute, not one a request.

A password-reset link (the operator issues it; there is no mail server) works once, for
:data:`RESET_LINK_TTL` (24 hours: long enough to reach its owner by hand), and only the newest
link of an account works.
"""

from __future__ import annotations

from datetime import datetime, timedelta

SESSION_IDLE = timedelta(hours=1)
SESSION_LIFETIME = timedelta(hours=12)
SESSION_TOUCH = timedelta(minutes=1)
RESET_LINK_TTL = timedelta(hours=24)


def session_over(started_at: datetime, last_used_at: datetime, now: datetime) -> str | None:
    """Why a session is over at ``now`` (words for the login page), or None while it lasts."""
    if now >= started_at + SESSION_LIFETIME:
        return "your session has ended after 12 hours; please log in again"
    if now >= last_used_at + SESSION_IDLE:
        return "your session has ended after an hour without use; please log in again"
    return None


def needs_touch(last_used_at: datetime, now: datetime) -> bool:
    """Whether a use at ``now`` should be written down (see :data:`SESSION_TOUCH`)."""
    return now - last_used_at >= SESSION_TOUCH


def reset_link_live(expires_at: datetime, used_at: datetime | None, now: datetime) -> bool:
    """Whether a reset link may still be used at ``now``: unused and not expired."""
    return used_at is None and now < expires_at
