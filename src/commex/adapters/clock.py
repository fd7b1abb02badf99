"""Clocks and id generators: the system's, and a settable one for tests and demos."""

from __future__ import annotations

import os
import threading
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


class _RandomHex:
    """Hex digits from the system's source of randomness (as ``secrets`` reads it), drawn
    4 KiB at a time: a draw is a system call that lets go of the interpreter's lock, and a
    thread that then waits to take it back may wait for another thread's whole turn (5 ms),
    so one draw per id held up each batch of bids many times over."""

    _DRAW = 4096

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pool = ""
        self._at = 0

    def take(self, digits: int) -> str:
        with self._lock:
            if self._at + digits > len(self._pool):
                self._pool = os.urandom(self._DRAW).hex()
                self._at = 0
            start = self._at
            self._at += digits
            return self._pool[start : self._at]

    def forget(self) -> None:
        """Draw afresh: a forked process must not repeat its parent's digits."""
        self._lock = threading.Lock()
        self._pool, self._at = "", 0


_HEX = _RandomHex()
os.register_at_fork(after_in_child=_HEX.forget)


def random_hex(digits: int) -> str:
    """``digits`` random hex digits (4 random bits each), each handed out once."""
    return _HEX.take(digits)


class RandomIds:
    """Unguessable ids: a short type prefix and 80 random bits (``auc_5f0c2a9b1e7d44c08a31``)."""

    def new(self, prefix: str) -> str:
        return f"{prefix}_{random_hex(20)}"


class SequentialIds:
    """Predictable ids for tests: ``auc_1``, ``bid_2``..."""

    def __init__(self) -> None:
        self._n = 0

    def new(self, prefix: str) -> str:
        self._n += 1
        return f"{prefix}_{self._n}"
