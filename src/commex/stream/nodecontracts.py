"""A processing node working under its provider's contracts (S7).

:class:`ContractGate` says whether a contract id is one of the provider's active contracts,
from a list fetched through an injected function (the exchange's
``GET /v1/providers/me/contracts?status=active``), cached for ``ttl_s`` and fetched again on a
miss, at most every ``min_refresh_s``. :class:`NodeMeter` adds up what the node processed per
contract (an :class:`~commex.stream.metering.IntervalMeter` each, so the silences between the
segments of a stream count) and sends it as deliveries, each under a run id of its own, every
``every_s`` seconds and when the node stops; a report the exchange did not take is sent again
under the same run id at the next flush, unless the exchange refused it. A caller that meters
its run itself says so (``X-Commex-Metered-By: caller``): its segments are checked against the
gate but not counted twice.
"""

from __future__ import annotations

import functools
import math
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from commex.stream.metering import Delivery, IntervalMeter
from commex.stream.packets import PacketBatch
from commex.stream.reportoutbox import ReportOutbox

CONTRACT_HEADER = "X-Commex-Contract"
# Sent with CONTRACT_HEADER by a caller that reports the whole run to the contract itself
# (``stream process --contract``), so the node does not count the same stream-seconds again.
METERED_HEADER = "X-Commex-Metered-By"
METERED_BY_CALLER = "caller"
# Work under a subcontract on the exchange: the bearer is then the subcontract's work token,
# which the subcontractor's node checks with the exchange (no secret shared across providers).
SUBCONTRACT_HEADER = "X-Commex-Subcontract"


class ContractGate:
    """Whether a contract is active for this node's provider, from a briefly cached list."""

    def __init__(
        self,
        fetch: Callable[[], Iterable[str]],
        *,
        ttl_s: float = 30.0,
        min_refresh_s: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._fetch = fetch
        self._ttl, self._min_refresh, self._clock = ttl_s, min_refresh_s, clock
        self._active: frozenset[str] = frozenset()
        self._fetched = -float("inf")
        self._lock = threading.Lock()

    def allows(self, contract_id: str) -> bool:
        """True when ``contract_id`` is active; a miss or a stale list fetches it again."""
        with self._lock:
            age = self._clock() - self._fetched
            stale = age >= self._ttl
            if stale or (contract_id not in self._active and age >= self._min_refresh):
                self._active = frozenset(self._fetch())
                self._fetched = self._clock()
            return contract_id in self._active


@dataclass
class NodeMeter:
    """What the node processed per contract, sent as batched deliveries (see the module)."""

    send: Callable[[str, dict[str, Any]], object]
    every_s: float = 5.0
    warn: Callable[[str], None] = lambda message: None
    node_run: str = field(default_factory=lambda: uuid.uuid4().hex)
    _meters: dict[str, IntervalMeter] = field(default_factory=dict)
    _ready: list[tuple[str, Delivery]] = field(default_factory=list)
    _count: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _outbox: ReportOutbox[tuple[str, dict[str, Any]]] = field(init=False)

    def __post_init__(self) -> None:
        self._outbox = ReportOutbox(
            self._take,
            lambda report: self.send(*report),
            lambda report: f"delivery {report[1]['run_id']} to contract {report[0]}",
            every_s=self.every_s,
            warn=self.warn,
            name="commex-node-meter",
        )

    def add(self, contract_id: str, batch: PacketBatch) -> None:
        """Count one processed segment under ``contract_id``."""
        if not len(batch):
            return
        with self._lock:
            meter = self._meters.get(contract_id)
            if meter is None:
                meter = IntervalMeter(functools.partial(self._collect, contract_id), math.inf)
                self._meters[contract_id] = meter
            meter.add(batch)

    def _collect(self, contract_id: str, delivery: Delivery) -> None:
        self._ready.append((contract_id, delivery))

    def _take(self) -> list[tuple[str, dict[str, Any]]]:
        """Every contract's deliveries since the last flush, each under a run id of its own."""
        with self._lock:
            for meter in self._meters.values():
                meter.flush()
            taken = []
            for contract_id, delivery in self._ready:
                self._count += 1
                taken.append((contract_id, delivery.body(f"{self.node_run}-{self._count}")))
            self._ready = []
            return taken

    @property
    def sent(self) -> int:
        """Deliveries the exchange took."""
        return self._outbox.sent

    def flush(self) -> None:
        """Send every contract's deliveries so far, and those not taken before."""
        self._outbox.flush()

    def unsent(self) -> int:
        """Deliveries waiting to be sent again."""
        return self._outbox.unsent()

    def start(self) -> None:
        """Flush every ``every_s`` seconds on a background thread until :meth:`close`."""
        self._outbox.start()

    def close(self) -> None:
        """Stop the thread and send what is left."""
        self._outbox.close()
