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
from commex.domain.errors import CommexError, Forbidden, Unauthenticated, status_of
from commex.domain.members import Device, Member, MemberKind
from commex.domain.ratings import Rater, Rating
from commex.domain.reputation import Reputation
from commex.services.exchange import Exchange
from commex.services.views import Party, party
from commex.web.forms import input_of, member_choice, rating_answer
from commex.web.render import PageRoute, render
from commex.web.session import Checked, LoggedIn, services_of

router = APIRouter(route_class=PageRoute)
Choice = Annotated[str, Form(max_length=40)]
Ref = Annotated[str, Form(max_length=100)]
Comment = Annotated[str, Form(max_length=4000)]  # the services' own limit is smaller, and says so
_NOTICES = {"rated": "Thank you: your rating is in.", "member": "The member is added."}


@dataclass(frozen=True, slots=True)
class ContractLine:
    """A contract as one of its parties sees it: which side it is on, and who is across."""

    contract: Contract
    my_role: Role
    counterparty_id: str
    counterparty_name: str
    counterparty_reputation: Reputation


@dataclass(frozen=True, slots=True)
class MemberLine:
    """A member of a contract, named for people: a device's name, an account's name, a number."""

    member: Member
    label: str


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
        field = input_of(exc.field)
        extra = {
            "rate_errors": {field: exc.message} if field else {},
            "rate_problem": "" if field else exc.message,
            "rate_values": {"satisfied": satisfied, "score": score, "comment": comment},
        }
        return _page(request, contract.id, session.account, extra, status_of(exc)[0])
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
        field = input_of(exc.field) or (given[0] if about_input else "")
        extra = {
            "member_errors": {field: exc.message} if field else {},
            "member_problem": "" if field else exc.message,
            "member_values": values,
        }
        return _page(request, contract.id, session.account, extra, status_of(exc)[0])
    return RedirectResponse(f"/contracts/{contract.id}?done=member#members", status_code=303)


def _page(
    request: Request,
    contract_id: str,
    viewer: Account,
    extra: Mapping[str, Any],
    status: int = 200,
) -> Response:
    """The contract page: its parties with their reputations, members, ratings and forms."""
    me = viewer.id
    services = services_of(request)
    exchange, ratings = services.exchange, services.ratings
    contract = exchange.contract(contract_id, me)  # parties (and the operator) only, else 404
    provider = _party(exchange, contract.provider_id, Role.PROVIDER)
    recipient = _party(exchange, contract.recipient_id, Role.RECIPIENT)
    devices = ratings.devices_of(contract.recipient_id)
    names = {provider.id: provider.name, recipient.id: recipient.name}
    device_names = {d.id: d.name for d in devices}
    given = [_rating_line(r, names, device_names) for r in ratings.ratings_of(contract.id)]
    my_role = {provider.id: Role.PROVIDER, recipient.id: Role.RECIPIENT}.get(me)
    context: dict[str, Any] = {
        "c": contract,
        "provider": provider,
        "recipient": recipient,
        "my_role": my_role,
        "members": [_member_line(exchange, m, device_names) for m in ratings.members(contract.id)],
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
    }
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
        role, other, other_role = Role.PROVIDER, contract.recipient_id, Role.RECIPIENT
    else:
        role, other, other_role = Role.RECIPIENT, contract.provider_id, Role.PROVIDER
    name = exchange.account(other).name
    return ContractLine(contract, role, other, name, exchange.reputation(other, other_role))
