"""Shared helpers for the unit tests of the exchange core.

``kit`` builds accounts and auctions on the domain rules directly; a ``Book`` is one auction
with its bid rows, driven through ``accept_bid`` / ``close_auction`` the way the services do.
The fixture is session-scoped and stateless so Hypothesis tests may use it too.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from commex.adapters.clock import SequentialIds
from commex.domain.accounts import Account, Role
from commex.domain.auctions import (
    Auction,
    Bid,
    BidResult,
    CloseResult,
    Direction,
    Eligibility,
    Format,
    accept_bid,
    cancel_auction,
    close_auction,
)
from commex.domain.money import Money
from commex.domain.opening import AuctionDraft, open_auction
from commex.domain.reputation import NO_RATINGS, Reputation
from commex.domain.terms import ServiceTerms
from commex.domain.visibility import visible_bids

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
OPEN_FOR = timedelta(hours=1)


def account(account_id: str, *roles: Role | str) -> Account:
    return Account(account_id, account_id.title(), frozenset(Role(r) for r in roles), T0)


OPERATOR = account("op", Role.OPERATOR)


class Book:
    """One auction and its bid rows. Bidders are named by id; an unknown name becomes an
    account with the auction's bidding role."""

    def __init__(self, auction: Auction, owner: Account) -> None:
        self.auction = auction
        self.owner = owner
        self.rows: dict[str, Bid] = {}
        self.accounts: dict[str, Account] = {owner.id: owner, OPERATOR.id: OPERATOR}
        self.now = auction.created_at + timedelta(minutes=1)
        self._ids = SequentialIds()

    def who(self, bidder: str | Account) -> Account:
        if isinstance(bidder, Account):
            self.accounts.setdefault(bidder.id, bidder)
            return bidder
        if bidder not in self.accounts:
            self.accounts[bidder] = account(bidder, self.auction.bidder_role)
        return self.accounts[bidder]

    def money(self, value: str | Money | None) -> Money | None:
        if value is None or isinstance(value, Money):
            return value
        return Money.parse(value, self.auction.currency)

    def place(
        self,
        bidder: str | Account,
        amount: str | Money,
        max_amount: str | Money | None = None,
        *,
        at: datetime | None = None,
        rep: Reputation = NO_RATINGS,
    ) -> BidResult:
        who = self.who(bidder)
        own = None
        if self.auction.sealed:
            own = next((b for b in self.rows.values() if b.bidder_id == who.id and b.active), None)
        money = self.money(amount)
        assert money is not None
        result = accept_bid(
            self.auction,
            who,
            rep,
            money,
            self.money(max_amount),
            own,
            self.now if at is None else at,
            lambda: self._ids.new("bid"),
        )
        for old in result.superseded:
            self.rows[old] = replace(self.rows[old], active=False)
        for row in result.new_bids:
            self.rows[row.id] = row
        self.auction = result.auction
        return result

    def bid(
        self, bidder: str | Account, amount: str | Money, max_amount: Any = None, **kw: Any
    ) -> Bid:
        return self.place(bidder, amount, max_amount, **kw).placed

    @property
    def active(self) -> list[Bid]:
        return sorted((b for b in self.rows.values() if b.active), key=lambda b: b.seq)

    def close(
        self,
        by: str | Account | None = None,
        *,
        at: datetime | None = None,
        reason: str | None = None,
        reps: Mapping[str, Reputation] | None = None,
    ) -> CloseResult:
        closer = None if by is None else (by if isinstance(by, Account) else self.accounts[by])
        result = close_auction(
            self.auction,
            self.active,
            reps or {},
            self.auction.closes_at if at is None else at,
            closer,
            lambda: self._ids.new("con"),
            reason,
        )
        self.auction = result.auction
        return result

    def cancel(self, by: str | Account, reason: str | None = None) -> CloseResult:
        who = by if isinstance(by, Account) else self.accounts[by]
        result = cancel_auction(self.auction, who, reason)
        self.auction = result.auction
        return result

    def visible(self, viewer_id: str | None) -> list[Bid]:
        return visible_bids(
            self.auction, sorted(self.rows.values(), key=lambda b: b.seq), viewer_id
        )

    def prices(self, result: CloseResult) -> dict[str, str]:
        """bidder id -> price as the wire shows it."""
        assert result.auction.outcome is not None
        return {w.bidder_id: str(w.price) for w in result.auction.outcome.winners}


class Kit:
    t0 = T0
    operator = OPERATOR

    @staticmethod
    def account(account_id: str, *roles: Role | str) -> Account:
        return account(account_id, *roles)

    @staticmethod
    def money(text: str, currency: str = "EUR") -> Money:
        return Money.parse(text, currency)

    @staticmethod
    def terms(**kw: Any) -> ServiceTerms:
        kw.setdefault("service", "voice")
        kw.setdefault("duration_s", 3600)
        return ServiceTerms(**kw)

    def draft(
        self, direction: str = "forward", fmt: str = "first-price", **kw: Any
    ) -> AuctionDraft:
        currency = kw.pop("currency", "EUR")
        for name in ("reserve", "min_increment"):
            if isinstance(kw.get(name), str):
                kw[name] = Money.parse(kw[name], currency)
        if "reputation_weight" in kw:
            kw["reputation_weight"] = Decimal(str(kw["reputation_weight"]))
        if isinstance(kw.get("eligibility"), Mapping):
            e = dict(kw["eligibility"])
            if "approved_providers" in e:
                e["approved_providers"] = frozenset(e["approved_providers"])
            kw["eligibility"] = Eligibility(**e)
        return AuctionDraft(
            direction=Direction(direction),
            format=Format(fmt),
            title=kw.pop("title", "A block of voice"),
            terms=kw.pop("terms", None) or self.terms(),
            currency=currency,
            closes_at=kw.pop("closes_at", T0 + OPEN_FOR),
            **kw,
        )

    def book(
        self,
        direction: str = "forward",
        fmt: str = "first-price",
        *,
        owner: Account | None = None,
        **kw: Any,
    ) -> Book:
        if owner is None:
            owner = (
                account("seller", Role.PROVIDER)
                if direction == "forward"
                else account("buyer", Role.RECIPIENT)
            )
        auction = open_auction(self.draft(direction, fmt, **kw), "auc_1", owner, T0)
        return Book(auction, owner)


@pytest.fixture(scope="session")
def kit() -> Kit:
    return Kit()
