"""Blocks of time in use (T3, T4, S7): usage sessions, usage reports and the packet plane's
deliveries, and the view of a block and who used how much of it.

Every usage report and delivery is metered with the contract's row locked (``SELECT ... FOR
UPDATE`` on PostgreSQL, ``BEGIN IMMEDIATE`` on SQLite), in the transaction that stores it, so
members reporting at once from several server processes never consume more than the block.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

from commex.domain import usage as rules
from commex.domain.contracts import Contract, ContractStatus, use
from commex.domain.errors import Conflict, Forbidden, InvalidInput, NotFound
from commex.domain.events import ContractCompleted, DeliveryBreached
from commex.domain.members import Member
from commex.domain.receiver import receiver_report
from commex.domain.service_level import Delivery, check_achieved, check_packets
from commex.domain.usage import MemberUsage, Metered, UsageSession
from commex.services import commands as c
from commex.services import queries as q
from commex.services.access import Access, access, member_of
from commex.services.bus import Deps
from commex.services.loading import check_id
from commex.services.ports import UnitOfWork
from commex.services.results import DeliveryAnswer, MemberShare, UsageReport, UsageView

MAX_DELIVERIES_SHOWN = 50


def start_session(cmd: c.StartSession, uow: UnitOfWork, deps: Deps) -> UsageReport:
    """Open a usage session for a member."""
    found = access(uow, cmd.contract_id, cmd.caller, lock=True)
    member = _reporting_member(uow, found, cmd.member_id)
    contract = found.contract
    session = rules.open_session(
        contract, member, contract.used_ms, deps.ids.new("ses"), deps.clock.now()
    )
    uow.contracts.add_session(session)
    remaining = rules.block_ms(contract) - contract.used_ms
    return UsageReport(Metered(0, 0, remaining), session)


def report_usage(cmd: c.ReportUsage, uow: UnitOfWork, deps: Deps) -> UsageReport:
    """Meter seconds of use by a member into the block: into an open session, or into a
    session of its own when none is named. What would pass the block or the window is cut and
    said; a report when nothing remains is a Conflict."""
    requested = rules.seconds_to_ms(cmd.seconds)
    volume = rules.check_bytes(cmd.bytes)
    now = deps.clock.now()
    found = access(uow, cmd.contract_id, cmd.caller, lock=True)
    member = _reporting_member(uow, found, cmd.member_id)
    contract = found.contract
    session = _session(uow, deps, found, member, cmd.session_id, now)
    since = None
    if cmd.session_id is not None:
        since = session.started_at + timedelta(milliseconds=session.used_ms)
    metered = rules.meter(contract, contract.used_ms, requested, now, since=since)
    session = replace(
        session,
        used_ms=session.used_ms + metered.accepted_ms,
        bytes=session.bytes + volume,
        ended_at=now if cmd.end or cmd.session_id is None else None,
    )
    if cmd.session_id is None:
        uow.contracts.add_session(session)
    else:
        uow.contracts.update_session(session)
    _consume(uow, contract, metered.accepted_ms, now)
    return UsageReport(metered, session)


def end_session(cmd: c.EndSession, uow: UnitOfWork, deps: Deps) -> UsageSession:
    """End an open session without reporting more."""
    found = access(uow, cmd.contract_id, cmd.caller, lock=True)
    session = _open_session(uow, found, cmd.session_id)
    _reporting_member(uow, found, session.member_id)
    ended = replace(session, ended_at=deps.clock.now())
    uow.contracts.update_session(ended)
    return ended


def show_usage(query: q.ShowUsage, uow: UnitOfWork, deps: Deps) -> UsageView:
    return usage_view(uow, access(uow, query.contract_id, query.caller, lock=False).contract)


def usage_view(uow: UnitOfWork, contract: Contract) -> UsageView:
    """The block, what each member used (removed members too), and the plane's deliveries."""
    members = uow.contracts.members(contract.id, removed=True)
    used = {u.member_id: u for u in uow.contracts.usage_by_member(contract.id)}
    deliveries = tuple(uow.contracts.deliveries(contract.id, MAX_DELIVERIES_SHOWN))
    shares = tuple(MemberShare(m, used.get(m.id, MemberUsage(m.id, 0, 0, 0))) for m in members)
    by_members = sum(u.used_ms for u in used.values())
    remaining = max(0, rules.block_ms(contract) - contract.used_ms)
    return UsageView(contract, shares, contract.used_ms - by_members, deliveries, remaining)


def record_delivery(cmd: c.RecordDelivery, uow: UnitOfWork, deps: Deps) -> DeliveryAnswer:
    """The provider's plane reports a run for the contract: its stream-seconds are metered into
    the block and its achieved rate, and what its receivers reported getting of it (S9), are
    compared with the minimum (a breach, R6). A retried report (the same ``run_id``) is
    counted once and answered the same."""
    run = rules.check_run_id(cmd.run_id)
    requested = rules.seconds_to_ms(cmd.seconds)
    volume = rules.check_bytes(cmd.bytes)
    count = check_packets(cmd.packets)
    achieved = check_achieved(cmd.achieved_rate_bps)
    receiver = receiver_report(cmd.receiver)
    now = deps.clock.now()
    contract = access(uow, cmd.contract_id, c.Caller(cmd.provider_id), lock=True).contract
    if cmd.provider_id != contract.provider_id:
        raise Forbidden("only the contract's provider reports deliveries")
    if contract.is_subcontract:
        raise Conflict("a subcontract meters packets, not deliveries: report them as packets")
    remaining = rules.block_ms(contract) - contract.used_ms
    earlier = uow.contracts.delivery_by_run(contract.id, run)
    if earlier is not None:
        return DeliveryAnswer(earlier, max(0, remaining))
    metered = rules.meter(contract, contract.used_ms, requested, now, elapsed=False)
    delivery = Delivery(
        deps.ids.new("dlv"), contract.id, cmd.provider_id, run, requested, metered.accepted_ms,
        volume, count, achieved, contract.terms.min_rate_bps, now, receiver,
    )  # fmt: skip
    uow.contracts.add_delivery(delivery)
    _consume(uow, contract, metered.accepted_ms, now)
    if (breached := _breach(delivery, contract, now)) is not None:
        uow.record([breached])
    return DeliveryAnswer(delivery, metered.remaining_ms)


def _breach(delivery: Delivery, contract: Contract, now: datetime) -> DeliveryBreached | None:
    """The breach a delivery is, with the rate of the measure that found it, or None."""
    found_by = delivery.breach_by
    if found_by is None or delivery.min_rate_bps is None:
        return None
    rate = delivery.achieved_rate_bps
    if found_by == "receiver" and delivery.receiver is not None:
        rate = delivery.receiver.received_rate_bps(rate)
    return DeliveryBreached(
        delivery.id, contract.id, contract.provider_id, contract.recipient_id, rate,
        delivery.min_rate_bps, now, found_by,
    )  # fmt: skip


def _consume(uow: UnitOfWork, contract: Contract, accepted_ms: int, now: datetime) -> None:
    """Add accepted usage to the block (the contract's row is locked by the caller); the
    contract completes when its block is used up."""
    used = use(contract, contract.used_ms + accepted_ms, now)
    uow.contracts.set_used(contract.id, used.used_ms)
    if used.status is not contract.status:
        uow.contracts.update(used)
        if used.status is ContractStatus.COMPLETED:
            completed = ContractCompleted(
                used.id, used.provider_id, used.recipient_id, "used_up", now
            )
            uow.record([completed])


def _session(
    uow: UnitOfWork, deps: Deps, found: Access, member: Member, session_id: object, now: datetime
) -> UsageSession:
    """The open session named, or a new one for a report that names none."""
    if session_id is None:
        return UsageSession(deps.ids.new("ses"), found.contract.id, member.id, now)
    session = _open_session(uow, found, session_id)
    if session.member_id != member.id:
        raise InvalidInput(
            f"session {session.id} belongs to member {session.member_id}, not {member.id}",
            "session_id",
        )
    return session


def _reporting_member(uow: UnitOfWork, found: Access, member_id: object) -> Member:
    member = member_of(uow, found.contract, member_id)
    if not found.recipient and member.id not in found.own_members:
        raise Forbidden(f"you may report usage only for your own membership, not {member.id}")
    return member


def _open_session(uow: UnitOfWork, found: Access, session_id: object) -> UsageSession:
    if not isinstance(session_id, str):
        raise InvalidInput("session_id must be the id of an open session", "session_id")
    session = uow.contracts.session(check_id("session", session_id))
    if session is None or session.contract_id != found.contract.id:
        raise NotFound(f"session {session_id} of contract {found.contract.id} not found")
    if not session.open:
        raise InvalidInput(f"session {session.id} has ended", "session_id")
    return session
