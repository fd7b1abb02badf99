"""Contracts with their members, the members' usage sessions and the packet plane's deliveries."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from datetime import datetime
from typing import Protocol

from commex.domain.contracts import Contract
from commex.domain.errors import Conflict
from commex.domain.members import Member
from commex.domain.service_level import Delivery, ServiceLevel
from commex.domain.usage import MemberUsage, UsageSession


def member_taken(member: Member) -> Conflict:
    """How every contract repository refuses a member added twice."""
    return Conflict(f"that {member.kind} is already a member of this contract")


def run_recorded(delivery: Delivery) -> Conflict:
    """How every contract repository refuses a delivery recorded twice."""
    return Conflict(f"run {delivery.run_id} of contract {delivery.contract_id} is recorded already")


class ContractRepository(Protocol):
    def add_many(self, contracts: Sequence[Contract]) -> None: ...

    def get(self, contract_id: str) -> Contract | None: ...

    def get_for_update(self, contract_id: str) -> Contract | None:
        """Read the contract and hold its row lock until the unit of work ends (serialises
        metering of its block and changes of its members)."""
        ...

    def many_for_update(self, contract_ids: Collection[str]) -> dict[str, Contract]:
        """Read those of the contracts that exist, in one statement, and hold their row locks
        (taken in id order) until the unit of work ends."""
        ...

    def update(self, contract: Contract) -> None:
        """Store the contract's status, start and end."""
        ...

    def end_if_in_force(self, contract: Contract) -> bool:
        """Store ``contract`` (just ended) only if the stored one is still in force, in one
        atomic statement: whether it was (so of several servers ending it, one does)."""
        ...

    def set_used(self, contract_id: str, used_ms: int) -> None: ...

    def of_provider(self, provider_id: str, status: str | None) -> list[Contract]:
        """The provider's contracts (in one status, if given), newest first."""
        ...

    def for_auction(self, auction_id: str) -> list[Contract]:
        """The auction's contracts, by id."""
        ...

    def for_account(self, account_id: str) -> list[Contract]:
        """Contracts the account is a party to or a current member of, newest first."""
        ...

    def due_to_start(self, now: datetime, limit: int) -> list[Contract]:
        """Awarded contracts whose usage window has opened, earliest first."""
        ...

    def due_to_complete(self, now: datetime, limit: int) -> list[Contract]:
        """Contracts in force whose usage window has ended by ``now``, earliest first."""
        ...

    # -- its members ----------------------------------------------------------------------------

    def add_member(self, member: Member) -> None:
        """Add a member; the same device, number or account twice raises Conflict."""
        ...

    def member(self, member_id: str) -> Member | None:
        """A member, current or removed."""
        ...

    def remove_member(self, member_id: str, now: datetime) -> None:
        """Mark the member removed at ``now`` (its usage stays on record)."""
        ...

    def restore_member(self, member_id: str) -> None:
        """Make a removed member current again."""
        ...

    def members(self, contract_id: str, *, removed: bool = False) -> list[Member]:
        """The contract's current members (and the removed ones with ``removed=True``), in the
        order they were added."""
        ...

    def members_of(self, contract_ids: Collection[str]) -> dict[str, list[Member]]:
        """Every member of each contract, removed ones too, in the order they were added (one
        read); a contract without members has an empty list."""
        ...

    # -- its usage ------------------------------------------------------------------------------

    def add_session(self, session: UsageSession) -> None: ...

    def add_sessions(self, sessions: Sequence[UsageSession]) -> None:
        """Add many sessions in one statement."""
        ...

    def session(self, session_id: str) -> UsageSession | None: ...

    def update_session(self, session: UsageSession) -> None:
        """Store the session's end, seconds and bytes."""
        ...

    def open_sessions(self, member_id: str) -> list[UsageSession]:
        """The member's sessions not yet ended, oldest first."""
        ...

    def sessions(self, contract_id: str, limit: int) -> list[UsageSession]:
        """The contract's latest ``limit`` usage sessions, in the order they started."""
        ...

    def usage_by_member(self, contract_id: str) -> list[MemberUsage]:
        """Each member's usage of the contract so far, by member id (one grouped query)."""
        ...

    # -- the packet plane's deliveries ----------------------------------------------------------

    def add_delivery(self, delivery: Delivery) -> None:
        """Record a delivery; the same run of one contract twice raises Conflict."""
        ...

    def delivery_by_run(self, contract_id: str, run_id: str) -> Delivery | None: ...

    def deliveries(self, contract_id: str, limit: int) -> list[Delivery]:
        """The contract's newest deliveries, newest first."""
        ...

    def service_levels(
        self, provider_ids: Iterable[str], since: datetime
    ) -> dict[str, ServiceLevel]:
        """Measured deliveries and breaches of each provider since ``since`` (one query);
        providers with none are left out."""
        ...
