"""Charges (B2, R2): who is charged what, attempts and their keys, retries, ratings, payouts."""

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from commex.domain.billing import ChargeOutcome
from commex.domain.charges import (
    CLAIM_LEASE,
    ERROR_RETRY_AFTER,
    MAX_DECLINES,
    MAX_ERRORS,
    NO_CARD,
    RETRY_AFTER,
    ChargeStatus,
    charges_for,
    claim,
    manual_retry_refusal,
    new_card,
    payment_rating,
    payout_for,
    settle,
    unanswered,
)
from commex.domain.contracts import Contract, ContractStatus
from commex.domain.money import Money
from commex.domain.ratings import RatedRole
from commex.domain.terms import ServiceTerms

T0 = datetime(2026, 3, 1, 12, tzinfo=UTC)


def eur(text):
    return Money(Decimal(text), "EUR")


CONTRACT = Contract(
    "con_1", "auc_1", "bid_1", "prov", "reci", eur("40.00"), ServiceTerms("voice", 60),
    ContractStatus.AWARDED, T0,
)  # fmt: skip


def ids():
    n = iter(range(1, 100))
    return lambda: f"chg_{next(n)}"


def test_an_ordinary_contract_charges_its_recipient_the_price():
    (charge,) = charges_for(CONTRACT, None, None, ids(), T0)
    assert (charge.payer_id, charge.provider_id, charge.amount) == ("reci", "prov", eur("40.00"))
    assert charge.status is ChargeStatus.PENDING and charge.next_attempt_at == T0


def test_a_group_contract_charges_each_payer_its_share():
    shares = {"ann": eur("24.00"), "bob": eur("16.00")}
    charges = charges_for(CONTRACT, shares, "grp_1", ids(), T0)
    assert [(c.payer_id, c.amount, c.group_id) for c in charges] == [
        ("ann", eur("24.00"), "grp_1"), ("bob", eur("16.00"), "grp_1"),
    ]  # fmt: skip


def test_each_attempt_has_its_own_key_and_a_lapsed_claim_keeps_it():
    (charge,) = charges_for(CONTRACT, None, None, ids(), T0)
    first = claim(charge, T0)
    assert first.attempts == 1 and first.idempotency_key == "chg_1-attempt-1"
    assert claim(first, T0 + timedelta(seconds=1)) is None  # someone is trying it now
    again = claim(first, T0 + CLAIM_LEASE)  # that process died: retry the same attempt
    assert again.attempts == 1 and again.idempotency_key == first.idempotency_key
    declined = settle(again, ChargeOutcome.DECLINED, "ch_1", "card_declined", "no", T0)
    assert claim(declined, T0 + timedelta(hours=1)) is None  # not due yet
    asked = claim(declined, T0 + timedelta(hours=1), at_once=True)
    assert asked.idempotency_key == "chg_1-attempt-2"


def test_declines_are_retried_then_final_and_a_missing_card_gets_the_same_grace():
    (charge,) = charges_for(CONTRACT, None, None, ids(), T0)
    now = T0
    for n in range(1, MAX_DECLINES + 1):
        charge = claim(charge, now)
        charge = settle(charge, None if n == 1 else ChargeOutcome.DECLINED, None, "c", "m", now)
        assert charge.declines == n
        if n == 1:
            assert charge.decline_code == NO_CARD
        now = charge.next_attempt_at
        assert now - charge.last_attempt_at == RETRY_AFTER
    assert charge.status is ChargeStatus.DECLINED
    assert claim(charge, now + RETRY_AFTER) is None


def test_gateway_errors_are_retried_sooner_and_do_not_count_as_declines():
    (charge,) = charges_for(CONTRACT, None, None, ids(), T0)
    for n in range(1, MAX_ERRORS + 1):
        charge = settle(
            claim(charge, charge.next_attempt_at), ChargeOutcome.FAILED, None, "e", "", T0
        )
        assert charge.declines == 0 and charge.errors == n
    assert charge.next_attempt_at == T0 + ERROR_RETRY_AFTER
    assert charge.status is ChargeStatus.FAILED
    assert payment_rating(charge, "prov", "rat_1", T0) is None


def test_outcomes_rate_the_payer_and_pay_the_provider():
    (charge,) = charges_for(CONTRACT, None, None, ids(), T0)
    paid = settle(claim(charge, T0), ChargeOutcome.SUCCEEDED, "ch_9", None, "ok", T0)
    rating = payment_rating(paid, "prov", "rat_1", T0)
    assert (rating.rated_id, rating.rated_role, rating.rater_key) == (
        "reci", RatedRole.RECIPIENT, "payment:reci",
    )  # fmt: skip
    assert rating.satisfied and rating.rater_account_id == "prov"
    payout = payout_for(paid, "pay_1", T0)
    assert (payout.provider_id, payout.amount, payout.charge_id) == ("prov", eur("40.00"), "chg_1")
    refused = replace(paid, status=ChargeStatus.DECLINED, declines=3)
    assert payment_rating(refused, "prov", "rat_2", T0).satisfied is False
    assert payout_for(refused, "pay_2", T0) is None
    pending = settle(claim(charge, T0), ChargeOutcome.DECLINED, None, "x", "y", T0)
    assert payment_rating(pending, "prov", "rat_3", T0) is None


def test_pay_now_makes_an_attempt_only_when_it_could_end_differently():
    (charge,) = charges_for(CONTRACT, None, None, ids(), T0)
    no_card = settle(claim(charge, T0), None, None, None, None, T0)
    says = manual_retry_refusal(no_card, None, None)
    assert says == (
        f"charge {charge.id} has no card to try: save a card first and it is tried at once "
        "(otherwise the next scheduled try is at 2026-03-02T12:00:00+00:00)"
    )
    assert new_card(no_card, "card_1") and manual_retry_refusal(no_card, "card_1", "x") is None
    declined = settle(
        claim(no_card, T0, at_once=True, card_id="card_1"),
        ChargeOutcome.DECLINED, None, "card_declined", "Your card was declined.", T0,
    )  # fmt: skip
    assert (declined.last_card_id, declined.declines, declined.last_error) == ("card_1", 2, False)
    says = manual_retry_refusal(declined, "card_1", "the visa card ending in 0341")
    assert says is not None and "last declined on the visa card ending in 0341" in says
    assert "one of its 3 scheduled tries (2 used)" in says
    assert not new_card(declined, "card_1")
    assert manual_retry_refusal(declined, "card_2", "the visa card ending in 4242") is None
    failed = settle(
        claim(declined, T0, at_once=True, card_id="card_1"),
        ChargeOutcome.FAILED, None, "processing_error", "Try again.", T0,
    )  # fmt: skip
    assert failed.last_error and manual_retry_refusal(failed, "card_1", "x") is None
    lost = unanswered(claim(declined, T0, at_once=True, card_id="card_1"), "no answer", T0)
    assert lost.last_error
