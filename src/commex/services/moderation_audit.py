"""Moderation and security actions as audit entries: the one place they meet the audit trail.

Every moderation command (suspend, reinstate, hide a rating, refund, an operator's close or
cancel of an auction or a contract, a password-reset link), every security action (a token
rotated, a device deregistered, sessions ended, a password changed) and a contract cancelled
for non-payment (the exchange acting: no actor) is published as a domain event naming who
acted and why. :class:`ModerationAudit` subscribes to
them all and turns each into one :class:`AuditEntry` handed to a sink: the audit trail's writer
once it exists, an in-memory list in tests, and the log until then. Wiring the trail is a
matter of passing its writer as the sink in the bootstrap.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from commex.domain import events as e
from commex.domain.events import Event

log = logging.getLogger("commex.audit")


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """What happened, to what, by whom, why, and when."""

    action: str
    subject: str
    actor: str | None
    reason: str
    at: datetime | None


Sink = Callable[[AuditEntry], None]


def entry_of(event: Event) -> AuditEntry | None:
    """The audit entry of a moderation or security event (None for any other event)."""
    match event:
        case e.AccountSuspended():
            why = event.reason + (
                f" (bids withdrawn: {', '.join(event.withdrawn)})" if event.withdrawn else ""
            )
            return AuditEntry("account.suspended", event.account_id, event.by_id, why, event.at)
        case e.AccountReinstated():
            return AuditEntry(
                "account.reinstated", event.account_id, event.by_id, event.reason, event.at
            )
        case e.TokenRotated():
            return AuditEntry(
                "token.rotated", event.account_id, event.by_id, "token rotated", event.at
            )
        case e.SessionsEnded():
            return AuditEntry(
                "sessions.ended", event.account_id, event.by_id, event.reason, event.at
            )
        case e.PasswordChanged():
            why = "password changed" if event.how == "changed" else "password reset by link"
            return AuditEntry("password.changed", event.account_id, event.by_id, why, event.at)
        case e.PasswordResetIssued():
            why = f"one-time reset link, valid until {event.expires_at.isoformat()}"
            return AuditEntry("password.reset_issued", event.account_id, event.by_id, why, event.at)
        case e.ContractCancelled():
            why = f"{event.reason}: {event.note}"
            return AuditEntry("contract.cancelled", event.contract_id, event.by_id, why, event.at)
        case e.DeviceRevoked():
            return AuditEntry(
                "device.revoked", event.device_id, event.by_id, "deregistered", event.at
            )
        case e.RatingHidden():
            return AuditEntry("rating.hidden", event.rating_id, event.by_id, event.reason, event.at)
        case e.ChargeRefunded():
            why = f"{event.amount} {event.currency} refunded: {event.reason}"
            return AuditEntry("charge.refunded", event.charge_id, event.by_id, why, event.at)
        case e.AuctionCancelled() if event.by_id is not None:
            return AuditEntry(
                "auction.cancelled", event.auction_id, event.by_id, event.reason, None
            )
        case e.AuctionClosed() if event.reason is not None:
            return AuditEntry(
                "auction.closed", event.auction_id, event.by_id, event.reason, event.closed_at
            )
    return None


def _log_entry(entry: AuditEntry) -> None:
    log.info("%s %s by %s: %s", entry.action, entry.subject, entry.actor, entry.reason)


class ModerationAudit:
    """The bus subscriber that hands each moderation and security event to ``sink``."""

    EVENTS: tuple[type[Event], ...] = (*e.MODERATION_EVENTS, e.AuctionCancelled, e.AuctionClosed)

    def __init__(self, sink: Sink | None = None) -> None:
        self._sink = sink or _log_entry

    def __call__(self, events: Sequence[Event]) -> None:
        for event in events:
            entry = entry_of(event)
            if entry is not None:
                self._sink(entry)
