"""Finding auctions (O4): the filters a searcher may set, the orders a list may take, and the
key of an auction in each order.

The price an auction is listed (and filtered and sorted) at is a public one only: an english
auction's standing price, otherwise a reverse auction's ceiling. A forward auction's reserve is
its owner's secret, so a forward auction without a standing price has no listed price: price
filters leave it out and price orders put it last, and the reserve cannot be found by search.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import TypeVar

from commex.domain.auctions import Auction, Direction, Format, Status
from commex.domain.errors import InvalidInput
from commex.domain.listing import AuctionLine
from commex.domain.money import check_currency, max_amount
from commex.domain.paging import Key
from commex.domain.terms import MAX_RATE_BPS
from commex.domain.time import parse_utc, to_micros

E = TypeVar("E", bound=StrEnum)
MAX_TEXT = 100
PRICE_SCALE = 3  # listed prices are compared in thousandths: exact for every ISO 4217 currency


class Sort(StrEnum):
    """The orders of an auction list; ties go to the auction id."""

    NEWEST = "newest"  # newest first
    CLOSING = "closing"  # soonest close first
    PRICE = "price"  # lowest listed price first, auctions without one last
    PRICE_DESC = "-price"  # highest listed price first, auctions without one last


SORTS = tuple(s.value for s in Sort)


@dataclass(frozen=True, slots=True)
class AuctionFilter:
    """What a searcher asks for; every part is optional, and all that are given must hold.

    ``min_rate_bps``: the terms guarantee at least this rate; ``max_rate_bps``: the terms cap
    the rate at this or less. The window overlaps ``window_from``..``window_to`` (an auction
    whose block may be used at any time overlaps every range). ``text`` is found in the title,
    whatever the case."""

    service: str | None = None
    direction: Direction | None = None
    format: Format | None = None
    currency: str | None = None
    min_price: Decimal | None = None
    max_price: Decimal | None = None
    min_rate_bps: int | None = None
    max_rate_bps: int | None = None
    window_from: datetime | None = None
    window_to: datetime | None = None
    owner_id: str | None = None
    status: Status | None = None
    text: str | None = None

    @property
    def text_key(self) -> str | None:
        return None if self.text is None else fold(self.text)


def fold(text: str) -> str:
    """Text as search compares it: case folded, so ``Voice`` finds ``VOICE`` and ``voice``."""
    return text.casefold()


def listed_price(auction: Auction) -> Decimal | None:
    """The public price an auction is listed at (see the module's note), or None."""
    if not auction.sealed and auction.english.price is not None:
        return auction.english.price.amount
    if auction.direction is Direction.REVERSE and auction.reserve is not None:
        return auction.reserve.amount
    return None


def price_key(amount: Decimal | None) -> int | None:
    """A listed price as an exact integer (thousandths) that any store compares."""
    return None if amount is None else int(amount.scaleb(PRICE_SCALE))


def matches(auction: Auction, f: AuctionFilter) -> bool:
    """Whether ``auction`` passes every filter of ``f`` (the stores' queries say the same)."""
    t = auction.terms
    price = price_key(listed_price(auction))
    checks = (
        f.service is None or t.service == f.service,
        f.direction is None or auction.direction is f.direction,
        f.format is None or auction.format is f.format,
        f.currency is None or auction.currency == f.currency,
        f.status is None or auction.status is f.status,
        f.owner_id is None or auction.owner_id == f.owner_id,
        f.min_price is None or (price is not None and price >= _need(price_key(f.min_price))),
        f.max_price is None or (price is not None and price <= _need(price_key(f.max_price))),
        f.min_rate_bps is None or (t.min_rate_bps or 0) >= f.min_rate_bps,
        f.max_rate_bps is None or (t.max_rate_bps is not None and t.max_rate_bps <= f.max_rate_bps),
        f.window_to is None or t.window_start is None or t.window_start < f.window_to,
        f.window_from is None or t.window_end is None or t.window_end > f.window_from,
        f.text_key is None or f.text_key in fold(auction.title),
    )
    return all(checks)


def _need(value: int | None) -> int:
    assert value is not None
    return value


def sort_key(auction: Auction | AuctionLine, sort: Sort) -> Key:
    """Where ``auction`` (or its line) sits in the ``sort`` order: the values the cursor
    carries."""
    if sort is Sort.NEWEST:
        return (to_micros(auction.created_at), auction.id)
    if sort is Sort.CLOSING:
        return (to_micros(auction.closes_at), auction.id)
    if isinstance(auction, AuctionLine):
        return (price_key(auction.listed_price), auction.id)
    return (price_key(listed_price(auction)), auction.id)


_PRICE_OR_NONE: type = int | type(None)  # type: ignore[assignment]
KEY_SHAPES: dict[Sort, tuple[type, ...]] = {
    Sort.NEWEST: (int, str),
    Sort.CLOSING: (int, str),
    Sort.PRICE: (_PRICE_OR_NONE, str),
    Sort.PRICE_DESC: (_PRICE_OR_NONE, str),
}


def parse_sort(value: object) -> Sort:
    if value is None or value == "":
        return Sort.NEWEST
    if not isinstance(value, str) or value not in SORTS:
        raise InvalidInput(f"sort must be one of {', '.join(SORTS)}", "sort")
    return Sort(value)


def parse_filter(
    *,
    service: str | None = None,
    direction: str | None = None,
    format: str | None = None,  # the query parameter's name
    currency: str | None = None,
    min_price: str | None = None,
    max_price: str | None = None,
    min_rate_bps: str | int | None = None,
    max_rate_bps: str | int | None = None,
    window_from: str | datetime | None = None,
    window_to: str | datetime | None = None,
    owner: str | None = None,
    status: str | None = None,
    text: str | None = None,
) -> AuctionFilter:
    """The filter of a search as typed (blank means not given); a bad value is refused naming
    its parameter."""
    f = AuctionFilter(
        service=_word(service, "service"),
        direction=_choice(direction, Direction, "direction"),
        format=_choice(format, Format, "format"),
        currency=None if _blank(currency) else check_currency(currency),
        min_price=_price(min_price, "min_price"),
        max_price=_price(max_price, "max_price"),
        min_rate_bps=_rate(min_rate_bps, "min_rate_bps"),
        max_rate_bps=_rate(max_rate_bps, "max_rate_bps"),
        window_from=None if _blank(window_from) else parse_utc(window_from, "window_from"),
        window_to=None if _blank(window_to) else parse_utc(window_to, "window_to"),
        owner_id=_word(owner, "owner", 64),
        status=_choice(status, Status, "status"),
        text=_text(text),
    )
    for low, high, name in (
        (f.min_price, f.max_price, "max_price"),
        (f.min_rate_bps, f.max_rate_bps, "max_rate_bps"),
        (f.window_from, f.window_to, "window_to"),
    ):
        if low is not None and high is not None and high < low:  # type: ignore[operator]
            raise InvalidInput(f"{name} must not be below its lower bound", name)
    return f


def _blank(value: object) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _word(value: str | None, field: str, most: int = 32) -> str | None:
    if _blank(value):
        return None
    assert value is not None
    text = value.strip()
    if len(text) > most or not text.isprintable():
        raise InvalidInput(f"{field} must be at most {most} printable characters", field)
    return text


def _choice(value: str | None, kind: type[E], field: str) -> E | None:
    if _blank(value):
        return None
    assert value is not None
    names = [e.value for e in kind]
    if value.strip() not in names:
        raise InvalidInput(f"{field} must be one of {', '.join(names)}", field)
    return kind(value.strip())


def _price(value: str | None, field: str) -> Decimal | None:
    if _blank(value):
        return None
    assert value is not None
    try:
        amount = Decimal(value.strip())
    except InvalidOperation:
        amount = Decimal("NaN")
    if not amount.is_finite() or amount < 0 or amount > max_amount("JPY"):
        raise InvalidInput(f'{field} must be an amount such as "12.50"', field)
    if amount != amount.quantize(Decimal(1).scaleb(-PRICE_SCALE)):
        raise InvalidInput(f"{field} has more than {PRICE_SCALE} decimal places", field)
    return amount


def _rate(value: str | int | None, field: str) -> int | None:
    if _blank(value):
        return None
    text = str(value).strip()
    if not text.isdigit() or not 1 <= int(text) <= MAX_RATE_BPS:
        raise InvalidInput(f"{field} must be a rate in bit/s from 1 to {MAX_RATE_BPS}", field)
    return int(text)


def _text(value: str | None) -> str | None:
    if _blank(value):
        return None
    assert value is not None
    text = value.strip()
    if len(text) > MAX_TEXT or not text.isprintable():
        raise InvalidInput(f"q must be at most {MAX_TEXT} printable characters", "q")
    return text


def in_order(auctions: Iterable[Auction], sort: Sort) -> list[Auction]:
    """``auctions`` in the ``sort`` order (what the stores' queries answer)."""
    keyed = [(sort_key(x, sort), x) for x in auctions]
    if sort is Sort.NEWEST:
        return [x for _, x in sorted(keyed, key=lambda p: _plain(p[0]), reverse=True)]
    if sort is Sort.CLOSING:
        return [x for _, x in sorted(keyed, key=lambda p: _plain(p[0]))]
    descending = sort is Sort.PRICE_DESC
    priced = sorted((p for p in keyed if p[0][0] is not None), key=lambda p: _plain(p[0]))
    unpriced = sorted((p for p in keyed if p[0][0] is None), key=lambda p: str(p[0][1]))
    if descending:
        priced.reverse()
        unpriced.reverse()
    return [x for _, x in priced + unpriced]


def follows(key: Key, after: Key, sort: Sort) -> bool:
    """Whether the auction at ``key`` comes after ``after`` in the ``sort`` order."""
    if sort is Sort.NEWEST:
        return _plain(key) < _plain(after)
    if sort is Sort.CLOSING:
        return _plain(key) > _plain(after)
    descending = sort is Sort.PRICE_DESC
    if after[0] is None:
        later_id = str(key[1]) < str(after[1]) if descending else str(key[1]) > str(after[1])
        return key[0] is None and later_id
    if key[0] is None:
        return True
    return _plain(key) < _plain(after) if descending else _plain(key) > _plain(after)


def _plain(key: Key) -> tuple[int, str]:
    return (int(key[0] or 0), str(key[1]))
