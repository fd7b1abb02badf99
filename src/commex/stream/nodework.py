"""A processing node doing other providers' work under subcontracts (S10).

A caller sends work under a subcontract with its work token as the bearer and the
subcontract's id in ``X-Commex-Subcontract``. :class:`WorkGate` asks the exchange, with the
node's own provider's node key, whether the subcontract names this provider, is open and the
token is its own; a yes is remembered for ``ttl_s`` seconds (so a stream's segments cost one
check), a no never is. :class:`SubcontractMeter` counts the packets done per subcontract and
reports them every ``every_s`` seconds and when the node stops, each report under a run id of
its own, sent again under the same id while the exchange cannot take it (it counts it once).
"""

from __future__ import annotations

import hashlib
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from commex.stream.reportoutbox import ReportOutbox


class WorkGate:
    """Whether work under a subcontract is for this node's provider (see the module)."""

    def __init__(
        self,
        check: Callable[[str, str], object],
        *,
        ttl_s: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._check = check
        self._ttl, self._clock = ttl_s, clock
        self._known: dict[tuple[str, str], float] = {}
        self._lock = threading.Lock()

    def admit(self, subcontract_id: str, work_token: str) -> None:
        """Return when the exchange says yes (or said so lately); raise its refusal."""
        key = (subcontract_id, hashlib.sha256(work_token.encode()).hexdigest())
        with self._lock:
            until = self._known.get(key)
            if until is not None and self._clock() < until:
                return
        self._check(subcontract_id, work_token)  # raises NotFound / Forbidden / Conflict
        with self._lock:
            self._known[key] = self._clock() + self._ttl


@dataclass
class SubcontractMeter:
    """Packets done per subcontract, reported in batches (see the module)."""

    send: Callable[[str, str, int], object]
    every_s: float = 1.0
    warn: Callable[[str], None] = lambda message: None
    node_run: str = field(default_factory=lambda: uuid.uuid4().hex)
    _counts: dict[str, int] = field(default_factory=dict)
    _reports: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _outbox: ReportOutbox[tuple[str, str, int]] = field(init=False)

    def __post_init__(self) -> None:
        self._outbox = ReportOutbox(
            self._take,
            lambda report: self.send(*report),
            lambda report: f"packets {report[1]} of subcontract {report[0]}",
            every_s=self.every_s,
            warn=self.warn,
            name="commex-work-meter",
        )

    def add(self, subcontract_id: str, packets: int) -> None:
        """Count ``packets`` done under ``subcontract_id``."""
        if packets > 0:
            with self._lock:
                self._counts[subcontract_id] = self._counts.get(subcontract_id, 0) + packets

    def _take(self) -> list[tuple[str, str, int]]:
        """The counts since the last flush, each under a run id of its own."""
        with self._lock:
            taken = []
            for sid, packets in self._counts.items():
                self._reports += 1
                taken.append((sid, f"{self.node_run}-{self._reports}", packets))
            self._counts = {}
            return taken

    def flush(self) -> None:
        """Report what was counted since the last flush, and what was not taken before."""
        self._outbox.flush()

    def unsent(self) -> int:
        """Reports waiting to be sent again."""
        return self._outbox.unsent()

    def start(self) -> None:
        """Report every ``every_s`` seconds on a background thread until :meth:`close`."""
        self._outbox.start()

    def close(self) -> None:
        """Stop the thread and report what is left."""
        self._outbox.close()
