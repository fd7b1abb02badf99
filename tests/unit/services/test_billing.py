"""Charging awarded contracts through the test gateway, over the in-memory bus: charged at
award, payouts, payment ratings, retries, a missing card, gateway errors, and never twice."""

import threading
from datetime import UTC, datetime

import pytest

from commex.adapters.clock import ManualClock
from commex.adapters.payments.testgateway import TestGateway
from commex.bootstrap import in_memory_services
from commex.domain.accounts import Role
from commex.domain.charges import CLAIM_LEASE, ERROR_RETRY_AFTER, MAX_DECLINES, RETRY_AFTER
from commex.domain.errors import Conflict, NotFound
from commex.services.commands import AddCard, ChargeDue, MakeDefaultCard, Register, RetryCharges
from commex.services.queries import MyCharges, ShowContractCharges, ShowParty
from support import worlds

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
GOOD, DECLINED, ERROR = "4242424242424242", "4000000000000002", "4000000000000119"
DECLINED_AT_CHARGE = "4000000000000341"  # saved fine, declined at every charge


class CountingGateway(TestGateway):
    """The test gateway, counting the charges it actually captured (distinct charge ids)."""

    def __init__(self, clock):
        super().__init__(clock)
        self.captured: list[str] = []
        self.authorize_calls = 0
        self.pause: threading.Event | None = None

    def authorize(self, card_token, amount, idempotency_key, description):
        self.authorize_calls += 1
        if self.pause is not None:
            self.pause.wait(5)
        return super().authorize(card_token, amount, idempotency_key, description)

    def capture(self, charge_id, idempotency_key):
        answer = super().capture(charge_id, idempotency_key)
        if answer.outcome.value == "succeeded":
            self.captured.append(charge_id)
        return answer


@pytest.fixture
def clock():
    return ManualClock(T0)


@pytest.fixture
def gateway(clock):
    return CountingGateway(clock)


@pytest.fixture
def services(clock, gateway):
    return in_memory_services(clock=clock, gateway=gateway)


def award(services, clock, price="40.00"):
    """A reverse auction of the buyer's, won by the seller at ``price``: its contract."""
    won = worlds.award(services.bus, clock, price)
    return won.buyer, won.seller, won.contract_id


def card(services, account_id, number):
    return services.bus.handle(AddCard(account_id, number, 12, T0.year + 2, "123"))


def test_an_awarded_contract_is_charged_at_once_paid_out_and_rated(services, clock, gateway):
    buyer, seller, contract_id = award(services, clock)
    card(services, buyer.id, GOOD)
    run = services.bus.handle(ChargeDue())
    assert [(c.payer_id, str(c.amount)) for c in run.created] == [(buyer.id, "40.00")]
    (charge,) = services.bus.handle(ShowContractCharges(contract_id, buyer.id)).charges
    assert (charge.status.value, charge.attempts) == ("succeeded", 1)
    assert len(gateway.captured) == 1
    found = services.bus.handle(ShowContractCharges(contract_id, seller.id))
    assert [(p.provider_id, str(p.amount)) for p in found.payouts] == [(seller.id, "40.00")]
    rep = services.bus.handle(ShowParty(buyer.id, Role.RECIPIENT)).reputation
    assert (rep.positive, rep.negative) == (pytest.approx(1.0), 0)
    assert services.bus.handle(ChargeDue()).created == ()  # charged once, whatever runs again


def test_declines_are_retried_a_day_apart_then_rate_the_payer_negatively(services, clock):
    buyer, _, contract_id = award(services, clock)
    card(services, buyer.id, DECLINED)
    services.bus.handle(ChargeDue())
    for n in range(1, MAX_DECLINES):
        (charge,) = services.bus.handle(MyCharges(buyer.id))
        assert (charge.status.value, charge.declines, charge.decline_code) == (
            "pending", n, "card_declined",
        )  # fmt: skip
        clock.advance(RETRY_AFTER.total_seconds() - 60)
        assert services.bus.handle(ChargeDue()).attempted == ()  # not due yet
        clock.advance(60)
        services.bus.handle(ChargeDue())
    (charge,) = services.bus.handle(MyCharges(buyer.id))
    assert (charge.status.value, charge.declines) == ("declined", MAX_DECLINES)
    rep = services.bus.handle(ShowParty(buyer.id, Role.RECIPIENT)).reputation
    assert (rep.positive, rep.negative) == (0, pytest.approx(1.0))
    assert services.bus.handle(ShowContractCharges(contract_id, buyer.id)).payouts == ()
    with pytest.raises(Conflict, match="is declined after 3 attempt"):
        services.bus.handle(RetryCharges(contract_id, buyer.id))


def test_a_payer_without_a_card_gets_the_same_grace_and_a_new_card_is_tried_at_once(
    services, clock, gateway
):
    buyer, _, _ = award(services, clock)
    services.bus.handle(ChargeDue())
    (charge,) = services.bus.handle(MyCharges(buyer.id))
    assert (charge.status.value, charge.decline_code) == ("pending", "no_payment_method")
    assert gateway.authorize_calls == 0
    clock.advance(600)
    card(services, buyer.id, GOOD)
    clock.advance(1)
    run = services.bus.handle(ChargeDue())  # due at once: a card came after the last attempt
    assert [c.status.value for c in run.attempted] == ["succeeded"]


def test_gateway_errors_are_retried_sooner_without_counting_as_declines(services, clock):
    buyer, _, _ = award(services, clock)
    card(services, buyer.id, ERROR)
    services.bus.handle(ChargeDue())
    clock.advance(ERROR_RETRY_AFTER.total_seconds())
    services.bus.handle(ChargeDue())
    (charge,) = services.bus.handle(MyCharges(buyer.id))
    assert (charge.status.value, charge.errors, charge.declines) == ("pending", 2, 0)
    assert charge.decline_code == "processing_error"
    assert services.bus.handle(ShowParty(buyer.id, Role.RECIPIENT)).reputation.count == 0


def test_concurrent_runs_and_a_double_clicked_retry_charge_once(services, clock, gateway):
    buyer, _, contract_id = award(services, clock)
    services.bus.handle(ChargeDue())  # no card yet: pending
    card(services, buyer.id, GOOD)
    gateway.pause = threading.Event()
    bus = services.bus
    threads = [
        threading.Thread(target=bus.handle, args=(ChargeDue(),)),
        threading.Thread(target=bus.handle, args=(RetryCharges(contract_id, buyer.id),)),
        threading.Thread(target=bus.handle, args=(RetryCharges(contract_id, buyer.id),)),
    ]
    for t in threads:
        t.start()
    clock.advance(1)
    gateway.pause.set()
    for t in threads:
        t.join(10)
    assert gateway.authorize_calls == 1 and len(gateway.captured) == 1
    (charge,) = services.bus.handle(MyCharges(buyer.id))
    assert (charge.status.value, charge.attempts) == ("succeeded", 2)  # the first had no card


def test_an_attempt_whose_process_died_is_retried_under_the_same_key(services, clock, gateway):
    buyer, _, _ = award(services, clock)
    card(services, buyer.id, GOOD)

    class Dies(BaseException):  # like SIGKILL: nothing in the process handles it
        pass

    real_capture = gateway.capture

    def capture_then_die(charge_id, key):
        real_capture(charge_id, key)  # the money is taken, but the process dies before storing
        raise Dies

    gateway.capture = capture_then_die
    with pytest.raises(Dies):
        services.bus.handle(ChargeDue())
    gateway.capture = real_capture
    assert services.bus.handle(ChargeDue()).attempted == ()  # claimed by the dead process
    clock.advance(CLAIM_LEASE.total_seconds())
    (done,) = services.bus.handle(ChargeDue()).attempted
    assert (done.status.value, done.attempts) == ("succeeded", 1)
    assert len(set(gateway.captured)) == 1  # the same charge at the gateway, not a second one


def test_a_gateway_that_does_not_answer_is_asked_again_under_the_same_key(services, clock, gateway):
    buyer, _, _ = award(services, clock)
    card(services, buyer.id, GOOD)
    real_capture = gateway.capture

    def capture_then_time_out(charge_id, key):
        real_capture(charge_id, key)
        raise TimeoutError  # the money moved but the answer was lost

    gateway.capture = capture_then_time_out
    (lost,) = services.bus.handle(ChargeDue()).attempted
    assert (lost.status.value, lost.attempts, lost.decline_code) == (
        "pending", 1, "gateway_unavailable",
    )  # fmt: skip
    gateway.capture = real_capture
    clock.advance(ERROR_RETRY_AFTER.total_seconds())
    (done,) = services.bus.handle(ChargeDue()).attempted
    assert (done.status.value, done.attempts) == ("succeeded", 1)
    assert len(set(gateway.captured)) == 1


def test_retry_with_the_same_idempotency_key_attempts_once(services, clock, gateway):
    buyer, seller, contract_id = award(services, clock)
    card(services, buyer.id, ERROR)  # after a gateway error the payer may ask again at once
    services.bus.handle(ChargeDue())
    first = services.bus.handle(RetryCharges(contract_id, buyer.id, "k-1"))
    again = services.bus.handle(RetryCharges(contract_id, buyer.id, "k-1"))
    assert first[0].attempts == again[0].attempts == 2
    assert services.bus.handle(RetryCharges(contract_id, buyer.id, "k-2"))[0].attempts == 3
    with pytest.raises(NotFound, match=f"no charge on contract {contract_id}"):
        services.bus.handle(RetryCharges(contract_id, seller.id))
    stranger = services.bus.handle(Register("Stranger", ("recipient",))).account
    with pytest.raises(NotFound, match=f"contract {contract_id} not found"):
        services.bus.handle(ShowContractCharges(contract_id, stranger.id))


def test_pay_now_without_a_card_is_refused_and_uses_up_none_of_the_grace(services, clock, gateway):
    buyer, _, contract_id = award(services, clock)
    services.bus.handle(ChargeDue())  # the scheduled first try: no card
    for key in ("a", "b", None):
        with pytest.raises(Conflict) as err:
            services.bus.handle(RetryCharges(contract_id, buyer.id, key))
        assert "has no card to try: save a card first and it is tried at once" in err.value.message
        assert "next scheduled try is at 2026-03-02T13:00:01+00:00" in err.value.message
    (charge,) = services.bus.handle(MyCharges(buyer.id))
    assert (charge.status.value, charge.attempts, charge.declines) == ("pending", 1, 1)
    assert services.bus.handle(ShowParty(buyer.id, Role.RECIPIENT)).reputation.count == 0
    card(services, buyer.id, GOOD)
    (paid,) = services.bus.handle(ChargeDue()).attempted  # a card saved since is tried at once
    assert (paid.status.value, paid.attempts) == ("succeeded", 2)
    assert len(gateway.captured) == 1


def test_pay_now_on_the_card_just_declined_is_refused_until_another_card_is_the_default(
    services, clock, gateway
):
    buyer, _, contract_id = award(services, clock)
    card(services, buyer.id, DECLINED_AT_CHARGE)
    services.bus.handle(ChargeDue())
    for key in ("a", "b"):
        with pytest.raises(Conflict) as err:
            services.bus.handle(RetryCharges(contract_id, buyer.id, key))
        assert err.value.message.endswith(
            "was last declined on the visa card ending in 0341, and trying it again now would "
            "only use up one of its 3 scheduled tries (1 used): the next scheduled try is at "
            "2026-03-02T13:00:01+00:00; save another card, or make another card the default, "
            "and it is tried at once"
        )
    assert gateway.authorize_calls == 1
    (charge,) = services.bus.handle(MyCharges(buyer.id))
    assert (charge.status.value, charge.attempts, charge.declines) == ("pending", 1, 1)
    good = card(services, buyer.id, GOOD)  # saved, but the declined card stays the default
    assert services.bus.handle(ChargeDue()).attempted == ()
    services.bus.handle(MakeDefaultCard(buyer.id, good.id))
    (paid,) = services.bus.handle(RetryCharges(contract_id, buyer.id, "c"))
    assert (paid.status.value, paid.attempts, paid.declines) == ("succeeded", 2, 1)
    rep = services.bus.handle(ShowParty(buyer.id, Role.RECIPIENT)).reputation
    assert (rep.positive, rep.negative) == (pytest.approx(1.0), 0)


def test_choosing_another_default_card_is_tried_by_the_scheduler_at_once(services, clock):
    buyer, _, _ = award(services, clock)
    card(services, buyer.id, DECLINED_AT_CHARGE)
    good = card(services, buyer.id, GOOD)
    services.bus.handle(ChargeDue())
    assert services.bus.handle(ChargeDue()).attempted == ()  # the same card: the schedule holds
    services.bus.handle(MakeDefaultCard(buyer.id, good.id))
    (paid,) = services.bus.handle(ChargeDue()).attempted
    assert (paid.status.value, paid.attempts) == ("succeeded", 2)


def test_same_idempotency_key_sent_together_makes_one_attempt(services, clock, gateway):
    buyer, _, contract_id = award(services, clock)
    card(services, buyer.id, ERROR)
    services.bus.handle(ChargeDue())
    start = threading.Barrier(10)
    answers: list[object] = []

    def pay_now():
        start.wait(5)
        answers.append(services.bus.handle(RetryCharges(contract_id, buyer.id, "same")))

    threads = [threading.Thread(target=pay_now) for _ in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert gateway.authorize_calls == 2  # the scheduled try, then one for the key
    assert len(answers) == 10 and all(a[0].attempts == 2 for a in answers)  # type: ignore[index]
