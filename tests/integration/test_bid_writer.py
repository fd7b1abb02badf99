"""The bid writer and a worker's remote desk on one SQLite file, in one process: bids cross the
socket and are answered and audited as the desk answers them; a peer without the start's
secret is not heard; a stopped writer answers what it queued, and a writer that is gone or
stuck is a 503 at once, never a wait."""

from __future__ import annotations

import asyncio
import os
import socket
import stat
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from commex.adapters.bidwriter import frames as f
from commex.adapters.bidwriter.client import RemoteBidDesk, WriterUnavailable
from commex.adapters.bidwriter.server import WriterServer
from commex.adapters.sql.engine import make_engine
from commex.adapters.sql.uow import SqlUnitOfWorkFactory
from commex.adapters.sql.writelock import WriterLock
from commex.api.wire.auctions import placed_bid_json
from commex.bootstrap import make_bus
from commex.domain.errors import InvalidInput
from commex.services import queries as q
from commex.services.bidding import BidDesk
from commex.services.bus import MessageBus
from commex.services.commands import PlaceBid
from commex.services.request_context import request_id_bound
from commex.services.results import PlacedBid
from commex.settings import Settings
from support.engine import auction_request, open_auction, register

SECRET = b"s" * 64


class Writer:
    """A WriterServer on a loop of its own thread, as in the writer process."""

    def __init__(self, desk: BidDesk, path: Path) -> None:
        self.desk = desk
        self.server = WriterServer(desk, path, SECRET, placed_bid_json)
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever)
        self._thread.start()
        self._run(self.server.start())

    def _run(self, coro: object) -> None:
        asyncio.run_coroutine_threadsafe(coro, self.loop).result(60)  # type: ignore[arg-type]

    def stop(self) -> None:
        if self.loop.is_running():
            self._run(self.server.stop(30))
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(30)
            self.loop.close()


@pytest.fixture
def bus(migrated_store: object, tmp_path: Path) -> Iterator[MessageBus]:
    engine = make_engine(migrated_store("sqlite"))  # type: ignore[operator]
    try:
        yield make_bus(SqlUnitOfWorkFactory(engine))
    finally:
        engine.dispose()


@pytest.fixture
def writer(bus: MessageBus, tmp_path: Path) -> Iterator[Writer]:
    desk = BidDesk(bus)
    running = Writer(desk, tmp_path / "bids.sock")
    try:
        yield running
    finally:
        running.stop()
        desk.close()


def _market(bus: MessageBus, bidders: int) -> tuple[str, list[str]]:
    seller = register(bus, "Seller", ["provider"]).id
    closes = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    auction = open_auction(bus, seller, auction_request(closes_at=closes)).id
    return auction, [register(bus, f"Bidder {i}", ["recipient"]).id for i in range(bidders)]


def test_bids_cross_and_are_answered_and_audited_as_the_desk_does(
    bus: MessageBus, writer: Writer
) -> None:
    auction, bidders = _market(bus, 20)
    remote = RemoteBidDesk(writer.server.path, SECRET)

    async def send() -> list[object]:
        futures = []
        for i, bidder in enumerate(bidders):
            with request_id_bound(f"req-{i}"):
                futures.append(remote.submit_on_loop(PlaceBid(auction, bidder, f"{i + 1}.00")))
        with request_id_bound("req-low"):
            futures.append(remote.submit_on_loop(PlaceBid(auction, bidders[0], "0.001")))
        answers = await asyncio.gather(*futures, return_exceptions=True)
        remote.close()  # on the loop, which closes its connection
        await asyncio.sleep(0)
        return answers

    try:
        *placed, refused = asyncio.run(send())
        # A thread's bid (a web form's) takes the blocking road to the same writer.
        by_thread = remote.place(PlaceBid(auction, bidders[1], "30.00"))
    finally:
        remote.close()
    assert by_thread.bid.amount.amount == 30
    assert isinstance(refused, InvalidInput) and refused.field == "amount"
    shown = bus.handle(q.ShowAuction(auction, bidders[3]))
    (own,) = shown.bids  # sealed: a bidder sees its own bid, as the writer answered it
    assert isinstance(placed[3], PlacedBid) and placed[3].bid == own.bid
    assert [p.bid.amount.amount for p in placed if isinstance(p, PlacedBid)] == list(range(1, 21))
    entries = bus.handle(q.ShowAudit(bidders[7])).entries
    assert [(e.action, e.request_id) for e in entries if e.action == "bid.placed"] == [
        ("bid.placed", "req-7")
    ]


def test_the_socket_is_its_owners_and_a_stranger_is_not_heard(
    bus: MessageBus, writer: Writer
) -> None:
    auction, (bidder,) = _market(bus, 1)
    path = writer.server.path
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as stranger:
        stranger.settimeout(10)
        stranger.connect(str(path))
        hello = f.frame(f.HELLO, 0, b"x" * 64)
        stranger.sendall(hello + f.bid_frame(1, PlaceBid(auction, bidder, "5.00"), None))
        try:
            heard = stranger.recv(100)
        except ConnectionResetError:
            heard = b""
        assert heard == b""  # closed, unanswered
    assert bus.handle(q.ShowAuction(auction, bidder)).auction.bid_count == 0


def test_a_stopping_writer_answers_what_it_queued_then_bids_are_refused_at_once(
    bus: MessageBus, writer: Writer, tmp_path: Path
) -> None:
    auction, bidders = _market(bus, 10)
    remote = RemoteBidDesk(writer.server.path, SECRET)
    lock = WriterLock(tmp_path / "commex.db")  # another writer holds the file: bids queue

    async def send() -> list[object]:
        with lock:
            futures = [remote.submit_on_loop(PlaceBid(auction, b, "5.00")) for b in bidders]
            await _until(lambda: writer.desk.waiting == len(bidders))
            stopping = asyncio.wrap_future(
                asyncio.run_coroutine_threadsafe(writer.server.stop(30), writer.loop)
            )
            await asyncio.sleep(0.2)  # the writer has stopped reading; its queue waits
            assert not stopping.done()
        await stopping
        answers = await asyncio.gather(*futures, return_exceptions=True)
        started = time.monotonic()
        with pytest.raises(WriterUnavailable):
            await remote.submit_on_loop(PlaceBid(auction, bidders[0], "6.00"))
        assert time.monotonic() - started < 2
        remote.close()
        await asyncio.sleep(0)
        return answers

    try:
        answers = asyncio.run(send())
    finally:
        remote.close()
        lock.close()
    assert all(not isinstance(a, BaseException) for a in answers), answers
    assert bus.handle(q.ShowAuction(auction, bidders[0])).auction.bid_count == len(bidders)


def test_a_writer_that_does_not_answer_in_time_is_unavailable(
    bus: MessageBus, writer: Writer, tmp_path: Path
) -> None:
    auction, (bidder,) = _market(bus, 1)
    remote = RemoteBidDesk(writer.server.path, SECRET, answer_within=1.0)
    lock = WriterLock(tmp_path / "commex.db")

    async def send() -> float:
        started = time.monotonic()
        with lock, pytest.raises(WriterUnavailable):
            await remote.submit_on_loop(PlaceBid(auction, bidder, "5.00"))
        remote.close()
        await asyncio.sleep(0)
        return time.monotonic() - started

    try:
        waited = asyncio.run(send())
    finally:
        remote.close()
        lock.close()
    assert 1.0 <= waited < 5.0


async def _until(condition: object, within: float = 10.0) -> None:
    deadline = time.monotonic() + within
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "the condition did not come true in time"
        await asyncio.sleep(0.01)


def test_a_worker_needs_the_secret_and_never_shows_it(tmp_path: Path) -> None:
    env = {"COMMEX_DATA_DIR": str(tmp_path), "COMMEX_BID_WRITER": str(tmp_path / "bids.sock")}
    with pytest.raises(InvalidInput) as err:
        Settings.from_env(env)
    assert err.value.field == "COMMEX_BID_WRITER_SECRET"
    settings = Settings.from_env(env | {"COMMEX_BID_WRITER_SECRET": "k" * 64})
    assert settings.bid_writer == tmp_path / "bids.sock"
    assert "k" * 64 not in repr(settings)


def test_a_worker_whose_writer_never_comes_is_told_so_by_its_deadline(tmp_path: Path) -> None:
    started = time.monotonic()
    with pytest.raises(WriterUnavailable):
        RemoteBidDesk(tmp_path / "nobody.sock", SECRET).wait_ready(0.3)
    assert 0.3 <= time.monotonic() - started < 5
