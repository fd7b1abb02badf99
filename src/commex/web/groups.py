"""Group pages (G1-G3): your groups and a form to form one; a group's page with its members,
pledges, sponsorship, the split rule in words, each payer's share and charge, and the forms to
invite, answer, sponsor and open the group's auction. Also the charges section of a contract's
page (:func:`charges_context`, for ``_charges.html``)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request, Response
from fastapi.responses import RedirectResponse

from commex.bootstrap import Services
from commex.domain.accounts import Account, Role
from commex.domain.errors import CommexError, InvalidInput, Unauthenticated, status_of
from commex.services.views import party
from commex.web.forms import UNITS
from commex.web.render import PageRoute, render
from commex.web.session import Checked, LoggedIn, services_of

router = APIRouter(route_class=PageRoute)
Text = Annotated[str, Form(max_length=200)]
Ids = Annotated[list[str], Form(max_length=60)]
_NOTICES = {
    "created": "The group is formed.",
    "invited": "The invitation is sent.",
    "answered": "Your membership is updated.",
    "sponsored": "Your sponsorships are saved.",
    "auction": "The group's auction is open.",
}


@router.get("/groups")
def groups_page(request: Request, session: LoggedIn) -> Response:
    return _list(request, session.account, {})


@router.post("/groups")
def create_group(
    request: Request,
    session: Checked,
    name: Text = "",
    currency: Text = "EUR",
    split_rule: Text = "proportional",
    pledge: Text = "",
) -> Response:
    """Form a group; its creator pays when it pledges."""
    groups = services_of(request).groups
    try:
        view = groups.create(
            session.account.id, name, currency.strip().upper(), split_rule, pledge.strip() or None
        )
    except Unauthenticated:
        raise
    except CommexError as exc:
        values = {"name": name, "currency": currency, "split_rule": split_rule, "pledge": pledge}
        extra = {"problem": exc.message, "values": values}
        return _list(request, session.account, extra, status_of(exc)[0])
    return RedirectResponse(f"/groups/{view.group.id}?done=created", status_code=303)


@router.get("/groups/{group_id}")
def group_page(request: Request, group_id: str, session: LoggedIn) -> Response:
    notice = _NOTICES.get(request.query_params.get("done", ""), "")
    return _page(request, group_id, session.account, {"notice": notice})


@router.post("/groups/{group_id}/invitations")
def invite(request: Request, group_id: str, session: Checked, account_id: Text = "") -> Response:
    def act(s: Services) -> None:
        s.groups.invite(group_id, session.account.id, account_id.strip())

    return _act(request, group_id, session.account, "invite", act, "invited")


@router.post("/groups/{group_id}/membership")
def answer(
    request: Request, group_id: str, session: Checked, answer: Text = "", pledge: Text = ""
) -> Response:
    def act(s: Services) -> None:
        given = pledge.strip() if answer == "payer" else ""
        s.groups.answer(group_id, session.account.id, answer, given or None)

    if answer in ("leave", "decline"):
        services_of(request).groups.answer(group_id, session.account.id, answer, None)
        return RedirectResponse("/groups", status_code=303)
    return _act(request, group_id, session.account, "membership", act, "answered")


@router.post("/groups/{group_id}/sponsorships")
def sponsor(request: Request, group_id: str, session: Checked, sponsored: Ids = []) -> Response:  # noqa: B006
    def act(s: Services) -> None:
        s.groups.sponsor(group_id, session.account.id, sponsored)

    return _act(request, group_id, session.account, "sponsor", act, "sponsored")


@router.post("/groups/{group_id}/auctions")
def open_auction(
    request: Request,
    group_id: str,
    session: Checked,
    title: Text = "",
    service: Text = "voice",
    duration: Text = "",
    duration_unit: Text = "minutes",
    closes_in: Text = "1",
    closes_in_unit: Text = "hours",
    fmt: Annotated[str, Form(alias="format", max_length=20)] = "first-price",
    ceiling: Text = "",
) -> Response:
    """Open the group's reverse auction (the creator); the ceiling defaults to the pledges."""
    services = services_of(request)

    def act(s: Services) -> None:
        request_body: dict[str, Any] = {
            "format": fmt,
            "title": title,
            "terms": {
                "service": service,
                "duration_s": _whole(duration, "duration") * _unit(duration_unit),
            },
            "closes_at": services.exchange.clock.now()
            + timedelta(seconds=_whole(closes_in, "closes_in") * _unit(closes_in_unit)),
        }
        if ceiling.strip():
            request_body["reserve"] = ceiling.strip()
        s.groups.open_auction(group_id, session.account.id, request_body)

    return _act(request, group_id, session.account, "auction", act, "auction")


def charges_context(services: Services, contract_id: str, viewer: Account) -> dict[str, Any]:
    """What ``_charges.html`` shows on a contract's page: each payer's charge and its status,
    the provider's payouts, and (for a group's contract) every member, paying or sponsored and
    by whom. The contract page includes it as ``{% include "_charges.html" %}``."""
    found = services.billing.for_contract(contract_id, viewer.id)  # parties and members only
    group = None if found.group_id is None else services.groups.provided_to(found.group_id)
    names = {c.payer_id for c in found.charges}
    payers = {i: services.exchange.party(i, Role.RECIPIENT) for i in names}
    return {
        "charges": found.charges,
        "payouts": found.payouts,
        "payers": payers,
        "group_name": None if group is None else group[0].name,
        "provided_to": () if group is None else group[1],
    }


def _act(
    request: Request,
    group_id: str,
    viewer: Account,
    form: str,
    act: Any,
    done: str,
) -> Response:
    try:
        act(services_of(request))
    except Unauthenticated:
        raise
    except CommexError as exc:
        extra = {"problems": {form: exc.message}}
        return _page(request, group_id, viewer, extra, status_of(exc)[0])
    return RedirectResponse(f"/groups/{group_id}?done={done}", status_code=303)


def _page(
    request: Request, group_id: str, viewer: Account, extra: Mapping[str, Any], status: int = 200
) -> Response:
    services = services_of(request)
    view = services.groups.view(group_id, viewer.id)  # members only, else 404
    context: dict[str, Any] = {
        "g": view,
        "mine": next(m for m in view.members if m.member.account_id == viewer.id),
        "is_creator": view.group.creator_id == viewer.id,
        "sponsorable": [m for m in view.members if m.member.state.value == "non-payer"],
        "units": list(UNITS),
        "notice": "",
        "problems": {},
    }
    context.update(extra)
    return render(request, "groups_page.html", context, status)


def _list(
    request: Request, viewer: Account, extra: Mapping[str, Any], status: int = 200
) -> Response:
    services = services_of(request)
    context: dict[str, Any] = {
        "groups": services.groups.mine(viewer.id),
        "me": party(
            viewer,
            viewer.id,
            Role.RECIPIENT,
            services.exchange.reputation(viewer.id, Role.RECIPIENT),
        ),
        "problem": "",
        "values": {"currency": "EUR", "split_rule": "proportional"},
    }
    context.update(extra)
    return render(request, "groups.html", context, status)


def _whole(text: str, field: str) -> int:
    raw = text.strip().replace(",", "")
    if not raw.isdigit() or len(raw) > 9 or int(raw) <= 0:
        raise InvalidInput(f"{field} must be a whole number more than zero", field)
    return int(raw)


def _unit(name: str) -> int:
    return UNITS.get(name, 60)
