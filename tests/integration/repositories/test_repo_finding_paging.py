"""Paging through any search while auctions are added, on every store (Hypothesis): every
auction that matched when paging began is seen exactly once, nothing that does not match is
seen, nothing twice, and the pages keep the order they were asked for."""

from __future__ import annotations

import itertools
from dataclasses import replace
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from commex.adapters.memory import MemoryUnitOfWorkFactory
from commex.domain.auctions import Auction, Direction, EnglishState, Format, Status
from commex.domain.finding import (
    AuctionFilter,
    Sort,
    follows,
    matches,
    parse_filter,
    sort_key,
)
from commex.domain.listing import AuctionLine, line_of
from commex.domain.money import Money
from commex.domain.terms import ServiceTerms
from commex.services.ports import UnitOfWorkFactory
from support.rows import T0, auction, put_accounts

WORDS = ("Voice", "data", "Fibre", "night", "LISBON", "harbour")


@st.composite
def auctions(draw: st.DrawFn, prefix: str) -> Auction:
    n = draw(st.integers(0, 10**6))
    currency = draw(st.sampled_from(("EUR", "JPY")))
    scale = 2 if currency == "EUR" else 0
    money = lambda v: Money(Decimal(v).scaleb(-scale), currency)  # noqa: E731
    fmt = draw(st.sampled_from(list(Format)))
    direction = draw(st.sampled_from(list(Direction)))
    english = EnglishState()
    if fmt is Format.ENGLISH and draw(st.booleans()):
        english = EnglishState("acc_q", None, money(draw(st.integers(1, 5000))), None)
    low = draw(st.none() | st.integers(1, 50).map(lambda v: v * 1_000_000))
    high = draw(st.none() | st.integers(50, 100).map(lambda v: v * 1_000_000))
    window = draw(st.none() | st.integers(0, 20))
    start = None if window is None else T0 + timedelta(days=window)
    return auction(
        id=f"{prefix}{n:07d}",
        owner_id=draw(st.sampled_from(("acc_p", "acc_q"))),
        direction=direction,
        format=fmt,
        title=" ".join(draw(st.lists(st.sampled_from(WORDS), min_size=1, max_size=3))),
        terms=ServiceTerms(
            draw(st.sampled_from(("voice", "data"))),
            600,
            start,
            None if start is None else start + timedelta(days=draw(st.integers(1, 9))),
            low,
            high,
        ),
        currency=currency,
        reserve=draw(st.none() | st.integers(1, 5000).map(money)),
        min_increment=money(1),
        english=english,
        status=draw(st.sampled_from(list(Status))),
        # few distinct times, so that ties (broken by the id) are common
        created_at=T0 + timedelta(seconds=draw(st.integers(0, 5))),
        closes_at=T0 + timedelta(hours=draw(st.integers(1, 4))),
    )


filters = st.builds(
    lambda **kw: parse_filter(**{k: v for k, v in kw.items() if v is not None}),
    service=st.none() | st.sampled_from(("voice", "data")),
    direction=st.none() | st.sampled_from(("forward", "reverse")),
    format=st.none() | st.sampled_from(("english", "first-price")),
    currency=st.none() | st.just("EUR"),
    min_price=st.none() | st.sampled_from(("1", "10.5", "20")),
    max_price=st.none() | st.sampled_from(("20", "3000")),
    min_rate_bps=st.none() | st.just("20000000"),
    max_rate_bps=st.none() | st.just("80000000"),
    window_from=st.none() | st.just((T0 + timedelta(days=10)).isoformat()),
    owner=st.none() | st.just("acc_q"),
    status=st.none() | st.just("open"),
    text=st.none() | st.sampled_from(("voice", "NIGHT", "lis")),
)


def _wipe(store: UnitOfWorkFactory) -> None:
    if isinstance(store, MemoryUnitOfWorkFactory):
        store.store.auctions.clear()
        return
    with store.engine.begin() as conn:  # type: ignore[attr-defined]
        conn.execute(text("DELETE FROM auctions"))


def _add(store: UnitOfWorkFactory, rows: list[Auction]) -> None:
    with store() as u:
        for a in {a.id: a for a in rows}.values():
            if u.auctions.get(a.id) is None:
                u.auctions.add(a)
        u.commit()


@pytest.fixture
def accounts(store: UnitOfWorkFactory) -> UnitOfWorkFactory:
    put_accounts(store, "acc_p", "acc_q")
    return store


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    first=st.lists(auctions("auc_a"), max_size=25),
    later=st.lists(st.lists(auctions("auc_b"), max_size=3), max_size=8),
    f=filters,
    sort=st.sampled_from(list(Sort)),
    size=st.integers(1, 6),
)
def test_paging_yields_every_match_once_while_auctions_are_added(
    accounts: UnitOfWorkFactory,
    first: list[Auction],
    later: list[list[Auction]],
    f: AuctionFilter,
    sort: Sort,
    size: int,
) -> None:
    store = accounts
    _wipe(store)
    _add(store, first)
    expected = {a.id for a in {a.id: a for a in first}.values() if matches(a, f)}
    seen: list[AuctionLine] = []
    after: Any = None
    for page_number in range(200):
        with store(write=False) as u:
            page = u.auctions.find(f, sort, after, size)
        seen.extend(page)
        if len(page) < size:
            break
        after = sort_key(page[-1], sort)
        if page_number < len(later):
            _add(store, later[page_number])  # new auctions arrive between pages
    ids = [a.id for a in seen]
    assert len(ids) == len(set(ids)), "an auction was seen twice"
    assert expected <= set(ids), "an auction that matched was skipped"
    with store(write=False) as u:
        whole = {a.id: u.auctions.get(a.id) for a in seen}
    assert all(matches(whole[a.id], f) for a in seen)  # type: ignore[arg-type]
    assert all(a == line_of(whole[a.id]) for a in seen)  # type: ignore[arg-type]
    keys = [sort_key(a, sort) for a in seen]
    assert all(follows(k2, k1, sort) for k1, k2 in itertools.pairwise(keys))


def test_a_forward_reserve_is_never_a_listed_price(accounts: UnitOfWorkFactory) -> None:
    secret = auction(id="auc_r", format=Format.FIRST_PRICE, english=EnglishState())
    _add(accounts, [secret, replace(secret, id="auc_s", direction=Direction.REVERSE)])
    with accounts(write=False) as u:
        found = u.auctions.find(parse_filter(min_price="1"), Sort.PRICE, None, 10)
    assert [a.id for a in found] == ["auc_s"]  # the reverse auction's ceiling is public
