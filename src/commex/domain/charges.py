"""Charges of awarded contracts, their retries, payouts and the payment rating (B2, R2).

A contract is charged at award: one charge per payer (the contract's recipient, or each payer of
a group by its share). A charge is tried against the payer's card; every attempt has its own
number, and the gateway's idempotency key is the charge id and that number, so an attempt that
is repeated (a crash, two servers, a double click) can never charge twice. A decline, or a payer
without a card, is retried :data:`RETRY_AFTER` later, until :data:`MAX_DECLINES` declines (a
scheduled try without a card counts as one); a gateway error is retried
:data:`ERROR_RETRY_AFTER` later and does not count as a decline, up to :data:`MAX_ERRORS`. A
charge that succeeds records a positive payment rating of the payer, and one declined for the
last time a negative one.

Each attempt remembers the card it tried (``last_card_id``). When the payer's default card is
another one (a card saved, or another made the default), the charge is tried on it at once,
without waiting for the schedule. The payer may also ask for an attempt now
(:func:`manual_retry_refusal`), but only one that could end differently from the last: on a
default card other than the one last tried, or after a gateway error. Asking again on the card
just declined, or with no card at all, is refused and counts nothing, so a "pay now" button can
never use up the days of grace the schedule gives.

The exchange takes no fee yet: a provider's payout is the whole charge.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum

from commex.domain.billing import ChargeOutcome
from commex.domain.contracts import Contract
from commex.domain.errors import Conflict, InvalidInput
from commex.domain.events import ChargeSettled
from commex.domain.money import Money
from commex.domain.ratings import RatedRole, Rating

MAX_DECLINES = 3
RETRY_AFTER = timedelta(hours=24)
MAX_ERRORS = 10
ERROR_RETRY_AFTER = timedelta(minutes=15)
CLAIM_LEASE = timedelta(minutes=5)
NO_CARD = "no_payment_method"
_NO_CARD_MESSAGE = "No card is registered: add one under your cards and it is tried at once."


class ChargeStatus(StrEnum):
    """Pending until an attempt succeeds, or the last decline or error ends it, or its
    contract is cancelled first."""

    PENDING = "pending"
    SUCCEEDED = "succeeded"
    DECLINED = "declined"
    FAILED = "failed"
    CANCELLED = "cancelled"


FINAL_FAILURES = frozenset({ChargeStatus.DECLINED, ChargeStatus.FAILED})


@dataclass(frozen=True, slots=True)
class Charge:
    """One payer's charge for one contract, as stored (never any card data).

    ``version`` changes with every write, so an attempt is claimed, and its outcome stored, only
    by a write that saw the charge as it is (an atomic conditional update).
    """

    id: str
    contract_id: str
    payer_id: str
    provider_id: str
    amount: Money
    status: ChargeStatus
    created_at: datetime
    next_attempt_at: datetime
    group_id: str | None = None
    attempts: int = 0
    declines: int = 0
    errors: int = 0
    claimed_until: datetime | None = None
    last_attempt_at: datetime | None = None
    gateway_charge_id: str | None = None
    decline_code: str | None = None
    message: str | None = None
    retry_key: str | None = None
    last_card_id: str | None = None  # the card the last attempt tried (None: the payer had none)
    last_error: bool = False  # the last attempt failed at the gateway, not at the card's issuer
    version: int = 0

    @property
    def idempotency_key(self) -> str:
        """The gateway's key for the current attempt: the same attempt always sends the same
        key, so the gateway charges it at most once."""
        return f"{self.id}-attempt-{self.attempts}"


@dataclass(frozen=True, slots=True)
class Payout:
    """What the provider is owed for a succeeded charge: all of it (no fee yet)."""

    id: str
    charge_id: str
    provider_id: str
    amount: Money
    created_at: datetime


def charges_for(
    contract: Contract,
    shares: Mapping[str, Money] | None,
    group_id: str | None,
    new_id: Callable[[], str],
    now: datetime,
) -> list[Charge]:
    """The charges of a just-awarded contract: its recipient pays the price, or each payer of
    its group pays its share (``shares``, which sum to the price)."""
    owed = shares if shares is not None else {contract.recipient_id: contract.price}
    return [
        Charge(
            id=new_id(),
            contract_id=contract.id,
            payer_id=payer,
            provider_id=contract.provider_id,
            amount=amount,
            status=ChargeStatus.PENDING,
            created_at=now,
            next_attempt_at=now,
            group_id=group_id,
        )
        for payer, amount in owed.items()
        if amount.amount > 0
    ]


def claim(
    charge: Charge, now: datetime, *, at_once: bool = False, card_id: str | None = None
) -> Charge | None:
    """The charge with an attempt on card ``card_id`` (None: the payer has none) claimed for
    :data:`CLAIM_LEASE`, or None when no attempt is due. An attempt whose claim lapsed (its
    process died) is claimed again under its own number, so its retry reuses its idempotency
    key; otherwise a new attempt is numbered. ``at_once`` tries a pending charge before its
    retry time (a card other than the last one tried, or the payer asked)."""
    if charge.status is not ChargeStatus.PENDING:
        return None
    if charge.claimed_until is not None:
        if charge.claimed_until > now:
            return None  # another process is trying it right now
        return replace(charge, claimed_until=now + CLAIM_LEASE)
    if charge.next_attempt_at > now and not at_once:
        return None
    return replace(
        charge,
        attempts=charge.attempts + 1,
        claimed_until=now + CLAIM_LEASE,
        last_attempt_at=now,
        last_card_id=card_id,
    )


def new_card(charge: Charge, card_id: str | None) -> bool:
    """Whether the payer's default card ``card_id`` is one the charge has not just tried (a
    card saved or made the default since), so an attempt on it may end differently."""
    return card_id is not None and (charge.attempts == 0 or card_id != charge.last_card_id)


def manual_retry_refusal(charge: Charge, card_id: str | None, card_label: str | None) -> str | None:
    """Why the payer's "pay now" on a pending charge makes no attempt, or None when it may: an
    attempt is made only when it could end differently from the last one, that is on a default
    card other than the one last tried (``card_id``, described by ``card_label``), or after a
    gateway error. A refusal counts nothing; the schedule goes on as before."""
    when = charge.next_attempt_at.isoformat()
    if card_id is None:
        return (
            f"charge {charge.id} has no card to try: save a card first and it is tried at once "
            f"(otherwise the next scheduled try is at {when})"
        )
    if new_card(charge, card_id) or charge.last_error:
        return None
    return (
        f"charge {charge.id} was last declined on {card_label or 'your default card'}, and "
        f"trying it again now would only use up one of its {MAX_DECLINES} scheduled tries "
        f"({charge.declines} used): the next scheduled try is at {when}; save another card, or "
        "make another card the default, and it is tried at once"
    )


def settle(
    charge: Charge,
    outcome: ChargeOutcome | None,
    gateway_charge_id: str | None,
    code: str | None,
    message: str | None,
    now: datetime,
) -> Charge:
    """The charge after its claimed attempt: ``outcome`` None means the payer had no card,
    which is given the same grace as a decline."""
    done = replace(
        charge,
        claimed_until=None,
        gateway_charge_id=gateway_charge_id,
        last_error=outcome is ChargeOutcome.FAILED,
    )
    if outcome is ChargeOutcome.SUCCEEDED:
        return replace(
            done, status=ChargeStatus.SUCCEEDED, decline_code=None, message=message or None
        )
    if outcome is ChargeOutcome.FAILED:
        errors = charge.errors + 1
        status = ChargeStatus.FAILED if errors >= MAX_ERRORS else ChargeStatus.PENDING
        return replace(
            done,
            status=status,
            errors=errors,
            decline_code=code,
            message=message,
            next_attempt_at=now + ERROR_RETRY_AFTER,
        )
    declines = charge.declines + 1
    status = ChargeStatus.DECLINED if declines >= MAX_DECLINES else ChargeStatus.PENDING
    return replace(
        done,
        status=status,
        declines=declines,
        decline_code=code if outcome is not None else NO_CARD,
        message=message if outcome is not None else _NO_CARD_MESSAGE,
        next_attempt_at=now + RETRY_AFTER,
    )


def attempt_outcome(charge: Charge) -> str:
    """How a settled attempt went: ``succeeded``, ``declined`` (by the card's issuer),
    ``no_card`` (the payer had none to try) or ``error`` (the gateway failed or did not
    answer; the attempt is tried again)."""
    if charge.status is ChargeStatus.SUCCEEDED:
        return "succeeded"
    if charge.last_error:
        return "error"
    return "no_card" if charge.decline_code == NO_CARD else "declined"


def unanswered(charge: Charge, message: str, now: datetime) -> Charge:
    """The charge after its attempt got no answer (a timeout, a crash of the gateway's
    client): the money may or may not have moved, so the same attempt, with the same key, is
    tried again :data:`ERROR_RETRY_AFTER` later, and the gateway answers it once."""
    errors = charge.errors + 1
    final = errors >= MAX_ERRORS
    return replace(
        charge,
        status=ChargeStatus.FAILED if final else ChargeStatus.PENDING,
        errors=errors,
        claimed_until=None if final else now + ERROR_RETRY_AFTER,
        next_attempt_at=now + ERROR_RETRY_AFTER,
        last_error=True,
        decline_code="gateway_unavailable",
        message=message,
    )


def void(charge: Charge, why: str) -> Charge | None:
    """A pending charge no attempt holds, cancelled with its contract (``why``); None for one
    settled already or being tried right now (that attempt settles as it will)."""
    if charge.status is not ChargeStatus.PENDING or charge.claimed_until is not None:
        return None
    return replace(charge, status=ChargeStatus.CANCELLED, message=why)


def payment_rating(
    charge: Charge, provider_account_id: str, rating_id: str, now: datetime
) -> Rating | None:
    """The recipient rating a settled charge records by itself (R2): positive when it
    succeeded, negative when it was declined for the last time; none otherwise (a gateway
    failure is not the payer's doing)."""
    if charge.status is ChargeStatus.SUCCEEDED:
        satisfied = True
        comment = f"paid {charge.amount.display()}"
    elif charge.status is ChargeStatus.DECLINED:
        satisfied = False
        comment = f"{charge.amount.display()} declined after {charge.declines} attempts"
    else:
        return None
    return Rating(
        id=rating_id,
        contract_id=charge.contract_id,
        rated_id=charge.payer_id,
        rated_role=RatedRole.RECIPIENT,
        rater_key=f"payment:{charge.payer_id}",
        rater_account_id=provider_account_id,
        device_id=None,
        satisfied=satisfied,
        score=None,
        comment=comment,
        created_at=now,
    )


def payout_for(charge: Charge, payout_id: str, now: datetime) -> Payout | None:
    """The provider's payout of a succeeded charge (the exchange takes no fee yet)."""
    if charge.status is not ChargeStatus.SUCCEEDED:
        return None
    return Payout(payout_id, charge.id, charge.provider_id, charge.amount, now)


@dataclass(frozen=True, slots=True)
class Refund:
    """Money given back on a succeeded charge through the gateway, on the operator's word (or
    the exchange's): a negative payout of the provider (``amount`` is what was given back,
    positive)."""

    id: str
    charge_id: str
    provider_id: str
    amount: Money
    reason: str
    gateway_refund_id: str | None
    by_id: str | None  # the operator; None: the exchange (a group's contract was cancelled)
    created_at: datetime

    def as_payout(self) -> Payout:
        """The refund as the provider's payouts show it: a negative one."""
        negative = Money(-self.amount.amount, self.amount.currency)
        return Payout(self.id, self.charge_id, self.provider_id, negative, self.created_at)


def refundable(charge: Charge, refunds: Sequence[Refund]) -> Money:
    """What may still be refunded of ``charge``: what it took, less what was refunded."""
    if charge.status is not ChargeStatus.SUCCEEDED:
        raise Conflict(
            f"charge {charge.id} is {charge.status.value}: only a paid charge is refunded"
        )
    left = charge.amount
    for r in refunds:
        left = left - r.amount
    return left


def check_refund(charge: Charge, refunds: Sequence[Refund], amount: Money) -> Money:
    """``amount`` if it may be refunded now: more than zero, in the charge's currency, at most
    what is left."""
    left = refundable(charge, refunds)
    if amount.currency != charge.amount.currency:
        raise InvalidInput(f"amount must be in {charge.amount.currency}", field="amount")
    if amount.amount <= 0:
        raise InvalidInput("amount must be more than zero", field="amount")
    if amount > left:
        raise InvalidInput(
            f"amount {amount} is more than the {left} {left.currency} left to refund",
            field="amount",
        )
    return amount


def settled_event(before: Charge, after: Charge, now: datetime) -> ChargeSettled | None:
    """What the payer hears of an attempt: it succeeded, or the card declined (or there was
    none), or the charge ended for good; a gateway error that will be retried is not told."""
    final = after.status in (ChargeStatus.DECLINED, ChargeStatus.FAILED)
    if (
        after.status is not ChargeStatus.SUCCEEDED
        and after.declines == before.declines
        and not final
    ):
        return None
    return ChargeSettled(
        after.id, after.contract_id, after.payer_id, after.amount,
        after.status is ChargeStatus.SUCCEEDED, after.decline_code, after.message,
        None if final or after.status is ChargeStatus.SUCCEEDED else after.next_attempt_at, now,
    )  # fmt: skip
