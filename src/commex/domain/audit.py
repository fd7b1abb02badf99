"""The audit trail's entry (O1): who did what to which object, when, in answer to which request,
and why when a reason was given.

An entry is written in the transaction of the change it records, so the trail holds exactly
the changes that happened. It is append-only: no entry is ever changed or removed. Each entry
names the accounts it concerns (the actor's account first, then the others it touches); each of
them may read it, and the operator reads every entry.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType

MAX_REASON = 500
MAX_DETAIL_VALUE = 200

# The actions recorded today; an area that adds a change adds its action here.
ACTIONS = frozenset(
    {
        "account.opened",
        "token.rotated",
        "device.registered",
        "auction.opened",
        "bid.placed",
        "auction.closed",
        "auction.cancelled",
        "contract.awarded",
        "contract.started",
        "member.added",
        "member.removed",
        "rating.recorded",
        "capacity.set",
        "offer.published",
        "group.created",
        "group.invited",
        "group.answered",
        "group.sponsored",
        "card.added",
        "card.removed",
        "card.made_default",
        "charge.created",
        "charge.attempted",
        "payout.recorded",
        "subcontract.opened",
        "subcontract.closed",
        "node_key.issued",
        "node_key.revoked",
        "auction.watched",
        "auction.unwatched",
        "webhook.created",
        "webhook.removed",
        "webhook.delivery_retried",
        # moderation and each account's own security (see commex.services.moderation_audit)
        "account.suspended",
        "account.reinstated",
        "sessions.ended",
        "password.changed",
        "password.reset_issued",
        "password.reset_used",
        "device.revoked",
        "rating.hidden",
        "charge.refunded",
        "contract.cancelled",
    }
)


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One recorded change. ``actor_id`` is an account or a client device, or None for the
    exchange itself (the scheduler, or the administrator's command line); ``seq`` is given by
    the store, in the order entries were written."""

    at: datetime
    actor_id: str | None
    action: str
    subject_id: str
    accounts: tuple[str, ...] = ()
    request_id: str | None = None
    reason: str | None = None
    detail: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    seq: int = 0


def make_entry(
    at: datetime,
    actor_id: str | None,
    action: str,
    subject_id: str,
    accounts: tuple[str, ...],
    request_id: str | None,
    reason: str | None,
    detail: Mapping[str, object] | None,
) -> AuditEntry:
    """An entry, checked: a known action, each account once (in the order given), the reason
    and the detail's values as bounded text."""
    if action not in ACTIONS:
        raise ValueError(f"unknown audit action {action!r}; add it to ACTIONS")
    concerned = tuple(dict.fromkeys(accounts))
    text = {k: str(v)[:MAX_DETAIL_VALUE] for k, v in (detail or {}).items() if v is not None}
    return AuditEntry(
        at=at,
        actor_id=actor_id,
        action=action,
        subject_id=subject_id,
        accounts=concerned,
        request_id=request_id,
        reason=reason[:MAX_REASON] if reason else None,
        detail=MappingProxyType(text),
    )
