"""Rows for the repository contract suite: accounts, an auction using every field, its bids and
contracts, and a helper that stores what contracts point to."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from commex.domain.accounts import Account, Role
from commex.domain.auctions import Auction, Bid, Direction, Eligibility, EnglishState, Format
from commex.domain.contracts import Contract, ContractStatus
from commex.domain.money import Money
from commex.domain.terms import ServiceTerms
from commex.services.ports import UnitOfWorkFactory

T0 = datetime(2026, 11, 22, 12, 0, 0, 123456, tzinfo=UTC)


def account(account_id: str, *roles: Role, name: str | None = None) -> Account:
    roles = roles or (Role.PROVIDER, Role.RECIPIENT)
    return Account(account_id, name or f"Account {account_id}", frozenset(roles), T0)


def put_accounts(store: UnitOfWorkFactory, *ids: str) -> None:
    with store() as u:
        for i in ids:
            u.accounts.add(account(i))
        u.commit()


def auction(**kw: object) -> Auction:
    """An english auction using every field, with three bids' worth of state."""
    base = Auction(
        id="auc_1",
        owner_id="acc_p",
        direction=Direction.FORWARD,
        format=Format.ENGLISH,
        title="Night-time data, 30 days",
        terms=ServiceTerms(
            "stream-processing",
            3600,
            T0 + timedelta(days=1),
            T0 + timedelta(days=31),
            64_000,
            2_000_000,
            4,
            ("transcode:pcmu", "dtmf"),
        ),
        currency="JPY",
        quantity=1,
        reserve=Money(Decimal(900), "JPY"),
        min_increment=Money(Decimal(5), "JPY"),
        soft_close_s=120,
        reputation_weight=Decimal("0.2500"),
        eligibility=Eligibility(None, 0.6, frozenset()),
        closes_at=T0 + timedelta(hours=2),
        created_at=T0,
        bid_count=3,
        bid_seq=3,
        english=EnglishState(
            "acc_r", "bid_3", Money(Decimal(1000), "JPY"), Money(Decimal(1500), "JPY")
        ),
    )
    return replace(base, **kw)  # type: ignore[arg-type]


def bid(bid_id: str, bidder: str, amount: int, seq: int, **kw: object) -> Bid:
    base = Bid(bid_id, "auc_1", bidder, Money(Decimal(amount), "JPY"), None, seq, T0)
    return replace(base, **kw)  # type: ignore[arg-type]


def contract(contract_id: str = "con_1", **kw: object) -> Contract:
    base = Contract(
        contract_id,
        "auc_1",
        "bid_3",
        "acc_p",
        "acc_r",
        Money(Decimal(1000), "JPY"),
        ServiceTerms("voice", 3600, max_members=3),
        ContractStatus.AWARDED,
        T0,
    )
    return replace(base, **kw)  # type: ignore[arg-type]


def put_auction_world(store: UnitOfWorkFactory, *contracts: Contract) -> None:
    """The accounts, the auction and its bids that contracts point to, and the contracts."""
    put_accounts(store, "acc_p", "acc_r", "acc_s")
    with store() as u:
        u.auctions.add(auction())
        u.auctions.add_bids(
            [
                bid("bid_1", "acc_r", 950, 1),
                bid("bid_2", "acc_s", 990, 2),
                bid("bid_3", "acc_r", 1000, 3),
            ]
        )
        u.contracts.add_many(list(contracts))
        u.commit()
