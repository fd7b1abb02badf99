"""Who a token belongs to is remembered for at most a second: a rotated token stops working
within that second wherever it was rotated, and at once in the process that rotated it."""

from __future__ import annotations

import pytest

from commex.adapters.memory import MemoryUnitOfWorkFactory
from commex.bootstrap import make_bus
from commex.domain.errors import Unauthenticated
from commex.services.commands import Register, RotateToken
from commex.services.queries import Authenticate
from commex.services.tokens import TokenCache


class FakeMonotonic:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _two_processes():  # type: ignore[no-untyped-def]
    """Two buses on one store, each with a token cache of its own (two server processes)."""
    store, clock = MemoryUnitOfWorkFactory(), FakeMonotonic()
    caches = TokenCache(clock), TokenCache(clock)
    first, second = (make_bus(store, tokens=cache) for cache in caches)
    return first, second, clock, caches


def test_a_token_rotated_elsewhere_stops_working_within_a_second() -> None:
    first, second, clock, (cache, _) = _two_processes()
    registered = first.handle(Register("Harbour", ("recipient",)))
    old = registered.token
    assert first.handle(Authenticate(old)).id == registered.account.id
    assert cache.account(old) is not None  # remembered
    second.handle(RotateToken(registered.account.id))
    clock.now += 0.5
    assert first.handle(Authenticate(old)).id == registered.account.id  # still within the second
    clock.now += 0.5
    with pytest.raises(Unauthenticated):
        first.handle(Authenticate(old))


def test_rotating_in_this_process_forgets_at_once() -> None:
    first, _, _, (cache, _) = _two_processes()
    registered = first.handle(Register("Harbour", ("recipient",)))
    first.handle(Authenticate(registered.token))
    new = first.handle(RotateToken(registered.account.id))
    assert cache.account(registered.token) is None
    with pytest.raises(Unauthenticated):
        first.handle(Authenticate(registered.token))
    assert first.handle(Authenticate(new)).id == registered.account.id


def test_a_refused_token_is_never_remembered_and_the_cache_is_bounded() -> None:
    clock = FakeMonotonic()
    cache = TokenCache(clock, max_entries=10)
    bus = make_bus(MemoryUnitOfWorkFactory(), tokens=cache)
    with pytest.raises(Unauthenticated):
        bus.handle(Authenticate("cx_not_a_token"))
    assert cache.account("cx_not_a_token") is None
    tokens = [bus.handle(Register(f"Member {i}", ("recipient",))).token for i in range(25)]
    for token in tokens:
        bus.handle(Authenticate(token))
    assert sum(cache.account(t) is not None for t in tokens) <= 10
    assert cache.account(tokens[-1]) is not None  # the newest stay


def test_a_cache_cannot_outlive_a_second() -> None:
    with pytest.raises(ValueError, match="ttl_s"):
        TokenCache(FakeMonotonic(), ttl_s=1.5)
