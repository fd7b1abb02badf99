"""Attempt counters per key (a login name, a client address, an account saving cards), kept
in the database so every server process, and every host on one database, throttles alike."""

from __future__ import annotations

from typing import Protocol

from commex.domain.throttling import ThrottleState


class ThrottleRepository(Protocol):
    def get(self, key: str) -> ThrottleState | None: ...

    def put(self, key: str, state: ThrottleState) -> None:
        """Store the key's state, replacing what was there."""
        ...

    def delete(self, key: str) -> None: ...
