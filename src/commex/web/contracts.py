"""The viewer's contracts, and one contract's page for its parties: who is on it, its members,
the ratings given so far, and the forms to add a member and to rate the other side."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request, Response
from fastapi.responses import RedirectResponse

from commex.domain.accounts import Account, Role
from commex.domain.errors import (
    CommexError,
    Forbidden,
    InvalidInput,
    NotFound,
    Unauthenticated,
    status_of,
)
from commex.domain.members import Device, Member, MemberKind
from commex.domain.paging import Key
from commex.domain.ratings import Rater, Rating
from commex.domain.usage import MemberUsage
from commex.presentation import seconds_text
from commex.services import commands as c
from commex.services import queries as q
from commex.services import subcontract_messages as sm
from commex.services.directory import RecipientNamed
from commex.services.results import ContractView
from commex.web import paging
from commex.web.chart_pages import contract_charts
from commex.web.forms import input_of, member_choice, member_command, rating_command
from commex.web.groups import charges_context
from commex.web.render import PageRoute, render
from commex.web.session import Checked, LoggedIn, services_of

router = APIRouter(route_class=PageRoute)
Choice = Annotated[str, Form(max_length=40)]
Ref = Annotated[str, Form(max_length=100)]
Comment = Annotated[str, Form(max_length=4000)]  # the services' own limit is smaller, and says so
SUBCONTRACTS = "contract_subcontracts"  # the list a subcontracts cursor belongs to
_NOTICES = {
    "rated": "Thank you: your rating is in.",
    "member": "The member is added.",
    "removed": "The member is removed; its usage so far stays on record.",
    "cancelled": "The contract is cancelled.",
    "hidden": "The rating is hidden: it no longer counts, and stays on record.",
    "refunded": "The refund is made, and paid back out of the provider's payouts.",
}


@dataclass(frozen=True, slots=True)
class MemberLine:
    """A member of a contract, named for people: a device's name, an account's name, a number."""

    member: Member
    label: str


@dataclass(frozen=True, slots=True)
class UsageLine:
    """A member and its share of the block."""

    member: MemberLine
    usage: MemberUsage


@dataclass(frozen=True, slots=True)
class RatingLine:
    """A rating, with the names of who rated whom (and the device it came from, if any)."""

    rating: Rating
    rater: str
    rated: str
    device: str | None


@router.get("/contracts")
def contracts_page(request: Request, session: LoggedIn) -> Response:
    lines = services_of(request).bus.handle(q.MyContractLines(session.account.id))
    return render(request, "contracts.html", {"lines": lines})


@router.get("/contracts/{contract_id}")
def contract_page(request: Request, contract_id: str, session: LoggedIn) -> Response:
    notice = _NOTICES.get(request.query_params.get("done", ""), "")
    return page(request, contract_id, session.account, {"notice": notice})


@router.get("/contracts/{contract_id}/subcontracts")
def subcontracts_page(
    request: Request,
    contract_id: str,
    session: LoggedIn,
    cursor: Annotated[str | None, Query(max_length=600)] = None,
) -> Response:
    """The contract's subcontracts a page at a time, for those past the contract page's first
    page; to whoever may see the contract, with prices as on the contract page."""
    caller = c.Caller(session.account.id)
    found = services_of(request).bus.handle(
        sm.ParentSubcontracts(contract_id, caller, after=paging.key(SUBCONTRACTS, cursor))
    )
    context = {
        "contract_id": contract_id,
        "subcontract": None,
        "subcontracts": found.items,
        "subcontracts_more": _more_subcontracts(contract_id, found.next_key),
    }
    return render(request, "contract_subcontracts.html", context)


def _more_subcontracts(contract_id: str, next_key: Key | None) -> str:
    return paging.link(f"/contracts/{contract_id}/subcontracts", {}, SUBCONTRACTS, next_key)


@router.post("/contracts/{contract_id}/ratings")
def rate_contract(
    request: Request,
    contract_id: str,
    session: Checked,
    satisfied: Choice = "",
    score: Choice = "",
    comment: Comment = "",
) -> Response:
    """Rate the other side; the services decide whether this rating may be given."""
    bus = services_of(request).bus
    me = session.account.id
    contract = bus.handle(q.PartyContract(contract_id, me))  # parties only, else 404
    try:
        bus.handle(rating_command(contract.id, me, satisfied, score, comment))
    except Unauthenticated:
        raise
    except CommexError as exc:
        values = {"satisfied": satisfied, "score": score, "comment": comment}
        return refused(request, contract.id, session.account, "rate", exc, values)
    return RedirectResponse(f"/contracts/{contract.id}?done=rated#ratings", status_code=303)


@router.post("/contracts/{contract_id}/members")
def add_member(
    request: Request,
    contract_id: str,
    session: Checked,
    device_id: Ref = "",
    phone_number: Ref = "",
    account_id: Ref = "",
    account_name: Ref = "",
) -> Response:
    """Share the contract with a device, a telephone number or another recipient account (by
    its name, or its id)."""
    bus = services_of(request).bus
    me = session.account.id
    contract = bus.handle(q.PartyContract(contract_id, me))  # parties only, else 404
    values = {
        "device_id": device_id,
        "phone_number": phone_number,
        "account_id": account_id,
        "account_name": account_name,
    }
    chosen = member_choice(values)
    try:
        if account_name.strip() and not account_id.strip():
            named = bus.handle(RecipientNamed(account_name))
            chosen = member_choice(values | {"account_id": named.id, "account_name": ""})
        bus.handle(member_command(contract.id, me, chosen))
    except Unauthenticated:
        raise
    except CommexError as exc:
        given = [name for name, value in chosen.items() if value is not None]
        about_input = len(given) == 1 and not isinstance(exc, Forbidden)  # not who may add
        field = given[0] if about_input else ""
        return refused(request, contract.id, session.account, "member", exc, values, field)
    return RedirectResponse(f"/contracts/{contract.id}?done=member#members", status_code=303)


@router.post("/contracts/{contract_id}/members/{member_id}/remove")
def remove_member(request: Request, contract_id: str, member_id: str, session: Checked) -> Response:
    """The recipient takes a member off the contract."""
    try:
        services_of(request).bus.handle(c.RemoveMember(contract_id, session.account.id, member_id))
    except (Unauthenticated, NotFound):
        raise
    except CommexError as exc:
        return refused(request, contract_id, session.account, "member", exc, {})
    return RedirectResponse(f"/contracts/{contract_id}?done=removed#members", status_code=303)


@router.post("/contracts/{contract_id}/usage")
def report_usage(
    request: Request,
    contract_id: str,
    session: Checked,
    member_id: Ref = "",
    seconds: Ref = "",
) -> Response:
    """Report seconds a member used (the recipient for any member, a member for itself)."""
    values = {"member_id": member_id, "seconds": seconds}
    try:
        if not member_id:
            raise InvalidInput("choose the member who used the service", "member_id")
        caller = c.Caller(session.account.id)
        cmd = c.ReportUsage(contract_id, caller, member_id, seconds.strip() or None)
        report = services_of(request).bus.handle(cmd)
    except (Unauthenticated, NotFound):
        raise
    except CommexError as exc:
        return refused(request, contract_id, session.account, "usage", exc, values)
    m = report.metered
    notice = f"Accepted {seconds_text(m.accepted_ms)} s; {seconds_text(m.remaining_ms)} s remain."
    if m.cut:
        notice += f" Not all was accepted: {m.cut}."
    return page(request, contract_id, session.account, {"notice": notice, "usage_notice": True})


@router.get("/contracts/{contract_id}/usage")
def usage_fragment(request: Request, contract_id: str, session: LoggedIn) -> Response:
    """The usage section alone, which the page refreshes while it is open."""
    view = services_of(request).bus.handle(
        q.ShowContract(contract_id, c.Caller(session.account.id))
    )
    context = {"c": view.contract, "usage": view.usage, "shares": _shares(view), "fragment": True}
    return render(request, "_usage.html", context)


def refused(
    request: Request,
    contract_id: str,
    viewer: Account,
    form: str,
    exc: CommexError,
    values: Mapping[str, str],
    field: str = "",
) -> Response:
    """The page again with a form's refusal: next to the input it names (or ``field``), else
    above the form, and what was typed filled back in."""
    field = input_of(exc.field) or field
    extra = {
        f"{form}_errors": {field: exc.message} if field else {},
        f"{form}_problem": "" if field else exc.message,
        f"{form}_values": values,
    }
    return page(request, contract_id, viewer, extra, status_of(exc)[0])


def page(
    request: Request,
    contract_id: str,
    viewer: Account,
    extra: Mapping[str, Any],
    status: int = 200,
) -> Response:
    """The contract page: its parties with their reputations, members and their usage, the
    packet plane's deliveries, ratings and forms. Parties, the operator and member accounts see
    it; anyone else gets 404."""
    me = viewer.id
    services = services_of(request)
    view = services.bus.handle(q.ShowContract(contract_id, c.Caller(me)))
    contract = view.contract
    device_names = {d.id: d.name for d in view.devices}
    given = [_rating_line(r, view.names, device_names) for r in view.ratings]
    my_role = {contract.provider_id: Role.PROVIDER, contract.recipient_id: Role.RECIPIENT}.get(me)
    shares = _shares(view)
    context: dict[str, Any] = {
        "c": contract,
        "provider": view.provider,
        "recipient": view.recipient,
        "my_role": my_role,
        "members": [line.member for line in shares if line.member.member.removed_at is None],
        "usage": view.usage,
        "shares": shares,
        "ratings": given,
        "mine": next((g for g in given if g.rating.rater_key == Rater(viewer).key), None),
        "devices": _own(view.devices, me),
        "notice": "",
        "rate_errors": {},
        "rate_problem": "",
        "rate_values": {},
        "member_errors": {},
        "member_problem": "",
        "member_values": {},
        "usage_errors": {},
        "usage_problem": "",
        "usage_values": {},
        "cancel_problem": "",  # the operator's forms (commex.web.contract_moderation)
        "cancel_values": {},
        "hide_problem": "",
        "refund_problem": "",
        "refund_values": {},
        "subcontract": view.subcontract,
        "subcontracts": view.subcontracts,
        "subcontracts_more": _more_subcontracts(contract.id, view.subcontracts_next),
    }
    context.update(charges_context(services.bus, contract.id, viewer))
    names = {line.member.member.id: line.member.label for line in shares}
    context.update(contract_charts(services.bus, contract.id, viewer.id, names))
    context.update(extra)
    return render(request, "contract.html", context, status)


def _shares(view: ContractView) -> list[UsageLine]:
    """Each member (removed ones too) with its share of the block, named for people."""
    device_names = {d.id: d.name for d in view.devices}
    return [
        UsageLine(_member_line(s.member, view.names, device_names), s.usage)
        for s in view.usage.members
    ]


def _own(devices: tuple[Device, ...], me: str) -> list[Device]:
    return [d for d in devices if d.recipient_id == me]


def _member_line(m: Member, names: Mapping[str, str], devices: Mapping[str, str]) -> MemberLine:
    if m.kind is MemberKind.DEVICE:
        return MemberLine(m, devices.get(m.ref, m.ref))
    if m.kind is MemberKind.ACCOUNT:
        return MemberLine(m, names.get(m.ref, m.ref))
    return MemberLine(m, m.ref)


def _rating_line(r: Rating, names: Mapping[str, str], devices: Mapping[str, str]) -> RatingLine:
    device = None if r.device_id is None else devices.get(r.device_id, r.device_id)
    return RatingLine(
        r, names.get(r.rater_account_id, r.rater_account_id), names.get(r.rated_id, ""), device
    )
