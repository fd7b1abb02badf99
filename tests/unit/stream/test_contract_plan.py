"""The contract drives the plane: its steps, its approved providers, and the subcontracts a run
opens, checks and closes on the exchange (S5, S10)."""

from __future__ import annotations

from typing import Any

import pytest
from stream_helpers import make_batch

from commex.contract_plan import contract_steps, prepare
from commex.domain.errors import Conflict, InvalidInput, NotEligible, NotFound
from commex.metering_client import ContractTerms
from commex.stream.nodeclient import NodeError
from commex.stream.pipeline import Plan
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
        return {"id": sid, "work_token": f"cxw_{sid}"}

    def subcontract(self, sid: str) -> dict[str, Any]:
        return {"id": sid, "packets": self.metered.get(sid, 0)}

    def close_subcontract(self, sid: str, outcome: str, detail: str | None = None) -> Any:
        self.closed[sid] = (outcome, detail)
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
