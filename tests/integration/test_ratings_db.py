"""Ratings and the reputation they move, on SQLite and PostgreSQL: a round trip, concurrent
ratings of one provider that lose no update, and decay as the clock moves."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from commex.adapters.clock import ManualClock
from commex.adapters.passwords import Argon2Hasher
from commex.bootstrap import Services, build_services
from commex.domain.accounts import Role
from commex.domain.contracts import Contract
from commex.domain.errors import Conflict
from commex.domain.ratings import RatedRole
from commex.domain.reputation import HALF_LIFE_DAYS, WINDOW_DAYS, rating_weight
from commex.services.commands import AddCard, Caller, ChargeDue, Rate, Register
from commex.services.queries import ShowContract, ShowParty
from commex.settings import Settings
from support.engine import close, contracts_of, open_auction, place_bid

T0 = datetime(2026, 6, 1, 9, 30, 0, 250000, tzinfo=UTC)
RATERS = 12
# What one rating weighs here: 10.00 or more paid, raters two hours old with one payment each.
W = rating_weight(Decimal("10.00"), 2 / 24, 1)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


@pytest.fixture
def services(migrated_database_url: str, clock: ManualClock) -> Iterator[Services]:
    s = build_services(
        Settings(Path("."), migrated_database_url),
        clock=clock,
        hasher=Argon2Hasher(time_cost=1, memory_kib=1024),
    )
    try:
        yield s
    finally:
        s.shutdown()


def _won(s: Services, clock: ManualClock, recipients: int) -> tuple[str, list[Contract]]:
    """One provider's block sold to ``recipients`` different recipients (one auction with that
    quantity): the provider's id and the contracts, delivery started at the award."""
    ex = s.bus
    provider = s.bus.handle(Register("Carrier", ("provider",))).account
    buyers = [
        s.bus.handle(Register(f"Clinic {i}", ("recipient",))).account for i in range(recipients)
    ]
    auction = open_auction(
        ex,
        provider.id,
        {
            "direction": "forward",
            "format": "first-price",
            "title": "blocks of voice",
            "terms": {"service": "voice", "duration_s": 600},
            "currency": "EUR",
            "quantity": recipients,
            "closes_at": (clock.now() + timedelta(hours=1)).isoformat(),
        },
    )
    for i, buyer in enumerate(buyers):
        ex.handle(AddCard(buyer.id, "4242424242424242", 12, clock.now().year + 2, "123"))
        place_bid(ex, auction.id, buyer.id, f"{10 + i}.00")
    clock.advance(2 * 3600)
    close(ex, auction.id, provider.id)
    ex.handle(ChargeDue())  # paid, so the contracts' ratings carry weight
    contracts = [c for b in buyers for c in contracts_of(ex, b.id)]
    assert len(contracts) == recipients
    assert all(c.started_at is not None for c in contracts)
    return provider.id, contracts


def test_a_rating_and_its_reputation_round_trip(services: Services, clock: ManualClock) -> None:
    provider_id, (contract,) = _won(services, clock, 1)
    rating = services.bus.handle(
        Rate(
            contract.id,
            account_id=contract.recipient_id,
            satisfied=False,
            score=2,
            comment="Dropped twice\r\nin an hour ",
        )
    )
    shown = services.bus.handle(ShowContract(contract.id, Caller(contract.recipient_id)))
    (stored,) = [r for r in shown.ratings if r.rated_role is RatedRole.PROVIDER]
    assert stored == rating
    assert stored.comment == "Dropped twice\nin an hour"
    assert stored.created_at == clock.now()
    assert (stored.rated_id, stored.rated_role) == (provider_id, RatedRole.PROVIDER)

    back = services.bus.handle(Rate(contract.id, account_id=provider_id, satisfied=True))
    assert back.rated_id == contract.recipient_id

    as_provider = services.bus.handle(ShowParty(provider_id, Role.PROVIDER)).reputation
    assert (as_provider.positive, as_provider.count) == (0.0, 1)
    assert as_provider.negative == pytest.approx(W)
    payer = services.bus.handle(ShowParty(contract.recipient_id, Role.RECIPIENT)).reputation
    # the charge's own payment rating (1.0) and the provider's
    assert (payer.positive, payer.negative, payer.count) == (pytest.approx(1.0 + W), 0.0, 2)
    assert (
        services.bus.handle(ShowParty(contract.recipient_id, Role.PROVIDER)).reputation.count == 0
    )

    with pytest.raises(Conflict):
        services.bus.handle(Rate(contract.id, account_id=contract.recipient_id, satisfied=True))
    shown = services.bus.handle(ShowParty(provider_id, Role.PROVIDER)).reputation
    assert shown.negative == pytest.approx(W)


def test_concurrent_ratings_of_one_provider_lose_no_update(
    services: Services, clock: ManualClock
) -> None:
    provider_id, contracts = _won(services, clock, RATERS)
    start = threading.Barrier(RATERS)
    failures: list[BaseException] = []

    def rate(contract: Contract) -> None:
        try:
            start.wait(timeout=30)
            services.bus.handle(Rate(contract.id, account_id=contract.recipient_id, satisfied=True))
        except BaseException as exc:  # reported by the main thread
            failures.append(exc)

    threads = [threading.Thread(target=rate, args=(c,)) for c in contracts]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=60)
    assert failures == []
    assert not any(th.is_alive() for th in threads)

    rep = services.bus.handle(ShowParty(provider_id, Role.PROVIDER)).reputation
    assert rep.count == RATERS
    assert rep.positive == pytest.approx(RATERS * W)
    assert rep.negative == 0.0


def test_reputation_decays_by_half_each_half_life(services: Services, clock: ManualClock) -> None:
    provider_id, contracts = _won(services, clock, 2)
    good, bad = contracts
    services.bus.handle(Rate(good.id, account_id=good.recipient_id, satisfied=True))
    services.bus.handle(Rate(bad.id, account_id=bad.recipient_id, satisfied=False))
    fresh = services.bus.handle(ShowParty(provider_id, Role.PROVIDER)).reputation
    assert (fresh.positive, fresh.negative) == (pytest.approx(W), pytest.approx(W))

    clock.advance(HALF_LIFE_DAYS * 86400)
    aged = services.bus.handle(ShowParty(provider_id, Role.PROVIDER)).reputation
    assert aged.positive == pytest.approx(0.5 * W)
    assert aged.negative == pytest.approx(0.5 * W)
    assert aged.count == 2  # still inside the 365-day window
    assert aged.describe() == "50% positive, 2 ratings in the last 12 months"

    clock.advance((WINDOW_DAYS + 1 - HALF_LIFE_DAYS) * 86400)
    old = services.bus.handle(ShowParty(provider_id, Role.PROVIDER)).reputation
    assert old.positive == pytest.approx(W * 0.5 ** ((WINDOW_DAYS + 1) / HALF_LIFE_DAYS))
    assert old.count == 0  # outside the window: counted no more, weight still shown
    assert old.describe() == "50% positive, no ratings in the last 12 months"
