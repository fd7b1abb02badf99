"""Group commit itself: requests that arrive while a batch is being applied share the next
batch (one transaction, one commit), each gets its own answer, and when a batch fails as a
whole each of its requests is retried alone, so one bad request cannot sink the others."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator, Sequence

import pytest

from commex.adapters.clock import ManualClock, SequentialIds
from commex.adapters.memory import MemoryUnitOfWorkFactory
from commex.bootstrap import make_bus
from commex.services import bidding
from commex.services.bidding import BidDesk
from commex.services.commands import PlaceBid
from commex.services.group_commit import GroupCommit, Pending
from commex.services.queries import AuctionState, ShowAudit
from commex.services.request_context import request_id_bound
from support.engine import auction_request, open_auction, register
from support.moments import T0

DEADLINE_S = 10.0


def wait_for(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.001)


def test_requests_that_arrive_during_a_batch_share_the_next_one() -> None:
    release = threading.Event()
    batches: list[list[int]] = []

    def apply(batch: Sequence[Pending[int, int]]) -> None:
        batches.append([p.request for p in batch])
        if len(batches) == 1:
            assert release.wait(DEADLINE_S)
        for p in batch:
            p.answer(p.request * 10)

    group: GroupCommit[int, int] = GroupCommit(apply)
    answers: dict[int, int] = {}

    def submit(n: int) -> None:
        answers[n] = group.submit(n)

    first = threading.Thread(target=submit, args=(1,))
    first.start()
    wait_for(lambda: batches == [[1]], "the first batch to start")
    others = [threading.Thread(target=submit, args=(n,)) for n in (2, 3, 4)]
    for t in others:
        t.start()
    wait_for(lambda: group.waiting == 3, "three requests to queue behind the first batch")
    release.set()
    for t in [first, *others]:
        t.join(DEADLINE_S)
    assert batches[0] == [1]
    assert sorted(batches[1]) == [2, 3, 4] and len(batches) == 2
    assert answers == {1: 10, 2: 20, 3: 30, 4: 40}


class _HeldStore(MemoryUnitOfWorkFactory):
    """The in-memory store, whose next unit of work waits at the door while ``held`` is set,
    and whose bids of ``poison`` fail to be written, as a broken disk would fail a batch."""

    def __init__(self) -> None:
        super().__init__()
        self.held: threading.Event | None = None
        self.poison: str | None = None

    def __call__(self, *, write: bool = True):  # type: ignore[no-untyped-def]
        gate, self.held = self.held, None
        if gate is not None:
            assert gate.wait(DEADLINE_S)
        uow = super().__call__(write=write)
        real = uow.auctions.add_bids

        def add_bids(bids):  # type: ignore[no-untyped-def]
            if any(b.bidder_id == self.poison for b in bids):
                raise RuntimeError("the disk refused the write")
            real(bids)

        uow.auctions.add_bids = add_bids  # type: ignore[method-assign]
        return uow


@pytest.fixture
def desk_world(monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    store = _HeldStore()
    bus = make_bus(store, clock=ManualClock(T0), ids=SequentialIds())
    desk = BidDesk(bus)
    bus.add_flow(PlaceBid, desk.place)
    seller = register(bus, "Seller", ["provider"])
    buyers = [register(bus, f"Buyer {i}", ["recipient"]).id for i in range(4)]
    auction = open_auction(bus, seller.id, auction_request(format="english"))
    sizes: list[int] = []
    real = bidding.place_bids

    def counted(cmds, uow, deps, request_ids=None):  # type: ignore[no-untyped-def]
        sizes.append(len(cmds))
        return real(cmds, uow, deps, request_ids)

    monkeypatch.setattr(bidding, "place_bids", counted)
    return store, bus, desk, buyers, auction.id, sizes


def _bid_in_batches(store, bus, desk, buyers, auction_id):  # type: ignore[no-untyped-def]
    """The first buyer's bid leads a batch held at the door while the three others queue;
    then everything goes. Each buyer's answer: its placed bid or its error."""
    answers: dict[str, object] = {}

    def bid(bidder: str, amount: str) -> None:
        try:
            answers[bidder] = bus.handle(PlaceBid(auction_id, bidder, amount))
        except Exception as exc:
            answers[bidder] = exc

    store.held = threading.Event()
    gate = store.held
    leader = threading.Thread(target=bid, args=(buyers[0], "10.00"))
    leader.start()
    wait_for(lambda: store.held is None, "the first batch to reach the store")
    followers = [
        threading.Thread(target=bid, args=(b, f"{20 + 10 * i}.00"))
        for i, b in enumerate(buyers[1:])
    ]
    for t in followers:
        t.start()
    wait_for(lambda: desk.waiting == 3, "three bids to queue behind the first")
    gate.set()
    for t in [leader, *followers]:
        t.join(DEADLINE_S)
    return answers


def test_a_batch_of_several_bids_is_one_commit(desk_world) -> None:  # type: ignore[no-untyped-def]
    store, bus, desk, buyers, auction_id, sizes = desk_world
    answers = _bid_in_batches(store, bus, desk, buyers, auction_id)
    assert sizes == [1, 3]  # the leader alone, then the three that arrived during its commit
    amounts = {b: str(a.bid.amount) for b, a in answers.items()}  # type: ignore[attr-defined]
    assert amounts == dict(zip(buyers, ["10.00", "20.00", "30.00", "40.00"], strict=True))
    assert bus.handle(AuctionState(auction_id)).bid_count == 4


def test_a_failing_bid_in_a_batch_is_retried_alone_and_fails_alone(desk_world) -> None:  # type: ignore[no-untyped-def]
    store, bus, desk, buyers, auction_id, sizes = desk_world
    store.poison = buyers[2]
    answers = _bid_in_batches(store, bus, desk, buyers, auction_id)
    assert sizes == [1, 3, 1, 1, 1]  # the batch of three failed, then each went alone
    failed = answers.pop(buyers[2])
    assert isinstance(failed, RuntimeError) and "refused the write" in str(failed)
    assert {b: str(a.bid.amount) for b, a in answers.items()} == {  # type: ignore[attr-defined]
        buyers[0]: "10.00",
        buyers[1]: "20.00",
        buyers[3]: "40.00",
    }
    assert bus.handle(AuctionState(auction_id)).bid_count == 3


def test_awaited_bids_in_one_batch_are_audited_with_their_own_request_ids(desk_world) -> None:  # type: ignore[no-untyped-def]
    """An event loop's bids (``submit``) joined into one batch are written on the group's
    runner thread; each audit entry still names the request that sent its bid."""
    store, bus, desk, buyers, auction_id, sizes = desk_world
    try:
        store.held = threading.Event()
        gate = store.held
        with request_id_bound("req-0"):
            first = desk.submit(PlaceBid(auction_id, buyers[0], "10.00"))
        wait_for(lambda: store.held is None, "the first batch to reach the store")
        queued = []
        for i, buyer in enumerate(buyers[1:], start=1):
            with request_id_bound(f"req-{i}"):
                queued.append(desk.submit(PlaceBid(auction_id, buyer, f"{10 + 10 * i}.00")))
        wait_for(lambda: desk.waiting == 3, "three bids to queue behind the first")
        gate.set()
        for future in (first, *queued):
            future.result(DEADLINE_S)
        assert sizes == [1, 3]  # the three queued bids shared one batch
        for i, buyer in enumerate(buyers):
            (entry,) = [e for e in bus.handle(ShowAudit(buyer)).entries if e.action == "bid.placed"]
            assert entry.request_id == f"req-{i}", buyer
    finally:
        desk.close()


def test_callers_without_a_thread_get_futures_and_share_batches_with_threads() -> None:
    release = threading.Event()
    batches: list[list[int]] = []

    def apply(batch: Sequence[Pending[int, int]]) -> None:
        batches.append([p.request for p in batch])
        if len(batches) == 1:
            assert release.wait(DEADLINE_S)
        for p in batch:
            if p.request == 3:
                p.fail(ValueError("three is refused"))
            else:
                p.answer(p.request * 10)

    group: GroupCommit[int, int] = GroupCommit(apply)
    try:
        first = group.submit_future(1)  # leads on the group's runner thread
        wait_for(lambda: batches == [[1]], "the first batch to start")
        answers: dict[int, int] = {}
        thread = threading.Thread(target=lambda: answers.setdefault(2, group.submit(2)))
        thread.start()
        wait_for(lambda: group.waiting == 1, "a thread's request to queue")
        third, fourth = group.submit_future(3), group.submit_future(4)
        assert not first.done()  # nobody waited in a thread for these: they are queued
        release.set()
        assert first.result(DEADLINE_S) == 10
        assert fourth.result(DEADLINE_S) == 40
        with pytest.raises(ValueError, match="three is refused"):
            third.result(DEADLINE_S)
        thread.join(DEADLINE_S)
        assert answers == {2: 20}
        assert batches[0] == [1] and sorted(batches[1]) == [2, 3, 4] and len(batches) == 2
    finally:
        group.close()


def test_a_thread_that_led_hands_the_next_batch_of_futures_to_the_runner() -> None:
    release = threading.Event()
    batches: list[list[int]] = []

    def apply(batch: Sequence[Pending[int, int]]) -> None:
        batches.append([p.request for p in batch])
        if len(batches) == 1:
            assert release.wait(DEADLINE_S)
        for p in batch:
            p.answer(-p.request)

    group: GroupCommit[int, int] = GroupCommit(apply)
    try:
        answers: dict[int, int] = {}
        thread = threading.Thread(target=lambda: answers.setdefault(1, group.submit(1)))
        thread.start()
        wait_for(lambda: batches == [[1]], "the thread's batch to start")
        queued = [group.submit_future(n) for n in (2, 3)]
        release.set()
        assert [f.result(DEADLINE_S) for f in queued] == [-2, -3]
        thread.join(DEADLINE_S)
        assert answers == {1: -1} and batches == [[1], [2, 3]]
    finally:
        group.close()


class _Turn:
    """A turn to write that another writer holds until :meth:`give` (a SQLite file shared by
    several processes); it may fail once when told to."""

    def __init__(self, fail_first: bool = False) -> None:
        self.asked = threading.Event()
        self.given = threading.Event()
        self.fail_first = fail_first

    def __call__(self) -> contextlib.AbstractContextManager[None]:
        return self._take()

    @contextlib.contextmanager
    def _take(self) -> Iterator[None]:
        self.asked.set()
        assert self.given.wait(DEADLINE_S)
        if self.fail_first:
            self.fail_first = False
            raise OSError("the lock file is gone")
        yield


def test_requests_that_arrive_while_the_leader_waits_for_its_turn_join_its_batch() -> None:
    turn = _Turn()
    batches: list[list[int]] = []

    def apply(batch: Sequence[Pending[int, int]]) -> None:
        batches.append([p.request for p in batch])
        for p in batch:
            p.answer(p.request + 100)

    group: GroupCommit[int, int] = GroupCommit(apply, turn=turn)
    try:
        first = group.submit_future(1)
        assert turn.asked.wait(DEADLINE_S)  # the runner waits for the other writer
        later = [group.submit_future(n) for n in (2, 3)]
        turn.given.set()
        assert [f.result(DEADLINE_S) for f in (first, *later)] == [101, 102, 103]
        assert batches == [[1, 2, 3]]  # one transaction, one commit, not two
    finally:
        group.close()


def test_a_turn_that_fails_refuses_one_request_and_the_rest_go_on() -> None:
    turn = _Turn(fail_first=True)
    batches: list[list[int]] = []

    def apply(batch: Sequence[Pending[int, int]]) -> None:
        batches.append([p.request for p in batch])
        for p in batch:
            p.answer(p.request)

    group: GroupCommit[int, int] = GroupCommit(apply, turn=turn)
    try:
        errors: list[BaseException] = []

        def lead() -> None:
            try:
                group.submit(1)
            except OSError as exc:
                errors.append(exc)

        leader = threading.Thread(target=lead)
        leader.start()
        assert turn.asked.wait(DEADLINE_S)
        second = group.submit_future(2)
        turn.given.set()
        leader.join(DEADLINE_S)
        assert [str(e) for e in errors] == ["the lock file is gone"]
        assert second.result(DEADLINE_S) == 2 and batches == [[2]]
    finally:
        group.close()
