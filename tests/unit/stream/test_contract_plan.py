"""The contract drives the plane: its steps, its approved providers, and the subcontracts a run
opens, checks and closes on the exchange (S5, S10)."""

from __future__ import annotations

import contextlib
from typing import Any

import pytest
from stream_helpers import make_batch

from commex.contract_plan import contract_steps, prepare
from commex.domain.errors import Conflict, InvalidInput, NotEligible, NotFound
from commex.metering_client import ContractTerms
from commex.stream.nodeclient import NodeError
from commex.stream.pipeline import Plan
from commex.stream.report import Subcontracted
from commex.stream.steps.base import StepSpec
from commex.stream.subcontracting import Provider
from commex.stream.tasks import SegmentResult, SegmentTask
from commex.subcontract_run import SubcontractBook

TERMS = ContractTerms("con-1", None, None, ("transcode:pcmu", "dtmf"), "auc-1", "acc-a")


class FakeExchange:
    """What the plane asks of the exchange, answered from memory."""

    def __init__(self, approved: list[str], card: bool = True) -> None:
        self.approved = approved
        self.card = card
        self.opened: list[tuple[str, str, str]] = []
        self.closed: dict[str, tuple[str, str | None]] = {}
        self.metered: dict[str, int] = {}
        self.sent: dict[str, int] = {}

    def auction(self, auction_id: str) -> dict[str, Any]:
        return {"id": auction_id, "eligibility": {"approved_providers": self.approved}}

    def me(self) -> dict[str, Any]:
        return {"id": "acc-a", "name": "Alpha"}

    def providers(self, capability: str) -> list[dict[str, Any]]:
        offers = [("acc-a", "Alpha", "http://a"), ("acc-b", "Bravo", "http://b"),
                  ("acc-c", "Charlie", "http://c")]  # fmt: skip
        return [
            {"provider": {"id": i, "name": n, "reputation": {"lower_bound": 0.0}},
             "node_url": u, "price": "1.00"}
            for i, n, u in offers
        ]  # fmt: skip

    def open_subcontract(self, parent: str, provider_id: str, step: str) -> dict[str, Any]:
        if not self.card:
            raise Conflict("a subcontract is charged to your card: save a card first")
        sid = f"sub-{len(self.opened) + 1}"
        self.opened.append((parent, provider_id, step))
        return {"id": sid, "work_token": f"cxw_{sid}", "price_per_1000_packets": "2.50",
                "currency": "EUR"}  # fmt: skip

    def subcontract(self, sid: str) -> dict[str, Any]:
        return {"id": sid, "packets": self.metered.get(sid, 0)}

    def close_subcontract(
        self, sid: str, outcome: str, sent: int, detail: str | None = None
    ) -> Any:
        self.closed[sid] = (outcome, detail)
        self.sent[sid] = sent
        return {"id": sid, "outcome": outcome}


def _plan(tmp_path: Any, *steps: str, subcontractors: tuple[str, ...] = ()) -> Plan:
    capture = tmp_path / "in.pcap"
    capture.write_bytes(b"")
    return Plan.build(str(capture), str(tmp_path / "out.pcap"), steps=steps,
                      capabilities={"dtmf"}, subcontractors=subcontractors)  # fmt: skip


def test_the_run_takes_the_contracts_steps_and_step_may_only_repeat_them() -> None:
    assert [str(s) for s in contract_steps((), TERMS)] == ["transcode:pcmu", "dtmf"]
    same = (StepSpec.parse("transcode:pcmu"), StepSpec.parse("dtmf"))
    assert contract_steps(same, TERMS) == same
    with pytest.raises(InvalidInput, match="--step transcode:pcma disagrees with contract con-1"):
        contract_steps((StepSpec.parse("transcode:pcma"),), TERMS)


def test_only_approved_providers_other_than_oneself_are_candidates(tmp_path: Any) -> None:
    decided = prepare(FakeExchange(["acc-a", "acc-b"]), TERMS, _plan(tmp_path))  # type: ignore[arg-type]
    assert [str(s) for s in decided.plan.steps] == ["transcode:pcmu", "dtmf"]
    assert [p.name for p in decided.directory.find("transcode")] == ["Bravo"]
    anyone = prepare(FakeExchange([]), TERMS, _plan(tmp_path))  # type: ignore[arg-type]
    assert [p.name for p in anyone.directory.find("transcode")] == ["Bravo", "Charlie"]


@pytest.mark.parametrize(
    ("named", "error", "message"),
    [
        ("Charlie=http://c", NotEligible, "Charlie is not among the providers the recipient"),
        ("Alpha=http://a", InvalidInput, "Alpha is you"),
        ("Nobody=http://n", NotFound, "Nobody offers none"),
    ],
)
def test_a_named_subcontractor_must_be_approved_and_not_oneself(
    tmp_path: Any, named: str, error: type[Exception], message: str
) -> None:
    plan = _plan(tmp_path, subcontractors=(named,))
    with pytest.raises(error, match=message):
        prepare(FakeExchange(["acc-a", "acc-b"]), TERMS, plan)  # type: ignore[arg-type]


class FakeNode:
    def __init__(self, fail: NodeError | None = None) -> None:
        self.fail = fail
        self.closed = False

    def process(self, task: SegmentTask) -> SegmentResult:
        if self.fail is not None:
            raise self.fail
        return SegmentResult(task.id, task.batch, ())

    def close(self) -> None:
        self.closed = True


def test_each_subcontract_closes_with_its_worst_outcome_once_its_packets_are_metered() -> None:
    exchange = FakeExchange([])
    nodes = {"Bravo": FakeNode(), "Charlie": FakeNode(NodeError("node Charlie timed out"))}
    book = SubcontractBook(exchange, "con-1", make_client=lambda p, s, t: nodes[p.name],  # type: ignore[arg-type]
                           sleep=lambda s: exchange.metered.update({"sub-1": 30}))  # fmt: skip
    bravo, charlie = Provider("Bravo", "http://b", id="acc-b"), Provider("Charlie", "x", id="acc-c")
    task = SegmentTask(1, make_batch(30), (StepSpec.parse("gain:-6"),))
    book.node_for(bravo).process(task)
    with pytest.raises(NodeError):
        book.node_for(charlie).process(task)
    assert exchange.opened == [("con-1", "acc-b", "gain:-6"), ("con-1", "acc-c", "gain:-6")]
    closed = book.close_all(warn=pytest.fail)
    assert len(closed) == 2
    assert exchange.closed["sub-1"] == ("passed", None)  # after the node metered its 30
    assert exchange.closed["sub-2"] == ("dead_node", "node Charlie timed out")
    # Each close says how many packets went to that node: the most the exchange will charge.
    assert exchange.sent == {"sub-1": 30, "sub-2": 30}
    assert nodes["Bravo"].closed and nodes["Charlie"].closed


def test_a_wrong_answer_closes_as_a_failed_check() -> None:
    exchange = FakeExchange([])
    node = FakeNode(NodeError("node Bravo sent a wrong result: 3 packets", wrong_answer=True))
    book = SubcontractBook(exchange, "con-1", make_client=lambda p, s, t: node)  # type: ignore[arg-type]
    with pytest.raises(NodeError):
        book.node_for(Provider("Bravo", "http://b", id="acc-b")).process(
            SegmentTask(1, make_batch(5), (StepSpec.parse("gain:-6"),))
        )
    book.close_all(warn=pytest.fail)
    assert exchange.closed["sub-1"] == ("failed_check", "node Bravo sent a wrong result: 3 packets")


def test_a_provider_without_a_card_is_told_before_the_run() -> None:
    book = SubcontractBook(FakeExchange([], card=False), "con-1")  # type: ignore[arg-type]
    with pytest.raises(Conflict, match="save a card"):
        book.handle(Provider("Bravo", "http://b", id="acc-b"), "transcode:pcmu")


@pytest.mark.parametrize(
    ("late", "returned", "outcome"),
    [(0, 200, "passed"), (2, 200, "passed"), (3, 200, "late"), (30, 60, "late")],
)
def test_a_subcontract_whose_results_came_late_closes_as_late(
    late: int, returned: int, outcome: str
) -> None:
    """More than 1 in 100 of the packets returned after their playout time is late."""
    exchange = FakeExchange([])
    book = SubcontractBook(
        exchange,  # type: ignore[arg-type]
        "con-1",
        make_client=lambda p, s, t: FakeNode(),  # type: ignore[arg-type]
        sleep=lambda s: exchange.metered.update({"sub-1": returned}),
    )
    bravo = Provider("Bravo", "http://b", id="acc-b")
    book.node_for(bravo).process(SegmentTask(1, make_batch(returned), (StepSpec.parse("gain:-6"),)))
    book.judge_late([Subcontracted("gain:-6", "Bravo", 1, returned, late_packets=late)])
    book.judge_late([Subcontracted("gain:-6", "Charlie", 1, returned, late_packets=returned)])
    book.close_all(warn=pytest.fail)
    assert exchange.closed["sub-1"][0] == outcome
    if outcome == "late":
        assert exchange.closed["sub-1"][1] == (
            f"{late} of the {returned} packets it returned came after their playout time"
        )


def test_a_wrong_answer_outweighs_lateness() -> None:
    exchange = FakeExchange([])
    node = FakeNode(NodeError("node Bravo sent a wrong result", wrong_answer=True))
    book = SubcontractBook(exchange, "con-1", make_client=lambda p, s, t: node)  # type: ignore[arg-type]
    with pytest.raises(NodeError):
        book.node_for(Provider("Bravo", "http://b", id="acc-b")).process(
            SegmentTask(1, make_batch(5), (StepSpec.parse("gain:-6"),))
        )
    book.judge_late([Subcontracted("gain:-6", "Bravo", 1, 5, late_packets=5)])
    book.close_all(warn=pytest.fail)
    assert exchange.closed["sub-1"][0] == "failed_check"


def test_each_content_class_shows_its_packets_and_what_it_cost() -> None:
    exchange = FakeExchange([])
    book = SubcontractBook(exchange, "con-1", make_client=lambda p, s, t: FakeNode())  # type: ignore[arg-type]
    book.handle(Provider("Bravo", "http://b", id="acc-b"), "transcode:pcmu")
    sent = {"speech": 118, "silence": 1045, "comfort-noise": 0, "telephone-event": 0, "other": 0}
    record = Subcontracted("transcode:pcmu", "Bravo", 1, 1163, classes=sent)
    read = {"speech": 118, "silence": 1045, "comfort-noise": 163, "telephone-event": 4}
    costs = book.class_costs([record], read)
    assert costs["speech"] == {
        "packets": 118, "subcontracted": {"transcode:pcmu": 118}, "cost": "0.295", "currency": "EUR"
    }  # fmt: skip
    assert costs["silence"]["cost"] == "2.6125"  # 2.50 x 1,045 / 1,000, exact
    for kind in ("comfort-noise", "telephone-event"):  # read, never sent to the transcoder
        assert (costs[kind]["packets"], costs[kind]["cost"]) == (read[kind], "0")
        assert costs[kind]["subcontracted"] == {"transcode:pcmu": 0}


class DyingNode(FakeNode):
    """Answers its first ``answers`` calls, then fails each as ``death`` says."""

    def __init__(self, answers: int, death: NodeError) -> None:
        super().__init__()
        self.answers, self.death = answers, death

    def process(self, task: SegmentTask) -> SegmentResult:
        if self.answers == 0:
            raise self.death
        self.answers -= 1
        return super().process(task)


def _run_on(book: SubcontractBook, sizes: list[int]) -> None:
    node = book.node_for(Provider("Bravo", "http://b", id="acc-b"))
    for n, size in enumerate(sizes):
        with contextlib.suppress(NodeError):  # the plane moves such work to the next
            node.process(SegmentTask(n, make_batch(size), (StepSpec.parse("gain:-6"),)))


def test_a_node_killed_before_it_reported_its_meter_closes_as_dead_not_failed_check() -> None:
    """A node killed mid-run (SIGKILL) cannot report the packets it answered last: the plane
    waits a few of its report intervals, not 20 s, and closes it as the dead node it is; the
    exchange charges only what it metered (here nothing)."""
    exchange = FakeExchange([])
    waited: list[float] = []
    now = [0.0]

    def sleep(s: float) -> None:
        waited.append(s)
        now[0] += s

    died = DyingNode(2, NodeError("node Bravo is unreachable: Server disconnected"))
    book = SubcontractBook(exchange, "con-1", make_client=lambda p, s, t: died,  # type: ignore[arg-type]
                           sleep=sleep, clock=lambda: now[0])  # fmt: skip
    _run_on(book, [30, 30, 40])
    book.close_all(warn=pytest.fail)
    assert exchange.closed["sub-1"] == (
        "dead_node",
        "node Bravo is unreachable: Server disconnected",
    )
    assert exchange.sent["sub-1"] == 100  # the last request may have reached it
    assert 0 < sum(waited) <= 3.2


def test_packets_that_never_reached_a_dead_node_are_not_counted_as_sent() -> None:
    exchange = FakeExchange([])
    refused = NodeError("node Bravo is unreachable: Connection refused", delivered=False)
    died = DyingNode(1, refused)
    book = SubcontractBook(exchange, "con-1", make_client=lambda p, s, t: died,  # type: ignore[arg-type]
                           sleep=lambda s: exchange.metered.update({"sub-1": 30}))  # fmt: skip
    _run_on(book, [30, 40, 50])
    book.close_all(warn=pytest.fail)
    assert exchange.closed["sub-1"][0] == "dead_node"
    assert exchange.sent["sub-1"] == 30  # only what it answered: the rest could not connect
