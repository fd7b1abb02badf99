"""The viewer's contracts, and one contract's page for its parties: who is on it, its members,
the ratings given so far, and the forms to add a member and to rate the other side."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request, Response
from fastapi.responses import RedirectResponse

from commex.domain.accounts import Account, Role
from commex.domain.contracts import Contract
from commex.domain.errors import (
    CommexError,
    Forbidden,
    InvalidInput,
    NotFound,
    Unauthenticated,
    status_of,
)
from commex.domain.members import Device, Member, MemberKind
from commex.domain.ratings import Rater, Rating
from commex.domain.reputation import Reputation
from commex.domain.usage import MemberUsage
from commex.services.exchange import Exchange
from commex.services.usage import Caller, UsageView
from commex.services.views import Party, party, seconds_text
from commex.web.forms import input_of, member_choice, rating_answer
from commex.web.groups import charges_context
from commex.web.render import PageRoute, render
from commex.web.session import Checked, LoggedIn, services_of

router = APIRouter(route_class=PageRoute)
Choice = Annotated[str, Form(max_length=40)]
Ref = Annotated[str, Form(max_length=100)]
Comment = Annotated[str, Form(max_length=4000)]  # the services' own limit is smaller, and says so
_NOTICES = {
    "rated": "Thank you: your rating is in.",
    "member": "The member is added.",
    "removed": "The member is removed; its usage so far stays on record.",
}


@dataclass(frozen=True, slots=True)
class ContractLine:
    """A contract as one of its parties sees it: which side it is on, and who is across."""

    contract: Contract
    my_role: str  # provider, recipient, or member (sharing the recipient's block)
    counterparty_id: str
    counterparty_name: str
    counterparty_reputation: Reputation


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
    exchange = services_of(request).exchange
    me = session.account.id
    lines = [_line(exchange, c, me) for c in exchange.contracts_of(me)]
    return render(request, "contracts.html", {"lines": lines})


@router.get("/contracts/{contract_id}")
def contract_page(request: Request, contract_id: str, session: LoggedIn) -> Response:
    notice = _NOTICES.get(request.query_params.get("done", ""), "")
    return _page(request, contract_id, session.account, {"notice": notice})


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
    services = services_of(request)
    me = session.account.id
    contract = services.exchange.contract(contract_id, me)  # parties only, else 404
    try:
        services.ratings.rate(
            contract.id, account_id=me, **rating_answer(satisfied, score, comment)
        )
    except Unauthenticated:
        raise
    except CommexError as exc:
        values = {"satisfied": satisfied, "score": score, "comment": comment}
        return _refused(request, contract.id, session.account, "rate", exc, values)
    return RedirectResponse(f"/contracts/{contract.id}?done=rated#ratings", status_code=303)


@router.post("/contracts/{contract_id}/members")
def add_member(
    request: Request,
    contract_id: str,
    session: Checked,
    device_id: Ref = "",
    phone_number: Ref = "",
    account_id: Ref = "",
) -> Response:
    """Share the contract with a device, a telephone number or another recipient account."""
    services = services_of(request)
    me = session.account.id
    contract = services.exchange.contract(contract_id, me)  # parties only, else 404
    values = {"device_id": device_id, "phone_number": phone_number, "account_id": account_id}
    chosen = member_choice(values)
    try:
        services.ratings.add_member(contract.id, me, **chosen)
    except Unauthenticated:
        raise
    except CommexError as exc:
        given = [name for name, value in chosen.items() if value is not None]
        about_input = len(given) == 1 and not isinstance(exc, Forbidden)  # not who may add
        field = given[0] if about_input else ""
        return _refused(request, contract.id, session.account, "member", exc, values, field)
    return RedirectResponse(f"/contracts/{contract.id}?done=member#members", status_code=303)


@router.post("/contracts/{contract_id}/members/{member_id}/remove")
def remove_member(request: Request, contract_id: str, member_id: str, session: Checked) -> Response:
    """The recipient takes a member off the contract."""
    services = services_of(request)
    try:
        services.usage.remove_member(contract_id, session.account.id, member_id)
    except (Unauthenticated, NotFound):
        raise
    except CommexError as exc:
        return _refused(request, contract_id, session.account, "member", exc, {})
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
    services = services_of(request)
    values = {"member_id": member_id, "seconds": seconds}
    try:
        if not member_id:
            raise InvalidInput("choose the member who used the service", "member_id")
        report = services.usage.report(
            contract_id, Caller(session.account.id), member_id, seconds.strip() or None
        )
    except (Unauthenticated, NotFound):
        raise
    except CommexError as exc:
        return _refused(request, contract_id, session.account, "usage", exc, values)
    m = report.metered
    notice = f"Accepted {seconds_text(m.accepted_ms)} s; {seconds_text(m.remaining_ms)} s remain."
    if m.cut:
        notice += f" Not all was accepted: {m.cut}."
    return _page(request, contract_id, session.account, {"notice": notice, "usage_notice": True})


@router.get("/contracts/{contract_id}/usage")
def usage_fragment(request: Request, contract_id: str, session: LoggedIn) -> Response:
    """The usage section alone, which the page refreshes while it is open."""
    services = services_of(request)
    usage = services.usage.view(contract_id, Caller(session.account.id))
    devices = services.ratings.devices_of(usage.contract.recipient_id)
    shares = _shares(services.exchange, usage, {d.id: d.name for d in devices})
    context = {"c": usage.contract, "usage": usage, "shares": shares, "fragment": True}
    return render(request, "_usage.html", context)


def _refused(
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
    return _page(request, contract_id, viewer, extra, status_of(exc)[0])


def _shares(
    exchange: Exchange, usage: UsageView, device_names: Mapping[str, str]
) -> list[UsageLine]:
    """Each member (removed ones too) with its share of the block, named for people."""
    return [
        UsageLine(_member_line(exchange, s.member, device_names), s.usage) for s in usage.members
    ]


def _page(
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
    exchange, ratings = services.exchange, services.ratings
    usage = services.usage.view(contract_id, Caller(me))
    contract = usage.contract
    provider = _party(exchange, contract.provider_id, Role.PROVIDER)
    recipient = _party(exchange, contract.recipient_id, Role.RECIPIENT)
    devices = ratings.devices_of(contract.recipient_id)
    names = {provider.id: provider.name, recipient.id: recipient.name}
    device_names = {d.id: d.name for d in devices}
    rated = ratings.ratings_of(contract.id)
    for account_id in {r.rated_id for r in rated} - set(names):  # a group's payers, say
        names[account_id] = exchange.account(account_id).name
    given = [_rating_line(r, names, device_names) for r in rated]
    my_role = {provider.id: Role.PROVIDER, recipient.id: Role.RECIPIENT}.get(me)
    shares = _shares(exchange, usage, device_names)
    context: dict[str, Any] = {
        "c": contract,
        "provider": provider,
        "recipient": recipient,
        "my_role": my_role,
        "members": [line.member for line in shares if line.member.member.removed_at is None],
        "usage": usage,
        "shares": shares,
        "ratings": given,
        "mine": next((g for g in given if g.rating.rater_key == Rater(viewer).key), None),
        "devices": _own(devices, me),
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
    }
    context.update(charges_context(services, contract.id, viewer))
    context.update(extra)
    return render(request, "contract.html", context, status)


def _party(exchange: Exchange, account_id: str, role: Role) -> Party:
    return party(
        exchange.account(account_id), account_id, role, exchange.reputation(account_id, role)
    )


def _own(devices: list[Device], me: str) -> list[Device]:
    return [d for d in devices if d.recipient_id == me]


def _member_line(exchange: Exchange, m: Member, device_names: Mapping[str, str]) -> MemberLine:
    if m.kind is MemberKind.DEVICE:
        return MemberLine(m, device_names.get(m.ref, m.ref))
    if m.kind is MemberKind.ACCOUNT:
        return MemberLine(m, exchange.account(m.ref).name)
    return MemberLine(m, m.ref)


def _rating_line(
    r: Rating, names: Mapping[str, str], device_names: Mapping[str, str]
) -> RatingLine:
    device = None if r.device_id is None else device_names.get(r.device_id, r.device_id)
    return RatingLine(
        r, names.get(r.rater_account_id, r.rater_account_id), names.get(r.rated_id, ""), device
    )


def _line(exchange: Exchange, contract: Contract, me: str) -> ContractLine:
    if me == contract.provider_id:
        role, other, other_role = "provider", contract.recipient_id, Role.RECIPIENT
    else:
        role = "recipient" if me == contract.recipient_id else "member"
        other, other_role = contract.provider_id, Role.PROVIDER
    name = exchange.account(other).name
    return ContractLine(contract, role, other, name, exchange.reputation(other, other_role))
