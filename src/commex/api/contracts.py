"""Contracts in use under ``/v1``: members, usage sessions, the packet plane's deliveries,
ratings, and the provider's side (its contracts, its capacity).

A contract is visible to its parties, the operator and its members (member accounts, member
devices with their own token); to anyone else it does not exist (404).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from commex.api.deps import AnyCaller, AnyCallerDep, CallerDep, ServicesDep
from commex.api.schemas import (
    CapacityIn,
    DeliveryIn,
    MemberIn,
    RatingIn,
    SessionIn,
    UsageIn,
)
from commex.bootstrap import Services
from commex.services.usage import Caller, UsageReport
from commex.services.views import (
    contract_dict,
    delivery_dict,
    member_dict,
    rating_dict,
    seconds,
    session_dict,
    usage_dict,
)

router = APIRouter(prefix="/v1", tags=["contracts"])


def _caller(who: AnyCaller) -> Caller:
    return Caller(account_id=who.account.id if who.account else None, device=who.device)


def _contract(services: Services, contract_id: str, caller: Caller) -> dict[str, Any]:
    usage = services.usage.view(contract_id, caller)
    members = [s.member for s in usage.members if s.member.removed_at is None]
    ratings = services.ratings.ratings_of(usage.contract.id)
    return contract_dict(usage.contract, members, ratings, usage)


@router.get("/contracts")
def my_contracts(who: CallerDep, services: ServicesDep) -> dict[str, Any]:
    """The caller's contracts, as provider, recipient or member, newest first."""
    return {"items": [contract_dict(c) for c in services.exchange.contracts_of(who.id)]}


@router.get("/contracts/{contract_id}")
def get_contract(contract_id: str, who: AnyCallerDep, services: ServicesDep) -> dict[str, Any]:
    """A contract with its members, usage (each member's share) and ratings, to its parties,
    the operator and its members."""
    return _contract(services, contract_id, _caller(who))


@router.get("/contracts/{contract_id}/members")
def list_members(contract_id: str, who: AnyCallerDep, services: ServicesDep) -> dict[str, Any]:
    """The contract's current members."""
    usage = services.usage.view(contract_id, _caller(who))
    return {"items": [member_dict(s.member) for s in usage.members if not s.member.removed_at]}


@router.post("/contracts/{contract_id}/members", status_code=201)
def add_member(
    contract_id: str, body: MemberIn, who: CallerDep, services: ServicesDep
) -> dict[str, Any]:
    """The recipient shares the contract with a device, a recipient account or a telephone
    number (E.164), up to the terms' max_members."""
    member = services.ratings.add_member(
        contract_id,
        who.id,
        device_id=body.device_id,
        account_id=body.account_id,
        phone_number=body.phone_number,
    )
    return member_dict(member)


@router.delete("/contracts/{contract_id}/members/{member_id}")
def remove_member(
    contract_id: str, member_id: str, who: CallerDep, services: ServicesDep
) -> dict[str, Any]:
    """The recipient removes a member; its usage so far stays on record and its open sessions
    end."""
    return member_dict(services.usage.remove_member(contract_id, who.id, member_id))


def _report(r: UsageReport) -> dict[str, Any]:
    m = r.metered
    return {
        "accepted_seconds": seconds(m.accepted_ms),
        "remaining_seconds": seconds(m.remaining_ms),
        "cut": m.cut,
        "session": session_dict(r.session),
    }


@router.post("/contracts/{contract_id}/sessions", status_code=201)
def start_session(
    contract_id: str, body: SessionIn, who: AnyCallerDep, services: ServicesDep
) -> dict[str, Any]:
    """Open a usage session for a member (the recipient for any member; a member account or
    device for itself)."""
    report = services.usage.start_session(contract_id, _caller(who), body.member_id)
    return session_dict(report.session) | {
        "remaining_seconds": seconds(report.metered.remaining_ms)
    }


@router.post("/contracts/{contract_id}/sessions/{session_id}/end")
def end_session(
    contract_id: str, session_id: str, who: AnyCallerDep, services: ServicesDep
) -> dict[str, Any]:
    """End an open session."""
    return session_dict(services.usage.end_session(contract_id, _caller(who), session_id))


@router.post("/contracts/{contract_id}/usage", status_code=201)
def report_usage(
    contract_id: str, body: UsageIn, who: AnyCallerDep, services: ServicesDep
) -> dict[str, Any]:
    """Report seconds (and bytes) a member used. Usage across all members never passes the
    block: what would pass it (or fall outside the window) is not accepted and ``cut`` says
    why; once nothing remains the answer is 409."""
    report = services.usage.report(
        contract_id,
        _caller(who),
        body.member_id,
        body.seconds,
        body.bytes,
        body.session_id,
        end=body.end,
    )
    return _report(report)


@router.get("/contracts/{contract_id}/usage")
def get_usage(contract_id: str, who: AnyCallerDep, services: ServicesDep) -> dict[str, Any]:
    """The block, what is used and remains, each member's share and the plane's deliveries."""
    return usage_dict(services.usage.view(contract_id, _caller(who)))


@router.post("/contracts/{contract_id}/deliveries", status_code=201)
def report_delivery(
    contract_id: str, body: DeliveryIn, who: CallerDep, services: ServicesDep
) -> dict[str, Any]:
    """The provider's packet plane reports a run (S7): its stream-seconds are metered into the
    block, and an achieved rate below the terms' minimum records a breach (T4, R6). Reporting
    the same ``run_id`` again is answered the same and counted once."""
    answer = services.usage.record_delivery(
        contract_id,
        who.id,
        body.run_id,
        body.seconds,
        body.bytes,
        body.packets,
        body.achieved_rate_bps,
    )
    d = answer.delivery
    return delivery_dict(d) | {
        "remaining_seconds": seconds(answer.remaining_ms),
    }


@router.post("/contracts/{contract_id}/ratings", status_code=201)
def rate_contract(
    contract_id: str, body: RatingIn, who: AnyCallerDep, services: ServicesDep
) -> dict[str, Any]:
    """Rate the other side: the recipient (or its member device) rates the provider, the
    provider rates whether the recipient paid. Once per rater and side, after delivery starts,
    within the rating window."""
    rating = services.ratings.rate(
        contract_id,
        account_id=who.account.id if who.account else None,
        device_id=who.device.id if who.device else None,
        satisfied=body.satisfied,
        score=body.score,
        comment=body.comment,
    )
    return rating_dict(rating)


@router.get("/providers/me/contracts", tags=["providers"])
def provider_contracts(
    who: CallerDep,
    services: ServicesDep,
    status: Annotated[str | None, Query(max_length=16)] = None,
) -> dict[str, Any]:
    """The calling provider's contracts, newest first; ``?status=active`` lists what is in
    service now (a contract becomes active when its window opens, or at award without one)."""
    found = services.usage.provider_contracts(who.id, status)
    return {"items": [contract_dict(c) for c in found]}


def _capacity(services: Services, provider_id: str) -> dict[str, Any]:
    declared, committed = services.usage.capacity(provider_id)
    return {"capacity_bps": declared, "committed_bps": committed}


@router.put("/providers/me/capacity", tags=["providers"])
def set_capacity(body: CapacityIn, who: CallerDep, services: ServicesDep) -> dict[str, Any]:
    """Declare the provider's capacity in bit/s (T5): a block whose minimum rate would
    oversubscribe it during overlapping windows is refused."""
    services.usage.set_capacity(who.id, body.capacity_bps)
    return _capacity(services, who.id)


@router.get("/providers/me/capacity", tags=["providers"])
def get_capacity(who: CallerDep, services: ServicesDep) -> dict[str, Any]:
    """The declared capacity (null: none declared, no limit) and what is committed in all."""
    return _capacity(services, who.id)
