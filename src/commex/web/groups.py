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

from commex.domain.accounts import Account, Role
from commex.domain.errors import CommexError, InvalidInput, Unauthenticated, status_of
from commex.services import commands as c
from commex.services import queries as q
from commex.services.bus import MessageBus
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
    cmd = c.CreateGroup(
        session.account.id, name, currency.strip().upper(), split_rule, pledge.strip() or None
    )
    try:
        view = services_of(request).bus.handle(cmd)
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
    cmd = c.InviteToGroup(group_id, session.account.id, account_id.strip())
    return _act(request, group_id, session.account, "invite", cmd, "invited")


@router.post("/groups/{group_id}/membership")
def answer(
    request: Request, group_id: str, session: Checked, answer: Text = "", pledge: Text = ""
) -> Response:
    if answer in ("leave", "decline"):
        services_of(request).bus.handle(c.AnswerGroup(group_id, session.account.id, answer))
        return RedirectResponse("/groups", status_code=303)
    given = pledge.strip() if answer == "payer" else ""
    cmd = c.AnswerGroup(group_id, session.account.id, answer, given or None)
    return _act(request, group_id, session.account, "membership", cmd, "answered")


@router.post("/groups/{group_id}/sponsorships")
def sponsor(request: Request, group_id: str, session: Checked, sponsored: Ids = []) -> Response:  # noqa: B006
    cmd = c.Sponsor(group_id, session.account.id, tuple(sponsored))
    return _act(request, group_id, session.account, "sponsor", cmd, "sponsored")


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
    try:
        terms = c.Terms(service, _whole(duration, "duration") * _unit(duration_unit))
        closes_at = services_of(request).clock.now() + timedelta(
            seconds=_whole(closes_in, "closes_in") * _unit(closes_in_unit)
        )
    except CommexError as exc:
        return _refusal(request, group_id, session.account, "auction", exc)
    cmd = c.OpenGroupAuction(
        group_id, session.account.id, fmt, title, terms, closes_at, reserve=ceiling.strip() or None
    )
    return _act(request, group_id, session.account, "auction", cmd, "auction")


def charges_context(bus: MessageBus, contract_id: str, viewer: Account) -> dict[str, Any]:
    """What ``_charges.html`` shows on a contract's page: each payer's charge and its status,
    the provider's payouts, and (for a group's contract) every member, paying or sponsored and
    by whom. The contract page includes it as ``{% include "_charges.html" %}``."""
    found = bus.handle(q.ShowContractCharges(contract_id, viewer.id))  # parties and members only
    return {
        "charges": found.charges,
        "payouts": found.payouts,
        "payers": found.payers,
        "group_name": None if found.group is None else found.group.name,
        "provided_to": found.provided_to,
    }


def _act(
    request: Request,
    group_id: str,
    viewer: Account,
    form: str,
    cmd: c.Command[Any],
    done: str,
) -> Response:
    try:
        services_of(request).bus.handle(cmd)
    except Unauthenticated:
        raise
    except CommexError as exc:
        return _refusal(request, group_id, viewer, form, exc)
    return RedirectResponse(f"/groups/{group_id}?done={done}", status_code=303)


def _refusal(
    request: Request, group_id: str, viewer: Account, form: str, exc: CommexError
) -> Response:
    if isinstance(exc, Unauthenticated):
        raise exc
    extra = {"problems": {form: exc.message}}
    return _page(request, group_id, viewer, extra, status_of(exc)[0])


def _page(
    request: Request, group_id: str, viewer: Account, extra: Mapping[str, Any], status: int = 200
) -> Response:
    view = services_of(request).bus.handle(q.ShowGroup(group_id, viewer.id))  # members only
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
    bus = services_of(request).bus
    context: dict[str, Any] = {
        "groups": bus.handle(q.MyGroups(viewer.id)),
        "me": bus.handle(q.ShowParty(viewer.id, Role.RECIPIENT)),
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
