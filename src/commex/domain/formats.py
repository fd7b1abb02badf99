"""Auction formats (A3): who wins and what they pay. One small class per format.

Ranking (A5, A7): forward bids rank by amount, highest first; reverse bids rank by effective
price, lowest first, where ``effective = amount x (1 + weight x (1 - reputation lower bound))``;
ties go to the earlier bid (lower ``seq``). The reserve (forward) is the least the provider
accepts and is not shown to bidders; the ceiling (reverse) is published and enforced at bid time.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_FLOOR, Decimal
from typing import TYPE_CHECKING

from commex.domain import auctions as _a
from commex.domain.errors import BidRejected
from commex.domain.money import Money, currency_exponent
from commex.domain.reputation import NO_RATINGS, Reputation

if TYPE_CHECKING:
    from commex.domain.auctions import Auction, Bid, EnglishState

Award = tuple["Bid", Money]


def effective_price(amount: Money, reputation: Reputation, weight: Decimal) -> Decimal:
    """A reverse bid's ranking figure: the price, raised by up to ``weight`` for poor or unknown
    reputation (a provider with no ratings has lower bound 0 and gets the full weight)."""
    return amount.amount * (1 + weight * (1 - reputation.lower_bound_decimal()))


def ranked(auction: Auction, bids: Sequence[Bid], reps: Mapping[str, Reputation]) -> list[Bid]:
    """Bids best first by the auction's ranking rule; ties to the earlier bid."""
    if auction.direction is _a.Direction.FORWARD:
        return sorted(bids, key=lambda b: (-b.amount.amount, b.seq))
    w = auction.reputation_weight
    return sorted(
        bids, key=lambda b: (effective_price(b.amount, reps.get(b.bidder_id, NO_RATINGS), w), b.seq)
    )


def qualifies(auction: Auction, bid: Bid) -> bool:
    """Whether a bid is within the reserve (forward) or the ceiling (reverse)."""
    if auction.reserve is None:
        return True
    if auction.direction is _a.Direction.FORWARD:
        return bid.amount >= auction.reserve
    return bid.amount <= auction.reserve


class FirstPrice:
    """Sealed bid; each winner pays (or is paid) its own bid."""

    name = "first-price"

    def award(
        self, auction: Auction, bids: Sequence[Bid], reps: Mapping[str, Reputation]
    ) -> tuple[list[Award], str]:
        order = [b for b in ranked(auction, bids, reps) if qualifies(auction, b)]
        winners = order[: auction.quantity]
        return [(b, b.amount) for b in winners], _note(auction, bids, winners)


class SecondPrice:
    """Sealed bid (Vickrey). Forward: every winner pays the same price, the best losing bid or
    the reserve, whichever is higher; with neither, the lowest winning bid. Reverse: the winner
    is paid the price at which its effective price would equal the best losing effective price,
    at most the ceiling; with no losing bid, the ceiling, or else its own bid."""

    name = "second-price"

    def award(
        self, auction: Auction, bids: Sequence[Bid], reps: Mapping[str, Reputation]
    ) -> tuple[list[Award], str]:
        order = ranked(auction, bids, reps)
        winners = [b for b in order if qualifies(auction, b)][: auction.quantity]
        if not winners:
            return [], _note(auction, bids, winners)
        winner_ids = {b.id for b in winners}
        losers = [b for b in order if b.id not in winner_ids]
        best_loser = losers[0] if losers else None
        if auction.direction is _a.Direction.FORWARD:
            candidates = [m for m in (best_loser and best_loser.amount, auction.reserve) if m]
            price = max(candidates) if candidates else winners[-1].amount
            return [(b, price) for b in winners], ""
        (win,) = winners
        if best_loser is None:
            price = auction.reserve or win.amount
        else:
            w = auction.reputation_weight
            target = effective_price(
                best_loser.amount, reps.get(best_loser.bidder_id, NO_RATINGS), w
            )
            factor = 1 + w * (1 - reps.get(win.bidder_id, NO_RATINGS).lower_bound_decimal())
            quantum = Decimal(1).scaleb(-currency_exponent(auction.currency))
            price = Money((target / factor).quantize(quantum, ROUND_FLOOR), auction.currency)
            price = max(price, win.amount)
            if auction.reserve is not None:
                price = min(price, auction.reserve)
        return [(win, price)], ""


class English:
    """Open ascending (forward) or descending (reverse) auction with a minimum increment and proxy
    bidding: each bidder may state a limit and the exchange bids for it, one increment at a time,
    up to that limit. The leader pays its standing bid; a hidden reserve above it but within the
    leader's limit raises the price to the reserve."""

    name = "english"

    def award(
        self, auction: Auction, bids: Sequence[Bid], reps: Mapping[str, Reputation]
    ) -> tuple[list[Award], str]:
        st = auction.english
        if st.leader_bid_id is None or st.price is None or st.limit is None:
            return [], "no bids"
        leader = next((b for b in bids if b.id == st.leader_bid_id), None)
        if leader is None:  # pragma: no cover - the repository always loads the leader's bid
            raise RuntimeError("the english leader's bid was not loaded")
        price = st.price
        reserve = auction.reserve
        if reserve is not None and auction.direction is _a.Direction.FORWARD and price < reserve:
            if st.limit < reserve:
                return [], "reserve not met"
            price = reserve
        return [(leader, price)], ""


def check_amounts(auction: Auction, amount: Money, max_amount: Money | None) -> None:
    """Raise why a bid's amounts break the auction's rules: currency, sign, proxy limits,
    the published ceiling."""
    cur = auction.currency
    for name, value in (("amount", amount), ("max_amount", max_amount)):
        if value is None:
            continue
        if value.currency != cur:
            raise BidRejected(f"{name} must be in {cur}", field=name)
        if value.amount <= 0:
            raise BidRejected(f"{name} must be more than zero", field=name)
    if max_amount is not None:
        if auction.sealed:
            raise BidRejected(
                "proxy limits (max_amount) apply to english auctions only", field="max_amount"
            )
        forward = auction.direction is _a.Direction.FORWARD
        if forward and max_amount < amount:
            raise BidRejected("max_amount must be at least the amount", field="max_amount")
        if not forward and max_amount > amount:
            raise BidRejected(
                "in a reverse auction max_amount is the lowest price you accept: "
                "it must be at most the amount",
                field="max_amount",
            )
    ceiling = auction.reserve if auction.direction is _a.Direction.REVERSE else None
    if ceiling is not None and amount > ceiling:
        raise BidRejected(f"amount {amount} is above the ceiling {ceiling}", field="amount")


FORMATS: dict[str, FirstPrice | SecondPrice | English] = {
    f.name: f for f in (FirstPrice(), SecondPrice(), English())
}


def award(
    auction: Auction, bids: Sequence[Bid], reps: Mapping[str, Reputation]
) -> tuple[list[Award], str]:
    """The winning bids and their prices, and a note when nobody wins."""
    return FORMATS[auction.format.value].award(auction, bids, reps)


def deciding_bids(auction: Auction) -> int | None:
    """How many of the best active bids by amount decide a sealed auction's outcome, or None
    when every bid may matter. By amount alone, the winners are among the best ``quantity``
    and the second price is the next one; with a reputation weight, any bid might rank first."""
    if auction.direction is _a.Direction.REVERSE and auction.reputation_weight:
        return None
    return auction.quantity + 1


def seen_enough(
    auction: Auction, seen: Sequence[Bid], reps: Mapping[str, Reputation], next_amount: Money
) -> bool:
    """For a reputation-weighted reverse auction read in ascending amount: whether no bid of
    ``next_amount`` or more can still rank among the deciding ``quantity + 1``.

    A weight only raises a price (effective >= amount), so once the next amount is above the
    effective price of the last deciding bid seen, every later bid ranks below it.
    """
    deciding = auction.quantity + 1
    if len(seen) < deciding:
        return False
    w = auction.reputation_weight
    efficient = sorted(
        effective_price(b.amount, reps.get(b.bidder_id, NO_RATINGS), w) for b in seen
    )
    return next_amount.amount > efficient[deciding - 1]


def _note(auction: Auction, bids: Sequence[Bid], winners: Sequence[Bid]) -> str:
    if winners:
        return ""
    if not bids:
        return "no bids"
    return "reserve not met" if auction.direction is _a.Direction.FORWARD else "ceiling not met"


@dataclass(frozen=True, slots=True)
class EnglishStep:
    state: EnglishState
    rows: tuple[Bid, ...]
    placed: Bid


@dataclass
class _Rows:
    """The bid rows one english bid writes, numbered on from the auction's last."""

    auction: Auction
    now: datetime
    new_id: Callable[[], str]
    seq: int
    rows: list[Bid] = field(default_factory=list)

    def add(self, who: str, value: Money, limit: Money | None, proxy: bool) -> Bid:
        self.seq += 1
        bid = _a.Bid(
            self.new_id(), self.auction.id, who, value, limit, self.seq, self.now, proxy=proxy
        )
        self.rows.append(bid)
        return bid

    def step(self, state: EnglishState, placed: Bid) -> EnglishStep:
        return EnglishStep(state, tuple(self.rows), placed)


def english_bid(
    auction: Auction,
    bidder_id: str,
    amount: Money,
    max_amount: Money | None,
    now: datetime,
    new_id: Callable[[], str],
) -> EnglishStep:
    """Apply one english bid with proxy bidding, in a 'key' space where higher is better
    (the amount forward, minus the amount reverse), so both directions share one rule."""
    rows = _Rows(auction, now, new_id, auction.bid_seq)
    st = auction.english
    limit = max_amount or amount
    if st.leader_id is None or st.price is None or st.limit is None:
        placed = rows.add(bidder_id, amount, max_amount, False)
        return rows.step(_a.EnglishState(bidder_id, placed.id, amount, limit), placed)
    if bidder_id == st.leader_id:
        return _raise_own_limit(auction, rows, bidder_id, st.price, st.limit, limit)
    return _challenge(
        auction, rows, st.leader_id, st.price, st.limit, bidder_id, amount, max_amount
    )


def _sign(auction: Auction) -> int:
    return 1 if auction.direction is _a.Direction.FORWARD else -1


def _raise_own_limit(
    auction: Auction, rows: _Rows, bidder_id: str, price: Money, old: Money, limit: Money
) -> EnglishStep:
    """The leader bids again: only to move its proxy limit further, at the standing price."""
    sign = _sign(auction)
    if sign * limit.amount <= sign * old.amount:
        raise BidRejected(
            "you already lead; a new bid must raise your proxy limit (max_amount) "
            f"{'above' if sign > 0 else 'below'} your current one",
            field="max_amount",
        )
    placed = rows.add(bidder_id, price, limit, False)
    return rows.step(_a.EnglishState(bidder_id, placed.id, price, limit), placed)


def _challenge(
    auction: Auction,
    rows: _Rows,
    leader_id: str,
    price: Money,
    leader_limit: Money,
    bidder_id: str,
    amount: Money,
    max_amount: Money | None,
) -> EnglishStep:
    """Another bidder challenges the leader: at least the standing price plus the increment;
    the better proxy limit leads, at one increment past the other's (ties to the leader)."""
    sign, inc, cur = _sign(auction), auction.min_increment.amount, auction.currency

    def key(m: Money) -> Decimal:
        return sign * m.amount

    def money(k: Decimal) -> Money:
        return Money(sign * k, cur)

    limit = max_amount or amount
    floor = key(price) + inc
    if key(amount) < floor:
        word = "at least" if sign > 0 else "at most"
        raise BidRejected(
            f"the next bid must be {word} {money(floor)} {cur} "
            f"(the standing bid {price} plus the increment {auction.min_increment})",
            field="amount",
        )
    if key(limit) > key(leader_limit):
        # The challenger's limit beats the leader's: the leader's proxy went to its limit.
        if key(leader_limit) > key(price):
            rows.add(leader_id, leader_limit, None, True)
        won = money(max(key(amount), min(key(limit), key(leader_limit) + inc)))
        placed = rows.add(bidder_id, won, max_amount, False)
        return rows.step(_a.EnglishState(bidder_id, placed.id, won, limit), placed)
    # The leader's proxy answers (ties go to the earlier bidder, the leader).
    placed = rows.add(bidder_id, limit, max_amount, False)
    answer = money(min(key(leader_limit), key(limit) + inc))
    lead = rows.add(leader_id, answer, None, True)
    return rows.step(_a.EnglishState(leader_id, lead.id, answer, leader_limit), placed)


def describe(auction: Auction) -> str:
    """The ranking rule in words, shown to every bidder (A5)."""
    fmt = FORMATS[auction.format.value]
    text = (fmt.__doc__ or "").split("\n\n")[0]
    text = " ".join(text.split())
    if auction.direction is _a.Direction.FORWARD:
        rank = "Bids rank by amount, highest first"
    elif auction.reputation_weight:
        rank = (
            "Bids rank by effective price, lowest first: amount x (1 + "
            f"{auction.reputation_weight} x (1 - provider reputation lower bound))"
        )
    else:
        rank = "Bids rank by amount, lowest first (reputation weight 0: price alone)"
    return f"{auction.format}: {text} {rank}; ties go to the earlier bid."
