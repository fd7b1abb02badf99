"""In-memory attempt counters per key."""

from __future__ import annotations

from typing import TYPE_CHECKING

from commex.domain.throttling import ThrottleState

if TYPE_CHECKING:
    from commex.adapters.memory.store import MemoryStore


class MemoryThrottles:
    def __init__(self, store: MemoryStore) -> None:
        self._s = store

    def get(self, key: str) -> ThrottleState | None:
        return self._s.throttles.get(key)

    def put(self, key: str, state: ThrottleState) -> None:
        self._s.throttles[key] = state

    def delete(self, key: str) -> None:
        self._s.throttles.pop(key, None)
