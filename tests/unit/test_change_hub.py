"""The hub that wakes live pages: a change wakes the pages of its auction and the lists; after
a gap in what other servers said, every page is woken."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from commex.adapters.events import ChangeHub
from commex.domain.events import BidPlaced


def test_a_bid_wakes_its_auction_and_the_lists_and_is_relayed() -> None:
    async def scenario() -> tuple[bool, bool, bool, list[set[str]]]:
        hub = ChangeHub()
        relayed: list[set[str]] = []
        hub.relay_to(lambda keys: relayed.append(set(keys)))
        own = asyncio.create_task(hub.wait("auc_1", 5))
        lists = asyncio.create_task(hub.wait("*", 5))
        other = asyncio.create_task(hub.wait("auc_2", 0.2))
        await asyncio.sleep(0)  # let the three start waiting
        hub.publish([BidPlaced("auc_1", "bid_1", 1, datetime(2026, 1, 1, tzinfo=UTC))])
        return await own, await lists, await other, relayed

    own, lists, other, relayed = asyncio.run(scenario())
    assert (own, lists, other) == (True, True, False)
    assert relayed == [{"*", "auc_1"}]


def test_waking_all_reaches_every_page() -> None:
    async def scenario() -> list[bool]:
        hub = ChangeHub()
        waits = [asyncio.create_task(hub.wait(k, 5)) for k in ("auc_1", "auc_2", "*")]
        await asyncio.sleep(0)
        hub.wake_all()
        return [await w for w in waits]

    assert asyncio.run(scenario()) == [True, True, True]
