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


class Reads:
    """A read of a key that the test finishes by hand, counting how many were started."""

    def __init__(self) -> None:
        self.started: list[asyncio.Future[str]] = []

    def call(self) -> asyncio.Future[str]:
        read: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self.started.append(read)
        return read


def test_pages_woken_by_one_change_share_one_read() -> None:
    async def scenario() -> tuple[list[str], int]:
        hub, reads = ChangeHub(), Reads()
        pages = [asyncio.create_task(hub.read("auc_1", reads.call)) for _ in range(50)]
        await asyncio.sleep(0)
        reads.started[0].set_result("state 1")
        return list(await asyncio.gather(*pages)), len(reads.started)

    answers, started = asyncio.run(scenario())
    assert answers == ["state 1"] * 50 and started == 1


def test_a_change_during_a_read_makes_the_next_page_read_again() -> None:
    async def scenario() -> tuple[str, str, str, int]:
        hub, reads = ChangeHub(), Reads()
        early = asyncio.create_task(hub.read("auc_1", reads.call))
        other = asyncio.create_task(hub.read("auc_2", reads.call))
        await asyncio.sleep(0)
        hub.publish([BidPlaced("auc_1", "bid_1", 1, datetime(2026, 1, 1, tzinfo=UTC))])
        late = asyncio.create_task(hub.read("auc_1", reads.call))  # woken by the bid
        await asyncio.sleep(0)
        for n, read in enumerate(reads.started):
            read.set_result(f"read {n}")
        return await early, await late, await other, len(reads.started)

    early, late, other, started = asyncio.run(scenario())
    # The read begun before the bid may not show it: the page woken by the bid gets a new one.
    assert (early, other, late, started) == ("read 0", "read 1", "read 2", 3)


def test_a_failed_read_fails_every_page_sharing_it_and_the_next_reads_afresh() -> None:
    async def scenario() -> tuple[list[BaseException | str], str]:
        hub, reads = ChangeHub(), Reads()
        pages = [asyncio.create_task(hub.read("*", reads.call)) for _ in range(3)]
        await asyncio.sleep(0)
        reads.started[0].set_exception(OSError("database is locked"))
        failed = await asyncio.gather(*pages, return_exceptions=True)
        again = asyncio.create_task(hub.read("*", reads.call))
        await asyncio.sleep(0)
        reads.started[1].set_result("listed")
        return list(failed), await again

    failed, again = asyncio.run(scenario())
    assert [str(f) for f in failed] == ["database is locked"] * 3 and again == "listed"


def test_a_page_that_goes_away_does_not_cancel_the_read_of_the_others() -> None:
    async def scenario() -> str:
        hub, reads = ChangeHub(), Reads()
        gone = asyncio.create_task(hub.read("auc_1", reads.call))
        stays = asyncio.create_task(hub.read("auc_1", reads.call))
        await asyncio.sleep(0)
        gone.cancel()
        await asyncio.sleep(0)
        reads.started[0].set_result("state")
        return await stays

    assert asyncio.run(scenario()) == "state"
