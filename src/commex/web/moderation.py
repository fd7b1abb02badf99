"""The operator's pages (O2): find accounts, auctions and contracts; suspend and reinstate an
account, issue a one-time password-reset link, close or cancel an auction, each with a reason.
On a contract's page the operator also cancels the contract, hides a rating and refunds a
charge (:mod:`commex.web.contract_moderation`).

Every action is the same command the API sends, so the services decide who may act: anyone
but the operator gets the 403 page and nothing changes. Forms carry the session's CSRF token.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Form, Request, Response
from fastapi.responses import RedirectResponse

from commex.domain.accounts import Account
from commex.domain.errors import CommexError, Forbidden, NotFound, Unauthenticated, status_of
from commex.services import commands as c
from commex.services import queries as q
from commex.services import trust_messages as m
from commex.web.render import PageRoute, render
from commex.web.session import Checked, LoggedIn, services_of

router = APIRouter(route_class=PageRoute)
Reason = Annotated[str, Form(max_length=600)]  # the services' own limit is smaller, and says so
Search = Annotated[str, Form(max_length=80)]
_NOTICES = {
    "suspended": "The account is suspended; its open bids are withdrawn.",
    "reinstated": "The account is reinstated.",
    "closed": "The auction is closed.",
    "cancelled": "The auction is cancelled.",
}


def require_operator(account: Account) -> None:
    """Refuse the operator's pages to anyone else, as the services refuse their commands."""
    if not account.is_operator:
        raise Forbidden("only the operator may moderate")


@router.get("/operator")
def operator_page(request: Request, session: LoggedIn, q: str = "") -> Response:
    require_operator(session.account)
    notice = _NOTICES.get(request.query_params.get("done", ""), "")
    return _page(request, session.account, q[:80], {"notice": notice})


@router.post("/operator/accounts/{account_id}/suspend")
def suspend(
    request: Request, account_id: str, session: Checked, reason: Reason = "", q: Search = ""
) -> Response:
    cmd = m.SuspendAccount(account_id, session.account.id, reason)
    return _act(request, session.account, q, "suspended", cmd)


@router.post("/operator/accounts/{account_id}/reinstate")
def reinstate(
    request: Request, account_id: str, session: Checked, reason: Reason = "", q: Search = ""
) -> Response:
    cmd = m.ReinstateAccount(account_id, session.account.id, reason)
    return _act(request, session.account, q, "reinstated", cmd)


@router.post("/operator/accounts/{account_id}/password-reset")
def password_reset(request: Request, account_id: str, session: Checked, q: Search = "") -> Response:
    """Issue a one-time reset link, shown on this page this once (there is no mail server)."""
    services = services_of(request)
    try:
        link = services.bus.handle(m.IssuePasswordReset(account_id, session.account.id))
    except (Unauthenticated, Forbidden, NotFound):
        raise
    except CommexError as exc:
        return _page(request, session.account, q, {"problem": exc.message}, status_of(exc)[0])
    base = (services.settings.public_url or str(request.base_url)).rstrip("/")
    shown = {"url": f"{base}/reset-password/{link.token}", "for": link.account, "until": link}
    response = _page(request, session.account, q, {"reset": shown}, 201)
    # The link is a secret: no other site sees it in a Referer. (Not "no-referrer": with it
    # the browser posts the form with "Origin: null", which the login-CSRF check refuses.)
    response.headers["Referrer-Policy"] = "same-origin"
    return response


@router.post("/operator/auctions/{auction_id}/close")
def close_auction(
    request: Request, auction_id: str, session: Checked, reason: Reason = "", q: Search = ""
) -> Response:
    cmd = c.CloseAuction(auction_id, session.account.id, reason)
    return _act(request, session.account, q, "closed", cmd)


@router.post("/operator/auctions/{auction_id}/cancel")
def cancel_auction(
    request: Request, auction_id: str, session: Checked, reason: Reason = "", q: Search = ""
) -> Response:
    cmd = c.CancelAuction(auction_id, session.account.id, reason)
    return _act(request, session.account, q, "cancelled", cmd)


def _act(request: Request, me: Account, text: str, done: str, command: Any) -> Response:
    """Handle a moderation command; back to the search with a notice, or the page with the
    refusal. A caller who may not act, or a thing that does not exist, gets the error page."""
    try:
        require_operator(me)
        services_of(request).bus.handle(command)
    except (Unauthenticated, Forbidden, NotFound):
        raise
    except CommexError as exc:
        return _page(request, me, text, {"problem": exc.message}, status_of(exc)[0])
    return RedirectResponse(f"/operator?q={quote(text)}&done={done}", status_code=303)


def _page(
    request: Request, me: Account, text: str, extra: dict[str, Any], status: int = 200
) -> Response:
    bus = services_of(request).bus
    text = " ".join(text.split())
    context: dict[str, Any] = {
        "q": text,
        "accounts": bus.handle(m.FindAccounts(text, me.id)) if text else [],
        "auctions": bus.handle(m.FindAuctions(text, me.id)) if text else [],
        "contract": _contract(request, text, me),
        "notice": "",
        "problem": "",
        "reset": None,
    }
    context.update(extra)
    return render(request, "operator.html", context, status)


def _contract(request: Request, text: str, me: Account) -> str | None:
    """The id of the contract whose id is ``text``, if there is one."""
    if not text or " " in text:
        return None
    try:
        return services_of(request).bus.handle(q.PartyContract(text, me.id)).id
    except CommexError:
        return None
