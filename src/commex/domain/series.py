"""Series for charts: figures over time computed from the records, for pages to draw.

Pure: the periods are cut from a time passed in, and every point is exact (money as Decimal,
time in UTC).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from commex.domain.auctions import Bid
from commex.domain.usage import UsageSession


@dataclass(frozen=True, slots=True)
class MonthRatings:
    """The ratings one account received in one role in one calendar month (UTC)."""

    start: datetime
    positive: int
    negative: int

    @property
    def count(self) -> int:
        return self.positive + self.negative

    @property
    def positive_share(self) -> Decimal | None:
        """The share of positive ratings (None in a month without any)."""
        if self.count == 0:
            return None
        return Decimal(self.positive) / Decimal(self.count)


def month_starts(now: datetime, months: int) -> list[datetime]:
    """The first instants of the last ``months`` calendar months up to ``now`` (UTC), and of
    the month after: ``months + 1`` bounds, oldest first."""
    year, month = now.astimezone(UTC).year, now.astimezone(UTC).month
    out = []
    for back in range(months - 1, -2, -1):
        index = year * 12 + (month - 1) - back
        out.append(datetime(index // 12, index % 12 + 1, 1, tzinfo=UTC))
    return out


@dataclass(frozen=True, slots=True)
class Point:
    at: datetime
    value: Decimal


def price_steps(bids: Iterable[Bid]) -> list[Point]:
    """An english auction's standing price after each bid (its bids in arrival order)."""
    return [Point(b.created_at, b.amount.amount) for b in sorted(bids, key=lambda b: b.seq)]


def usage_by_member(sessions: Sequence[UsageSession]) -> dict[str, list[Point]]:
    """Each member's usage of a block so far, in seconds, after each of its sessions (counted
    when the session ended, or when it started while still open)."""
    out: dict[str, list[Point]] = {}
    totals: dict[str, int] = {}
    for s in sorted(sessions, key=lambda s: (s.ended_at or s.started_at, s.id)):
        totals[s.member_id] = totals.get(s.member_id, 0) + s.used_ms
        moment = s.ended_at or s.started_at
        out.setdefault(s.member_id, []).append(Point(moment, Decimal(totals[s.member_id]) / 1000))
    return out
