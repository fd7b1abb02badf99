"""Password hashing with argon2id (memory-hard), through the PasswordHasher port."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError


class Argon2Hasher:
    """argon2id with the library's defaults (RFC 9106's low-memory profile) unless told
    otherwise; tests pass a small ``memory_kib`` to stay fast."""

    def __init__(self, time_cost: int | None = None, memory_kib: int | None = None) -> None:
        defaults = PasswordHasher()
        self._ph = PasswordHasher(
            time_cost=defaults.time_cost if time_cost is None else time_cost,
            memory_cost=defaults.memory_cost if memory_kib is None else memory_kib,
        )

    def hash(self, password: str) -> str:
        return self._ph.hash(password)

    def verify(self, password_hash: str, password: str) -> bool:
        try:
            return self._ph.verify(password_hash, password)
        except (VerificationError, InvalidHashError):
            return False
