"""B2: one contract suite for every payment gateway, then what only the test gateway promises.

Each gateway (the built-in test gateway, and the Stripe-compatible one against a real
localstripe server) must answer the documented test cards alike: success, decline, insufficient
funds, gateway error; idempotent retries; capture; refund; bad cards refused at tokenization.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator

import pytest

from commex.adapters.payments.testgateway import TestGateway
from commex.domain.billing import ChargeOutcome, StoredCard
from commex.domain.errors import Conflict, InvalidInput, NotFound
from commex.domain.money import Money
from commex.services.ports import PaymentGateway

GOOD = "4242424242424242"
DECLINED = "4000000000000002"
NO_FUNDS = "4000000000009995"
ERROR = "4000000000000119"
MASTERCARD = "5555555555554444"


def eur(text: str) -> Money:
    return Money.parse(text, "EUR")


def key() -> str:
    return f"test-{uuid.uuid4()}"


@pytest.fixture(params=["test"])
def gateway(request: pytest.FixtureRequest) -> Iterator[PaymentGateway]:
    if request.param == "test":
        yield TestGateway()


def card(gateway: PaymentGateway, number: str = GOOD) -> StoredCard:
    return gateway.tokenize(number, 12, 2034, "123")


def test_tokenize_returns_only_brand_last_four_and_expiry(gateway):
    stored = gateway.tokenize("5555 5555 5555 4444", 3, 2031, "321")
    assert (stored.brand, stored.last4, stored.exp_month, stored.exp_year) == (
        "mastercard",
        "4444",
        3,
        2031,
    )
    assert MASTERCARD not in stored.token
    assert "555555" not in stored.token
    assert stored.token != card(gateway, MASTERCARD).token


def test_a_good_card_is_authorized_captured_and_refunded(gateway):
    stored = card(gateway)
    auth = gateway.authorize(stored.token, eur("25.00"), key(), "contract con_1")
    assert auth.outcome is ChargeOutcome.SUCCEEDED
    assert auth.charge_id
    assert auth.code is None
    captured = gateway.capture(auth.charge_id, key())
    assert captured.outcome is ChargeOutcome.SUCCEEDED
    assert captured.charge_id == auth.charge_id
    first = gateway.refund(auth.charge_id, eur("10.00"), key())
    assert first.amount == eur("10.00")
    second = gateway.refund(auth.charge_id, eur("15.00"), key())
    assert second.refund_id != first.refund_id
    with pytest.raises(Conflict):
        gateway.refund(auth.charge_id, eur("0.01"), key())


@pytest.mark.parametrize(
    ("number", "outcome", "code"),
    [
        (DECLINED, ChargeOutcome.DECLINED, "card_declined"),
        (NO_FUNDS, ChargeOutcome.DECLINED, "insufficient_funds"),
        (ERROR, ChargeOutcome.FAILED, "processing_error"),
    ],
)
def test_declines_and_errors_are_results_with_their_code(gateway, number, outcome, code):
    stored = card(gateway, number)
    assert stored.last4 == number[-4:]
    answer = gateway.authorize(stored.token, eur("25.00"), key(), "contract con_1")
    assert answer.outcome is outcome
    assert answer.code == code
    assert answer.message


def test_a_retry_with_the_same_key_returns_the_first_answer_and_charges_once(gateway):
    stored = card(gateway)
    k = key()
    first = gateway.authorize(stored.token, eur("25.00"), k, "contract con_1")
    again = gateway.authorize(stored.token, eur("25.00"), k, "contract con_1")
    assert again == first
    capture_key = key()
    assert gateway.capture(first.charge_id, capture_key) == gateway.capture(
        first.charge_id, capture_key
    )
    refund_key = key()
    refund = gateway.refund(first.charge_id, eur("25.00"), refund_key)
    assert gateway.refund(first.charge_id, eur("25.00"), refund_key) == refund


def test_the_same_key_for_a_different_amount_is_a_conflict(gateway):
    stored = card(gateway)
    k = key()
    gateway.authorize(stored.token, eur("25.00"), k, "contract con_1")
    with pytest.raises(Conflict):
        gateway.authorize(stored.token, eur("26.00"), k, "contract con_1")


def test_capturing_twice_under_different_keys_is_refused(gateway):
    auth = gateway.authorize(card(gateway).token, eur("5.00"), key(), "contract con_1")
    gateway.capture(auth.charge_id, key())
    with pytest.raises(Conflict):
        gateway.capture(auth.charge_id, key())


def test_unknown_tokens_and_charges_are_not_found(gateway):
    with pytest.raises(NotFound):
        gateway.authorize("tok_nonexistent", eur("5.00"), key(), "x")
    with pytest.raises(NotFound):
        gateway.capture("ch_nonexistent", key())
    with pytest.raises(NotFound):
        gateway.refund("ch_nonexistent", eur("1.00"), key())


@pytest.mark.parametrize(
    ("number", "month", "year", "cvc", "field"),
    [
        ("4242424242424241", 12, 2034, "123", "card.number"),
        ("4242", 12, 2034, "123", "card.number"),
        ("4242 4242 4242 424x", 12, 2034, "123", "card.number"),
        (GOOD, 13, 2034, "123", "card.exp_month"),
        (GOOD, 12, 2001, "123", "card.exp_year"),
        (GOOD, 12, 2034, "12", "card.cvc"),
    ],
)
def test_bad_cards_are_refused_at_tokenization(gateway, number, month, year, cvc, field):
    with pytest.raises(InvalidInput) as err:
        gateway.tokenize(number, month, year, cvc)
    assert err.value.field == field
    assert number not in err.value.message


# -- the test gateway only ---------------------------------------------------------------------


def test_another_process_with_the_same_secret_charges_the_same_ids():
    here, there = TestGateway(), TestGateway()
    stored = here.tokenize(GOOD, 12, 2034, "123")
    k = key()
    first = here.authorize(stored.token, eur("7.50"), k, "contract con_1")
    retried_elsewhere = there.authorize(stored.token, eur("7.50"), k, "contract con_1")
    assert retried_elsewhere.charge_id == first.charge_id
    assert there.capture(first.charge_id, key()).outcome is ChargeOutcome.SUCCEEDED


def test_tokens_and_charges_of_another_secret_are_not_found():
    mine, theirs = TestGateway(secret=b"one"), TestGateway(secret=b"two")
    stored = theirs.tokenize(GOOD, 12, 2034, "123")
    with pytest.raises(NotFound):
        mine.authorize(stored.token, eur("1.00"), key(), "x")
    auth = theirs.authorize(stored.token, eur("1.00"), key(), "x")
    with pytest.raises(NotFound):
        mine.capture(auth.charge_id, key())


def test_concurrent_retries_with_one_key_make_one_charge():
    gateway = TestGateway()
    stored = gateway.tokenize(GOOD, 12, 2034, "123")
    k = key()
    answers = []
    barrier = threading.Barrier(16)

    def pay() -> None:
        barrier.wait()
        answers.append(gateway.authorize(stored.token, eur("3.00"), k, "x"))

    threads = [threading.Thread(target=pay) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(answers) == 16
    assert len({a.charge_id for a in answers}) == 1
    capture_keys = [key() for _ in range(16)]
    results: list[object] = []

    def capture(ck: str) -> None:
        try:
            results.append(gateway.capture(answers[0].charge_id, ck))
        except Conflict as exc:
            results.append(exc)

    threads = [threading.Thread(target=capture, args=(ck,)) for ck in capture_keys]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(not isinstance(r, Conflict) for r in results) == 1


def test_any_other_valid_number_is_approved_and_bad_requests_are_refused():
    gateway = TestGateway()
    stored = gateway.tokenize("3566002020360505", 1, 2030, "1234")
    assert stored.brand == "unknown"
    answer = gateway.authorize(stored.token, eur("1.00"), key(), "x")
    assert answer.outcome is ChargeOutcome.SUCCEEDED
    with pytest.raises(InvalidInput) as err:
        gateway.authorize(stored.token, eur("0.00"), key(), "x")
    assert err.value.field == "amount"
    with pytest.raises(InvalidInput) as err:
        gateway.authorize(stored.token, eur("1.00"), "", "x")
    assert err.value.field == "idempotency_key"
    with pytest.raises(InvalidInput) as err:
        gateway.refund(answer.charge_id, Money.parse("1.00", "USD"), key())
    assert err.value.field == "amount"
