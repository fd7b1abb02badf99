"""Several contracts in one run: streams told apart by SSRC, a shared request sent in one part
per parent contract under its own subcontract, each contract's deliveries its own."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from stream_helpers import make_batch
from test_contract_plan import FakeExchange, FakeNode

from commex.contract_streams import (
    ContractDeliveries,
    SplitNode,
    StreamOwners,
    parse_contracts,
)
from commex.domain.errors import InvalidInput
from commex.stream.steps.base import StepSpec
from commex.stream.subcontracting import Provider
from commex.stream.tasks import SegmentTask
from commex.subcontract_run import SubcontractBook

# make_batch's two streams: SSRC 0x1000 (even rows) and 0x1001 (odd rows)
OWNERS = StreamOwners.of({"con-1": frozenset({0x1000}), "con-2": frozenset({0x1001})})


def test_contracts_and_their_streams_are_parsed_and_checked() -> None:
    assert parse_contracts(["con-1"]) == {"con-1": frozenset()}
    assert parse_contracts(["c1=0x10,17", "c2=4096"]) == {
        "c1": frozenset({16, 17}), "c2": frozenset({4096})
    }  # fmt: skip
    for bad in (["c1", "c2=1"], ["c1=1", "c1=2"], ["c1=1", "c2=1"], ["c1=zz"], ["c/1=1"],
                ["c1=0x1ffffffff"]):  # fmt: skip
        with pytest.raises(InvalidInput) as err:
            parse_contracts(bad)
        assert err.value.field == "contract"


def test_a_shared_request_goes_in_one_part_per_parent_under_its_subcontract() -> None:
    exchange = FakeExchange([])
    sent: list[tuple[str, int]] = []

    class Node(FakeNode):
        def __init__(self, sid: str) -> None:
            super().__init__()
            self.sid = sid

        def process(self, task: SegmentTask):  # type: ignore[no-untyped-def]
            sent.append((self.sid, len(task.batch)))
            return super().process(task)

    books = {
        cid: SubcontractBook(
            exchange,  # type: ignore[arg-type]
            cid,
            make_client=lambda p, s, t: Node(s),  # type: ignore[arg-type]
            sleep=lambda s: exchange.metered.update({"sub-1": 16, "sub-2": 15}),
        )
        for cid in ("con-1", "con-2")
    }
    batch = make_batch(31)  # 16 packets of 0x1000, 15 of 0x1001
    task = SegmentTask(7, batch, (StepSpec.parse("gain:-6"),))
    bravo = Provider("Bravo", "http://b", id="acc-b")
    for book in books.values():  # opened in this order: con-1's is sub-1
        book.handle(bravo, "gain:-6")
    result = SplitNode(books, OWNERS, bravo).process(task)
    assert np.array_equal(result.batch.index, batch.index)  # whole, in order
    assert result.batch.streams == batch.streams
    assert exchange.opened == [("con-1", "acc-b", "gain:-6"), ("con-2", "acc-b", "gain:-6")]
    assert sorted(sent) == [("sub-1", 16), ("sub-2", 15)]
    for book in books.values():
        book.close_all(warn=pytest.fail)
    assert exchange.sent == {"sub-1": 16, "sub-2": 15}
    assert exchange.closed == {"sub-1": ("passed", None), "sub-2": ("passed", None)}


def test_a_shared_requests_parts_are_sent_at_the_same_time() -> None:
    exchange = FakeExchange([])
    both_in = threading.Barrier(2, timeout=5)  # each part waits until the other is in flight

    class Node(FakeNode):
        def process(self, task: SegmentTask):  # type: ignore[no-untyped-def]
            both_in.wait()
            return super().process(task)

    books = {
        cid: SubcontractBook(exchange, cid, make_client=lambda p, s, t: Node())  # type: ignore[arg-type]
        for cid in ("con-1", "con-2")
    }
    split = SplitNode(books, OWNERS, Provider("Bravo", "http://b", id="acc-b"))
    try:
        batch = make_batch(31)
        result = split.process(SegmentTask(1, batch, (StepSpec.parse("gain:-6"),)))
    finally:
        split.close()
    assert np.array_equal(result.batch.index, batch.index)


def test_each_contract_is_metered_on_its_own_streams_and_a_stranger_stops_the_run() -> None:
    deliveries = ContractDeliveries(OWNERS)
    batch = make_batch(31)
    deliveries.add(batch)
    assert (deliveries.delivery("con-1").packets, deliveries.delivery("con-2").packets) == (16, 15)
    stranger = StreamOwners.of({"con-1": frozenset({0x1000})})
    with pytest.raises(InvalidInput, match="SSRC 0x00001001 belongs to none"):
        ContractDeliveries(stranger).add(batch)
