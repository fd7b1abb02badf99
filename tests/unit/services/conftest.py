"""Fixtures of the services' unit tests: a bus over the in-memory store with a clock the test
moves, sequential ids and reputations set by hand, and a cast of accounts."""

from types import SimpleNamespace

import pytest

from commex.adapters.clock import ManualClock, SequentialIds
from commex.adapters.memory import FixedReputations
from commex.bootstrap import in_memory_exchange
from support.engine import register
from support.moments import T0


@pytest.fixture
def clock():
    return ManualClock(T0)


@pytest.fixture
def reps():
    return FixedReputations()


@pytest.fixture
def ex(clock, reps):
    return in_memory_exchange(clock=clock, ids=SequentialIds(), reputations=reps)


@pytest.fixture
def who(ex):
    def make(name, *roles):
        return register(ex, name, list(roles)).id

    return SimpleNamespace(
        seller=make("Seller", "provider"),
        buyer=make("Buyer", "recipient"),
        alice=make("Alice", "recipient"),
        bob=make("Bob", "recipient"),
        carol=make("Carol", "recipient"),
        p1=make("P One", "provider"),
        p2=make("P Two", "provider"),
        op=register(ex, "Operator", ["operator"], allow_operator=True).id,
    )
