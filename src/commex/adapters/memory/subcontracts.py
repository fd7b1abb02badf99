"""In-memory subcontracts with their metered runs, and node keys."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING

from commex.domain.nodekeys import NodeKey
from commex.domain.paging import Key, page_after
from commex.domain.subcontracts import CHECK_RATER, Subcontract
from commex.domain.time import to_micros
from commex.services.ports.subcontracts import run_metered

if TYPE_CHECKING:
    from commex.adapters.memory.store import MemoryStore


class MemorySubcontracts:
    def __init__(self, store: MemoryStore) -> None:
        self._s = store

    def add(self, sub: Subcontract, work_token_hash: str) -> None:
        self._s.contracts[sub.id] = sub.contract
        self._s.subcontracts[sub.id] = (sub, work_token_hash)

    def get(self, contract_id: str) -> Subcontract | None:
        found = self._s.subcontracts.get(contract_id)
        if found is None:
            return None
        return replace(found[0], contract=self._s.contracts[contract_id])

    get_for_update = get  # the unit of work holds the store's lock

    def work_token_hash(self, contract_id: str) -> str | None:
        found = self._s.subcontracts.get(contract_id)
        return None if found is None else found[1]

    def update(self, sub: Subcontract) -> None:
        _, token_hash = self._s.subcontracts[sub.id]
        was = self._s.contracts[sub.id]
        now = sub.contract
        self._s.contracts[sub.id] = replace(
            was, status=now.status, ended_at=now.ended_at, end_reason=now.end_reason,
            end_note=now.end_note, ended_by=now.ended_by,
        )  # fmt: skip
        self._s.subcontracts[sub.id] = (sub, token_hash)

    def _all(self) -> list[Subcontract]:
        return [x for x in (self.get(i) for i in self._s.subcontracts) if x is not None]

    def under_parent(
        self, parent_id: str, after: Key | None = None, limit: int | None = None
    ) -> list[Subcontract]:
        found = [x for x in self._all() if x.parent_id == parent_id]
        key = lambda x: (to_micros(x.contract.created_at), x.id)  # noqa: E731
        return list(page_after(found, key, after, limit or len(found) or 1).items)

    def of_account(self, account_id: str, after: Key | None, limit: int) -> list[Subcontract]:
        found = [
            x
            for x in self._all()
            if account_id in (x.contract.provider_id, x.contract.recipient_id)
        ]
        key = lambda x: (to_micros(x.contract.created_at), x.id)  # noqa: E731
        return list(page_after(found, key, after, limit, descending=True).items)

    def add_run(self, contract_id: str, run_id: str, packets: int, now: datetime) -> None:
        if (contract_id, run_id) in self._s.subcontract_runs:
            raise run_metered(contract_id, run_id)
        self._s.subcontract_runs[(contract_id, run_id)] = packets

    def run_packets(self, contract_id: str, run_id: str) -> int | None:
        return self._s.subcontract_runs.get((contract_id, run_id))

    def check_tallies(self, provider_ids: Iterable[str]) -> dict[str, tuple[int, int]]:
        wanted = set(provider_ids)
        out: dict[str, tuple[int, int]] = {}
        for r in self._s.ratings.values():
            mine = r.rated_id in wanted and r.rated_role.value == "provider"
            if mine and r.rater_key == CHECK_RATER:
                pos, neg = out.get(r.rated_id, (0, 0))
                out[r.rated_id] = (pos + r.satisfied, neg + (not r.satisfied))
        return out


class MemoryNodeKeys:
    def __init__(self, store: MemoryStore) -> None:
        self._s = store

    def add(self, key: NodeKey, key_hash: str) -> None:
        self._s.node_keys[key.id] = (key, key_hash)

    def get(self, key_id: str) -> NodeKey | None:
        found = self._s.node_keys.get(key_id)
        return None if found is None else found[0]

    def by_hash(self, key_hash: str) -> NodeKey | None:
        return next((k for k, h in self._s.node_keys.values() if h == key_hash), None)

    def of_provider(self, provider_id: str) -> list[NodeKey]:
        found = [k for k, _ in self._s.node_keys.values() if k.provider_id == provider_id]
        return sorted(found, key=lambda k: (k.created_at, k.id), reverse=True)

    def revoke(self, key_id: str, now: datetime) -> None:
        key, key_hash = self._s.node_keys[key_id]
        if key.revoked_at is None:
            self._s.node_keys[key_id] = (replace(key, revoked_at=now), key_hash)
