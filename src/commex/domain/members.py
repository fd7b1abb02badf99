"""Devices and the members of a contract (T2): who may share a block of service."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from commex.domain.accounts import Account, Role, check_name
from commex.domain.contracts import Contract
from commex.domain.errors import Conflict, Forbidden, InvalidInput, NotFound

MAX_PHONES = 8


@dataclass(frozen=True, slots=True)
class Device:
    """A client communications device of a recipient's user, with its own credential."""

    id: str
    recipient_id: str
    name: str
    user: str
    phone_numbers: tuple[str, ...]
    created_at: datetime


class MemberKind(StrEnum):
    DEVICE = "device"
    ACCOUNT = "account"
    PHONE = "phone"


@dataclass(frozen=True, slots=True)
class Member:
    """One sharer of a contract's block: a device, a recipient account or an E.164 number."""

    id: str
    contract_id: str
    kind: MemberKind
    ref: str
    created_at: datetime
    removed_at: datetime | None = None


def new_device(
    device_id: str,
    recipient: Account,
    name: object,
    user: object,
    phone_numbers: Sequence[str],
    now: datetime,
) -> Device:
    """A device of ``recipient``; numbers must already be E.164 (the services parse them)."""
    if not recipient.has(Role.RECIPIENT):
        raise Forbidden("only a recipient registers client devices")
    if len(phone_numbers) > MAX_PHONES:
        raise InvalidInput(f"at most {MAX_PHONES} phone numbers", "phone_numbers")
    try:
        user_name = check_name(user)
    except InvalidInput as exc:
        raise InvalidInput(exc.message.replace("name", "user", 1), "user") from exc
    return Device(device_id, recipient.id, check_name(name), user_name, tuple(phone_numbers), now)


def add_member(
    contract: Contract,
    caller: Account,
    existing: Sequence[Member],
    kind: MemberKind,
    ref: str,
    member_id: str,
    now: datetime,
) -> Member:
    """The contract's recipient adds a sharer, up to the terms' ``max_members``."""
    if caller.id != contract.recipient_id:
        if caller.id == contract.provider_id:
            raise Forbidden("only the contract's recipient adds members")
        raise NotFound(f"contract {contract.id} not found")
    if any(m.kind is kind and m.ref == ref for m in existing):
        raise Conflict(f"that {kind} is already a member of this contract")
    limit = contract.terms.max_members
    if len(existing) >= limit:
        raise Conflict(f"this contract is shared by at most {limit} member(s); it has {limit}")
    return Member(member_id, contract.id, kind, ref, now)
