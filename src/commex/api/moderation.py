"""Trust and safety over HTTP: the operator's moderation (find and suspend accounts, hide
ratings, refund charges) and each account's own security (rotate its token, deregister a
device, end its sessions). Every moderation call carries a reason."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from pydantic import StringConstraints

from commex.api.deps import BusDep, CallerDep, ServicesDep
from commex.api.schemas import Amount, _Body
from commex.api.wire import contracts as contracts_wire
from commex.domain.accounts import Account
from commex.domain.charges import Refund
from commex.domain.ratings import Rating
from commex.services import commands as c
from commex.services import trust_messages as m

router = APIRouter(prefix="/v1")

RequiredReason = Annotated[str, StringConstraints(min_length=1, max_length=500)]


class ModerationIn(_Body):
    reason: RequiredReason


class CancelContractIn(_Body):
    reason: RequiredReason
    reaward: bool = False


class PasswordChangeIn(_Body):
    current_password: Annotated[str, StringConstraints(max_length=256)]
    new_password: Annotated[str, StringConstraints(max_length=256)]


class RefundIn(_Body):
    amount: Amount
    reason: RequiredReason


def account_line(a: Account) -> dict[str, Any]:
    """An account as the operator sees it: with its standing."""
    return {
        "id": a.id,
        "name": a.name,
        "roles": sorted(a.roles),
        "created_at": a.created_at.isoformat(),
        "owner_id": a.owner,
        "suspended": a.suspended,
        "suspended_at": None if a.suspended_at is None else a.suspended_at.isoformat(),
        "suspension_reason": a.suspension_reason,
    }


def rating_line(r: Rating) -> dict[str, Any]:
    return {
        "id": r.id,
        "contract_id": r.contract_id,
        "rated_id": r.rated_id,
        "rated_role": r.rated_role.value,
        "satisfied": r.satisfied,
        "score": r.score,
        "weight": round(r.weight, 6),
        "hidden": r.hidden_at is not None,
        "hidden_at": None if r.hidden_at is None else r.hidden_at.isoformat(),
        "hidden_reason": r.hidden_reason,
    }


def refund_line(r: Refund) -> dict[str, Any]:
    return {
        "id": r.id,
        "charge_id": r.charge_id,
        "provider_id": r.provider_id,
        "amount": str(r.amount),
        "currency": r.amount.currency,
        "payout": f"-{r.amount}",
        "reason": r.reason,
        "gateway_refund_id": r.gateway_refund_id,
        "created_at": r.created_at.isoformat(),
    }


# -- the operator's moderation -------------------------------------------------------------------


@router.get("/accounts", tags=["moderation"])
def find_accounts(
    who: CallerDep,
    bus: BusDep,
    q: Annotated[str, Query(min_length=1, max_length=80, description="an id or part of a name")],
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> dict[str, Any]:
    """The operator finds accounts by id or by part of the name, newest first."""
    found = bus.handle(m.FindAccounts(q, who.id, limit))
    return {"items": [account_line(a) for a in found]}


@router.post("/accounts/{account_id}/suspension", tags=["moderation"])
def suspend(account_id: str, body: ModerationIn, who: CallerDep, bus: BusDep) -> dict[str, Any]:
    """The operator suspends an account: its calls answer 403 ``account_suspended``, it
    cannot log in, and its open bids are withdrawn."""
    return account_line(bus.handle(m.SuspendAccount(account_id, who.id, body.reason)))


@router.delete("/accounts/{account_id}/suspension", tags=["moderation"])
def reinstate(
    account_id: str,
    who: CallerDep,
    bus: BusDep,
    body: ModerationIn | None = None,
    reason: Annotated[str | None, Query(max_length=500)] = None,
) -> dict[str, Any]:
    """The operator reinstates a suspended account, with a reason (in the body, or as
    ``?reason=``)."""
    text = body.reason if body is not None else (reason or "")
    return account_line(bus.handle(m.ReinstateAccount(account_id, who.id, text)))


@router.post("/ratings/{rating_id}/hide", tags=["moderation"])
def hide_rating(rating_id: str, body: ModerationIn, who: CallerDep, bus: BusDep) -> dict[str, Any]:
    """The operator hides a rating: it leaves the rated account's reputation and stays on
    record; the rater and the rated are told."""
    return rating_line(bus.handle(m.HideRating(rating_id, who.id, body.reason)))


@router.post("/charges/{charge_id}/refunds", status_code=201, tags=["moderation"])
def refund(charge_id: str, body: RefundIn, who: CallerDep, bus: BusDep) -> dict[str, Any]:
    """The operator refunds a paid charge, fully or in part, through the payment gateway: a
    negative payout of the provider."""
    return refund_line(bus.handle(m.RefundCharge(charge_id, who.id, body.amount, body.reason)))


@router.post("/contracts/{contract_id}/cancel", tags=["moderation"])
def cancel_contract(
    contract_id: str, body: CancelContractIn, who: CallerDep, bus: BusDep
) -> dict[str, Any]:
    """The operator cancels a contract in force, with a reason: its provider's capacity is
    free again and its pending charges are cancelled (money paid stays paid until refunded).
    With ``reaward`` the block goes to the next qualifying bid of a sealed forward auction;
    otherwise, or with none qualifying, it is reported unsold."""
    done = bus.handle(m.CancelContract(contract_id, who.id, body.reason, body.reaward))
    return {
        "contract": contracts_wire.contract(done.contract),
        "reawarded": None if done.reawarded is None else contracts_wire.contract(done.reawarded),
        "paid_charges": list(done.paid_charges),
    }


@router.post("/accounts/{account_id}/password-reset", status_code=201, tags=["moderation"])
def issue_password_reset(
    account_id: str, request: Request, who: CallerDep, services: ServicesDep
) -> dict[str, Any]:
    """The operator issues a one-time password-reset link for an account that lost its
    password (there is no mail server: hand it over). It is shown this once, works once, for
    24 hours, and replaces any earlier link of the account."""
    link = services.bus.handle(m.IssuePasswordReset(account_id, who.id))
    base = services.settings.public_url or str(request.base_url)
    return {
        "account_id": link.account.id,
        "url": f"{base.rstrip('/')}/reset-password/{link.token}",
        "expires_at": link.expires_at.isoformat(),
    }


# -- each account's own security -----------------------------------------------------------------


@router.post("/accounts/me/password", tags=["accounts"])
def change_password(
    body: PasswordChangeIn, request: Request, who: CallerDep, bus: BusDep
) -> dict[str, Any]:
    """Change the caller's password, given the current one; every web session of the account
    ends. A wrong current password counts against the login throttle."""
    client = request.client.host if request.client else None
    cmd = m.ChangePassword(who.id, body.current_password, body.new_password, None, client)
    return {"id": who.id, "sessions_ended": bus.handle(cmd)}


@router.post("/accounts/me/token", tags=["accounts"])
def rotate_token(who: CallerDep, bus: BusDep) -> dict[str, Any]:
    """A new API token for the caller, shown this once; the old one stops working at once."""
    return {"id": who.id, "token": bus.handle(c.RotateToken(who.id))}


@router.delete("/accounts/me/sessions", tags=["accounts"])
def end_sessions(who: CallerDep, bus: BusDep) -> dict[str, Any]:
    """Log out everywhere: every web session of the caller ends."""
    return {"ended": bus.handle(m.EndSessions(who.id, who.id))}


@router.delete("/devices/{device_id}", tags=["devices"])
def revoke_device(device_id: str, who: CallerDep, bus: BusDep) -> dict[str, Any]:
    """Deregister one of the caller's devices (a lost phone): its token stops working at
    once; its ratings and usage stay on record."""
    d = bus.handle(m.RevokeDevice(device_id, who.id))
    return {"id": d.id, "name": d.name, "user": d.user, "revoked": True}
