"""Auctions with their bids and the idempotency keys of bids: the hot path, with statements
built once."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, and_, bindparam, or_, select, true, update

from commex.adapters.sql import tables as t
from commex.adapters.sql.auction_rows import auction_of_row, auction_values
from commex.adapters.sql.bulk import BulkInsert, BulkStatement, InListSelect
from commex.adapters.sql.conflicts import execute_unique
from commex.adapters.sql.finding import SqlAuctionFinder
from commex.adapters.sql.rows import minor_or_none
from commex.domain.auctions import (
    Auction,
    Bid,
    Status,
)
from commex.domain.finding import listed_price, price_key
from commex.domain.money import Money
from commex.domain.time import from_micros, to_micros
from commex.services.ports.auctions import key_used

# Statements built once: executing a prebuilt statement skips SQLAlchemy's per-call cache-key
# generation, which otherwise costs more than the SQL itself on the bid path.
_AUCTION_GET = select(t.auctions).where(t.auctions.c.id == bindparam("id"))
_AUCTION_CURRENCY = select(t.auctions.c.currency).where(t.auctions.c.id == bindparam("id"))
_AUCTION_LOCK = _AUCTION_GET.with_for_update()
_AUCTIONS_GET = (
    select(t.auctions)
    .where(t.auctions.c.id.in_(bindparam("ids", expanding=True)))
    .order_by(t.auctions.c.id)
)
_AUCTIONS_LOCK = _AUCTIONS_GET.with_for_update()  # sorted before locking: in id order
# Every write to an auction raises its version (see SqlAuctions.versions).
_AUCTION_UPDATE = (
    update(t.auctions)
    .where(t.auctions.c.id == bindparam("b_id"))
    .values(version=t.auctions.c.version + 1)
)
_VERSIONS_GET = (
    select(t.auctions.c.id, t.auctions.c.version)
    .where(t.auctions.c.id.in_(bindparam("ids", expanding=True)))
    .order_by(t.auctions.c.id)
)
_VERSIONS_LOCK = _VERSIONS_GET.with_for_update()
_VERSIONS = {False: InListSelect(_VERSIONS_GET, "ids"), True: InListSelect(_VERSIONS_LOCK, "ids")}
# What a bid, a close or a cancel can change: an update writes these only, so the indexes on
# what never changes after opening (search's service, rates, window, title; the creation time)
# are left alone on the bid path.
_CHANGING = (
    "status", "bid_count", "bid_seq", "closes_us", "leader_id", "leader_bid_id", "price_minor",
    "limit_minor", "outcome", "cancel_reason", "list_price",
)  # fmt: skip
_BIDDING_UPDATE = BulkStatement(_AUCTION_UPDATE.values(
    {c: bindparam(f"b_{c}") for c in (
        "bid_count", "bid_seq", "leader_id", "leader_bid_id", "price_minor", "limit_minor",
        "closes_us", "list_price",
    )})
)  # fmt: skip
_BIDS_INSERT = BulkInsert(
    t.bids,
    ("id", "auction_id", "bidder_id", "amount_minor", "max_minor", "seq", "created_us", "proxy",
     "active"),
)  # fmt: skip
_BID_DEACTIVATE = BulkStatement(
    update(t.bids).where(t.bids.c.id == bindparam("b_id")).values(active=False)
)


_BID_COLS = (
    t.bids.c.id,
    t.bids.c.auction_id,
    t.bids.c.bidder_id,
    t.bids.c.amount_minor,
    t.bids.c.max_minor,
    t.bids.c.seq,
    t.bids.c.created_us,
    t.bids.c.proxy,
    t.bids.c.active,
)
_BID_GET = select(*_BID_COLS).where(t.bids.c.id == bindparam("id"))
_BID_OWN_ACTIVE = select(*_BID_COLS).where(
    t.bids.c.auction_id == bindparam("auction_id"),
    t.bids.c.bidder_id == bindparam("bidder_id"),
    t.bids.c.active == true(),
)


class SqlAuctions(SqlAuctionFinder):
    def __init__(self, conn: Connection, lock_rows: bool) -> None:
        self._c = conn
        self._lock_rows = lock_rows
        self._currency: dict[str, str] = {}

    def add(self, auction: Auction) -> None:
        self._c.execute(t.auctions.insert(), auction_values(auction))

    def _auctions(self, rows: Iterable[Row[Any]]) -> list[Auction]:
        return [auction_of_row(r) for r in rows]

    def get(self, auction_id: str) -> Auction | None:
        r = self._c.execute(_AUCTION_GET, {"id": auction_id}).first()
        return None if r is None else self._read(r)

    def get_for_update(self, auction_id: str) -> Auction | None:
        r = self._c.execute(_AUCTION_LOCK if self._lock_rows else _AUCTION_GET, {"id": auction_id})
        row = r.first()
        return None if row is None else self._read(row)

    def many_for_update(self, auction_ids: Collection[str]) -> dict[str, Auction]:
        if not auction_ids:
            return {}
        statement = _AUCTIONS_LOCK if self._lock_rows else _AUCTIONS_GET
        rows = self._c.execute(statement, {"ids": sorted(auction_ids)})
        return {row.id: self._read(row) for row in rows}

    def versions(self, auction_ids: Collection[str]) -> dict[str, int]:
        if not auction_ids:
            return {}
        rows = _VERSIONS[self._lock_rows].run(self._c, sorted(auction_ids))
        return {r.id: r.version for r in rows}

    def _read(self, row: Row[Any]) -> Auction:
        """The auction of ``row``; its currency is noted for its bids' rows (one query less)."""
        self._currency[row.id] = row.currency
        return auction_of_row(row)

    def update(self, auction: Auction) -> None:
        values = auction_values(auction)
        changing = {name: values[name] for name in _CHANGING}
        self._c.execute(_AUCTION_UPDATE, changing | {"b_id": auction.id})

    def update_bidding(self, auctions: Sequence[Auction]) -> None:
        if not auctions:
            return
        rows = [
            {
                "b_id": a.id,
                "b_bid_count": a.bid_count,
                "b_bid_seq": a.bid_seq,
                "b_leader_id": a.english.leader_id,
                "b_leader_bid_id": a.english.leader_bid_id,
                "b_price_minor": minor_or_none(a.english.price),
                "b_limit_minor": minor_or_none(a.english.limit),
                "b_closes_us": to_micros(a.closes_at),
                "b_list_price": price_key(listed_price(a)),
            }
            for a in auctions
        ]
        _BIDDING_UPDATE.run(self._c, rows)

    def page(self, status: Status | None, limit: int, offset: int) -> list[Auction]:
        q = select(t.auctions)
        if status is not None:
            q = q.where(t.auctions.c.status == status.value)
        q = q.order_by(t.auctions.c.created_us.desc(), t.auctions.c.id.desc())
        return [auction_of_row(r) for r in self._c.execute(q.limit(limit).offset(offset))]

    def open_of_owner(self, owner_id: str) -> list[Auction]:
        a = t.auctions.c
        q = select(t.auctions).where(and_(a.owner_id == owner_id, a.status == "open"))
        return [auction_of_row(r) for r in self._c.execute(q.order_by(a.created_us, a.id))]

    def open_bid_on_by(self, bidder_id: str) -> list[Auction]:
        a, b = t.auctions.c, t.bids.c
        bid_on = (
            select(b.auction_id)
            .where(and_(b.bidder_id == bidder_id, b.active.is_(True)))
            .distinct()
        )
        q = select(t.auctions).where(and_(a.status == "open", a.id.in_(bid_on)))
        return [auction_of_row(r) for r in self._c.execute(q.order_by(a.created_us, a.id))]

    def due(self, now: datetime, limit: int) -> list[str]:
        q = (
            select(t.auctions.c.id)
            .where(and_(t.auctions.c.status == "open", t.auctions.c.closes_us <= to_micros(now)))
            .order_by(t.auctions.c.closes_us, t.auctions.c.id)
            .limit(limit)
        )
        return [r.id for r in self._c.execute(q)]

    def _cur(self, auction_id: str) -> str:
        if auction_id not in self._currency:
            r = self._c.execute(_AUCTION_CURRENCY, {"id": auction_id}).first()
            self._currency[auction_id] = r.currency if r else "XXX"
        return self._currency[auction_id]

    def _rows(self, rows: Iterable[Sequence[Any]], auction_id: str) -> list[Bid]:
        cur = self._cur(auction_id)
        frm = Money.from_stored
        return [
            Bid(
                r[0],
                r[1],
                r[2],
                frm(r[3], cur),
                None if r[4] is None else frm(r[4], cur),
                r[5],
                from_micros(r[6]),
                bool(r[7]),
                bool(r[8]),
            )
            for r in rows
        ]

    def add_bids(self, bids: Sequence[Bid]) -> None:
        if not bids:
            return
        _BIDS_INSERT.run(
            self._c,
            [
                {
                    "id": b.id,
                    "auction_id": b.auction_id,
                    "bidder_id": b.bidder_id,
                    "amount_minor": b.amount.to_minor(),
                    "max_minor": minor_or_none(b.max_amount),
                    "seq": b.seq,
                    "created_us": to_micros(b.created_at),
                    "proxy": b.proxy,
                    "active": b.active,
                }
                for b in bids
            ],
        )

    def deactivate_bids(self, bid_ids: Sequence[str]) -> None:
        if bid_ids:
            _BID_DEACTIVATE.run(self._c, [{"b_id": i} for i in bid_ids])

    def open_auctions_bid_on(self, bidder_id: str) -> list[str]:
        a, b = t.auctions.c, t.bids.c
        q = (
            select(a.id)
            .join(t.bids, b.auction_id == a.id)
            .where(b.bidder_id == bidder_id, b.active, a.status == "open")
            .distinct()
            .order_by(a.id)
        )
        return [r.id for r in self._c.execute(q)]

    def bid(self, bid_id: str) -> Bid | None:
        r = self._c.execute(_BID_GET, {"id": bid_id}).first()
        return None if r is None else self._rows([r], r.auction_id)[0]

    def own_active_bid(self, auction_id: str, bidder_id: str) -> Bid | None:
        params = {"auction_id": auction_id, "bidder_id": bidder_id}
        r = self._c.execute(_BID_OWN_ACTIVE, params).first()
        return None if r is None else self._rows([r], auction_id)[0]

    def own_active_bids(self, pairs: Collection[tuple[str, str]]) -> dict[tuple[str, str], Bid]:
        if not pairs:
            return {}
        # By exact (auction, bidder) pairs, each an index lookup (a row-value IN list makes
        # SQLite scan every bid; a batch's auctions times its bidders would read every active
        # bid of every pair, most of them not asked for).
        b = t.bids.c
        wanted = or_(*(and_(b.auction_id == a, b.bidder_id == d) for a, d in sorted(pairs)))
        found: dict[tuple[str, str], Bid] = {}
        for r in self._c.execute(select(*_BID_COLS).where(wanted, b.active == true())):
            found[(r.auction_id, r.bidder_id)] = self._rows([r], r.auction_id)[0]
        return found

    def active_bids(self, auction_id: str) -> list[Bid]:
        q = select(*_BID_COLS).where(
            and_(t.bids.c.auction_id == auction_id, t.bids.c.active.is_(True))
        )
        return self._rows(self._c.execute(q.order_by(t.bids.c.seq)).all(), auction_id)

    def cheapest_bids_after(
        self, auction_id: str, after: tuple[int, int] | None, limit: int
    ) -> list[Bid]:
        b = t.bids.c
        q = select(*_BID_COLS).where(and_(b.auction_id == auction_id, b.active.is_(True)))
        if after is not None:
            amount, seq = after
            q = q.where((b.amount_minor > amount) | and_(b.amount_minor == amount, b.seq > seq))
        q = q.order_by(b.amount_minor, b.seq).limit(limit)
        return self._rows(self._c.execute(q).all(), auction_id)

    def recent_bids(self, auction_id: str, limit: int) -> list[Bid]:
        q = (
            select(*_BID_COLS)
            .where(t.bids.c.auction_id == auction_id)
            .order_by(t.bids.c.seq.desc())
            .limit(limit)
        )
        return self._rows(self._c.execute(q).all(), auction_id)

    def best_bids(self, auction_id: str, limit: int, highest_first: bool) -> list[Bid]:
        amount = t.bids.c.amount_minor.desc() if highest_first else t.bids.c.amount_minor.asc()
        q = (
            select(*_BID_COLS)
            .where(and_(t.bids.c.auction_id == auction_id, t.bids.c.active.is_(True)))
            .order_by(amount, t.bids.c.seq)
            .limit(limit)
        )
        return self._rows(self._c.execute(q).all(), auction_id)

    def bidders(self, auction_id: str, after: str | None, limit: int) -> list[str]:
        b = t.bids.c
        q = select(b.bidder_id).where(b.auction_id == auction_id).distinct()
        if after is not None:
            q = q.where(b.bidder_id > after)
        return [r.bidder_id for r in self._c.execute(q.order_by(b.bidder_id).limit(limit))]

    def bids(self, auction_id: str, bidder_id: str | None = None) -> list[Bid]:
        q = select(*_BID_COLS).where(t.bids.c.auction_id == auction_id)
        if bidder_id is not None:
            q = q.where(t.bids.c.bidder_id == bidder_id)
        return self._rows(self._c.execute(q.order_by(t.bids.c.seq)).all(), auction_id)

    def bid_key(self, account_id: str, key: str) -> tuple[str, str] | None:
        k = t.idempotency_keys.c
        r = self._c.execute(
            select(k.fingerprint, k.bid_id).where(k.account_id == account_id, k.key == key)
        ).first()
        return None if r is None else (r.fingerprint, r.bid_id)

    def add_bid_key(
        self, account_id: str, key: str, fingerprint: str, bid_id: str, now: datetime
    ) -> None:
        values = {
            "account_id": account_id,
            "key": key,
            "fingerprint": fingerprint,
            "bid_id": bid_id,
            "created_us": to_micros(now),
        }
        execute_unique(self._c, t.idempotency_keys.insert(), values, "key", key_used())
