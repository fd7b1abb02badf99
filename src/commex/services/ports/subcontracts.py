"""Subcontracts with their metered runs, and the node keys providers' nodes authenticate with."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Protocol

from commex.domain.errors import Conflict
from commex.domain.nodekeys import NodeKey
from commex.domain.paging import Key
from commex.domain.subcontracts import Subcontract


def run_metered(contract_id: str, run_id: str) -> Conflict:
    """How every subcontract repository refuses a run metered twice."""
    return Conflict(f"run {run_id} of subcontract {contract_id} is metered already")


class SubcontractRepository(Protocol):
    def add(self, sub: Subcontract, work_token_hash: str) -> None:
        """Store a new subcontract: its contract and its own part."""
        ...

    def get(self, contract_id: str) -> Subcontract | None: ...

    def get_for_update(self, contract_id: str) -> Subcontract | None:
        """Read the subcontract and hold its row lock until the unit of work ends (serialises
        its metering and its closing)."""
        ...

    def work_token_hash(self, contract_id: str) -> str | None:
        """The hash of the token the subcontracting plane presents to the node."""
        ...

    def update(self, sub: Subcontract) -> None:
        """Store its packets, outcome, detail and close, and its contract's status."""
        ...

    def under_parent(
        self, parent_id: str, after: Key | None = None, limit: int | None = None
    ) -> list[Subcontract]:
        """The parent contract's subcontracts, oldest first: after the key ``after`` (micros
        of creation, id) when given, at most ``limit`` of them when given."""
        ...

    def of_account(self, account_id: str, after: Key | None, limit: int) -> list[Subcontract]:
        """Subcontracts the account is either provider of, newest first, after the key
        ``after`` (micros of creation, id) when given."""
        ...

    def add_run(self, contract_id: str, run_id: str, packets: int, now: datetime) -> None:
        """Record a metered run; the same run twice raises Conflict."""
        ...

    def run_packets(self, contract_id: str, run_id: str) -> int | None:
        """The packets a run was metered with, or None if it was not."""
        ...

    def check_tallies(self, provider_ids: Iterable[str]) -> dict[str, tuple[int, int]]:
        """Each provider's automatic ratings from planes' checks: (positive, negative), one
        query; providers with none are left out."""
        ...


class NodeKeyRepository(Protocol):
    def add(self, key: NodeKey, key_hash: str) -> None: ...

    def get(self, key_id: str) -> NodeKey | None: ...

    def by_hash(self, key_hash: str) -> NodeKey | None:
        """The key with this hash, revoked or not."""
        ...

    def of_provider(self, provider_id: str) -> list[NodeKey]:
        """The provider's keys, revoked ones too, newest first."""
        ...

    def revoke(self, key_id: str, now: datetime) -> None: ...
