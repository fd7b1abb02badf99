"""A recipient's payment cards on the web (B1): the list, adding one, removing one, choosing
the default.

The card number and CVC are passed to the services and never put back into a page, not even
when the form comes back with an error; only the expiry is kept for the person to correct.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request, Response
from fastapi.responses import RedirectResponse

from commex.domain.accounts import Account, Role
from commex.domain.errors import CommexError, Unauthenticated, status_of
from commex.services import commands as c
from commex.services import queries as q
from commex.web.render import PageRoute, render
from commex.web.session import Checked, LoggedIn, services_of

router = APIRouter(route_class=PageRoute)
Field = Annotated[str, Form(max_length=100)]

# An error's field (as the card rules name it) -> the form input it belongs next to.
_INPUTS = {
    "card.number": "number",
    "card.exp_month": "exp_month",
    "card.exp_year": "exp_year",
    "card.cvc": "cvc",
}
_NOTICES = {"removed": "The card was removed.", "default": "That card is now your default."}


@router.get("/account/cards")
def cards_page(request: Request, session: LoggedIn) -> Response:
    notice = _NOTICES.get(request.query_params.get("done", ""), "")
    return _page(request, session.account, notice=notice)


@router.post("/account/cards")
def add_card(
    request: Request,
    session: Checked,
    number: Field = "",
    exp_month: Field = "",
    exp_year: Field = "",
    cvc: Field = "",
) -> Response:
    """Save a card through the payment gateway; the services check every field."""
    kept = {"exp_month": exp_month.strip()[:2], "exp_year": exp_year.strip()[:4]}
    try:
        cmd = c.AddCard(
            session.account.id,
            number,
            exp_month.strip(),
            exp_year.strip(),
            cvc.strip(),
            request.client.host if request.client else None,
        )
        saved = services_of(request).bus.handle(cmd)
    except Unauthenticated:
        raise
    except CommexError as exc:
        field = _INPUTS.get(exc.field or "", "")
        errors = {field: exc.message} if field else {}
        problem = "" if field else exc.message
        return _page(request, session.account, kept, errors, problem, status_of(exc)[0])
    notice = f"Saved the {saved.label()}."
    return _page(request, session.account, notice=notice, status=201)


@router.post("/account/cards/{method_id}/default")
def make_default(request: Request, method_id: str, session: Checked) -> Response:
    services_of(request).bus.handle(c.MakeDefaultCard(session.account.id, method_id))
    return RedirectResponse("/account/cards?done=default", status_code=303)


@router.post("/account/cards/{method_id}/remove")
def remove_card(request: Request, method_id: str, session: Checked) -> Response:
    services_of(request).bus.handle(c.RemoveCard(session.account.id, method_id))
    return RedirectResponse("/account/cards?done=removed", status_code=303)


def _page(
    request: Request,
    account: Account,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    problem: str = "",
    status: int = 200,
    notice: str = "",
) -> Response:
    payer = account.has(Role.RECIPIENT)
    context: dict[str, object] = {
        "payer": payer,
        "cards": services_of(request).bus.handle(q.ListCards(account.id)) if payer else [],
        "values": values or {},
        "errors": errors or {},
        "problem": problem,
        "notice": notice,
        "gateway": services_of(request).gateway_name,
    }
    return render(request, "cards.html", context, status)
