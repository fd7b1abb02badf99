"""The viewer's contracts, and one contract's page for its parties."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import APIRouter, Request, Response

from commex.domain.accounts import Role
from commex.domain.contracts import Contract
from commex.domain.reputation import Reputation
from commex.services.exchange import Exchange
from commex.web.render import PageRoute, render
from commex.web.session import LoggedIn, services_of

router = APIRouter(route_class=PageRoute)


@dataclass(frozen=True, slots=True)
class ContractLine:
    """A contract as one of its parties sees it: which side it is on, and who is across."""

    contract: Contract
    my_role: Role
    counterparty_id: str
    counterparty_name: str
    counterparty_reputation: Reputation


@router.get("/contracts")
def contracts_page(request: Request, session: LoggedIn) -> Response:
    exchange = services_of(request).exchange
    me = session.account.id
    lines = [_line(exchange, c, me) for c in exchange.contracts_of(me)]
    return render(request, "contracts.html", {"lines": lines})


@router.get("/contracts/{contract_id}")
def contract_page(request: Request, contract_id: str, session: LoggedIn) -> Response:
    exchange = services_of(request).exchange
    contract = exchange.contract(contract_id, session.account.id)  # parties only, else 404
    return render(request, "contract.html", {"line": _line(exchange, contract, session.account.id)})


def _line(exchange: Exchange, contract: Contract, me: str) -> ContractLine:
    if me == contract.provider_id:
        role, other, other_role = Role.PROVIDER, contract.recipient_id, Role.RECIPIENT
    else:
        role, other, other_role = Role.RECIPIENT, contract.provider_id, Role.PROVIDER
    name = exchange.account(other).name
    return ContractLine(contract, role, other, name, exchange.reputation(other, other_role))
