"""The plane's side of subcontracts on the exchange (S5, S10).

Under a contract, a step this provider lacks is done under a subcontract: :class:`SubcontractBook`
opens one on the exchange for each (provider, step) the run sends work to, before the run for the
first provider of each step (so a provider without a saved card learns it before anything is
read: the exchange's 409) and when failover reaches another. The work goes to the node with the
subcontract's work token, never a shared secret. Each answer is checked; at the end every
subcontract is closed with the worst outcome seen (``failed_check`` before ``dead_node`` before
``passed``), once the exchange shows the packets the plane got back, so the charge is exact.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from commex.client import ExchangeClient
from commex.domain.errors import CommexError
from commex.stream.nodeclient import NodeClient, NodeError
from commex.stream.steps.base import StepSpec
from commex.stream.subcontracting import (
    Provider,
    StepNode,
    Subcontractor,
    check_payload_types,
)
from commex.stream.tasks import SegmentResult, SegmentTask

_SEVERITY = {"passed": 0, "dead_node": 1, "failed_check": 2}


@dataclass
class Handle:
    """One subcontract of this run: its node client and what the plane saw of it."""

    id: str
    provider: Provider
    step: str
    client: NodeClient
    packets: int = 0
    outcome: str = "passed"
    detail: str | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def done(self, packets: int) -> None:
        with self.lock:
            self.packets += packets

    def failed(self, error: NodeError) -> None:
        kind = "failed_check" if error.wrong_answer else "dead_node"
        with self.lock:
            if _SEVERITY[kind] > _SEVERITY[self.outcome]:
                self.outcome, self.detail = kind, error.message[:500]


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
    ) -> None:
        self._client = client
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
                self.handles[key] = Handle(str(opened["id"]), provider, step, client)
            return self.handles[key]

    def node_for(self, provider: Provider) -> StepNode:
        """The subcontractor's client factory: work for ``provider`` under a subcontract."""
        return SubcontractedNode(self, provider)

    def open_first(self, sub: Subcontractor, steps: Sequence[StepSpec]) -> None:
        """Open the subcontract of each step's first provider before the run starts."""
        for spec in steps:
            self.handle(sub.candidates(spec)[0], str(spec))

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
                closed.append(self._client.close_subcontract(h.id, h.outcome, h.detail))
            except CommexError as exc:
                warn(f"subcontract {h.id} with {h.provider.name}: {exc.message}")
            finally:
                h.client.close()
        return closed

    def _await_metered(self, h: Handle, wait_s: float) -> None:
        deadline = self._clock() + wait_s
        while h.packets and int(self._client.subcontract(h.id)["packets"]) < h.packets:
            if self._clock() >= deadline:
                h.outcome, h.detail = (
                    "failed_check",
                    (f"the node metered fewer packets than the {h.packets} it returned"),
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
        try:
            result = h.client.process(task)
            check_payload_types(spec, task.batch, result.batch)
        except NodeError as exc:
            h.failed(exc)
            raise
        h.done(len(task.batch))
        return result

    def close(self) -> None:
        """The book closes the node clients, after their subcontracts."""


def _node_client(provider: Provider, subcontract_id: str, work_token: str) -> NodeClient:
    return NodeClient(provider.url, work_token, name=provider.name, subcontract=subcontract_id)
