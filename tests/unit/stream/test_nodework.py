"""A node doing other providers' work under subcontracts: checked with the exchange under its
own node key, with no secret shared across providers, and metered per subcontract."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from stream_helpers import TOKEN, fake_step_factory, make_batch

from commex.domain.errors import CommexError, Conflict, Forbidden, NotFound, Unauthenticated
from commex.stream.node import create_node_app
from commex.stream.nodeclient import NodeClient, NodeError
from commex.stream.nodework import SubcontractMeter, WorkGate
from commex.stream.steps.base import StepSpec
from commex.stream.tasks import SegmentTask

WORK = "cxw_the-work-token"


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class Exchange:
    """The subcontracts the exchange knows as this node's provider's, and the packets
    reported (each run id counted once)."""

    def __init__(self) -> None:
        self.open = {"sub-1": WORK}
        self.checks = 0
        self.runs: dict[str, tuple[str, int]] = {}
        self.down = False

    def check(self, subcontract_id: str, work_token: str) -> object:
        self.checks += 1
        if subcontract_id not in self.open:
            raise NotFound(f"subcontract {subcontract_id} not found for this node's provider")
        if self.open[subcontract_id] != work_token:
            raise Forbidden(f"that work token is not the one of subcontract {subcontract_id}")
        return {"id": subcontract_id}

    def meter(self, subcontract_id: str, run_id: str, packets: int) -> object:
        if self.down:
            raise CommexError("the exchange did not answer")
        if subcontract_id not in self.open:
            raise Conflict(f"subcontract {subcontract_id} is closed")
        self.runs.setdefault(run_id, (subcontract_id, packets))
        return {}

    def packets(self, subcontract_id: str) -> int:
        return sum(p for s, p in self.runs.values() if s == subcontract_id)


@pytest.fixture
def node() -> tuple[TestClient, Exchange, SubcontractMeter, Clock]:
    exchange, clock = Exchange(), Clock()
    meter = SubcontractMeter(exchange.meter, every_s=3600)
    app = create_node_app(
        ["invert"], TOKEN, step_factory=fake_step_factory,
        work=WorkGate(exchange.check, ttl_s=30, clock=clock), work_meter=meter,
    )  # fmt: skip
    return TestClient(app, base_url="http://node"), exchange, meter, clock


def _task(n: int = 10) -> SegmentTask:
    return SegmentTask(1, make_batch(n), (StepSpec("invert"),))


def test_work_under_a_subcontract_is_checked_once_a_while_and_metered_exactly(node) -> None:
    client, exchange, meter, clock = node
    caller = NodeClient("http://node", WORK, client=client, subcontract="sub-1")
    for n in (10, 7, 5):
        caller.process(_task(n))
    assert exchange.checks == 1  # the yes is remembered
    clock.now = 31.0
    caller.process(_task(3))
    assert exchange.checks == 2  # and asked again once it is old
    meter.flush()
    meter.flush()  # nothing new: nothing reported twice
    assert exchange.packets("sub-1") == 25


def test_work_not_under_a_subcontract_naming_this_provider_is_refused(node) -> None:
    client, exchange, meter, _ = node
    for caller, why in (
        (NodeClient("http://node", WORK, client=client, subcontract="sub-9"), "not found"),
        (NodeClient("http://node", "cxw_forged", client=client, subcontract="sub-1"), "token"),
        (NodeClient("http://node", "another-providers-token", client=client), "node token"),
    ):
        with pytest.raises(NodeError, match=f"401.*{why}") as refused:
            caller.process(_task())
        assert refused.value.retriable is False
    meter.flush()
    assert exchange.runs == {}


def test_the_providers_own_plane_still_uses_its_node_token_and_is_not_metered(node) -> None:
    client, exchange, meter, _ = node
    NodeClient("http://node", TOKEN, client=client).process(_task())
    meter.flush()
    assert exchange.runs == {} and exchange.checks == 0


def test_a_node_without_a_token_takes_only_subcontracted_work() -> None:
    exchange = Exchange()
    app = create_node_app(["invert"], None, step_factory=fake_step_factory,
                          work=WorkGate(exchange.check))  # fmt: skip
    client = TestClient(app, base_url="http://node")
    with pytest.raises(NodeError, match="401"):
        NodeClient("http://node", "", client=client).process(_task())
    NodeClient("http://node", WORK, client=client, subcontract="sub-1").process(_task())
    with pytest.raises(Unauthenticated, match="COMMEX_NODE_KEY"):
        create_node_app(["invert"], None)


def test_packets_not_taken_are_sent_again_under_the_same_run_id_and_counted_once() -> None:
    exchange = Exchange()
    warnings: list[str] = []
    meter = SubcontractMeter(exchange.meter, warn=warnings.append)
    meter.add("sub-1", 40)
    exchange.down = True
    meter.flush()
    assert meter.unsent() == 1 and exchange.runs == {}
    exchange.down = False
    meter.add("sub-1", 2)
    meter.flush()
    assert meter.unsent() == 0 and exchange.packets("sub-1") == 42
    meter.add("sub-2", 5)  # not this provider's any more: refused, not kept
    meter.flush()
    assert meter.unsent() == 0 and "sub-2" in warnings[-1]
