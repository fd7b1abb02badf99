"""Clocks and id generators: the system's, and a settable one for tests and demos."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta

from commex.domain.time import require_utc


class SystemClock:
    """The real time, in UTC."""

    def now(self) -> datetime:
        return datetime.now(UTC)


class ManualClock:
    """A clock that moves only when told to, so time-based rules are deterministic."""

    def __init__(self, start: datetime) -> None:
        self._now = require_utc(start)

    def now(self) -> datetime:
        return self._now

    def advance(self, seconds: float) -> datetime:
        self._now += timedelta(seconds=seconds)
        return self._now

    def set(self, moment: datetime) -> None:
        self._now = require_utc(moment)


class RandomIds:
    """Unguessable ids: a short type prefix and 80 random bits (``auc_5f0c2a9b1e7d44c08a31``)."""

    def new(self, prefix: str) -> str:
        return f"{prefix}_{secrets.token_hex(10)}"


class SequentialIds:
    """Predictable ids for tests: ``auc_1``, ``bid_2``..."""

    def __init__(self) -> None:
        self._n = 0

    def new(self, prefix: str) -> str:
        self._n += 1
        return f"{prefix}_{self._n}"
