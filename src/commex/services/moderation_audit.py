"""Moderation and security actions in the audit trail: the one place they meet it.

Every moderation command (suspend, reinstate, hide a rating, refund, an operator's cancel of a
contract or a subcontract, a password-reset link), every security action (a device
deregistered, sessions ended, a password changed or reset through its link) and a contract
cancelled for non-payment (the exchange acting: no actor) records a domain event naming who
acted and why. :func:`write` is shown each batch of events as it is recorded (see
:meth:`commex.services.bus.MessageBus.on_record`) and appends one audit entry per such event
to the same unit of work, so the entry commits with the action or not at all.

Token rotation, and an operator's close or cancel of an auction, are audited where they happen
(:mod:`commex.services.accounts`, :mod:`commex.services.auctions`): their events carry no
entry here, so each leaves one row.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from commex.domain import events as e
from commex.domain.events import Event
from commex.services import audit
from commex.services.bus import Deps
from commex.services.ports import UnitOfWork


@dataclass(frozen=True, slots=True)
class ModerationEntry:
    """What happened, to what, by whom (None: the exchange), why, and whom it concerns."""

    action: str
    subject: str
    actor: str | None
    reason: str
    accounts: tuple[str, ...] = ()


def entry_of(event: Event) -> ModerationEntry | None:
    """The audit entry of a moderation or security event (None for any other event)."""
    match event:
        case e.AccountSuspended():
            why = event.reason + (
                f" (bids withdrawn: {', '.join(event.withdrawn)})" if event.withdrawn else ""
            )
            return ModerationEntry(
                "account.suspended", event.account_id, event.by_id, why, (event.account_id,)
            )
        case e.AccountReinstated():
            return ModerationEntry(
                "account.reinstated", event.account_id, event.by_id, event.reason,
                (event.account_id,),
            )  # fmt: skip
        case e.SessionsEnded():
            return ModerationEntry(
                "sessions.ended", event.account_id, event.by_id, event.reason, (event.account_id,)
            )
        case e.PasswordChanged():
            if event.how == "reset":
                action, why = "password.reset_used", "password set through a reset link"
            else:
                action, why = "password.changed", "password changed"
            return ModerationEntry(action, event.account_id, event.by_id, why, (event.account_id,))
        case e.PasswordResetIssued():
            why = f"one-time reset link, valid until {event.expires_at.isoformat()}"
            return ModerationEntry(
                "password.reset_issued", event.account_id, event.by_id, why, (event.account_id,)
            )
        case _:
            return _entry_of_object(event)


def _entry_of_object(event: Event) -> ModerationEntry | None:
    match event:
        case e.ContractCancelled():
            return ModerationEntry(
                "contract.cancelled", event.contract_id, event.by_id,
                f"{event.reason}: {event.note}", (event.provider_id, event.recipient_id),
            )  # fmt: skip
        case e.DeviceRevoked():
            return ModerationEntry(
                "device.revoked", event.device_id, event.by_id, "deregistered",
                (event.recipient_id,),
            )  # fmt: skip
        case e.RatingHidden():
            return ModerationEntry(
                "rating.hidden", event.rating_id, event.by_id, event.reason,
                (event.rater_id, event.rated_id),
            )  # fmt: skip
        case e.ChargeRefunded():
            return ModerationEntry(
                "charge.refunded", event.charge_id, event.by_id,
                f"{event.amount} {event.currency} refunded: {event.reason}",
                (event.payer_id, event.provider_id),
            )  # fmt: skip
    return None


def write(uow: UnitOfWork, deps: Deps, events: Sequence[Event]) -> None:
    """Append the audit entry of each moderation or security event in ``events`` to ``uow``,
    the unit of work that records them (before it commits)."""
    for event in events:
        found = entry_of(event)
        if found is not None:
            audit.record(
                uow, deps, found.action, found.subject, by=found.actor,
                accounts=found.accounts, reason=found.reason,
            )  # fmt: skip
