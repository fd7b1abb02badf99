"""Properties of a charge's life (Hypothesis): whatever the gateway answers, in whatever order
and whenever processes die, a settled charge stays settled, declines never pass the limit, and an
attempt keeps one idempotency key however often it is retried."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from commex.domain.billing import ChargeOutcome
from commex.domain.charges import (
    CLAIM_LEASE,
    MAX_DECLINES,
    MAX_ERRORS,
    ChargeStatus,
    charges_for,
    claim,
    payment_rating,
    settle,
    unanswered,
)
from commex.domain.contracts import Contract, ContractStatus
from commex.domain.money import Money
from commex.domain.terms import ServiceTerms

T0 = datetime(2026, 3, 1, 12, tzinfo=UTC)
CONTRACT = Contract(
    "con_1", "auc_1", "bid_1", "prov", "reci", Money(Decimal("9.99"), "EUR"),
    ServiceTerms("voice", 60), ContractStatus.AWARDED, T0,
)  # fmt: skip
EVENTS = st.sampled_from(["ok", "declined", "failed", "no card", "no answer", "died", "asked"])


@given(st.lists(st.tuples(EVENTS, st.integers(0, 3 * 86400)), max_size=40))
def test_a_charge_settles_once_within_its_limits_and_keeps_one_key_per_attempt(steps):
    (charge,) = charges_for(CONTRACT, None, None, lambda: "chg_1", T0)
    now = T0
    keys: dict[int, str] = {}
    settled_as = None
    for event, wait in steps:
        now += timedelta(seconds=wait)
        claimed = claim(charge, now, at_once=event == "asked")
        if claimed is None:
            assert (
                charge.status is not ChargeStatus.PENDING
                or charge.claimed_until
                or (charge.next_attempt_at > now)
            )
            continue
        assert claimed.attempts >= charge.attempts
        assert keys.setdefault(claimed.attempts, claimed.idempotency_key) == (
            claimed.idempotency_key
        )
        if event == "died":
            charge = claimed  # the process died holding the claim
            now += CLAIM_LEASE
            continue
        if event == "no answer":
            charge = unanswered(claimed, "no answer", now)
        else:
            outcome = {
                "ok": ChargeOutcome.SUCCEEDED,
                "declined": ChargeOutcome.DECLINED,
                "failed": ChargeOutcome.FAILED,
            }.get(event)
            charge = settle(claimed, outcome, None, "code", "message", now)
        assert charge.declines <= MAX_DECLINES and charge.errors <= MAX_ERRORS
        if charge.status is not ChargeStatus.PENDING:
            assert settled_as is None  # it settles once, and is never claimed again
            settled_as = charge.status
    rating = payment_rating(charge, "prov", "rat_1", now)
    if charge.status in (ChargeStatus.SUCCEEDED, ChargeStatus.DECLINED):
        assert rating is not None and rating.satisfied is (charge.status is ChargeStatus.SUCCEEDED)
    else:
        assert rating is None
