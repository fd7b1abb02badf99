"""Charges and payouts on SQLite and PostgreSQL, through the built-in test gateway and through
the Stripe adapter on localstripe: a group's shares charged and paid out, a decline that ends in
a negative payment rating, and two server processes (each with its own engine) racing to charge
the same contract, which the gateway sees charged once."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from commex.adapters.clock import ManualClock
from commex.adapters.passwords import Argon2Hasher
from commex.adapters.payments.stripe_gateway import StripeGateway
from commex.adapters.payments.testgateway import TestGateway
from commex.bootstrap import Services, build_services
from commex.domain.accounts import Role
from commex.domain.billing import ChargeOutcome
from commex.domain.charges import MAX_DECLINES, RETRY_AFTER
from commex.domain.errors import Conflict, Forbidden, InvalidInput
from commex.domain.money import Money
from commex.services.commands import (
    AddCard,
    AnswerGroup,
    ChargeDue,
    CreateGroup,
    InviteToGroup,
    Register,
    RetryCharges,
)
from commex.services.queries import MyCharges, ShowContractCharges, ShowParty
from commex.services.trust_messages import RefundCharge
from commex.settings import Settings
from support.engine import close_due, open_auction, open_group_auction, place_bid
from support.engine import members as engine_members

T0 = datetime(2026, 6, 1, 9, 30, tzinfo=UTC)
GOOD = "4242424242424242"
DECLINES_AT_CHARGE = "4000000000000341"  # saved fine by both gateways, declined at the charge


class Counting:
    """A gateway wrapper that counts authorizations and the charges actually captured."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.name = inner.name
        self.authorized = 0
        self.captured: set[str] = set()
        self.refunded: list[tuple[str, str]] = []  # (amount, idempotency key) the gateway took
        self.gate = threading.Event()
        self.gate.set()
        self._lock = threading.Lock()

    def tokenize(self, *args: Any) -> Any:
        return self.inner.tokenize(*args)

    def authorize(self, *args: Any) -> Any:
        with self._lock:
            self.authorized += 1
        self.gate.wait(10)
        return self.inner.authorize(*args)

    def capture(self, charge_id: str, key: str) -> Any:
        answer = self.inner.capture(charge_id, key)
        if answer.outcome is ChargeOutcome.SUCCEEDED:
            with self._lock:
                self.captured.add(charge_id)
        return answer

    def refund(self, charge_id: str, amount: Any, key: str) -> Any:
        answer = self.inner.refund(charge_id, amount, key)
        with self._lock:
            self.refunded.append((str(amount), key))
        return answer


@pytest.fixture(params=["test", "stripe"])
def gateway(request: pytest.FixtureRequest, clock: ManualClock) -> Counting:
    if request.param == "test":
        return Counting(TestGateway(clock))
    return Counting(StripeGateway("sk_test_commex", request.getfixturevalue("localstripe_url")))


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


def _services(url: str, clock: ManualClock, gateway: Counting) -> Services:
    hasher = Argon2Hasher(time_cost=1, memory_kib=1024)
    return build_services(Settings(Path("."), url), clock=clock, hasher=hasher, gateway=gateway)


@pytest.fixture
def services(
    migrated_database_url: str, clock: ManualClock, gateway: Counting
) -> Iterator[Services]:
    s = _services(migrated_database_url, clock, gateway)
    try:
        yield s
    finally:
        s.shutdown()


def _award(s: Services, clock: ManualClock, *, group: bool, price: str = "50.00") -> Any:
    """A reverse auction (a group's of Ann 60 + Bob 40, or Ann's alone) won at ``price``."""
    ann = s.bus.handle(Register("Ann", ("recipient",))).account
    bob = s.bus.handle(Register("Bob", ("recipient",))).account
    seller = s.bus.handle(Register("Seller", ("provider",))).account
    body = {
        "format": "first-price", "title": "Voice", "terms": {"service": "voice", "duration_s": 60},
        "closes_at": (clock.now() + timedelta(hours=1)).isoformat(),
    }  # fmt: skip
    if group:
        view = s.bus.handle(CreateGroup(ann.id, "Flats", "EUR", None, "60.00"))
        s.bus.handle(InviteToGroup(view.group.id, ann.id, bob.id))
        clock.advance(1)
        s.bus.handle(AnswerGroup(view.group.id, bob.id, "payer", "40.00"))
        auction = open_group_auction(s.bus, view.group.id, ann.id, body)
    else:
        auction = open_auction(s.bus, ann.id, body | {"direction": "reverse", "currency": "EUR"})
    place_bid(s.bus, auction.id, seller.id, price)
    clock.advance(3601)
    (closed,) = close_due(s.bus)
    return ann, bob, seller, closed.outcome.winners[0].contract_id


def test_a_groups_shares_are_charged_paid_out_and_rated(
    services: Services, clock: ManualClock, gateway: Counting
) -> None:
    s = services
    ann, bob, seller, contract_id = _award(s, clock, group=True)
    for who in (ann, bob):
        s.bus.handle(AddCard(who.id, GOOD, 12, 2031, "123"))
    run = s.bus.handle(ChargeDue())
    assert sorted(str(c.amount) for c in run.created) == ["20.00", "30.00"]
    found = s.bus.handle(ShowContractCharges(contract_id, seller.id))
    owed = {c.payer_id: (str(c.amount), c.status.value) for c in found.charges}
    assert owed == {ann.id: ("30.00", "succeeded"), bob.id: ("20.00", "succeeded")}
    assert all(c.status.value == "succeeded" and c.gateway_charge_id for c in found.charges)
    assert sorted(str(p.amount) for p in found.payouts) == ["20.00", "30.00"]
    assert len(gateway.captured) == 2
    members = {m.ref for m in engine_members(s.bus, contract_id, ann.id)}
    assert members == {ann.id, bob.id}
    for who in (ann, bob):
        assert s.bus.handle(ShowParty(who.id, Role.RECIPIENT)).reputation.positive == pytest.approx(
            1.0
        )
    assert s.bus.handle(ChargeDue()).created == ()


def test_a_decline_after_the_last_retry_is_a_negative_rating(
    services: Services, clock: ManualClock
) -> None:
    s = services
    ann, _, _, _ = _award(s, clock, group=False)
    s.bus.handle(AddCard(ann.id, DECLINES_AT_CHARGE, 12, 2031, "123"))
    for _ in range(MAX_DECLINES):
        s.bus.handle(ChargeDue())
        clock.advance(RETRY_AFTER.total_seconds())
    (charge,) = s.bus.handle(MyCharges(ann.id))
    assert (charge.status.value, charge.declines) == ("declined", MAX_DECLINES)
    assert charge.decline_code and "4000" not in (charge.message or "")
    rep = s.bus.handle(ShowParty(ann.id, Role.RECIPIENT)).reputation
    assert (rep.positive, rep.count) == (0, 1)


def test_two_servers_racing_to_charge_a_contract_charge_it_once(
    services: Services, clock: ManualClock, gateway: Counting, migrated_database_url: str
) -> None:
    s = services
    ann, _, _, contract_id = _award(s, clock, group=False)
    s.bus.handle(ChargeDue())  # no card yet: the charge waits
    s.bus.handle(AddCard(ann.id, GOOD, 12, 2031, "123"))
    other = _services(migrated_database_url, clock, gateway)  # a second process's engine and pool
    try:
        gateway.gate.clear()  # hold the first caller at the gateway while the others arrive
        calls = [
            lambda: s.bus.handle(RetryCharges(contract_id, ann.id)),
            lambda: other.bus.handle(RetryCharges(contract_id, ann.id)),
            lambda: s.bus.handle(RetryCharges(contract_id, ann.id, "click")),
            lambda: other.bus.handle(RetryCharges(contract_id, ann.id, "click")),
        ]
        threads = [threading.Thread(target=c) for c in calls]
        for t in threads:
            t.start()
        for t in threads:
            t.join(0.5)
        gateway.gate.set()
        for t in threads:
            t.join(30)
    finally:
        other.shutdown()
    assert gateway.authorized == 1 and len(gateway.captured) == 1
    (charge,) = s.bus.handle(MyCharges(ann.id))
    assert charge.status.value == "succeeded"


def test_a_card_saved_after_a_missed_attempt_is_charged_on_the_next_run(
    services: Services, clock: ManualClock, gateway: Counting
) -> None:
    s = services
    ann, _, _, _ = _award(s, clock, group=False)
    assert s.bus.handle(ChargeDue()).attempted[0].decline_code == "no_payment_method"
    clock.advance(60)
    assert s.bus.handle(ChargeDue()).attempted == ()  # not due for a day
    s.bus.handle(AddCard(ann.id, GOOD, 12, 2031, "123"))
    clock.advance(1)
    (charged,) = s.bus.handle(ChargeDue()).attempted
    assert (charged.status.value, charged.attempts) == ("succeeded", 2)
    assert len(gateway.captured) == 1


GATEWAY_ERROR = "4000000000000119"  # the test gateway fails to process it, every time


@pytest.fixture
def builtin_gateway_services(migrated_database_url: str, clock: ManualClock) -> Iterator[Services]:
    """Services on the built-in gateway alone (localstripe refuses the cards below when they
    are saved, so only the built-in gateway reaches the charge with them)."""
    s = _services(migrated_database_url, clock, Counting(TestGateway(clock)))
    try:
        yield s
    finally:
        s.shutdown()


@pytest.mark.parametrize("number", [GATEWAY_ERROR, DECLINES_AT_CHARGE])
def test_retries_sent_together_with_one_idempotency_key_make_one_attempt(
    builtin_gateway_services: Services, clock: ManualClock, migrated_database_url: str, number: str
) -> None:
    """Ten "pay now" requests with one key, over two processes' engines, started together:
    one attempt at the gateway, and every request answered with the charge it left."""
    s = builtin_gateway_services
    gateway = s.bus.deps.gateway
    assert isinstance(gateway, Counting)
    ann, _, _, contract_id = _award(s, clock, group=False)
    s.bus.handle(ChargeDue())  # no card yet: pending, one scheduled try used
    s.bus.handle(AddCard(ann.id, number, 12, 2031, "123"))
    other = _services(migrated_database_url, clock, gateway)
    start = threading.Barrier(10)
    answers: list[Any] = []

    def pay_now(bus: Any) -> None:
        start.wait(10)
        answers.append(bus.handle(RetryCharges(contract_id, ann.id, "same")))

    try:
        threads = [
            threading.Thread(target=pay_now, args=((s if n % 2 else other).bus,)) for n in range(10)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
    finally:
        other.shutdown()
    assert gateway.authorized == 1
    assert len(answers) == 10 and {a[0].attempts for a in answers} == {2}
    (charge,) = s.bus.handle(MyCharges(ann.id))
    assert (charge.status.value, charge.attempts) == ("pending", 2)
    assert charge.declines == (1 if number == GATEWAY_ERROR else 2)


def test_the_operators_refunds_go_back_through_the_gateway_as_negative_payouts(
    services: Services, clock: ManualClock, gateway: Counting
) -> None:
    """A refund through each gateway (the built-in one and Stripe's, on localstripe): part of
    a paid charge, then the rest; more than was paid is refused before the gateway is asked,
    and the gateway itself holds nothing more to give back."""
    s = services
    ann, _, seller, contract_id = _award(s, clock, group=False)
    s.bus.handle(AddCard(ann.id, GOOD, 12, 2031, "123"))
    s.bus.handle(ChargeDue())
    (charge,) = s.bus.handle(MyCharges(ann.id))
    assert charge.status.value == "succeeded" and charge.gateway_charge_id
    op = s.bus.handle(Register("Op", ("operator",), operator=True)).account

    with pytest.raises(Forbidden):
        s.bus.handle(RefundCharge(charge.id, seller.id, "50.00", "mine"))
    part = s.bus.handle(RefundCharge(charge.id, op.id, "20.00", "calls dropped"))
    assert part.gateway_refund_id and str(part.amount) == "20.00"
    with pytest.raises(InvalidInput):
        s.bus.handle(RefundCharge(charge.id, op.id, "30.01", "too much"))
    clock.advance(60)
    rest = s.bus.handle(RefundCharge(charge.id, op.id, "30.00", "the provider never delivered"))
    assert rest.gateway_refund_id not in (None, part.gateway_refund_id)
    assert gateway.refunded == [("20.00", part.id), ("30.00", rest.id)]  # keyed by our ids

    found = s.bus.handle(ShowContractCharges(contract_id, seller.id))
    assert [str(p.amount) for p in found.payouts] == ["50.00", "-20.00", "-30.00"]
    with pytest.raises(Conflict):  # the gateway agrees: all 50.00 went back
        gateway.inner.refund(charge.gateway_charge_id, Money.parse("0.01", "EUR"), "one more")
