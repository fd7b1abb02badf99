"""Two-sided ratings (R1-R3) and what they need: client devices and the members of a contract.

A rating and the reputation it moves are written in one transaction, with the rated account's
row locked, so concurrent ratings of one account never lose an update. Telephone numbers are
validated and stored as E.164 with ``phonenumbers``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime

import phonenumbers

from commex.domain import members as member_rules
from commex.domain import ratings as rating_rules
from commex.domain.accounts import Account, Role
from commex.domain.contracts import Contract
from commex.domain.errors import Forbidden, InvalidInput, NotFound, Unauthenticated
from commex.domain.members import Device, Member, MemberKind
from commex.domain.ratings import Rater, Rating
from commex.domain.reputation import add_rating
from commex.services.auth import MAX_TOKEN, new_token, token_hash
from commex.services.loading import account_of, check_id
from commex.services.ports import Clock, IdGenerator, UnitOfWork, UnitOfWorkFactory

DEVICE_TOKEN_PREFIX = "cxd_"  # noqa: S105 - a visible prefix, not a secret
MAX_PHONE = 32


def e164(number: object, field: str = "phone_number") -> str:
    """A telephone number as E.164 (``+14155550123``); a bad one is an error naming it."""
    if not isinstance(number, str) or not 0 < len(number) <= MAX_PHONE:
        raise InvalidInput(f"{field} must be a telephone number such as +14155550123", field)
    try:
        parsed = phonenumbers.parse(number, None)
    except phonenumbers.NumberParseException as exc:
        raise InvalidInput(
            f"{number!r} is not a telephone number in international form (+country...)", field
        ) from exc
    if not phonenumbers.is_valid_number(parsed):
        raise InvalidInput(f"{number!r} is not a valid telephone number", field)
    return str(phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164))


@dataclass(frozen=True, slots=True)
class RegisteredDevice:
    """A new device and its token (shown this once; only its hash is stored)."""

    device: Device
    token: str


class Ratings:
    """Devices, contract members and ratings."""

    def __init__(self, uow: UnitOfWorkFactory, clock: Clock, ids: IdGenerator) -> None:
        self._uow = uow
        self._clock = clock
        self._ids = ids

    # -- devices ------------------------------------------------------------------------------

    def register_device(
        self, recipient_id: str, name: object, user: object, phone_numbers: Sequence[object] = ()
    ) -> RegisteredDevice:
        numbers = [e164(n, "phone_numbers") for n in phone_numbers]
        token = new_token(DEVICE_TOKEN_PREFIX)
        with self._uow() as uow:
            recipient = account_of(uow, recipient_id)
            device = member_rules.new_device(
                self._ids.new("dev"), recipient, name, user, numbers, self._clock.now()
            )
            uow.devices.add(device, token_hash(token))
            uow.commit()
        return RegisteredDevice(device, token)

    def device_by_token(self, token: str | None) -> Device:
        """The device a bearer token belongs to, or Unauthenticated."""
        if not token or len(token) > MAX_TOKEN or not token.startswith(DEVICE_TOKEN_PREFIX):
            raise Unauthenticated("a valid device token is required")
        with self._uow(write=False) as uow:
            device = uow.devices.by_token_hash(token_hash(token))
        if device is None:
            raise Unauthenticated("a valid device token is required")
        return device

    def devices_of(self, recipient_id: str) -> list[Device]:
        with self._uow(write=False) as uow:
            return uow.devices.of_recipient(recipient_id)

    # -- members ------------------------------------------------------------------------------

    def add_member(
        self,
        contract_id: str,
        caller_id: str,
        *,
        device_id: str | None = None,
        account_id: str | None = None,
        phone_number: str | None = None,
    ) -> Member:
        """The recipient shares its contract with a device, another recipient account or a
        telephone number, up to the terms' ``max_members``."""
        given = [v for v in (device_id, account_id, phone_number) if v is not None]
        if len(given) != 1:
            raise InvalidInput("give exactly one of device_id, account_id or phone_number")
        with self._uow() as uow:
            # The contract's row lock serialises additions, so concurrent ones cannot pass
            # max_members between the count and the insert.
            contract = _contract(uow, contract_id, lock=True)
            caller = account_of(uow, caller_id)
            if device_id is not None:
                kind, ref = MemberKind.DEVICE, check_id("device", device_id)
                device = uow.devices.get(ref)
                if device is None or device.recipient_id != contract.recipient_id:
                    raise NotFound(f"device {device_id} not found")
            elif account_id is not None:
                kind, ref = MemberKind.ACCOUNT, _member_account(uow, contract, account_id)
            else:
                kind, ref = MemberKind.PHONE, e164(phone_number)
            existing = uow.members.of_contract(contract.id)
            if _is_account_member(existing, caller.id) and caller.id != contract.recipient_id:
                raise Forbidden("only the contract's recipient adds members")
            member = member_rules.add_member(
                contract, caller, existing, kind, ref, self._ids.new("mem"), self._clock.now()
            )
            removed = [
                m
                for m in uow.members.of_contract(contract.id, removed=True)
                if m.kind is kind and m.ref == ref
            ]
            if removed:  # back again: the same membership, with its usage so far
                member = replace(removed[0], removed_at=None)
                uow.members.restore(member.id)
            else:
                uow.members.add(member)
            uow.commit()
        return member

    def members(self, contract_id: str) -> list[Member]:
        with self._uow(write=False) as uow:
            return uow.members.of_contract(contract_id)

    # -- ratings ------------------------------------------------------------------------------

    def rate(
        self,
        contract_id: str,
        *,
        account_id: str | None = None,
        device_id: str | None = None,
        satisfied: object,
        score: object = None,
        comment: object = None,
    ) -> Rating:
        """Rate the other side of a contract (from an account, or a member device of the
        recipient), once; the rated account's reputation moves in the same transaction."""
        with self._uow() as uow:
            contract = _contract(uow, contract_id)
            rater = _rater(uow, contract, account_id, device_id)
            if device_id is None and rater.account.id not in (
                contract.provider_id,
                contract.recipient_id,
            ):
                members = uow.members.of_contract(contract.id)
                if _is_account_member(members, rater.account.id):
                    raise Forbidden(
                        "only the contract's parties rate it; its recipient rates the provider "
                        "for every member"
                    )
            role, rated_id = rating_rules.side_of(contract, rater)
            people = uow.accounts.get_many({rater.account.id, rated_id})
            owners = {a.id: a.owner for a in people.values()}
            already = uow.ratings.exists(contract.id, role.value, rater.key)
            now = self._clock.now()
            rating = rating_rules.rate(
                contract, rater, owners, already, satisfied, score, comment, now,
                self._ids.new("rat"),
            )  # fmt: skip
            record_rating(uow, rating, rater.account.owner, now)
            uow.commit()
        return rating

    def ratings_of(self, contract_id: str) -> list[Rating]:
        with self._uow(write=False) as uow:
            return uow.ratings.of_contract(contract_id)


def record_rating(uow: UnitOfWork, rating: Rating, counterparty: str, now: datetime) -> None:
    """Store ``rating`` and move the rated account's reputation in the caller's unit of work,
    with the rated account's row locked; ``counterparty`` is the rater's owner (its weight in
    the rated reputation is capped)."""
    rated_id, role = rating.rated_id, rating.rated_role.value
    uow.accounts.lock(rated_id)
    uow.ratings.add(rating)
    tally = uow.reputations.tallies([rated_id], role).get(rated_id)
    pair = uow.reputations.pair(rated_id, role, counterparty)
    new_tally, new_pair, _ = add_rating(tally, pair, rating.satisfied, now)
    uow.reputations.put(rated_id, role, new_tally)
    uow.reputations.put_pair(rated_id, role, counterparty, new_pair)


def _contract(uow: UnitOfWork, contract_id: str, *, lock: bool = False) -> Contract:
    cid = check_id("contract", contract_id)
    contract = uow.contracts.get_for_update(cid) if lock else uow.contracts.get(cid)
    if contract is None:
        raise NotFound(f"contract {contract_id} not found")
    return contract


def _is_account_member(members: Sequence[Member], account_id: str) -> bool:
    return any(m.kind is MemberKind.ACCOUNT and m.ref == account_id for m in members)


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


def _rater(
    uow: UnitOfWork, contract: Contract, account_id: str | None, device_id: str | None
) -> Rater:
    if device_id is None:
        if account_id is None:
            raise InvalidInput("a rating comes from an account or a device")
        return Rater(account_of(uow, account_id))
    device = uow.devices.get(check_id("device", device_id))
    if device is None:
        raise NotFound(f"device {device_id} not found")
    owner: Account = account_of(uow, device.recipient_id)
    member = any(
        m.kind is MemberKind.DEVICE and m.ref == device.id
        for m in uow.members.of_contract(contract.id)
    )
    return Rater(owner, device.id, member)
