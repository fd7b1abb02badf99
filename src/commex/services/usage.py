"""Blocks of time in use (T3, T4, S7): usage sessions, usage reports and the packet plane's
deliveries, and the view of a block and who used how much of it.

Every usage report and delivery is metered with the contract's row locked (``SELECT ... FOR
UPDATE`` on PostgreSQL, ``BEGIN IMMEDIATE`` on SQLite), in the transaction that stores it, so
members reporting at once from several server processes never consume more than the block.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from commex.domain import usage as rules
from commex.domain.accounts import Account
from commex.domain.contracts import Contract, ContractStatus, use
from commex.domain.errors import CommexError, Conflict, Forbidden, InvalidInput, NotFound
from commex.domain.events import ContractCompleted, DeliveryBreached
from commex.domain.members import Member
from commex.domain.receiver import receiver_report
from commex.domain.service_level import Delivery, check_achieved, check_packets
from commex.domain.usage import MemberUsage, Metered, UsageSession
from commex.services import commands as c
from commex.services import queries as q
from commex.services.access import Access, access, access_with, member_among, member_of
from commex.services.bus import Deps
from commex.services.loading import account_of, check_id, contract_of
from commex.services.ports import UnitOfWork
from commex.services.results import DeliveryAnswer, MemberShare, UsageReport, UsageView

MAX_DELIVERIES_SHOWN = 50


def start_session(cmd: c.StartSession, uow: UnitOfWork, deps: Deps) -> UsageReport:
    """Open a usage session for a member."""
    found = access(uow, cmd.contract_id, cmd.caller, lock=True)
    member = _reporting_member(found, member_of(uow, found.contract, cmd.member_id))
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
    (answer,) = report_many([cmd], uow, deps)
    if isinstance(answer, CommexError):
        raise answer
    return answer


@dataclass
class _Metering:
    """What a batch of reports has read and done so far, so later reports see earlier ones."""

    contracts: dict[str, Contract]
    members: dict[str, dict[str, Member]]  # by contract, every member (removed ones too) by id
    accounts: dict[str, Account]
    sessions: dict[str, UsageSession] = field(default_factory=dict)  # read or written here
    added: set[str] = field(default_factory=set)  # sessions new in this batch
    changed: set[str] = field(default_factory=set)  # stored sessions this batch changed
    consumed: set[str] = field(default_factory=set)  # contracts whose use this batch changed


def report_many(
    cmds: Sequence[c.ReportUsage], uow: UnitOfWork, deps: Deps
) -> list[UsageReport | CommexError]:
    """Meter a batch of reports in the caller's unit of work, in the order given, each with
    the block as the reports before it left it: its contracts are read and locked in one
    statement (in id order), their members in one more, the sessions written in one, and
    each contract's use once. Each answer is the report or the error that refused it (a
    refused report changes nothing)."""
    batch = _prefetch(uow, cmds)
    answers: list[UsageReport | CommexError] = []
    for cmd in cmds:
        try:
            answers.append(_report(cmd, uow, deps, batch))
        except CommexError as exc:
            answers.append(exc)
    uow.contracts.add_sessions([batch.sessions[i] for i in batch.added])
    for session_id in sorted(batch.changed):
        uow.contracts.update_session(batch.sessions[session_id])
    for contract_id in sorted(batch.consumed):
        uow.contracts.set_used(contract_id, batch.contracts[contract_id].used_ms)
    return answers


def _prefetch(uow: UnitOfWork, cmds: Sequence[c.ReportUsage]) -> _Metering:
    """Lock the batch's contracts and read their members and the reporting accounts; an id
    that is not found is left out, and the report naming it refused in :func:`_report`."""
    ids = set()
    for cmd in cmds:
        try:
            ids.add(check_id("contract", cmd.contract_id))
        except CommexError:
            continue
    contracts = uow.contracts.many_for_update(ids)
    members = {
        i: {m.id: m for m in found} for i, found in uow.contracts.members_of(contracts).items()
    }
    callers = {
        cmd.caller.account_id
        for cmd in cmds
        if cmd.caller.device is None and cmd.caller.account_id is not None
    }
    return _Metering(contracts, members, uow.accounts.get_many(callers) if callers else {})


def _report(cmd: c.ReportUsage, uow: UnitOfWork, deps: Deps, batch: _Metering) -> UsageReport:
    requested = rules.seconds_to_ms(cmd.seconds)
    volume = rules.check_bytes(cmd.bytes)
    now = deps.clock.now()
    contract = batch.contracts.get(cmd.contract_id)
    if contract is None:
        contract = contract_of(uow, cmd.contract_id, lock=True)  # raises NotFound
    everyone = batch.members.get(contract.id, {})
    caller = cmd.caller
    account = None
    if caller.device is None and caller.account_id is not None:
        account = batch.accounts.get(caller.account_id) or account_of(uow, caller.account_id)
    current = [m for m in everyone.values() if m.removed_at is None]
    found = access_with(contract, current, caller, account)
    member = _reporting_member(found, member_among(contract, cmd.member_id, everyone.get))
    session = _session(uow, deps, found, member, cmd.session_id, now, batch)
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
    batch.sessions[session.id] = session
    (batch.added if cmd.session_id is None else batch.changed).add(session.id)
    batch.contracts[contract.id] = _used(uow, contract, metered.accepted_ms, now)
    batch.consumed.add(contract.id)
    return UsageReport(metered, session)


def end_session(cmd: c.EndSession, uow: UnitOfWork, deps: Deps) -> UsageSession:
    """End an open session without reporting more."""
    found = access(uow, cmd.contract_id, cmd.caller, lock=True)
    session = _open_session(found, cmd.session_id, uow.contracts.session)
    _reporting_member(found, member_of(uow, found.contract, session.member_id))
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
    """Add accepted usage to the block (the contract's row is locked by the caller)."""
    used = _used(uow, contract, accepted_ms, now)
    uow.contracts.set_used(contract.id, used.used_ms)


def _used(uow: UnitOfWork, contract: Contract, accepted_ms: int, now: datetime) -> Contract:
    """The contract with accepted usage added to its block; one whose block is used up
    completes, stored and said at once (its use is the caller's to store)."""
    used = use(contract, contract.used_ms + accepted_ms, now)
    if used.status is not contract.status:
        uow.contracts.update(used)
        if used.status is ContractStatus.COMPLETED:
            completed = ContractCompleted(
                used.id, used.provider_id, used.recipient_id, "used_up", now
            )
            uow.record([completed])
    return used


def _session(
    uow: UnitOfWork,
    deps: Deps,
    found: Access,
    member: Member,
    session_id: object,
    now: datetime,
    batch: _Metering,
) -> UsageSession:
    """The open session named (as the batch left it), or a new one for a report that names
    none."""
    if session_id is None:
        return UsageSession(deps.ids.new("ses"), found.contract.id, member.id, now)
    session = _open_session(
        found, session_id, lambda i: batch.sessions.get(i) or uow.contracts.session(i)
    )
    if session.member_id != member.id:
        raise InvalidInput(
            f"session {session.id} belongs to member {session.member_id}, not {member.id}",
            "session_id",
        )
    return session


def _reporting_member(found: Access, member: Member) -> Member:
    """``member``, if the caller may report for it."""
    if not found.recipient and member.id not in found.own_members:
        raise Forbidden(f"you may report usage only for your own membership, not {member.id}")
    return member


def _open_session(
    found: Access, session_id: object, find: Callable[[str], UsageSession | None]
) -> UsageSession:
    """The open session of the contract that ``find`` finds by ``session_id``."""
    if not isinstance(session_id, str):
        raise InvalidInput("session_id must be the id of an open session", "session_id")
    session = find(check_id("session", session_id))
    if session is None or session.contract_id != found.contract.id:
        raise NotFound(f"session {session_id} of contract {found.contract.id} not found")
    if not session.open:
        raise InvalidInput(f"session {session.id} has ended", "session_id")
    return session
