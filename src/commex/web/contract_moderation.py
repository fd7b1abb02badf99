"""The operator's moderation on a contract's page (O2): cancel the contract, hide a rating and
refund a charge (fully or in part), each with a reason. The commands are the API's, so the
services refuse anyone but the operator (the 403 page; nothing changes)."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Form, Request, Response
from fastapi.responses import RedirectResponse

from commex.domain.errors import CommexError, Forbidden, NotFound, Unauthenticated, status_of
from commex.services import trust_messages as m
from commex.services.results import WebSession
from commex.web.contracts import page
from commex.web.render import PageRoute
from commex.web.session import Checked, services_of

router = APIRouter(route_class=PageRoute)
Reason = Annotated[str, Form(max_length=600)]  # the services' own limit is smaller, and says so
Amount = Annotated[str, Form(max_length=40)]
Box = Annotated[str, Form(max_length=10)]


@router.post("/contracts/{contract_id}/cancel")
def cancel_contract(
    request: Request, contract_id: str, session: Checked, reason: Reason = "", reaward: Box = ""
) -> Response:
    """Cancel the contract; with ``reaward`` its block goes to the next qualifying bid."""
    cmd = m.CancelContract(contract_id, session.account.id, reason, reaward == "yes")
    values = {"reason": reason, "reaward": reaward}
    return _act(request, session, contract_id, cmd, "cancelled", values, "cancel")


@router.post("/contracts/{contract_id}/ratings/{rating_id}/hide")
def hide_rating(
    request: Request, contract_id: str, rating_id: str, session: Checked, reason: Reason = ""
) -> Response:
    cmd = m.HideRating(rating_id, session.account.id, reason)
    return _act(request, session, contract_id, cmd, "hidden", {"reason": reason}, "hide")


@router.post("/contracts/{contract_id}/charges/{charge_id}/refunds")
def refund_charge(
    request: Request,
    contract_id: str,
    charge_id: str,
    session: Checked,
    amount: Amount = "",
    reason: Reason = "",
) -> Response:
    """Refund the charge, in full or in part, through the gateway that took it."""
    cmd = m.RefundCharge(charge_id, session.account.id, amount.strip(), reason)
    values = {"amount": amount, "reason": reason}
    return _act(request, session, contract_id, cmd, "refunded", values, "refund")


def _act(
    request: Request,
    session: WebSession,
    contract_id: str,
    command: Any,
    done: str,
    values: dict[str, str],
    form: str,
) -> Response:
    """Run the operator's command; back to the contract with a notice, or its page with the
    refusal beside the form (``form``: cancel, hide or refund) and what was typed. Anyone but
    the operator, or a thing that does not exist, gets the error page."""
    try:
        services_of(request).bus.handle(command)
    except (Unauthenticated, Forbidden, NotFound):
        raise
    except CommexError as exc:
        extra = {f"{form}_problem": exc.message, f"{form}_values": values}
        return page(request, contract_id, session.account, extra, status_of(exc)[0])
    where = {"cancel": "#moderation", "hide": "#ratings", "refund": "#charges"}[form]
    location = f"/contracts/{quote(contract_id, safe='')}?done={done}{where}"
    return RedirectResponse(location, status_code=303)
