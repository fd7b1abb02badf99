"""An auction as a list shows it (search results, the watchlist): what a line says, read
without the whole aggregate (no bids, eligibility, outcome or secrets such as a forward
auction's reserve or a proxy's limit), so a page of 100 is built from a narrow read."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from commex.domain.accounts import Role
from commex.domain.auctions import Auction, Direction, Format, Status
from commex.domain.money import Money
from commex.domain.terms import ServiceTerms


@dataclass(frozen=True, slots=True)
class AuctionLine:
    """A line of an auction list. ``price`` is an english auction's standing price (none for
    sealed ones); ``ceiling`` is a reverse auction's ceiling (a forward reserve is never
    listed)."""

    id: str
    owner_id: str
    direction: Direction
    format: Format
    title: str
    terms: ServiceTerms
    currency: str
    quantity: int
    status: Status
    closes_at: datetime
    created_at: datetime
    bid_count: int
    bid_seq: int
    price: Money | None
    ceiling: Money | None

    @property
    def sealed(self) -> bool:
        return self.format is not Format.ENGLISH

    @property
    def owner_role(self) -> Role:
        return Role.PROVIDER if self.direction is Direction.FORWARD else Role.RECIPIENT

    @property
    def listed_price(self) -> Decimal | None:
        """The public price it is listed at (see :mod:`commex.domain.finding`), or None."""
        if self.price is not None:
            return self.price.amount
        return None if self.ceiling is None else self.ceiling.amount


def line_of(a: Auction) -> AuctionLine:
    """The line of a whole auction (for stores and lists that hold the aggregate)."""
    return AuctionLine(
        a.id, a.owner_id, a.direction, a.format, a.title, a.terms, a.currency, a.quantity,
        a.status, a.closes_at, a.created_at, a.bid_count, a.bid_seq,
        None if a.sealed else a.english.price,
        a.reserve if a.direction is Direction.REVERSE else None,
    )  # fmt: skip
