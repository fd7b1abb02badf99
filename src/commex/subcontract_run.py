"""The plane's side of subcontracts on the exchange (S5, S10).

Under a contract, a step this provider lacks is done under a subcontract: :class:`SubcontractBook`
opens one on the exchange for each (provider, step) the run sends work to, before the run for the
first provider of each step (so a provider without a saved card learns it before anything is
read: the exchange's 409) and when failover reaches another. The work goes to the node with the
subcontract's work token, never a shared secret. Each answer is checked; at the end every
subcontract is closed with the worst outcome seen (``failed_check`` before ``dead_node`` before
``late`` before ``passed``) and the packets sent under it (the most the exchange charges), once
the exchange shows the packets the plane got back, so the charge is exact.

On live input a subcontract is ``late`` when more than :data:`LATE_SHARE` of the packets its
provider returned came after their playout time (:meth:`SubcontractBook.judge_late`): a single
stray late segment in a long call is tolerated, a node that keeps missing the deadline is not.
The run has already moved such work to the next provider (the remote stage hedges a late
request), so the late provider's rating is what is left to decide.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from commex.client import ExchangeClient
from commex.domain.errors import CommexError
from commex.stream.nodeclient import NodeClient, NodeError
from commex.stream.report import Subcontracted
from commex.stream.spotcheck import SpotCheck
from commex.stream.steps.base import StepSpec
from commex.stream.subcontracting import (
    Provider,
    StepNode,
    Subcontractor,
    check_answer,
)
from commex.stream.tasks import SegmentResult, SegmentTask

_SEVERITY = {"passed": 0, "late": 1, "dead_node": 2, "failed_check": 3}
LATE_SHARE = Decimal("0.01")  # late: more than 1 in 100 of the packets returned came late
# How long a dead node's meter is awaited: nodes report every second, so a live one has
# reported by then, and a killed one never will.
DEAD_WAIT_S = 3.0


@dataclass
class Handle:
    """One subcontract of this run: its node client and what the plane saw of it."""

    id: str
    provider: Provider
    step: str
    client: NodeClient
    price: Decimal | None = None  # per 1,000 packets, as the subcontract was opened
    currency: str = ""
    packets: int = 0  # returned by the node, checked
    sent: int = 0  # sent to the node: the most the exchange may charge
    outcome: str = "passed"
    detail: str | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def sending(self, packets: int) -> None:
        with self.lock:
            self.sent += packets

    def unsent(self, packets: int) -> None:
        """``packets`` counted by :meth:`sending` never reached the node (it could not be
        connected to), so they do not count towards what the exchange may charge."""
        with self.lock:
            self.sent -= packets

    def done(self, packets: int) -> None:
        with self.lock:
            self.packets += packets

    def failed(self, error: NodeError) -> None:
        self.worsen("failed_check" if error.wrong_answer else "dead_node", error.message)

    def worsen(self, kind: str, detail: str) -> None:
        """Record ``kind`` as the outcome unless a worse one is recorded already."""
        with self.lock:
            if _SEVERITY[kind] > _SEVERITY[self.outcome]:
                self.outcome, self.detail = kind, detail[:300]


class SubcontractBook:
    """The subcontracts one run opens under ``contract_id`` (see the module notes)."""

    def __init__(
        self,
        client: ExchangeClient,
        contract_id: str,
        *,
        make_client: Callable[[Provider, str, str], NodeClient] | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        spot_check: SpotCheck | None = None,
    ) -> None:
        self._client = client
        self.spot_check = spot_check or SpotCheck()
        self.contract_id = contract_id
        self._make = make_client or _node_client
        self._sleep, self._clock = sleep, clock
        self.handles: dict[tuple[str, str], Handle] = {}
        self._lock = threading.Lock()

    def handle(self, provider: Provider, step: str) -> Handle:
        """The subcontract for ``step`` with ``provider``, opened on first use. A refusal
        by the exchange is raised as it is (a CommexError naming the reason)."""
        key = (provider.id or provider.name, step)
        with self._lock:
            if key not in self.handles:
                if provider.id is None:
                    raise NodeError(f"{provider.name} is not a provider on the exchange")
                opened = self._client.open_subcontract(self.contract_id, provider.id, step)
                client = self._make(provider, str(opened["id"]), str(opened["work_token"]))
                h = Handle(str(opened["id"]), provider, step, client)
                if opened.get("price_per_1000_packets") is not None:
                    h.price = Decimal(str(opened["price_per_1000_packets"]))
                    h.currency = str(opened.get("currency") or "")
                self.handles[key] = h
            return self.handles[key]

    def node_for(self, provider: Provider) -> StepNode:
        """The subcontractor's client factory: work for ``provider`` under a subcontract."""
        return SubcontractedNode(self, provider)

    def open_first(self, sub: Subcontractor, steps: Sequence[StepSpec]) -> None:
        """Open the subcontract of each step's first provider before the run starts."""
        for spec in steps:
            self.handle(sub.candidates(spec)[0], str(spec))

    def judge_late(self, records: Iterable[Subcontracted]) -> None:
        """Mark ``late`` each subcontract whose provider returned more than
        :data:`LATE_SHARE` of its packets after their playout time (the run's records)."""
        with self._lock:
            handles = list(self.handles.values())
        for rec in records:
            for h in handles:
                if (h.provider.name, h.step) != (rec.provider, rec.step) or not rec.late_packets:
                    continue
                returned = max(h.packets, rec.late_packets)
                if rec.late_packets > LATE_SHARE * returned:
                    h.worsen("late", f"{rec.late_packets} of the {returned} packets it returned "
                             "came after their playout time")  # fmt: skip

    def packets_of(self, provider: str, step: str) -> int:
        """The packets this book's subcontract for ``step`` with ``provider`` has metered."""
        with self._lock:
            return sum(
                h.packets
                for h in self.handles.values()
                if (h.provider.name, h.step) == (provider, step)
            )

    def class_costs(
        self, records: Iterable[Subcontracted], packets_in: Mapping[str, int]
    ) -> dict[str, dict[str, Any]]:
        """Per content class: the packets read, those sent to each subcontracted step, and
        what they cost at the subcontracts' prices (exact; the charge rounds the total)."""
        with self._lock:
            prices = {(h.provider.name, h.step): h for h in self.handles.values()}
        out: dict[str, dict[str, Any]] = {
            kind: {"packets": n, "subcontracted": {}, "cost": Decimal(0)}
            for kind, n in packets_in.items()
        }
        currency = ""
        for rec in records:
            h = prices.get((rec.provider, rec.step))
            for kind, n in rec.classes.items():
                entry = out.setdefault(
                    kind, {"packets": 0, "subcontracted": {}, "cost": Decimal(0)}
                )
                entry["subcontracted"][rec.step] = entry["subcontracted"].get(rec.step, 0) + n
                if h is not None and h.price is not None:
                    entry["cost"] += h.price * n / 1000
                    currency = currency or h.currency
        for entry in out.values():
            entry["cost"] = f"{entry['cost'].normalize():f}"
            entry["currency"] = currency or None
        return out

    def close_all(self, *, wait_s: float = 20.0, warn: Callable[[str], None]) -> list[Any]:
        """Close every subcontract with its outcome once the exchange shows the packets the
        plane got back (at most ``wait_s`` each); the closed subcontracts as the exchange
        answered."""
        closed = []
        with self._lock:
            handles = list(self.handles.values())
            self.handles.clear()
        for h in handles:
            try:
                self._await_metered(h, wait_s)
                closed.append(self._client.close_subcontract(h.id, h.outcome, h.sent, h.detail))
            except CommexError as exc:
                warn(f"subcontract {h.id} with {h.provider.name}: {exc.message}")
            finally:
                h.client.close()
        return closed

    def _await_metered(self, h: Handle, wait_s: float) -> None:
        """Wait until the exchange shows the packets the node returned; a node that meters
        fewer failed the check. A dead node (``dead_node``) may have died before it could
        report them: it is given :data:`DEAD_WAIT_S`, then closed as it is, the exchange
        charging what it did meter."""
        dead = h.outcome == "dead_node"
        deadline = self._clock() + (min(wait_s, DEAD_WAIT_S) if dead else wait_s)
        while h.packets and int(self._client.subcontract(h.id)["packets"]) < h.packets:
            if self._clock() >= deadline:
                if not dead:
                    h.outcome, h.detail = (
                        "failed_check",
                        f"the node metered fewer packets than the {h.packets} it returned",
                    )
                return
            self._sleep(0.2)


class SubcontractedNode:
    """A provider's node called under this run's subcontract for each step it does."""

    def __init__(self, book: SubcontractBook, provider: Provider) -> None:
        self._book = book
        self._provider = provider

    def process(self, task: SegmentTask) -> SegmentResult:
        spec = task.steps[0]
        try:
            h = self._book.handle(self._provider, str(spec))
        except CommexError as exc:
            if isinstance(exc, NodeError):
                raise
            raise NodeError(f"subcontract refused: {exc.message}", retriable=False) from exc
        h.sending(len(task.batch))
        try:
            result = h.client.process(task)
            check_answer(spec, task.batch, result.batch, self._book.spot_check)
        except NodeError as exc:
            if not exc.delivered:
                h.unsent(len(task.batch))
            h.failed(exc)
            raise
        h.done(len(task.batch))
        return result

    def close(self) -> None:
        """The book closes the node clients, after their subcontracts."""


def _node_client(provider: Provider, subcontract_id: str, work_token: str) -> NodeClient:
    return NodeClient(provider.url, work_token, name=provider.name, subcontract=subcontract_id)
