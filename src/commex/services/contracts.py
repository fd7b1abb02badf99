"""Contracts in use: who may see and act on one, its members (T2), and what its parties,
members and the operator see of it.

A contract is visible to its parties, the operator and its members (member accounts, member
devices with their own token); to anyone else it does not exist. Members are added and removed
with the contract's row locked, so concurrent additions cannot pass ``max_members``.
"""

from __future__ import annotations

from dataclasses import replace

from commex.domain import members as member_rules
from commex.domain.accounts import Role
from commex.domain.contracts import Contract, ContractStatus
from commex.domain.errors import Forbidden, InvalidInput, NotFound
from commex.domain.members import Member, MemberKind
from commex.services import audit
from commex.services import commands as c
from commex.services import queries as q
from commex.services.access import access, member_of
from commex.services.bus import Deps
from commex.services.devices import e164
from commex.services.loading import account_of, check_id, contract_of
from commex.services.ports import UnitOfWork
from commex.services.ratings import is_account_member
from commex.services.results import ContractLine, ContractView, party
from commex.services.subcontracts import line_of, lines_under
from commex.services.usage import usage_view

_STATUSES = {s.value for s in ContractStatus}


# -- members -------------------------------------------------------------------------------------


def add_member(cmd: c.AddMember, uow: UnitOfWork, deps: Deps) -> Member:
    """The recipient shares its contract with a device, another recipient account or a
    telephone number, up to the terms' ``max_members``; a member removed before comes back
    with its usage so far."""
    given = [v for v in (cmd.device_id, cmd.account_id, cmd.phone_number) if v is not None]
    if len(given) != 1:
        raise InvalidInput("give exactly one of device_id, account_id or phone_number")
    contract = contract_of(uow, cmd.contract_id, lock=True)
    caller = account_of(uow, cmd.caller_id)
    if contract.is_subcontract:
        raise Forbidden("a subcontract between providers has no members")
    if cmd.device_id is not None:
        kind, ref = MemberKind.DEVICE, check_id("device", cmd.device_id)
        device = uow.accounts.device(ref)
        if device is None or device.recipient_id != contract.recipient_id:
            raise NotFound(f"device {cmd.device_id} not found")
    elif cmd.account_id is not None:
        kind, ref = MemberKind.ACCOUNT, _member_account(uow, contract, cmd.account_id)
    else:
        kind, ref = MemberKind.PHONE, e164(cmd.phone_number)
    existing = uow.contracts.members(contract.id)
    if is_account_member(existing, caller.id) and caller.id != contract.recipient_id:
        raise Forbidden("only the contract's recipient adds members")
    member = member_rules.add_member(
        contract, caller, existing, kind, ref, deps.ids.new("mem"), deps.clock.now()
    )
    removed = [
        m
        for m in uow.contracts.members(contract.id, removed=True)
        if m.kind is kind and m.ref == ref
    ]
    if removed:  # back again: the same membership, with its usage so far
        member = replace(removed[0], removed_at=None)
        uow.contracts.restore_member(member.id)
    else:
        uow.contracts.add_member(member)
    _audit_member(uow, deps, "member.added", contract, member, caller.id)
    return member


def remove_member(cmd: c.RemoveMember, uow: UnitOfWork, deps: Deps) -> Member:
    """The recipient takes a member off the contract; its usage so far stays on record and its
    open sessions end now."""
    now = deps.clock.now()
    found = access(uow, cmd.contract_id, c.Caller(cmd.caller_id), lock=True)
    if not found.recipient:
        raise Forbidden("only the contract's recipient removes members")
    member = member_of(uow, found.contract, cmd.member_id)
    group = uow.groups.group_of_auction(found.contract.auction_id)
    if group is not None and member.kind is MemberKind.ACCOUNT:
        raise Forbidden(
            f"{member.ref} is a member of group {group}, which bought this contract for every "
            "member; group members are not removed from it"
        )
    for session in uow.contracts.open_sessions(member.id):
        uow.contracts.update_session(replace(session, ended_at=now))
    uow.contracts.remove_member(member.id, now)
    _audit_member(uow, deps, "member.removed", found.contract, member, cmd.caller_id)
    return replace(member, removed_at=now)


def _audit_member(
    uow: UnitOfWork, deps: Deps, action: str, contract: Contract, member: Member, by: str | None
) -> None:
    """A membership change: it concerns the recipient and a member account."""
    account = member.ref if member.kind is MemberKind.ACCOUNT else None
    audit.record(
        uow, deps, action, contract.id, by=by, accounts=(contract.recipient_id, account),
        detail={"member": member.id, "kind": member.kind.value, "ref": member.ref},
    )  # fmt: skip


def _member_account(uow: UnitOfWork, contract: Contract, account_id: str) -> str:
    """A recipient account other than the contract's parties, which share it already."""
    account = account_of(uow, account_id)
    if account.id in (contract.provider_id, contract.recipient_id):
        raise InvalidInput("the contract's own parties are not added as members", "account_id")
    if not account.has(Role.RECIPIENT):
        raise InvalidInput(
            f"account {account.id} is not a recipient account; a block is shared among recipients",
            "account_id",
        )
    return account.id


# -- what is seen of contracts -------------------------------------------------------------------


def show_contract(query: q.ShowContract, uow: UnitOfWork, deps: Deps) -> ContractView:
    """The contract with its parties (and their reputations), members, usage and ratings, and
    the names of everyone on it."""
    found = access(uow, query.contract_id, query.caller, lock=False)
    contract = found.contract
    usage = usage_view(uow, contract)
    ratings = tuple(uow.ratings.of_contract(contract.id))
    member_accounts = {s.member.ref for s in usage.members if s.member.kind is MemberKind.ACCOUNT}
    ids = {contract.provider_id, contract.recipient_id} | member_accounts
    ids |= {r.rated_id for r in ratings} | {r.rater_account_id for r in ratings}
    accounts = uow.accounts.get_many(ids)
    reps = deps.reputations
    provider_rep = reps.of(uow, contract.provider_id, Role.PROVIDER)
    recipient_rep = reps.of(uow, contract.recipient_id, Role.RECIPIENT)
    paid = uow.charges.settled_counts({contract.provider_id, contract.recipient_id})
    subs = lines_under(uow, deps, contract, query.caller.account_id)
    return ContractView(
        usage=usage,
        provider=party(accounts.get(contract.provider_id), contract.provider_id, Role.PROVIDER,
                       provider_rep, paid),
        recipient=party(accounts.get(contract.recipient_id), contract.recipient_id,
                        Role.RECIPIENT, recipient_rep, paid),
        ratings=ratings,
        names={i: a.name for i, a in accounts.items()},
        devices=tuple(uow.accounts.devices_of(contract.recipient_id)),
        subcontracts=subs.items,
        subcontracts_next=subs.next_key,
        subcontract=(
            line_of(uow, deps, sub) if (sub := uow.subcontracts.get(contract.id)) else None
        ),
    )  # fmt: skip


def party_contract(query: q.PartyContract, uow: UnitOfWork, deps: Deps) -> Contract:
    """A contract, to its parties and the operator only."""
    contract = uow.contracts.get(check_id("contract", query.contract_id))
    viewer = account_of(uow, query.viewer_id)
    if contract is None or (
        viewer.id not in (contract.provider_id, contract.recipient_id) and not viewer.is_operator
    ):
        raise NotFound(f"contract {query.contract_id} not found")
    return contract


def my_contracts(query: q.MyContracts, uow: UnitOfWork, deps: Deps) -> list[Contract]:
    return uow.contracts.for_account(query.account_id)


def my_contract_lines(query: q.MyContractLines, uow: UnitOfWork, deps: Deps) -> list[ContractLine]:
    me = query.account_id
    found = uow.contracts.for_account(me)
    sides = []
    for x in found:
        if me == x.provider_id:
            sides.append(("provider", x.recipient_id, Role.RECIPIENT))
        else:
            mine = "recipient" if me == x.recipient_id else "member"
            sides.append((mine, x.provider_id, Role.PROVIDER))
    accounts = uow.accounts.get_many({other for _, other, _ in sides})
    paid = uow.charges.settled_counts({other for _, other, _ in sides})
    reps = {
        role: deps.reputations.of_many(uow, {o for _, o, r in sides if r is role}, role)
        for role in {r for _, _, r in sides}
    }
    return [
        ContractLine(x, mine, party(accounts.get(other), other, role, reps[role][other], paid))
        for x, (mine, other, role) in zip(found, sides, strict=True)
    ]


def provider_contracts(query: q.ProviderContracts, uow: UnitOfWork, deps: Deps) -> list[Contract]:
    """The provider's contracts, e.g. the active ones its nodes should serve."""
    status = query.status
    if status is not None and status not in _STATUSES:
        raise InvalidInput(
            f"status must be one of {', '.join(sorted(_STATUSES))}, not {status!r}", "status"
        )
    account_of(uow, query.provider_id)
    return uow.contracts.of_provider(query.provider_id, status)
