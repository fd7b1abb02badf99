"""Subcontracts (S5, S10): a contract between two providers, under a parent contract.

When a provider's plane needs a step it does not offer, it opens a subcontract with another
provider found on the exchange: an instant award of that provider's processing offer, for one
step, at the offer's price per 1,000 packets. The subcontractor's node meters the packets it
processes, once per run; the plane's own check of the results closes the subcontract with an
outcome, which rates the subcontractor by itself (once), and the packets are charged to the
subcontracting provider, price x packets / 1,000, rounded to the currency's minor unit.
Cancelled by the operator or with its parent contract, a subcontract closes without a check
(no rating), and the packets metered until then are charged all the same: they were done.

Who may subcontract: the parent's provider, never to itself or to an account of its own owner,
only to a provider among the parent auction's approved providers when it named any, only for a
step the parent's terms ask for (when they name steps), and only with a saved card.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum

from commex.domain.accounts import Account, Role
from commex.domain.charges import Charge, ChargeStatus
from commex.domain.contracts import (
    Contract,
    ContractKind,
    ContractStatus,
    EndReason,
    describe_end,
    end,
)
from commex.domain.errors import (
    Conflict,
    Forbidden,
    InvalidInput,
    NotEligible,
    NotFound,
    PaymentMethodRequired,
)
from commex.domain.money import Money, currency_exponent
from commex.domain.offers import ProcessingOffer
from commex.domain.ratings import RatedRole, Rating
from commex.domain.terms import ServiceTerms

_STEP = re.compile(r"^[a-z][a-z0-9-]{0,31}(:[A-Za-z0-9.+-]{1,32})?$")
_RUN = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")
MAX_PACKETS_PER_RUN = 10**9
MAX_DETAIL = 300
MAX_OPEN_PER_PARENT = 20
CHECK_RATER = "plane-check"  # the rater key of the automatic rating: one per subcontract


class CheckOutcome(StrEnum):
    """How the plane's check of the subcontracted results ended."""

    PASSED = "passed"  # same packets, valid headers, exact where a reference exists
    FAILED_CHECK = "failed_check"  # a result differed from what the check expects
    DEAD_NODE = "dead_node"  # the node stopped answering and the work went elsewhere
    LATE = "late"  # live results came after their playout time


_WORDS = {
    CheckOutcome.PASSED: "the plane's check passed",
    CheckOutcome.FAILED_CHECK: "the plane's check failed",
    CheckOutcome.DEAD_NODE: "the node died during the run",
    CheckOutcome.LATE: "results came late",
}


@dataclass(frozen=True, slots=True)
class Subcontract:
    """A subcontract: its contract (kind ``subcontract``), the step, the packets metered so far,
    and once closed, the outcome of the plane's check."""

    contract: Contract
    step: str
    packets: int = 0
    outcome: CheckOutcome | None = None
    detail: str | None = None
    closed_at: datetime | None = None

    @property
    def id(self) -> str:
        return self.contract.id

    @property
    def parent_id(self) -> str:
        return self.contract.parent_contract_id or ""

    @property
    def subcontractor_id(self) -> str:
        return self.contract.provider_id

    @property
    def subcontracting_id(self) -> str:
        return self.contract.recipient_id

    @property
    def is_open(self) -> bool:
        return self.closed_at is None

    @property
    def amount(self) -> Money:
        """What the packets metered so far cost."""
        return amount_for(self.contract.price, self.packets)


def closed_conflict(sub: Subcontract) -> Conflict:
    """How work or metering under a closed subcontract is refused."""
    return Conflict(f"subcontract {sub.id} is closed: its packets are settled")


def amount_for(price_per_1000: Money, packets: int) -> Money:
    """``price x packets / 1,000``, rounded half up to the currency's minor unit."""
    quantum = Decimal(1).scaleb(-currency_exponent(price_per_1000.currency))
    exact = price_per_1000.amount * packets / 1000
    return Money(exact.quantize(quantum, rounding=ROUND_HALF_UP), price_per_1000.currency)


def check_step(step: object) -> str:
    """A step such as ``transcode:pcmu``; its capability is the part before the colon."""
    if not isinstance(step, str) or not _STEP.match(step):
        raise InvalidInput("step must be a step such as 'transcode:pcmu'", "step")
    return step


def capability_of(step: str) -> str:
    return step.split(":", 1)[0]


@dataclass(frozen=True, slots=True)
class Opening:
    """What opening a subcontract is decided from, loaded by the service."""

    parent: Contract
    opener: Account
    subcontractor: Account
    offer: ProcessingOffer | None
    approved: Collection[str]  # the parent auction's approved providers (empty: any)
    has_card: bool
    open_under_parent: int


def open_subcontract(o: Opening, step: object, contract_id: str, now: datetime) -> Subcontract:
    """Award the subcontractor's offer for ``step`` under the parent contract at once, or
    refuse saying why."""
    step = check_step(step)
    parent, opener, sub = o.parent, o.opener, o.subcontractor
    if parent.is_subcontract:
        raise InvalidInput("a subcontract is not subcontracted further", "parent_contract_id")
    if opener.id != parent.provider_id:
        raise Forbidden("only the contract's provider subcontracts its steps")
    if parent.status not in (ContractStatus.AWARDED, ContractStatus.ACTIVE):
        raise Conflict(f"contract {parent.id} is {parent.status.value}: nothing to subcontract")
    if parent.terms.steps and step not in parent.terms.steps:
        raise InvalidInput(
            f"step {step!r} is not one of the contract's steps ({', '.join(parent.terms.steps)})",
            "step",
        )
    if sub.id == opener.id or sub.owner == opener.owner:
        raise InvalidInput("a subcontract goes to a different provider, not to you", "provider_id")
    if not sub.has(Role.PROVIDER):
        raise InvalidInput(f"account {sub.id} is not a provider", "provider_id")
    if o.approved and sub.id not in o.approved:
        raise NotEligible(
            f"{sub.name} is not among the providers the recipient of contract {parent.id} approved"
        )
    if o.offer is None or capability_of(step) not in o.offer.capabilities:
        raise NotFound(f"{sub.name} offers no {capability_of(step)!r} processing")
    if not o.has_card:
        raise PaymentMethodRequired(
            "a subcontract is charged to your card: save a card before you subcontract"
        )
    if o.open_under_parent >= MAX_OPEN_PER_PARENT:
        raise Conflict(
            f"contract {parent.id} has {MAX_OPEN_PER_PARENT} open subcontracts already; close "
            "some first"
        )
    terms = ServiceTerms("stream-processing", parent.terms.duration_s, steps=(step,))
    contract = Contract(
        id=contract_id,
        auction_id=parent.auction_id,
        bid_id=None,
        provider_id=sub.id,
        recipient_id=opener.id,
        price=o.offer.price,
        terms=terms,
        status=ContractStatus.ACTIVE,
        created_at=now,
        started_at=now,
        kind=ContractKind.SUBCONTRACT,
        parent_contract_id=parent.id,
    )
    return Subcontract(contract, step)


def check_run(run_id: object, packets: object) -> tuple[str, int]:
    """A metering report's run id and packet count, or InvalidInput naming the field."""
    if not isinstance(run_id, str) or not _RUN.match(run_id):
        raise InvalidInput("run_id must be 1 to 64 letters, digits or _.:-", "run_id")
    if isinstance(packets, bool) or not isinstance(packets, int):
        raise InvalidInput("packets must be a whole number", "packets")
    if not 0 <= packets <= MAX_PACKETS_PER_RUN:
        raise InvalidInput(f"packets must be 0 to {MAX_PACKETS_PER_RUN:,}", "packets")
    return run_id, packets


def meter(sub: Subcontract, packets: int, earlier: int | None) -> Subcontract | None:
    """The subcontract with a run's packets added; None when the same run was metered before
    with the same count (a retry, counted once); Conflict for another count under the same
    run id, or once the subcontract is closed."""
    if earlier is not None:
        if earlier != packets:
            raise Conflict(
                f"this run was metered with {earlier} packets, not {packets}: a run is "
                "reported once"
            )
        return None
    if not sub.is_open:
        raise closed_conflict(sub)
    return replace(sub, packets=sub.packets + packets)


def check_outcome(outcome: object, detail: object) -> tuple[CheckOutcome, str | None]:
    """The outcome of the plane's check as given, or InvalidInput naming the field."""
    try:
        found = CheckOutcome(outcome) if isinstance(outcome, str) else None
    except ValueError:
        found = None
    if found is None:
        names = ", ".join(o.value for o in CheckOutcome)
        raise InvalidInput(f"outcome must be one of {names}", "outcome")
    if detail is None:
        return found, None
    if not isinstance(detail, str) or len(detail) > MAX_DETAIL:
        raise InvalidInput(f"detail must be text of at most {MAX_DETAIL} characters", "detail")
    if any(ch < " " or ch == "\x7f" for ch in detail):
        raise InvalidInput("detail must not hold control characters", "detail")
    return found, detail or None


def close(
    sub: Subcontract, outcome: CheckOutcome, detail: str | None, now: datetime
) -> Subcontract | None:
    """The subcontract closed with the plane's outcome; None when it was closed with this
    outcome before (a retry); Conflict when it was closed with another."""
    if sub.closed_at is not None:
        if sub.outcome is outcome:
            return None
        if sub.outcome is None:
            raise Conflict(f"subcontract {sub.id} {describe_end(sub.contract)}")
        raise Conflict(f"subcontract {sub.id} was closed as {sub.outcome} already")
    contract = end(sub.contract, EndReason.CHECKED, now)
    return replace(sub, contract=contract, outcome=outcome, detail=detail, closed_at=now)


def cancel(
    sub: Subcontract, reason: EndReason, note: str, now: datetime, by_id: str | None = None
) -> Subcontract | None:
    """An open subcontract cancelled (by the operator, or with its parent): it is closed
    without a check, so it rates nobody, and takes no more work or packets; the packets
    metered until now were processed and are settled (:func:`settlement`). None when it was
    closed already."""
    if not sub.is_open:
        return None
    contract = end(sub.contract, reason, now, note, by_id)
    return replace(sub, contract=contract, closed_at=now)


def check_rating(sub: Subcontract, rating_id: str, now: datetime) -> Rating:
    """The automatic rating the plane's check records of the subcontractor: positive for a
    clean run, negative for a failed check, a dead node or late results."""
    if sub.outcome is None:
        raise Conflict(f"subcontract {sub.id} has no outcome yet")
    comment = f"{_WORDS[sub.outcome]} ({sub.packets} packets of {sub.step})"
    return Rating(
        id=rating_id,
        contract_id=sub.id,
        rated_id=sub.subcontractor_id,
        rated_role=RatedRole.PROVIDER,
        rater_key=CHECK_RATER,
        rater_account_id=sub.subcontracting_id,
        device_id=None,
        satisfied=sub.outcome is CheckOutcome.PASSED,
        score=None,
        comment=comment,
        created_at=now,
    )


def settlement(sub: Subcontract, charge_id: str, now: datetime) -> Charge | None:
    """The charge of a closed subcontract's packets to the subcontracting provider, due now
    (none when nothing is owed)."""
    owed = sub.amount
    if owed.amount <= 0:
        return None
    return Charge(
        id=charge_id,
        contract_id=sub.id,
        payer_id=sub.subcontracting_id,
        provider_id=sub.subcontractor_id,
        amount=owed,
        status=ChargeStatus.PENDING,
        created_at=now,
        next_attempt_at=now,
    )
