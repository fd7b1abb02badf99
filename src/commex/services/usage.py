"""Blocks of time in use (T2-T5, S7): who may see and use a contract, usage sessions, the
packet plane's deliveries, and providers' capacity.

Every usage report and delivery is metered with the contract's row locked (``SELECT ... FOR
UPDATE`` on PostgreSQL, ``BEGIN IMMEDIATE`` on SQLite), in the transaction that stores it, so
members reporting at once from several server processes never consume more than the block.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from commex.domain import usage as rules
from commex.domain.accounts import Account, Role
from commex.domain.capacity import Commitment, check_capacity_value, peak
from commex.domain.contracts import Contract, ContractStatus, use
from commex.domain.errors import Conflict, Forbidden, InvalidInput, NotFound
from commex.domain.members import Device, Member, MemberKind
from commex.domain.reputation import WINDOW_DAYS
from commex.domain.service_level import (
    Delivery,
    ServiceLevel,
    check_achieved,
    check_packets,
)
from commex.domain.usage import MemberUsage, Metered, UsageSession
from commex.services.capacity import commitments
from commex.services.loading import account_of, check_id
from commex.services.ports import Clock, IdGenerator, UnitOfWork, UnitOfWorkFactory

MAX_DELIVERIES_SHOWN = 50
_STATUSES = {s.value for s in ContractStatus}


@dataclass(frozen=True, slots=True)
class Caller:
    """Who is asking: an account, or a client device acting with its own token."""

    account_id: str | None = None
    device: Device | None = None


@dataclass(frozen=True, slots=True)
class Access:
    """What a caller may do with one contract."""

    contract: Contract
    recipient: bool  # may report for any member and manage members
    own_members: frozenset[str]  # the member ids the caller may report usage for


@dataclass(frozen=True, slots=True)
class UsageReport:
    """A report's answer: what was metered, and the session it went into."""

    metered: Metered
    session: UsageSession


@dataclass(frozen=True, slots=True)
class MemberShare:
    member: Member
    usage: MemberUsage


@dataclass(frozen=True, slots=True)
class UsageView:
    """A contract's block and who used how much of it."""

    contract: Contract
    members: list[MemberShare]
    delivered_ms: int
    deliveries: list[Delivery]

    @property
    def remaining_ms(self) -> int:
        return max(0, rules.block_ms(self.contract) - self.contract.used_ms)


@dataclass(frozen=True, slots=True)
class DeliveryAnswer:
    delivery: Delivery
    remaining_ms: int


class Usage:
    """Members, usage sessions, deliveries and capacity."""

    def __init__(self, uow: UnitOfWorkFactory, clock: Clock, ids: IdGenerator) -> None:
        self._uow = uow
        self._clock = clock
        self._ids = ids

    # -- access -------------------------------------------------------------------------------

    def access(self, contract_id: str, caller: Caller) -> Access:
        """What ``caller`` may do with the contract; NotFound for anyone who is neither a party
        nor a member (a stranger learns nothing, not even that it exists)."""
        with self._uow(write=False) as uow:
            return _access(uow, contract_id, caller, lock=False)

    # -- members ------------------------------------------------------------------------------

    def remove_member(self, contract_id: str, caller_id: str, member_id: str) -> Member:
        """The recipient takes a member off the contract; its usage so far stays on record and
        its open sessions end now."""
        now = self._clock.now()
        with self._uow() as uow:
            access = _access(uow, contract_id, Caller(caller_id), lock=True)
            if not access.recipient:
                raise Forbidden("only the contract's recipient removes members")
            member = _member(uow, access.contract, member_id)
            group = uow.groups.group_of_auction(access.contract.auction_id)
            if group is not None and member.kind is MemberKind.ACCOUNT:
                raise Forbidden(
                    f"{member.ref} is a member of group {group}, which bought this contract for "
                    "every member; group members are not removed from it"
                )
            for session in uow.usage.open_sessions(member.id):
                uow.usage.update_session(replace(session, ended_at=now))
            uow.members.remove(member.id, now)
            uow.commit()
        return replace(member, removed_at=now)

    # -- sessions and usage -------------------------------------------------------------------

    def start_session(self, contract_id: str, caller: Caller, member_id: object) -> UsageReport:
        """Open a usage session for a member."""
        now = self._clock.now()
        with self._uow() as uow:
            access = _access(uow, contract_id, caller, lock=True)
            member = _reporting_member(uow, access, member_id)
            session = rules.open_session(
                access.contract, member, access.contract.used_ms, self._ids.new("ses"), now
            )
            uow.usage.add_session(session)
            uow.commit()
        remaining = rules.block_ms(access.contract) - access.contract.used_ms
        return UsageReport(Metered(0, 0, remaining), session)

    def report(
        self,
        contract_id: str,
        caller: Caller,
        member_id: object,
        seconds: object,
        bytes_: object = None,
        session_id: object = None,
        *,
        end: bool = False,
    ) -> UsageReport:
        """Meter ``seconds`` of use by a member into the block: into an open session, or into
        a session of its own when none is named. What would pass the block or the window is cut
        and said; a report when nothing remains is a Conflict."""
        requested = rules.seconds_to_ms(seconds)
        volume = rules.check_bytes(bytes_)
        now = self._clock.now()
        with self._uow() as uow:
            access = _access(uow, contract_id, caller, lock=True)
            member = _reporting_member(uow, access, member_id)
            contract = access.contract
            session = self._session(uow, access, member, session_id, now)
            since = None
            if session_id is not None:
                since = session.started_at + timedelta(milliseconds=session.used_ms)
            metered = rules.meter(contract, contract.used_ms, requested, now, since=since)
            session = replace(
                session,
                used_ms=session.used_ms + metered.accepted_ms,
                bytes=session.bytes + volume,
                ended_at=now if end or session_id is None else None,
            )
            if session_id is None:
                uow.usage.add_session(session)
            else:
                uow.usage.update_session(session)
            _consume(uow, contract, metered.accepted_ms)
            uow.commit()
        return UsageReport(metered, session)

    def end_session(self, contract_id: str, caller: Caller, session_id: str) -> UsageSession:
        """End an open session without reporting more."""
        now = self._clock.now()
        with self._uow() as uow:
            access = _access(uow, contract_id, caller, lock=True)
            session = _open_session(uow, access, session_id)
            _reporting_member(uow, access, session.member_id)
            ended = replace(session, ended_at=now)
            uow.usage.update_session(ended)
            uow.commit()
        return ended

    def _session(
        self, uow: UnitOfWork, access: Access, member: Member, session_id: object, now: datetime
    ) -> UsageSession:
        """The open session named, or a new one for a report that names none."""
        if session_id is None:
            return UsageSession(self._ids.new("ses"), access.contract.id, member.id, now)
        session = _open_session(uow, access, session_id)
        if session.member_id != member.id:
            raise InvalidInput(
                f"session {session.id} belongs to member {session.member_id}, not {member.id}",
                "session_id",
            )
        return session

    def view(self, contract_id: str, caller: Caller) -> UsageView:
        """The block, what each member used (removed members too), and the plane's deliveries."""
        with self._uow(write=False) as uow:
            access = _access(uow, contract_id, caller, lock=False)
            contract = access.contract
            members = {m.id: m for m in uow.members.of_contract(contract.id, removed=True)}
            used = {u.member_id: u for u in uow.usage.by_member(contract.id)}
            deliveries = uow.deliveries.of_contract(contract.id, MAX_DELIVERIES_SHOWN)
        shares = [
            MemberShare(m, used.get(m.id, MemberUsage(m.id, 0, 0, 0))) for m in members.values()
        ]
        by_members = sum(u.used_ms for u in used.values())
        return UsageView(contract, shares, contract.used_ms - by_members, deliveries)

    # -- the packet plane's deliveries (S7, T4) -----------------------------------------------

    def record_delivery(
        self,
        contract_id: str,
        provider_id: str,
        run_id: object,
        seconds: object,
        bytes_: object,
        packets: object,
        achieved_rate_bps: object,
    ) -> DeliveryAnswer:
        """The provider's plane reports a run for the contract: its stream-seconds are metered
        into the block and its achieved rate is compared with the minimum (a breach, R6). A
        retried report (the same ``run_id``) is counted once and answered the same."""
        run = rules.check_run_id(run_id)
        requested = rules.seconds_to_ms(seconds)
        volume = rules.check_bytes(bytes_)
        count = check_packets(packets)
        achieved = check_achieved(achieved_rate_bps)
        now = self._clock.now()
        with self._uow() as uow:
            access = _access(uow, contract_id, Caller(provider_id), lock=True)
            contract = access.contract
            if provider_id != contract.provider_id:
                raise Forbidden("only the contract's provider reports deliveries")
            remaining = rules.block_ms(contract) - contract.used_ms
            earlier = uow.deliveries.by_run(contract.id, run)
            if earlier is not None:
                return DeliveryAnswer(earlier, max(0, remaining))
            metered = rules.meter(contract, contract.used_ms, requested, now, elapsed=False)
            delivery = Delivery(
                self._ids.new("dlv"),
                contract.id,
                provider_id,
                run,
                requested,
                metered.accepted_ms,
                volume,
                count,
                achieved,
                contract.terms.min_rate_bps,
                now,
            )
            uow.deliveries.add(delivery)
            _consume(uow, contract, metered.accepted_ms)
            uow.commit()
        return DeliveryAnswer(delivery, metered.remaining_ms)

    def service_level(self, provider_id: str) -> ServiceLevel:
        since = self._clock.now() - timedelta(days=WINDOW_DAYS)
        with self._uow(write=False) as uow:
            return uow.deliveries.service_levels([provider_id], since).get(
                provider_id, ServiceLevel()
            )

    # -- provider side ------------------------------------------------------------------------

    def provider_contracts(self, provider_id: str, status: str | None) -> list[Contract]:
        """The provider's contracts, e.g. the active ones its nodes should serve."""
        if status is not None and status not in _STATUSES:
            raise InvalidInput(
                f"status must be one of {', '.join(sorted(_STATUSES))}, not {status!r}", "status"
            )
        with self._uow(write=False) as uow:
            account_of(uow, provider_id)
            return uow.contracts.of_provider(provider_id, status)

    def set_capacity(self, provider_id: str, capacity_bps: object) -> int:
        """Declare the provider's capacity in bit/s (T5); later blocks are checked against it."""
        value = check_capacity_value(capacity_bps)
        with self._uow() as uow:
            provider = account_of(uow, provider_id)
            if not provider.has(Role.PROVIDER):
                raise Forbidden("only a provider declares capacity")
            uow.accounts.lock(provider.id)
            held, _ = peak(commitments(uow, provider.id), Commitment("", 0))
            if held > value:
                raise Conflict(
                    f"capacity_bps {value} is less than the {held} bit/s already committed at "
                    "the busiest moment (contracts in force, open auctions and bids); lower it "
                    "once those end",
                    "capacity_bps",
                )
            uow.capacities.put(provider.id, value, self._clock.now())
            uow.commit()
        return value

    def capacity(self, provider_id: str) -> tuple[int | None, int]:
        """The declared capacity (None: not declared) and the bit/s committed in total."""
        with self._uow(write=False) as uow:
            account_of(uow, provider_id)
            held = sum(c.bps for c in commitments(uow, provider_id))
            return uow.capacities.get(provider_id), held


def _consume(uow: UnitOfWork, contract: Contract, accepted_ms: int) -> None:
    """Add accepted usage to the block (the contract's row is locked by the caller); the
    contract completes when its block is used up."""
    used = use(contract, contract.used_ms + accepted_ms)
    uow.contracts.set_used(contract.id, used.used_ms)
    if used.status is not contract.status:
        uow.contracts.update(used)


def _access(uow: UnitOfWork, contract_id: str, caller: Caller, *, lock: bool) -> Access:
    cid = check_id("contract", contract_id)
    contract = uow.contracts.get_for_update(cid) if lock else uow.contracts.get(cid)
    if contract is None:
        raise NotFound(f"contract {contract_id} not found")
    members = uow.members.of_contract(contract.id)
    if caller.device is not None:
        device = caller.device
        own = frozenset(
            m.id
            for m in members
            if (m.kind is MemberKind.DEVICE and m.ref == device.id)
            or (m.kind is MemberKind.PHONE and m.ref in device.phone_numbers)
        )
        if device.recipient_id != contract.recipient_id:  # another recipient's device
            own = frozenset()
        if not own:
            raise NotFound(f"contract {contract_id} not found")
        return Access(contract, False, own)
    if caller.account_id is None:
        raise InvalidInput("a contract is read by an account or a device")
    account: Account = account_of(uow, caller.account_id)
    if account.id == contract.recipient_id:
        return Access(contract, True, frozenset(m.id for m in members))
    if account.id == contract.provider_id or account.is_operator:
        return Access(contract, False, frozenset())
    own = frozenset(m.id for m in members if m.kind is MemberKind.ACCOUNT and m.ref == account.id)
    if not own:
        raise NotFound(f"contract {contract_id} not found")
    return Access(contract, False, own)


def _member(uow: UnitOfWork, contract: Contract, member_id: object) -> Member:
    if not isinstance(member_id, str):
        raise InvalidInput("member_id must be the id of a member of the contract", "member_id")
    member = uow.members.get(check_id("member", member_id))
    if member is None or member.contract_id != contract.id or member.removed_at is not None:
        raise NotFound(f"member {member_id} of contract {contract.id} not found")
    return member


def _reporting_member(uow: UnitOfWork, access: Access, member_id: object) -> Member:
    member = _member(uow, access.contract, member_id)
    if not access.recipient and member.id not in access.own_members:
        raise Forbidden(f"you may report usage only for your own membership, not {member.id}")
    return member


def _open_session(uow: UnitOfWork, access: Access, session_id: object) -> UsageSession:
    if not isinstance(session_id, str):
        raise InvalidInput("session_id must be the id of an open session", "session_id")
    session = uow.usage.get_session(check_id("session", session_id))
    if session is None or session.contract_id != access.contract.id:
        raise NotFound(f"session {session_id} of contract {access.contract.id} not found")
    if not session.open:
        raise InvalidInput(f"session {session.id} has ended", "session_id")
    return session
