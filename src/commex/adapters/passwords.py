"""Password hashing with argon2id (memory-hard), through the PasswordHasher port.

Each hash takes its ``memory_cost`` of memory (64 MiB with the defaults) for as long as it
runs, so the hashes in flight are bounded: at most ``max_parallel`` run at once, the others
wait their turn, and one that has waited ``max_wait`` seconds is refused as throttled. Without
the bound, 24 concurrent logins took a server from 123 MB to 1.16 GB.
"""

from __future__ import annotations

import os
import threading

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from commex.domain.errors import Throttled


def default_parallel() -> int:
    """One hash per core (at least two): more only share the same cores and add memory."""
    return max(2, os.cpu_count() or 2)


class Argon2Hasher:
    """argon2id with the library's defaults (RFC 9106's low-memory profile) unless told
    otherwise; tests pass a small ``memory_kib`` to stay fast."""

    def __init__(
        self,
        time_cost: int | None = None,
        memory_kib: int | None = None,
        *,
        max_parallel: int | None = None,
        max_wait: float = 10.0,
    ) -> None:
        defaults = PasswordHasher()
        self._ph = PasswordHasher(
            time_cost=defaults.time_cost if time_cost is None else time_cost,
            memory_cost=defaults.memory_cost if memory_kib is None else memory_kib,
        )
        self.max_parallel = max_parallel or default_parallel()
        self._slots = threading.BoundedSemaphore(self.max_parallel)
        self._max_wait = max_wait

    def hash(self, password: str) -> str:
        with self._slot():
            return self._ph.hash(password)

    def verify(self, password_hash: str, password: str) -> bool:
        with self._slot():
            try:
                return self._ph.verify(password_hash, password)
            except (VerificationError, InvalidHashError):
                return False

    def _slot(self) -> _Slot:
        if not self._slots.acquire(timeout=self._max_wait):
            raise Throttled("the server is busy checking passwords; please try again", 2)
        return _Slot(self._slots)


class _Slot:
    """A held place among the hashes in flight, given back on leaving the ``with``."""

    def __init__(self, slots: threading.BoundedSemaphore) -> None:
        self._slots = slots

    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        self._slots.release()
