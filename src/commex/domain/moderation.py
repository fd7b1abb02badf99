"""The operator's moderation (O2): suspend and reinstate accounts, and take a suspended bidder's
open bids back out of the auctions they stand in. Every action names the operator and a reason.

A suspended account can do nothing (its calls are refused with ``account_suspended``) until it
is reinstated. Its active bids on open auctions are withdrawn: a sealed auction forgets them;
an english auction it leads falls back to the best standing bid of the others.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from decimal import Decimal

from commex.domain.accounts import Account
from commex.domain.auctions import Auction, Bid, Direction, EnglishState, Status
from commex.domain.errors import Conflict, Forbidden, InvalidInput, Suspended
from commex.domain.events import AccountReinstated, AccountSuspended
from commex.domain.ratings import Rating

MAX_REASON = 500


def require_operator(by: Account, what: str) -> None:
    """Refuse anyone but the operator."""
    if not by.is_operator:
        raise Forbidden(f"only the operator may {what}")


def check_reason(reason: object) -> str:
    """A moderation reason: required, printable, at most :data:`MAX_REASON` characters."""
    if not isinstance(reason, str) or not reason.strip():
        raise InvalidInput("a reason is required", field="reason")
    text = " ".join(reason.split())
    if len(text) > MAX_REASON:
        raise InvalidInput(f"reason must be at most {MAX_REASON} characters", field="reason")
    if not text.isprintable():
        raise InvalidInput("reason must be printable text", field="reason")
    return text


def refuse_if_suspended(account: Account) -> None:
    """What every call of a suspended account meets."""
    if account.suspended:
        raise Suspended(
            f"account {account.id} is suspended ({account.suspension_reason}); "
            "it can do nothing until the operator reinstates it"
        )


def suspend(
    target: Account, by: Account, reason: object, now: datetime
) -> tuple[Account, AccountSuspended]:
    """The suspended account and the event saying so (its withdrawn bids are added later)."""
    require_operator(by, "suspend an account")
    text = check_reason(reason)
    if target.is_operator:
        raise Forbidden("an operator account cannot be suspended")
    if target.suspended:
        raise Conflict(f"account {target.id} is already suspended")
    done = replace(target, suspended_at=now, suspension_reason=text)
    return done, AccountSuspended(target.id, by.id, text, now)


def reinstate(
    target: Account, by: Account, reason: object, now: datetime
) -> tuple[Account, AccountReinstated]:
    """The account as it was before its suspension, and the event saying so."""
    require_operator(by, "reinstate an account")
    text = check_reason(reason)
    if not target.suspended:
        raise Conflict(f"account {target.id} is not suspended")
    done = replace(target, suspended_at=None, suspension_reason=None)
    return done, AccountReinstated(target.id, by.id, text, now)


def withdraw_bids(
    auction: Auction, bidder_id: str, active: Sequence[Bid]
) -> tuple[Auction, tuple[str, ...]]:
    """Take ``bidder_id``'s active bids out of an open auction: the auction's new state and the
    ids of the bids withdrawn. ``active`` is every active bid of the auction."""
    if auction.status is not Status.OPEN:
        return auction, ()
    mine = tuple(b.id for b in active if b.bidder_id == bidder_id)
    if not mine:
        return auction, ()
    if auction.sealed:
        return replace(auction, bid_count=len(active) - len(mine)), mine
    if auction.english.leader_id != bidder_id:
        return auction, mine
    others = [b for b in active if b.bidder_id != bidder_id]
    return replace(auction, english=_standing(auction, others)), mine


def _standing(auction: Auction, others: Sequence[Bid]) -> EnglishState:
    """The english standing without the withdrawn leader: the bidder whose proxy limit reaches
    furthest (ties to the earlier bid) leads at the best amount it has bid so far."""
    if not others:
        return EnglishState()
    sign = 1 if auction.direction is Direction.FORWARD else -1
    by_bidder: dict[str, list[Bid]] = {}
    for b in sorted(others, key=lambda b: b.seq):
        by_bidder.setdefault(b.bidder_id, []).append(b)

    def reach(bids: list[Bid]) -> tuple[Decimal, int]:
        return max(sign * (b.max_amount or b.amount).amount for b in bids), -bids[0].seq

    bids = max(by_bidder.values(), key=reach)
    top = max(bids, key=lambda b: (sign * b.amount.amount, b.seq))
    limit = max((b.max_amount or b.amount for b in bids), key=lambda m: sign * m.amount)
    return EnglishState(top.bidder_id, top.id, top.amount, limit)


def hide_rating(rating: Rating, reason: str, now: datetime) -> Rating:
    """The rating hidden by the operator (it stays stored, out of every reputation)."""
    if rating.hidden_at is not None:
        raise Conflict(f"rating {rating.id} is already hidden")
    return replace(rating, hidden_at=now, hidden_reason=reason)
