"""The SQL unit of work and repositories (SQLAlchemy Core, one connection per unit of work).

Core rather than the ORM: rows map to the frozen domain dataclasses in one place each, and the
hot paths (accept a bid, close 100,000 bids) issue a handful of plain statements.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import datetime
from decimal import Decimal
from types import TracebackType
from typing import Any, Self

from sqlalchemy import Connection, Engine, Row, and_, bindparam, func, select, true, update
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError

from commex.adapters.sql import tables as t
from commex.adapters.sql.engine import BEGIN_MODE, is_sqlite
from commex.domain.accounts import Account, Role
from commex.domain.auctions import (
    Auction,
    Bid,
    Direction,
    Eligibility,
    EnglishState,
    Format,
    Outcome,
    Status,
    Winner,
)
from commex.domain.contracts import Contract, ContractStatus
from commex.domain.errors import Conflict, InvalidInput
from commex.domain.members import Device, Member, MemberKind
from commex.domain.money import Money
from commex.domain.offers import ProcessingOffer
from commex.domain.ratings import RatedRole, Rating
from commex.domain.reputation import PairTally, Tally
from commex.domain.terms import ServiceTerms, parse_terms
from commex.domain.time import from_micros, to_micros
from commex.services.ports import SessionRecord


def _terms_json(terms: ServiceTerms) -> str:
    return json.dumps(terms.to_dict(), sort_keys=True)


def _money(minor: int | None, currency: str) -> Money | None:
    return None if minor is None else Money.from_minor(minor, currency)


def _minor(m: Money | None) -> int | None:
    return None if m is None else m.to_minor()


# Statements built once: executing a prebuilt statement skips SQLAlchemy's per-call cache-key
# generation, which otherwise costs more than the SQL itself on the bid path.
_ACCOUNT_GET = select(t.accounts).where(t.accounts.c.id == bindparam("id"))
_ACCOUNT_BY_TOKEN = select(t.accounts).where(t.accounts.c.token_hash == bindparam("token_hash"))
_AUCTION_GET = select(t.auctions).where(t.auctions.c.id == bindparam("id"))
_AUCTION_LOCK = _AUCTION_GET.with_for_update()
_AUCTION_UPDATE = update(t.auctions).where(t.auctions.c.id == bindparam("b_id"))
_BIDS_INSERT = t.bids.insert()
_BID_DEACTIVATE = update(t.bids).where(t.bids.c.id == bindparam("b_id")).values(active=False)


class _Accounts:
    def __init__(self, conn: Connection) -> None:
        self._c = conn

    def add(self, account: Account, token_hash: str | None = None) -> None:
        self._c.execute(
            t.accounts.insert().values(
                id=account.id,
                name=account.name,
                roles=",".join(sorted(r.value for r in account.roles)),
                owner_id=account.owner_id,
                token_hash=token_hash,
                created_us=to_micros(account.created_at),
            )
        )

    @staticmethod
    def row(r: Row[Any]) -> Account:
        roles = frozenset(Role(x) for x in r.roles.split(",") if x)
        return Account(r.id, r.name, roles, from_micros(r.created_us), r.owner_id)

    def get(self, account_id: str) -> Account | None:
        r = self._c.execute(_ACCOUNT_GET, {"id": account_id}).first()
        return None if r is None else self.row(r)

    def lock(self, account_id: str) -> None:
        if self._c.dialect.name != "sqlite":  # SQLite's BEGIN IMMEDIATE already serialises
            q = select(t.accounts.c.id).where(t.accounts.c.id == account_id).with_for_update()
            self._c.execute(q)

    def count(self) -> int:
        return int(self._c.execute(select(func.count()).select_from(t.accounts)).scalar_one())

    def get_many(self, account_ids: Iterable[str]) -> dict[str, Account]:
        ids = list(set(account_ids))
        out: dict[str, Account] = {}
        for i in range(0, len(ids), 500):
            rows = self._c.execute(select(t.accounts).where(t.accounts.c.id.in_(ids[i : i + 500])))
            out.update({r.id: self.row(r) for r in rows})
        return out


def _auction_values(a: Auction) -> dict[str, Any]:
    e = a.eligibility
    outcome = None
    if a.outcome is not None:
        o = a.outcome
        outcome = json.dumps(
            {
                "winners": [
                    [w.bid_id, w.bidder_id, w.price.to_minor(), w.contract_id] for w in o.winners
                ],
                "closed_us": to_micros(o.closed_at),
                "closed_by": o.closed_by,
                "reason": o.reason,
                "note": o.note,
            }
        )
    st = a.english
    return {
        "id": a.id,
        "owner_id": a.owner_id,
        "direction": a.direction.value,
        "format": a.format.value,
        "title": a.title,
        "terms": _terms_json(a.terms),
        "currency": a.currency,
        "quantity": a.quantity,
        "reserve_minor": _minor(a.reserve),
        "min_increment_minor": a.min_increment.to_minor(),
        "soft_close_s": a.soft_close_s,
        "reputation_weight": str(a.reputation_weight),
        "eligibility": json.dumps(
            {
                "min_provider_score": e.min_provider_score,
                "min_recipient_score": e.min_recipient_score,
                "approved_providers": sorted(e.approved_providers),
            }
        ),
        "closes_us": to_micros(a.closes_at),
        "created_us": to_micros(a.created_at),
        "status": a.status.value,
        "bid_count": a.bid_count,
        "bid_seq": a.bid_seq,
        "leader_id": st.leader_id,
        "leader_bid_id": st.leader_bid_id,
        "price_minor": _minor(st.price),
        "limit_minor": _minor(st.limit),
        "outcome": outcome,
        "cancel_reason": a.cancel_reason,
        "owner_group": a.owner_group or None,
    }


def _auction(r: Row[Any]) -> Auction:
    cur = r.currency
    e = json.loads(r.eligibility)
    outcome = None
    if r.outcome is not None:
        o = json.loads(r.outcome)
        outcome = Outcome(
            winners=tuple(
                Winner(bid, bidder, Money.from_minor(price, cur), contract)
                for bid, bidder, price, contract in o["winners"]
            ),
            closed_at=from_micros(o["closed_us"]),
            closed_by=o["closed_by"],
            reason=o["reason"],
            note=o["note"],
        )
    return Auction(
        id=r.id,
        owner_id=r.owner_id,
        direction=Direction(r.direction),
        format=Format(r.format),
        title=r.title,
        terms=parse_terms(json.loads(r.terms)),
        currency=cur,
        quantity=r.quantity,
        reserve=_money(r.reserve_minor, cur),
        min_increment=Money.from_minor(r.min_increment_minor, cur),
        soft_close_s=r.soft_close_s,
        reputation_weight=Decimal(r.reputation_weight),
        eligibility=Eligibility(
            e["min_provider_score"], e["min_recipient_score"], frozenset(e["approved_providers"])
        ),
        closes_at=from_micros(r.closes_us),
        created_at=from_micros(r.created_us),
        status=Status(r.status),
        bid_count=r.bid_count,
        bid_seq=r.bid_seq,
        english=EnglishState(
            r.leader_id, r.leader_bid_id, _money(r.price_minor, cur), _money(r.limit_minor, cur)
        ),
        outcome=outcome,
        cancel_reason=r.cancel_reason,
        owner_group=r.owner_group or "",
    )


class _Auctions:
    def __init__(self, conn: Connection, lock_rows: bool) -> None:
        self._c = conn
        self._lock_rows = lock_rows

    def add(self, auction: Auction) -> None:
        self._c.execute(t.auctions.insert(), _auction_values(auction))

    def get(self, auction_id: str) -> Auction | None:
        r = self._c.execute(_AUCTION_GET, {"id": auction_id}).first()
        return None if r is None else _auction(r)

    def get_for_update(self, auction_id: str) -> Auction | None:
        r = self._c.execute(_AUCTION_LOCK if self._lock_rows else _AUCTION_GET, {"id": auction_id})
        row = r.first()
        return None if row is None else _auction(row)

    def update(self, auction: Auction) -> None:
        values = _auction_values(auction)
        values["b_id"] = values.pop("id")
        self._c.execute(_AUCTION_UPDATE, values)

    def page(self, status: Status | None, limit: int, offset: int) -> list[Auction]:
        q = select(t.auctions)
        if status is not None:
            q = q.where(t.auctions.c.status == status.value)
        q = q.order_by(t.auctions.c.created_us.desc(), t.auctions.c.id.desc())
        return [_auction(r) for r in self._c.execute(q.limit(limit).offset(offset))]

    def due(self, now: datetime, limit: int) -> list[str]:
        q = (
            select(t.auctions.c.id)
            .where(and_(t.auctions.c.status == "open", t.auctions.c.closes_us <= to_micros(now)))
            .order_by(t.auctions.c.closes_us)
            .limit(limit)
        )
        return [r.id for r in self._c.execute(q)]


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


class _Bids:
    def __init__(self, conn: Connection) -> None:
        self._c = conn
        self._currency: dict[str, str] = {}

    def _cur(self, auction_id: str) -> str:
        if auction_id not in self._currency:
            r = self._c.execute(
                select(t.auctions.c.currency).where(t.auctions.c.id == auction_id)
            ).first()
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

    def add_many(self, bids: Sequence[Bid]) -> None:
        if not bids:
            return
        self._c.execute(
            _BIDS_INSERT,
            [
                {
                    "id": b.id,
                    "auction_id": b.auction_id,
                    "bidder_id": b.bidder_id,
                    "amount_minor": b.amount.to_minor(),
                    "max_minor": _minor(b.max_amount),
                    "seq": b.seq,
                    "created_us": to_micros(b.created_at),
                    "proxy": b.proxy,
                    "active": b.active,
                }
                for b in bids
            ],
        )

    def deactivate(self, bid_ids: Sequence[str]) -> None:
        if bid_ids:
            self._c.execute(_BID_DEACTIVATE, [{"b_id": i} for i in bid_ids])

    def get(self, bid_id: str) -> Bid | None:
        r = self._c.execute(_BID_GET, {"id": bid_id}).first()
        return None if r is None else self._rows([r], r.auction_id)[0]

    def own_active(self, auction_id: str, bidder_id: str) -> Bid | None:
        params = {"auction_id": auction_id, "bidder_id": bidder_id}
        r = self._c.execute(_BID_OWN_ACTIVE, params).first()
        return None if r is None else self._rows([r], auction_id)[0]

    def active(self, auction_id: str) -> list[Bid]:
        q = select(*_BID_COLS).where(
            and_(t.bids.c.auction_id == auction_id, t.bids.c.active.is_(True))
        )
        return self._rows(self._c.execute(q.order_by(t.bids.c.seq)).all(), auction_id)

    def cheapest_after(
        self, auction_id: str, after: tuple[int, int] | None, limit: int
    ) -> list[Bid]:
        b = t.bids.c
        q = select(*_BID_COLS).where(and_(b.auction_id == auction_id, b.active.is_(True)))
        if after is not None:
            amount, seq = after
            q = q.where((b.amount_minor > amount) | and_(b.amount_minor == amount, b.seq > seq))
        q = q.order_by(b.amount_minor, b.seq).limit(limit)
        return self._rows(self._c.execute(q).all(), auction_id)

    def recent(self, auction_id: str, limit: int) -> list[Bid]:
        q = (
            select(*_BID_COLS)
            .where(t.bids.c.auction_id == auction_id)
            .order_by(t.bids.c.seq.desc())
            .limit(limit)
        )
        return self._rows(self._c.execute(q).all(), auction_id)

    def best_active(self, auction_id: str, limit: int, highest_first: bool) -> list[Bid]:
        amount = t.bids.c.amount_minor.desc() if highest_first else t.bids.c.amount_minor.asc()
        q = (
            select(*_BID_COLS)
            .where(and_(t.bids.c.auction_id == auction_id, t.bids.c.active.is_(True)))
            .order_by(amount, t.bids.c.seq)
            .limit(limit)
        )
        return self._rows(self._c.execute(q).all(), auction_id)

    def for_auction(self, auction_id: str, bidder_id: str | None = None) -> list[Bid]:
        q = select(*_BID_COLS).where(t.bids.c.auction_id == auction_id)
        if bidder_id is not None:
            q = q.where(t.bids.c.bidder_id == bidder_id)
        return self._rows(self._c.execute(q.order_by(t.bids.c.seq)).all(), auction_id)


def _contract(r: Row[Any]) -> Contract:
    return Contract(
        id=r.id,
        auction_id=r.auction_id,
        bid_id=r.bid_id,
        provider_id=r.provider_id,
        recipient_id=r.recipient_id,
        price=Money.from_minor(r.price_minor, r.currency),
        terms=parse_terms(json.loads(r.terms)),
        status=ContractStatus(r.status),
        created_at=from_micros(r.created_us),
        started_at=None if r.started_us is None else from_micros(r.started_us),
    )


class _Contracts:
    def __init__(self, conn: Connection) -> None:
        self._c = conn

    def add_many(self, contracts: Sequence[Contract]) -> None:
        if not contracts:
            return
        self._c.execute(
            t.contracts.insert(),
            [
                {
                    "id": c.id,
                    "auction_id": c.auction_id,
                    "bid_id": c.bid_id,
                    "provider_id": c.provider_id,
                    "recipient_id": c.recipient_id,
                    "price_minor": c.price.to_minor(),
                    "currency": c.price.currency,
                    "terms": _terms_json(c.terms),
                    "status": c.status.value,
                    "created_us": to_micros(c.created_at),
                    "started_us": None if c.started_at is None else to_micros(c.started_at),
                    "window_start_us": (
                        None if c.terms.window_start is None else to_micros(c.terms.window_start)
                    ),
                }
                for c in contracts
            ],
        )

    def update(self, contract: Contract) -> None:
        started = None if contract.started_at is None else to_micros(contract.started_at)
        self._c.execute(
            update(t.contracts)
            .where(t.contracts.c.id == contract.id)
            .values(status=contract.status.value, started_us=started)
        )

    def due_to_start(self, now: datetime, limit: int) -> list[Contract]:
        c = t.contracts.c
        q = (
            select(t.contracts)
            .where(and_(c.status == "awarded", c.window_start_us <= to_micros(now)))
            .order_by(c.window_start_us)
            .limit(limit)
        )
        return [_contract(r) for r in self._c.execute(q)]

    def get(self, contract_id: str) -> Contract | None:
        r = self._c.execute(select(t.contracts).where(t.contracts.c.id == contract_id)).first()
        return None if r is None else _contract(r)

    def for_auction(self, auction_id: str) -> list[Contract]:
        q = select(t.contracts).where(t.contracts.c.auction_id == auction_id)
        return [_contract(r) for r in self._c.execute(q.order_by(t.contracts.c.id))]

    def for_account(self, account_id: str) -> list[Contract]:
        c = t.contracts.c
        q = select(t.contracts).where(
            (c.provider_id == account_id) | (c.recipient_id == account_id)
        )
        return [_contract(r) for r in self._c.execute(q.order_by(c.created_us.desc()))]


class _Credentials:
    def __init__(self, conn: Connection) -> None:
        self._c = conn

    def set_token_hash(self, account_id: str, token_hash: str) -> None:
        q = update(t.accounts).where(t.accounts.c.id == account_id).values(token_hash=token_hash)
        self._c.execute(q)

    def by_token_hash(self, token_hash: str) -> Account | None:
        r = self._c.execute(_ACCOUNT_BY_TOKEN, {"token_hash": token_hash}).first()
        return None if r is None else _Accounts.row(r)

    def set_password(self, account_id: str, login_key: str, password_hash: str) -> None:
        q = (
            update(t.accounts)
            .where(t.accounts.c.id == account_id)
            .values(name_key=login_key, password_hash=password_hash)
        )
        self._c.execute(q)

    def by_login(self, login_key: str) -> tuple[Account, str] | None:
        r = self._c.execute(select(t.accounts).where(t.accounts.c.name_key == login_key)).first()
        if r is None or r.password_hash is None:
            return None
        return _Accounts.row(r), r.password_hash

    def add_session(self, session: SessionRecord) -> None:
        self._c.execute(
            t.sessions.insert().values(
                token_hash=session.token_hash,
                account_id=session.account_id,
                csrf=session.csrf,
                created_us=to_micros(session.created_at),
                expires_us=to_micros(session.expires_at),
            )
        )

    def session(self, token_hash: str) -> SessionRecord | None:
        r = self._c.execute(select(t.sessions).where(t.sessions.c.token_hash == token_hash)).first()
        if r is None:
            return None
        return SessionRecord(
            r.token_hash, r.account_id, r.csrf, from_micros(r.created_us), from_micros(r.expires_us)
        )

    def delete_session(self, token_hash: str) -> None:
        self._c.execute(t.sessions.delete().where(t.sessions.c.token_hash == token_hash))

    def delete_expired_sessions(self, now: datetime) -> int:
        q = t.sessions.delete().where(t.sessions.c.expires_us <= to_micros(now))
        return int(self._c.execute(q).rowcount)


class _Idempotency:
    def __init__(self, conn: Connection) -> None:
        self._c = conn

    def get(self, account_id: str, key: str) -> tuple[str, str] | None:
        k = t.idempotency_keys.c
        r = self._c.execute(
            select(k.fingerprint, k.bid_id).where(k.account_id == account_id, k.key == key)
        ).first()
        return None if r is None else (r.fingerprint, r.bid_id)

    def add(self, account_id: str, key: str, fingerprint: str, bid_id: str, now: datetime) -> None:
        self._c.execute(
            t.idempotency_keys.insert().values(
                account_id=account_id,
                key=key,
                fingerprint=fingerprint,
                bid_id=bid_id,
                created_us=to_micros(now),
            )
        )


class _Offers:
    def __init__(self, conn: Connection) -> None:
        self._c = conn

    def put(self, offer: ProcessingOffer) -> None:
        o = t.processing_offers
        self._c.execute(o.delete().where(o.c.provider_id == offer.provider_id))
        self._c.execute(
            o.insert().values(
                provider_id=offer.provider_id,
                node_url=offer.node_url,
                capabilities=",".join(sorted(offer.capabilities)),
                price_minor=offer.price.to_minor(),
                currency=offer.price.currency,
                updated_us=to_micros(offer.updated_at),
            )
        )

    def with_capability(self, capability: str) -> list[ProcessingOffer]:
        rows = self._c.execute(select(t.processing_offers)).all()
        offers = [
            ProcessingOffer(
                r.provider_id,
                r.node_url,
                frozenset(r.capabilities.split(",")),
                Money.from_stored(r.price_minor, r.currency),
                from_micros(r.updated_us),
            )
            for r in rows
        ]
        return [o for o in offers if capability in o.capabilities]


class _Devices:
    def __init__(self, conn: Connection) -> None:
        self._c = conn

    @staticmethod
    def _row(r: Row[Any]) -> Device:
        phones = tuple(json.loads(r.phone_numbers))
        return Device(r.id, r.recipient_id, r.name, r.user_name, phones, from_micros(r.created_us))

    def add(self, device: Device, token_hash: str) -> None:
        self._c.execute(
            t.devices.insert().values(
                id=device.id,
                recipient_id=device.recipient_id,
                name=device.name,
                user_name=device.user,
                phone_numbers=json.dumps(list(device.phone_numbers)),
                token_hash=token_hash,
                created_us=to_micros(device.created_at),
            )
        )

    def get(self, device_id: str) -> Device | None:
        r = self._c.execute(select(t.devices).where(t.devices.c.id == device_id)).first()
        return None if r is None else self._row(r)

    def by_token_hash(self, token_hash: str) -> Device | None:
        q = select(t.devices).where(t.devices.c.token_hash == token_hash)
        r = self._c.execute(q).first()
        return None if r is None else self._row(r)

    def of_recipient(self, recipient_id: str) -> list[Device]:
        q = select(t.devices).where(t.devices.c.recipient_id == recipient_id)
        return [self._row(r) for r in self._c.execute(q.order_by(t.devices.c.created_us))]


class _Members:
    def __init__(self, conn: Connection) -> None:
        self._c = conn

    def add(self, member: Member) -> None:
        self._c.execute(
            t.contract_members.insert().values(
                id=member.id,
                contract_id=member.contract_id,
                kind=member.kind.value,
                ref=member.ref,
                created_us=to_micros(member.created_at),
            )
        )

    def remove(self, member_id: str) -> None:
        self._c.execute(t.contract_members.delete().where(t.contract_members.c.id == member_id))

    def of_contract(self, contract_id: str) -> list[Member]:
        m = t.contract_members.c
        q = select(t.contract_members).where(m.contract_id == contract_id)
        return [
            Member(r.id, r.contract_id, MemberKind(r.kind), r.ref, from_micros(r.created_us))
            for r in self._c.execute(q.order_by(m.created_us, m.id))
        ]


class _Ratings:
    def __init__(self, conn: Connection) -> None:
        self._c = conn

    def add(self, rating: Rating) -> None:
        self._c.execute(
            t.ratings.insert().values(
                id=rating.id,
                contract_id=rating.contract_id,
                rated_id=rating.rated_id,
                rated_role=rating.rated_role.value,
                rater_key=rating.rater_key,
                rater_account_id=rating.rater_account_id,
                device_id=rating.device_id,
                satisfied=rating.satisfied,
                score=rating.score,
                comment=rating.comment,
                created_us=to_micros(rating.created_at),
            )
        )

    def exists(self, contract_id: str, role: str, rater_key: str) -> bool:
        r = t.ratings.c
        q = select(r.id).where(
            and_(r.contract_id == contract_id, r.rated_role == role, r.rater_key == rater_key)
        )
        return self._c.execute(q).first() is not None

    def of_contract(self, contract_id: str) -> list[Rating]:
        r = t.ratings.c
        q = select(t.ratings).where(r.contract_id == contract_id).order_by(r.created_us, r.id)
        return [
            Rating(
                x.id,
                x.contract_id,
                x.rated_id,
                RatedRole(x.rated_role),
                x.rater_key,
                x.rater_account_id,
                x.device_id,
                bool(x.satisfied),
                x.score,
                x.comment,
                from_micros(x.created_us),
            )
            for x in self._c.execute(q)
        ]

    def recent_counts(
        self, account_ids: Iterable[str], role: str, since: datetime
    ) -> dict[str, int]:
        ids = list(set(account_ids))
        if not ids:
            return {}
        r = t.ratings.c
        q = (
            select(r.rated_id, func.count())
            .where(
                and_(r.rated_id.in_(ids), r.rated_role == role, r.created_us >= to_micros(since))
            )
            .group_by(r.rated_id)
        )
        return {rated: int(n) for rated, n in self._c.execute(q)}


class _Reputations:
    def __init__(self, conn: Connection) -> None:
        self._c = conn

    def tallies(self, account_ids: Iterable[str], role: str) -> dict[str, Tally]:
        ids = list(set(account_ids))
        if not ids:
            return {}
        r = t.reputations.c
        q = select(t.reputations).where(and_(r.account_id.in_(ids), r.role == role))
        return {
            x.account_id: Tally(x.positive, x.negative, from_micros(x.as_of_us))
            for x in self._c.execute(q)
        }

    def pair(self, account_id: str, role: str, counterparty: str) -> PairTally | None:
        p = t.reputation_pairs.c
        q = select(t.reputation_pairs).where(
            and_(p.account_id == account_id, p.role == role, p.counterparty == counterparty)
        )
        x = self._c.execute(q).first()
        return None if x is None else PairTally(x.weight, from_micros(x.as_of_us))

    def put(self, account_id: str, role: str, tally: Tally) -> None:
        r = t.reputations.c
        self._c.execute(
            t.reputations.delete().where(and_(r.account_id == account_id, r.role == role))
        )
        self._c.execute(
            t.reputations.insert().values(
                account_id=account_id,
                role=role,
                positive=tally.positive,
                negative=tally.negative,
                as_of_us=to_micros(tally.as_of),
            )
        )

    def put_pair(self, account_id: str, role: str, counterparty: str, pair: PairTally) -> None:
        p = t.reputation_pairs.c
        self._c.execute(
            t.reputation_pairs.delete().where(
                and_(p.account_id == account_id, p.role == role, p.counterparty == counterparty)
            )
        )
        self._c.execute(
            t.reputation_pairs.insert().values(
                account_id=account_id,
                role=role,
                counterparty=counterparty,
                weight=pair.weight,
                as_of_us=to_micros(pair.as_of),
            )
        )


class SqlUnitOfWork:
    """One transaction on one connection. Uncommitted work is rolled back on exit; driver
    errors leave as commex errors (a constraint violation is a conflict)."""

    def __init__(self, engine: Engine, write: bool = True) -> None:
        self._engine = engine
        self._write = write

    def __enter__(self) -> Self:
        self._conn = self._engine.connect()
        if is_sqlite(self._engine):
            self._conn.info[BEGIN_MODE] = "IMMEDIATE" if self._write else "DEFERRED"
        self._tx = self._conn.begin()
        lock_rows = not is_sqlite(self._engine)  # SQLite's BEGIN IMMEDIATE already locks
        self.accounts = _Accounts(self._conn)
        self.auctions = _Auctions(self._conn, lock_rows)
        self.bids = _Bids(self._conn)
        self.contracts = _Contracts(self._conn)
        self.credentials = _Credentials(self._conn)
        self.idempotency = _Idempotency(self._conn)
        self.offers = _Offers(self._conn)
        self.devices = _Devices(self._conn)
        self.members = _Members(self._conn)
        self.ratings = _Ratings(self._conn)
        self.reputations = _Reputations(self._conn)
        return self

    def commit(self) -> None:
        self._tx.commit()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if self._tx.is_active:
                self._tx.rollback()
        finally:
            self._conn.close()
        if isinstance(exc, IntegrityError):
            raise Conflict("the change conflicts with data already stored") from exc
        if isinstance(exc, DataError):  # e.g. a NUL character, which PostgreSQL cannot store
            raise InvalidInput("the input holds a value that cannot be stored") from exc
        if isinstance(exc, DBAPIError) and "locked" in str(exc.orig).lower():
            raise Conflict("the database is busy; please retry") from exc


class SqlUnitOfWorkFactory:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def __call__(self, *, write: bool = True) -> SqlUnitOfWork:
        return SqlUnitOfWork(self.engine, write)

    def dispose(self) -> None:
        self.engine.dispose()
