"""Finding auctions in SQL: the filters of :class:`~commex.domain.finding.AuctionFilter` on the
search columns every write keeps, in one of the list's orders, a page after a key.

Keys are compared column by column (``a > x OR (a = x AND id > y)``), which both SQLite and
PostgreSQL answer from the ``(…, id)`` indexes. A price order reads the auctions with a listed
price first and then those without, as two index-ordered reads, rather than sorting ``NULLS
LAST`` (which neither store can take from an index in both directions).
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import ColumnElement, Connection, Row, Select, and_, or_, select

from commex.adapters.sql import tables as t
from commex.adapters.sql.rows import stored_money_or_none
from commex.domain.auctions import Direction, Format, Status
from commex.domain.finding import AuctionFilter, Sort, price_key
from commex.domain.listing import AuctionLine
from commex.domain.paging import Key
from commex.domain.terms import stored_terms
from commex.domain.time import from_micros, to_micros

a = t.auctions.c


def _where(f: AuctionFilter) -> list[ColumnElement[bool]]:
    """One condition per filter given (the same as :func:`commex.domain.finding.matches`)."""
    cond: list[ColumnElement[bool]] = []
    equal = (
        (a.service, f.service),
        (a.direction, f.direction and f.direction.value),
        (a.format, f.format and f.format.value),
        (a.currency, f.currency),
        (a.status, f.status and f.status.value),
        (a.owner_id, f.owner_id),
    )
    cond.extend(col == value for col, value in equal if value is not None)
    if f.min_price is not None:
        cond.append(a.list_price >= price_key(f.min_price))
    if f.max_price is not None:
        cond.append(a.list_price <= price_key(f.max_price))
    if f.min_rate_bps is not None:
        cond.append(a.min_rate_bps >= f.min_rate_bps)
    if f.max_rate_bps is not None:
        cond.append(a.max_rate_bps <= f.max_rate_bps)
    if f.window_to is not None:
        cond.append(or_(a.window_start_us.is_(None), a.window_start_us < to_micros(f.window_to)))
    if f.window_from is not None:
        cond.append(or_(a.window_end_us.is_(None), a.window_end_us > to_micros(f.window_from)))
    if f.text_key is not None:
        cond.append(a.title_key.contains(f.text_key, autoescape=True))
    return cond


def _after(col: Any, value: Any, key_id: str, descending: bool) -> ColumnElement[bool]:
    """Rows strictly after ``(value, key_id)`` in ``(col, id)`` order."""
    if descending:
        return or_(col < value, and_(col == value, a.id < key_id))
    return or_(col > value, and_(col == value, a.id > key_id))


_LINE = (
    a.id, a.owner_id, a.direction, a.format, a.title, a.terms, a.currency, a.quantity,
    a.status, a.closes_us, a.created_us, a.bid_count, a.bid_seq, a.price_minor, a.reserve_minor,
)  # fmt: skip
"""The columns a list line shows: none of the aggregate's JSON but its terms."""


def _line(r: Row[Any]) -> AuctionLine:
    cur, direction, fmt = r.currency, Direction(r.direction), Format(r.format)
    english = fmt is Format.ENGLISH
    return AuctionLine(
        r.id, r.owner_id, direction, fmt, r.title, stored_terms(json.loads(r.terms)), cur,
        r.quantity, Status(r.status), from_micros(r.closes_us), from_micros(r.created_us),
        r.bid_count, r.bid_seq,
        stored_money_or_none(r.price_minor, cur) if english else None,
        stored_money_or_none(r.reserve_minor, cur) if direction is Direction.REVERSE else None,
    )  # fmt: skip


class SqlAuctionFinder:
    """The search part of the SQL auction repository (its connection is ``_c``)."""

    _c: Connection

    def find(
        self, f: AuctionFilter, sort: Sort, after: Key | None, limit: int
    ) -> list[AuctionLine]:
        base: Select[Any] = select(*_LINE).where(*_where(f))
        if sort in (Sort.PRICE, Sort.PRICE_DESC):
            return self._by_price(base, sort is Sort.PRICE_DESC, after, limit)
        col = a.created_us if sort is Sort.NEWEST else a.closes_us
        descending = sort is Sort.NEWEST
        q = base
        if after is not None:
            q = q.where(_after(col, after[0], str(after[1]), descending))
        order = (col.desc(), a.id.desc()) if descending else (col.asc(), a.id.asc())
        return [_line(r) for r in self._c.execute(q.order_by(*order).limit(limit))]

    def _by_price(
        self, base: Select[Any], descending: bool, after: Key | None, limit: int
    ) -> list[AuctionLine]:
        found: list[AuctionLine] = []
        if after is None or after[0] is not None:
            priced = base.where(a.list_price.is_not(None))
            if after is not None:
                priced = priced.where(_after(a.list_price, after[0], str(after[1]), descending))
            order = (a.list_price.desc(), a.id.desc()) if descending else (a.list_price, a.id)
            found = [_line(r) for r in self._c.execute(priced.order_by(*order).limit(limit))]
        if len(found) >= limit:
            return found
        unpriced = base.where(a.list_price.is_(None))
        if after is not None and after[0] is None:
            key_id = str(after[1])
            unpriced = unpriced.where(a.id < key_id if descending else a.id > key_id)
        order_id = a.id.desc() if descending else a.id.asc()
        rest = self._c.execute(unpriced.order_by(order_id).limit(limit - len(found)))
        return found + [_line(r) for r in rest]
