"""Contracts in use under ``/v1``: members, usage sessions, the packet plane's deliveries,
ratings, and the provider's side (its contracts, its capacity).

A contract is visible to its parties, the operator and its members (member accounts, member
devices with their own token); to anyone else it does not exist (404).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from commex.api import paging
from commex.api.deps import AnyCallerDep, BusDep, CallerDep
from commex.api.paging import CursorQuery, LimitQuery
from commex.api.schemas import (
    CapacityIn,
    DeliveryIn,
    MemberIn,
    RatingIn,
    SessionIn,
    UsageIn,
)
from commex.api.wire import contracts as wire
from commex.domain.time import to_micros
from commex.presentation import seconds
from commex.services import commands as c
from commex.services import queries as q

router = APIRouter(prefix="/v1", tags=["contracts"])


@router.get("/contracts")
def my_contracts(
    who: CallerDep, bus: BusDep, limit: LimitQuery = paging.DEFAULT, cursor: CursorQuery = None
) -> dict[str, Any]:
    """The caller's contracts, as provider, recipient or member, newest first."""
    found = paging.page(
        "contracts", bus.handle(q.MyContracts(who.id)), _newest, limit, cursor, descending=True
    )
    return paging.answer("contracts", [wire.contract(x) for x in found.items], found.next_key)


def _newest(x: Any) -> tuple[int, str]:
    """The key of a list ordered by creation (newest first when descending)."""
    return (to_micros(x.created_at), str(x.id))


@router.get("/contracts/{contract_id}")
def get_contract(contract_id: str, who: AnyCallerDep, bus: BusDep) -> dict[str, Any]:
    """A contract with its members, usage (each member's share) and ratings, to its parties,
    the operator and its members."""
    return wire.contract_view(bus.handle(q.ShowContract(contract_id, who.caller)))


@router.get("/contracts/{contract_id}/members")
def list_members(
    contract_id: str,
    who: AnyCallerDep,
    bus: BusDep,
    limit: LimitQuery = paging.DEFAULT,
    cursor: CursorQuery = None,
) -> dict[str, Any]:
    """The contract's current members, in the order they were added."""
    usage = bus.handle(q.ShowUsage(contract_id, who.caller))
    current = [s.member for s in usage.members if not s.member.removed_at]
    found = paging.page("members", current, _newest, limit, cursor)
    return paging.answer("members", [wire.member(m) for m in found.items], found.next_key)


@router.post("/contracts/{contract_id}/members", status_code=201)
def add_member(contract_id: str, body: MemberIn, who: CallerDep, bus: BusDep) -> dict[str, Any]:
    """The recipient shares the contract with a device, a recipient account or a telephone
    number (E.164), up to the terms' max_members."""
    cmd = c.AddMember(contract_id, who.id, body.device_id, body.account_id, body.phone_number)
    return wire.member(bus.handle(cmd))


@router.delete("/contracts/{contract_id}/members/{member_id}")
def remove_member(contract_id: str, member_id: str, who: CallerDep, bus: BusDep) -> dict[str, Any]:
    """The recipient removes a member; its usage so far stays on record and its open sessions
    end."""
    return wire.member(bus.handle(c.RemoveMember(contract_id, who.id, member_id)))


@router.post("/contracts/{contract_id}/sessions", status_code=201)
def start_session(
    contract_id: str, body: SessionIn, who: AnyCallerDep, bus: BusDep
) -> dict[str, Any]:
    """Open a usage session for a member (the recipient for any member; a member account or
    device for itself)."""
    return wire.started_session(bus.handle(c.StartSession(contract_id, who.caller, body.member_id)))


@router.post("/contracts/{contract_id}/sessions/{session_id}/end")
def end_session(
    contract_id: str, session_id: str, who: AnyCallerDep, bus: BusDep
) -> dict[str, Any]:
    """End an open session."""
    return wire.session(bus.handle(c.EndSession(contract_id, who.caller, session_id)))


@router.post("/contracts/{contract_id}/usage", status_code=201)
def report_usage(contract_id: str, body: UsageIn, who: AnyCallerDep, bus: BusDep) -> dict[str, Any]:
    """Report seconds (and bytes) a member used. Usage across all members never passes the
    block: what would pass it (or fall outside the window) is not accepted and ``cut`` says
    why; once nothing remains the answer is 409."""
    cmd = c.ReportUsage(
        contract_id, who.caller, body.member_id, body.seconds, body.bytes, body.session_id, body.end
    )
    return wire.usage_report(bus.handle(cmd))


@router.get("/contracts/{contract_id}/usage")
def get_usage(contract_id: str, who: AnyCallerDep, bus: BusDep) -> dict[str, Any]:
    """The block, what is used and remains, each member's share and the plane's deliveries."""
    return wire.usage(bus.handle(q.ShowUsage(contract_id, who.caller)))


@router.post("/contracts/{contract_id}/deliveries", status_code=201)
def report_delivery(
    contract_id: str, body: DeliveryIn, who: CallerDep, bus: BusDep
) -> dict[str, Any]:
    """The provider's packet plane reports a run (S7): its stream-seconds are metered into the
    block, and an achieved rate below the terms' minimum records a breach (T4, R6), as does a
    rate the receivers' RTCP reports say they got below it (S9). Reporting the same ``run_id``
    again is answered the same and counted once."""
    cmd = c.RecordDelivery(
        contract_id, who.id, body.run_id, body.seconds, body.bytes, body.packets,
        body.achieved_rate_bps, None if body.receiver is None else body.receiver.model_dump(),
    )  # fmt: skip
    answer = bus.handle(cmd)
    return wire.delivery(answer.delivery) | {"remaining_seconds": seconds(answer.remaining_ms)}


@router.post("/contracts/{contract_id}/ratings", status_code=201)
def rate_contract(
    contract_id: str, body: RatingIn, who: AnyCallerDep, bus: BusDep
) -> dict[str, Any]:
    """Rate the other side: the recipient (or its member device) rates the provider, the
    provider rates whether the recipient paid. Once per rater and side, after delivery starts,
    within the rating window."""
    cmd = c.Rate(
        contract_id, body.satisfied, body.score, body.comment,
        account_id=who.account.id if who.account else None,
        device_id=who.device.id if who.device else None,
    )  # fmt: skip
    return wire.rating(bus.handle(cmd))


@router.get("/providers/me/contracts", tags=["providers"])
def provider_contracts(
    who: CallerDep,
    bus: BusDep,
    status: Annotated[str | None, Query(max_length=16)] = None,
    limit: LimitQuery = paging.DEFAULT,
    cursor: CursorQuery = None,
) -> dict[str, Any]:
    """The calling provider's contracts, newest first; ``?status=active`` lists what is in
    service now (a contract becomes active when its window opens, or at award without one)."""
    mine = bus.handle(q.ProviderContracts(who.id, status))
    found = paging.page("provider-contracts", mine, _newest, limit, cursor, descending=True)
    rows = [wire.contract(x) for x in found.items]
    return paging.answer("provider-contracts", rows, found.next_key)


@router.put("/providers/me/capacity", tags=["providers"])
def set_capacity(body: CapacityIn, who: CallerDep, bus: BusDep) -> dict[str, Any]:
    """Declare the provider's capacity in bit/s (T5): a block whose minimum rate would
    oversubscribe it during overlapping windows is refused."""
    return wire.capacity(bus.handle(c.SetCapacity(who.id, body.capacity_bps)))


@router.get("/providers/me/capacity", tags=["providers"])
def get_capacity(who: CallerDep, bus: BusDep) -> dict[str, Any]:
    """The declared capacity (null: none declared, no limit) and what is committed in all."""
    return wire.capacity(bus.handle(q.ShowCapacity(who.id)))
