"""A node working under its provider's contracts: only active ones, metered by itself."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from stream_helpers import TOKEN, fake_step_factory, make_batch

from commex.domain.errors import CommexError, Conflict
from commex.stream import wire
from commex.stream.metering import stream_seconds
from commex.stream.node import create_node_app
from commex.stream.nodeclient import NodeClient, NodeError
from commex.stream.nodecontracts import (
    CONTRACT_HEADER,
    METERED_HEADER,
    ContractGate,
    NodeMeter,
)
from commex.stream.nodeexecutor import NodeExecutor
from commex.stream.rtp import rtp_sizes
from commex.stream.steps.base import StepSpec
from commex.stream.tasks import SegmentTask

AUTH = {"Authorization": f"Bearer {TOKEN}"}


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class Exchange:
    """The provider's active contracts and the deliveries reported, as the node sees them."""

    def __init__(self, active: set[str]) -> None:
        self.active = set(active)
        self.fetches = 0
        self.down = False
        self.refuse: set[str] = set()
        self.deliveries: dict[str, tuple[str, dict[str, Any]]] = {}
        self.tries: list[str] = []

    def fetch(self) -> list[str]:
        self.fetches += 1
        if self.down:
            raise CommexError("the exchange did not answer")
        return sorted(self.active)

    def send(self, contract_id: str, body: dict[str, Any]) -> None:
        self.tries.append(body["run_id"])
        if self.down:
            raise CommexError("the exchange did not answer")
        if contract_id in self.refuse:
            raise Conflict("nothing of the block remains")
        self.deliveries.setdefault(body["run_id"], (contract_id, body))


def test_the_gate_caches_the_list_and_fetches_again_on_a_miss() -> None:
    exchange, clock = Exchange({"c-1"}), Clock()
    gate = ContractGate(exchange.fetch, ttl_s=30, min_refresh_s=1, clock=clock)
    assert gate.allows("c-1") and gate.allows("c-1")
    assert exchange.fetches == 1
    exchange.active.add("c-2")  # a contract that became active since
    clock.now = 2.0
    assert gate.allows("c-2")
    assert exchange.fetches == 2
    assert not gate.allows("c-9")  # within min_refresh_s of the last fetch: no new fetch
    assert exchange.fetches == 2
    exchange.active.discard("c-1")
    clock.now = 40.0  # stale: a hit fetches again too, so an ended contract stops
    assert not gate.allows("c-1")


@pytest.fixture
def node():
    exchange = Exchange({"c-1"})
    meter = NodeMeter(exchange.send)
    app = create_node_app(
        {"invert"},
        TOKEN,
        step_factory=fake_step_factory,
        contracts=ContractGate(exchange.fetch, min_refresh_s=0),
        meter=meter,
    )
    with TestClient(app) as client:
        yield client, exchange, meter


def frame(n: int = 20, rows: slice | None = None) -> bytes:
    batch = make_batch(n)
    if rows is not None:
        batch = batch.take(np.arange(n)[rows])
    return wire.encode(batch, {"segment": 1, "steps": ["invert"]})


def test_a_request_under_an_active_contract_is_processed_and_metered(node) -> None:
    client, exchange, meter = node
    # A stream's two halves, 40 packets over two streams: 20 per stream, 0.4 s each.
    for half in (slice(20, 40), slice(0, 20)):
        answer = client.post(
            "/v1/node/process",
            content=frame(40, half),
            headers=AUTH | {CONTRACT_HEADER: "c-1"},
        )
        assert answer.status_code == 200
    meter.flush()
    [(contract_id, body)] = exchange.deliveries.values()
    assert contract_id == "c-1"
    assert body["packets"] == 40
    assert body["bytes"] == int(rtp_sizes(make_batch(40)).sum())
    assert body["seconds"] == pytest.approx(stream_seconds(make_batch(40))) == 0.8
    meter.flush()  # nothing new: nothing sent
    assert len(exchange.deliveries) == 1


def test_a_contract_that_is_not_active_is_refused(node) -> None:
    client, exchange, meter = node
    answer = client.post(
        "/v1/node/process", content=frame(), headers=AUTH | {CONTRACT_HEADER: "c-9"}
    )
    assert answer.status_code == 403
    assert answer.json()["error"]["message"] == (
        "contract c-9 is not an active contract of this node's provider"
    )
    meter.flush()
    assert exchange.deliveries == {}


def test_untagged_requests_are_served_and_not_metered(node) -> None:
    client, exchange, meter = node
    assert client.post("/v1/node/process", content=frame(), headers=AUTH).status_code == 200
    meter.flush()
    assert exchange.deliveries == {}
    assert exchange.fetches == 0


def test_an_unreachable_exchange_makes_a_contract_request_retriable(node) -> None:
    client, exchange, _ = node
    exchange.down = True
    answer = client.post(
        "/v1/node/process", content=frame(), headers=AUTH | {CONTRACT_HEADER: "c-1"}
    )
    assert answer.status_code == 503
    assert "cannot check contract c-1" in answer.json()["error"]["message"]


def test_a_node_without_an_exchange_refuses_contract_streams() -> None:
    app = create_node_app({"invert"}, TOKEN, step_factory=fake_step_factory)
    with TestClient(app) as client:
        answer = client.post(
            "/v1/node/process", content=frame(), headers=AUTH | {CONTRACT_HEADER: "c-1"}
        )
    assert answer.status_code == 403
    assert "started without --exchange" in answer.json()["error"]["message"]


def test_a_delivery_not_taken_is_sent_again_with_its_run_id_and_a_refused_one_is_dropped() -> None:
    exchange = Exchange(set())
    warnings: list[str] = []
    meter = NodeMeter(exchange.send, warn=warnings.append)
    meter.add("c-1", make_batch(10))
    meter.add("c-2", make_batch(10))
    exchange.down = True
    meter.flush()
    assert exchange.deliveries == {} and meter.unsent() == 2
    exchange.down = False
    exchange.refuse = {"c-2"}
    meter.add("c-1", make_batch(10))
    meter.flush()
    assert meter.unsent() == 0
    first_tries = exchange.tries[:2]
    assert set(first_tries) <= set(exchange.tries[2:])  # the same run ids again
    assert [c for c, _ in exchange.deliveries.values()] == ["c-1", "c-1"]
    assert len(set(exchange.tries)) == 3
    assert any("refused" in w for w in warnings)


def test_closing_the_meter_sends_what_is_left() -> None:
    exchange = Exchange(set())
    meter = NodeMeter(exchange.send, every_s=3600)
    meter.start()
    meter.add("c-1", make_batch(10))
    meter.close()
    assert [c for c, _ in exchange.deliveries.values()] == ["c-1"]


def test_the_node_executor_tags_its_requests_with_the_contract(node) -> None:
    client, exchange, meter = node
    clients = [NodeClient("http://node", TOKEN, client=client, contract="c-1")]
    tasks = [SegmentTask(i, make_batch(10), (StepSpec("invert"),)) for i in range(3)]
    with NodeExecutor(clients=clients) as executor:
        results = list(executor.map_segments(tasks))
    assert len(results) == 3
    meter.flush()
    [(_, body)] = exchange.deliveries.values()
    assert body["packets"] == 30
    other = NodeClient("http://node", TOKEN, client=client, contract="c-9")
    with pytest.raises(NodeError, match="403") as refused:
        other.process(tasks[0])
    assert refused.value.retriable is False
    assert np.array_equal(results[0].batch.index, tasks[results[0].id].batch.index)


def test_a_caller_that_meters_its_run_is_checked_but_not_counted_twice(node) -> None:
    client, exchange, meter = node
    caller = NodeClient("http://node", TOKEN, client=client, contract="c-1", metered_by_caller=True)
    assert caller._headers()[METERED_HEADER] == "caller"
    caller.process(SegmentTask(1, make_batch(10), (StepSpec("invert"),)))
    meter.flush()
    assert exchange.deliveries == {}
    refused = NodeClient(
        "http://node", TOKEN, client=client, contract="c-9", metered_by_caller=True
    )
    with pytest.raises(NodeError, match="403"):
        refused.process(SegmentTask(1, make_batch(10), (StepSpec("invert"),)))
