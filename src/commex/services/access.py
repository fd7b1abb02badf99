"""Who may do what with a contract: its parties, the operator, and its members (accounts,
and devices acting with their own token). To anyone else a contract does not exist."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from commex.domain.accounts import Account
from commex.domain.contracts import Contract
from commex.domain.errors import InvalidInput, NotFound
from commex.domain.members import Member, MemberKind
from commex.services.commands import Caller
from commex.services.loading import account_of, check_id, contract_of
from commex.services.ports import UnitOfWork


@dataclass(frozen=True, slots=True)
class Access:
    """What a caller may do with one contract."""

    contract: Contract
    recipient: bool  # may report for any member and manage members
    own_members: frozenset[str]  # the member ids the caller may report usage for


def access(uow: UnitOfWork, contract_id: str, caller: Caller, *, lock: bool) -> Access:
    """What ``caller`` may do with the contract; NotFound for anyone who is neither a party nor
    a member (a stranger learns nothing, not even that it exists)."""
    contract = contract_of(uow, contract_id, lock=lock)
    members = uow.contracts.members(contract.id)
    account = None
    if caller.device is None and caller.account_id is not None:
        account = account_of(uow, caller.account_id)
    return access_with(contract, members, caller, account)


def access_with(
    contract: Contract, members: Sequence[Member], caller: Caller, account: Account | None
) -> Access:
    """What ``caller`` may do with ``contract``, given its current ``members`` and, for a
    caller that is an account, that ``account`` (read by the caller)."""
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
            raise NotFound(f"contract {contract.id} not found")
        return Access(contract, False, own)
    if account is None:
        raise InvalidInput("a contract is read by an account or a device")
    if account.id == contract.recipient_id:
        return Access(contract, True, frozenset(m.id for m in members))
    if account.id == contract.provider_id or account.is_operator:
        return Access(contract, False, frozenset())
    own = frozenset(m.id for m in members if m.kind is MemberKind.ACCOUNT and m.ref == account.id)
    if not own:
        raise NotFound(f"contract {contract.id} not found")
    return Access(contract, False, own)


def member_of(uow: UnitOfWork, contract: Contract, member_id: object) -> Member:
    """A current member of the contract, or NotFound."""
    return member_among(contract, member_id, uow.contracts.member)


def member_among(
    contract: Contract, member_id: object, find: Callable[[str], Member | None]
) -> Member:
    """A current member of the contract, found by ``find`` (a member of any contract, current
    or removed, by id), or NotFound."""
    if not isinstance(member_id, str):
        raise InvalidInput("member_id must be the id of a member of the contract", "member_id")
    member = find(check_id("member", member_id))
    if member is None or member.contract_id != contract.id or member.removed_at is not None:
        raise NotFound(f"member {member_id} of contract {contract.id} not found")
    return member
