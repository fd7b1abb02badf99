"""Subcontract rules (S10): who may subcontract what to whom, metering once per run, closing
with the plane's check, the automatic rating and the exact charge."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from commex.domain import subcontracts as rules
from commex.domain.accounts import Account, Role
from commex.domain.charges import ChargeStatus
from commex.domain.contracts import Contract, ContractKind, ContractStatus
from commex.domain.errors import (
    Conflict,
    Forbidden,
    InvalidInput,
    NotEligible,
    NotFound,
    PaymentMethodRequired,
)
from commex.domain.money import Money
from commex.domain.offers import ProcessingOffer
from commex.domain.ratings import RatedRole
from commex.domain.subcontracts import CheckOutcome, Opening, Subcontract
from commex.domain.terms import ServiceTerms

T0 = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
ALPHA = Account("acc_a", "Alpha", frozenset({Role.PROVIDER}), T0)
BRAVO = Account("acc_b", "Bravo", frozenset({Role.PROVIDER}), T0)
CLINIC = Account("acc_r", "Clinic", frozenset({Role.RECIPIENT}), T0)
PARENT = Contract(
    "con_1", "auc_1", "bid_1", ALPHA.id, CLINIC.id, Money(Decimal("50.00"), "EUR"),
    ServiceTerms("stream-processing", 3600, steps=("transcode:pcmu", "dtmf")),
    ContractStatus.ACTIVE, T0,
)  # fmt: skip


def offer(price: str = "2.50", currency: str = "EUR", caps: str = "transcode") -> ProcessingOffer:
    return ProcessingOffer(
        BRAVO.id,
        "https://b.example",
        frozenset(caps.split(",")),
        Money(Decimal(price), currency),
        T0,
    )


def opening(**kw: object) -> Opening:
    base = Opening(PARENT, ALPHA, BRAVO, offer(), frozenset(), True, 0)
    return replace(base, **kw)  # type: ignore[arg-type]


def opened(**kw: object) -> Subcontract:
    return rules.open_subcontract(opening(**kw), "transcode:pcmu", "con_s", T0)


def test_a_subcontract_is_an_instant_award_of_the_offer_under_the_parent() -> None:
    s = opened()
    c = s.contract
    assert (c.kind, c.parent_contract_id, c.bid_id, c.auction_id) == (
        ContractKind.SUBCONTRACT, "con_1", None, "auc_1"
    )  # fmt: skip
    assert (c.provider_id, c.recipient_id, c.price) == (BRAVO.id, ALPHA.id, offer().price)
    assert (c.status, c.started_at, c.terms.steps) == (
        ContractStatus.ACTIVE,
        T0,
        ("transcode:pcmu",),
    )
    assert (s.step, s.packets, s.is_open, s.amount) == (
        "transcode:pcmu",
        0,
        True,
        Money.zero("EUR"),
    )


@pytest.mark.parametrize(
    ("change", "error", "says"),
    [
        ({"subcontractor": ALPHA}, InvalidInput, "a subcontract goes to a different provider"),
        (
            {"subcontractor": replace(BRAVO, owner_id=ALPHA.id)},
            InvalidInput,
            "a subcontract goes to a different provider",
        ),
        ({"subcontractor": CLINIC}, InvalidInput, "account acc_r is not a provider"),
        ({"opener": CLINIC}, Forbidden, "only the contract's provider subcontracts its steps"),
        ({"approved": frozenset({"acc_x"})}, NotEligible, "Bravo is not among the providers"),
        ({"offer": None}, NotFound, "Bravo offers no 'transcode' processing"),
        ({"offer": offer(caps="gain")}, NotFound, "Bravo offers no 'transcode' processing"),
        ({"has_card": False}, PaymentMethodRequired, "save a card before you subcontract"),
        ({"open_under_parent": rules.MAX_OPEN_PER_PARENT}, Conflict, "20 open subcontracts"),
        (
            {"parent": replace(PARENT, status=ContractStatus.COMPLETED)},
            Conflict,
            "contract con_1 is completed: nothing to subcontract",
        ),
        (
            {"parent": replace(PARENT, kind=ContractKind.SUBCONTRACT)},
            InvalidInput,
            "a subcontract is not subcontracted further",
        ),
    ],
)
def test_a_subcontract_is_refused_saying_why(
    change: dict[str, object], error: type[Exception], says: str
) -> None:
    with pytest.raises(error) as err:
        opened(**change)
    assert says in str(err.value)


def test_approved_providers_admit_the_ones_named_and_only_the_contracts_steps_go() -> None:
    assert opened(approved=frozenset({BRAVO.id})).subcontractor_id == BRAVO.id
    with pytest.raises(InvalidInput) as err:
        rules.open_subcontract(opening(offer=offer(caps="gain")), "gain:6", "con_s", T0)
    assert err.value.message == (
        "step 'gain:6' is not one of the contract's steps (transcode:pcmu, dtmf)"
    )
    any_step = replace(PARENT, terms=ServiceTerms("stream-processing", 60))
    s = rules.open_subcontract(
        opening(parent=any_step, offer=offer(caps="gain")), "gain:6", "x", T0
    )
    assert s.step == "gain:6"


@pytest.mark.parametrize(
    ("price", "currency", "packets", "owed"),
    [
        ("2.50", "EUR", 1330, "3.33"),  # 3.325: half up
        ("2.50", "EUR", 1, "0.00"),  # 0.0025
        ("2.50", "EUR", 2, "0.01"),  # 0.005: half up
        ("1.75", "EUR", 930, "1.63"),  # 1.6275
        ("7", "JPY", 1500, "11"),  # 10.5 yen: half up, no minor unit
        ("0.125", "KWD", 333, "0.042"),  # 0.041625: three decimal places
        ("0.00", "EUR", 10**9, "0.00"),
    ],
)
def test_the_charge_is_price_times_packets_over_1000_rounded_by_the_currency(
    price: str, currency: str, packets: int, owed: str
) -> None:
    got = rules.amount_for(Money(Decimal(price), currency), packets)
    assert got == Money(Decimal(owed), currency)


def test_a_run_is_metered_once_and_never_after_the_close() -> None:
    s = opened()
    s = rules.meter(s, 1000, None) or s
    assert s.packets == 1000
    assert rules.meter(s, 1000, 1000) is None  # the same run again: counted once
    with pytest.raises(Conflict, match="metered with 1000 packets, not 999"):
        rules.meter(s, 999, 1000)
    closed = rules.close(s, CheckOutcome.PASSED, None, T0)
    assert closed is not None
    with pytest.raises(Conflict, match="is closed: its packets are settled"):
        rules.meter(closed, 5, None)
    assert rules.check_run("run-1", 0) == ("run-1", 0)
    for run, packets, field in (("", 1, "run_id"), ("a/b", 1, "run_id"), ("r", -1, "packets"),
                                ("r", True, "packets"), ("r", 10**9 + 1, "packets")):  # fmt: skip
        with pytest.raises(InvalidInput) as err:
            rules.check_run(run, packets)
        assert err.value.field == field


def test_closing_rates_the_subcontractor_once_and_charges_the_packets() -> None:
    s = replace(opened(), packets=1330)
    closed = rules.close(s, CheckOutcome.PASSED, None, T0 + timedelta(minutes=5))
    assert closed is not None
    assert (closed.contract.status, closed.closed_at) == (
        ContractStatus.COMPLETED, T0 + timedelta(minutes=5)
    )  # fmt: skip
    assert rules.close(closed, CheckOutcome.PASSED, None, T0) is None  # a retry
    with pytest.raises(Conflict, match="closed as passed already"):
        rules.close(closed, CheckOutcome.LATE, None, T0)
    rating = rules.check_rating(closed, "rat_1", T0)
    assert (rating.rated_id, rating.rated_role, rating.rater_key, rating.rater_account_id) == (
        BRAVO.id, RatedRole.PROVIDER, rules.CHECK_RATER, ALPHA.id
    )  # fmt: skip
    assert rating.satisfied is True
    assert rating.comment == "the plane's check passed (1330 packets of transcode:pcmu)"
    charge = rules.settlement(closed, "chg_1", T0)
    assert charge is not None
    assert (charge.payer_id, charge.provider_id, charge.contract_id) == (
        ALPHA.id,
        BRAVO.id,
        "con_s",
    )
    assert (charge.amount, charge.status) == (Money(Decimal("3.33"), "EUR"), ChargeStatus.PENDING)
    assert rules.settlement(replace(closed, packets=0), "chg_2", T0) is None


@pytest.mark.parametrize("outcome", ["failed_check", "dead_node", "late"])
def test_a_failed_check_a_dead_node_or_late_results_rate_negatively(outcome: str) -> None:
    found, detail = rules.check_outcome(outcome, "after 400 packets")
    closed = rules.close(opened(), found, detail, T0)
    assert closed is not None and closed.detail == "after 400 packets"
    assert rules.check_rating(closed, "rat_1", T0).satisfied is False


def test_an_outcome_and_its_detail_are_checked() -> None:
    with pytest.raises(InvalidInput, match="outcome must be one of passed, failed_check"):
        rules.check_outcome("fine", None)
    with pytest.raises(InvalidInput, match="control characters"):
        rules.check_outcome("passed", "\x1b[31mred")
    with pytest.raises(InvalidInput, match="at most 300"):
        rules.check_outcome("passed", "x" * 301)
