"""Metering a packet-plane run into a contract on the exchange (S7, T3, T4, S9).

Before a run, :func:`open_contract` checks that the contract is active and the caller is its
provider, and gives its rate terms. During a live run, :class:`ContractMeter` reports every
``every_s`` stream-seconds under the run id plus a part number, from a thread of its own so
that the relay never waits on the exchange; at the end it reports the rest, with what the
receivers measured over RTCP, which the exchange keeps in the delivery record (S9). Every
report is retried with the same run id, so the exchange counts it once however often it is
sent; one that still fails is kept and sent again at the end. :class:`ContractRun` puts these
together for ``commex stream process --contract``.
"""

from __future__ import annotations

import queue
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from commex.client import DeliveryNotRecorded, ExchangeClient, deliver_with_retries
from commex.domain.errors import CommexError, Conflict, Forbidden
from commex.stream.metering import DEFAULT_EVERY_S, Delivery, IntervalMeter, ReceiverSummary
from commex.stream.nodeclient import token_from_env
from commex.stream.nodeexecutor import NodeExecutor
from commex.stream.packets import PacketBatch
from commex.stream.pipeline import Plan
from commex.stream.report import RunReport
from commex.stream.rtcpsession import ReceiverFigures


@dataclass(frozen=True, slots=True)
class ContractTerms:
    """What a run needs of a contract: its id, its rate bounds in bit/s, the steps it asks
    for, the auction it came from and its provider (the caller)."""

    id: str
    max_rate_bps: int | None
    min_rate_bps: int | None
    steps: tuple[str, ...] = ()
    auction_id: str | None = None
    provider_id: str | None = None


def open_contract(client: ExchangeClient, contract_id: str) -> ContractTerms:
    """The contract's terms, once it is known to be active and the caller's to deliver."""
    contract = client.contract(contract_id)
    status = contract.get("status")
    if status != "active":
        raise Conflict(
            f"contract {contract_id} is {status}, not active: nothing was processed",
            field="contract",
        )
    me = client.me()
    if contract.get("provider_id") != me.get("id"):
        raise Forbidden(
            f"contract {contract_id} is delivered by its provider, not by {me.get('name')}",
            field="contract",
        )
    terms = contract.get("terms") or {}
    return ContractTerms(
        contract_id,
        terms.get("max_rate_bps"),
        terms.get("min_rate_bps"),
        tuple(str(s) for s in terms.get("steps") or ()),
        contract.get("auction_id"),
        str(me.get("id")),
    )


def new_run_id() -> str:
    """A run id unique to this run (32 hex digits; parts add ``-N``, well under 64)."""
    return uuid.uuid4().hex


@dataclass
class ContractMeter:
    """Reports one run's deliveries into contract ``contract_id``.

    ``live`` runs report as they go (:meth:`add` is the pipeline's ``on_result``), under
    ``RUN-1``, ``RUN-2``..., sent by a background thread; a file run reports once, at
    :meth:`finish`, under ``RUN``.
    """

    client: ExchangeClient
    contract_id: str
    live: bool = False
    every_s: float = DEFAULT_EVERY_S
    rate_bps: int | None = None
    run_id: str = field(default_factory=new_run_id)
    attempts: int = 4
    sleep: Callable[[float], None] = time.sleep
    warn: Callable[[str], None] = lambda message: None
    answers: list[dict[str, Any]] = field(default_factory=list)
    _unsent: list[dict[str, Any]] = field(default_factory=list)
    _parts: int = 0
    _meter: IntervalMeter | None = None
    _used_up: bool = False
    _outbox: queue.Queue[dict[str, Any] | None] = field(default_factory=queue.Queue)
    _sender: threading.Thread | None = None
    _heard: dict[int, ReceiverFigures] = field(default_factory=dict)
    _heard_lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        if self.live:
            self._meter = IntervalMeter(self._emit, self.every_s, self.rate_bps)
            self._sender = threading.Thread(
                target=self._send_loop, name="commex-contract-meter", daemon=True
            )
            self._sender.start()

    def add(self, batch: PacketBatch) -> None:
        """Count packets that went through (live runs report every ``every_s``)."""
        if self._meter is not None:
            self._meter.add(batch)

    def _next_id(self) -> str:
        self._parts += 1
        return f"{self.run_id}-{self._parts}"

    def heard(self, figures: Mapping[int, ReceiverFigures]) -> None:
        """What the receivers of this contract's streams reported so far (by SSRC): each
        report made from now on carries it, so a breach rests on the receiving side's
        measurement while the call goes on, not only at its end (S9)."""
        with self._heard_lock:
            self._heard.update(figures)

    def _emit(self, delivery: Delivery) -> None:
        with self._heard_lock:
            receiver = ReceiverSummary.of(self._heard.values())
        if receiver is not None:
            delivery = replace(delivery, receiver=receiver)
        self._outbox.put(delivery.body(self._next_id()))

    def _send_loop(self) -> None:
        while (body := self._outbox.get()) is not None:
            try:
                self._deliver_part(body)
            finally:
                self._outbox.task_done()
        self._outbox.task_done()

    def settled(self) -> None:
        """Wait until every report made so far was sent (or kept for the end)."""
        self._outbox.join()

    def _deliver_part(self, body: dict[str, Any]) -> None:
        if self._used_up:
            return  # counted in the final report, which says the block is used up
        try:
            self._send(body)
        except DeliveryNotRecorded as exc:
            self._unsent.append(body)
            self.warn(f"{exc.message}; it is sent again at the end of the run")
        except Conflict as exc:
            # The block is used up: the stream still runs to its end and is written out.
            self._used_up = True
            self.warn(f"contract {self.contract_id}: {exc.message}")

    def _send(self, body: dict[str, Any]) -> None:
        answer = deliver_with_retries(
            self.client, self.contract_id, body, attempts=self.attempts, sleep=self.sleep
        )
        self.answers.append({"run_id": body["run_id"], **answer})

    def drain(self) -> None:
        """Wait until the reports made so far are sent (or kept for the end)."""
        if self._sender is not None:
            self._outbox.put(None)
            self._sender.join()
            self._sender = None

    def finish(self, total: Delivery) -> dict[str, Any]:
        """Report what the run delivered beyond the reports so far; the exchange's answer to
        the last report, with the run id and how many reports were recorded.

        Raises :class:`DeliveryNotRecorded` when a report still cannot be recorded, and
        :class:`~commex.domain.errors.Conflict` when nothing of the block remains.
        """
        self.drain()
        if self._meter is not None:
            rest = replace(self._meter.rest(total), receiver=total.receiver)
            # The reports so far may already hold every stream-second: a rest of none is not
            # a delivery (the exchange meters seconds and refuses a report of none).
            body = rest.body(self._next_id()) if rest.body("-")["seconds"] else None
        else:
            body = total.body(self.run_id)
        for pending in [*self._unsent, *([body] if body else [])]:
            self._send(pending)
            if pending in self._unsent:
                self._unsent.remove(pending)
        return self.summary()

    def summary(self) -> dict[str, Any]:
        """The report's ``contract`` object: the last answer, the run id, the reports made."""
        last = self.answers[-1] if self.answers else {}
        return {
            **{k: v for k, v in last.items() if k != "run_id"},
            "contract_id": self.contract_id,
            "run_id": self.run_id,
            "deliveries": len(self.answers),
            "accepted_seconds": sum(a.get("accepted_seconds", 0) for a in self.answers),
            "breach": any(a.get("breach") for a in self.answers),
        }


def delivery_of(report: RunReport) -> Delivery:
    """What a run's report says it delivered, in a delivery's units, with what the
    receivers reported of it."""
    return Delivery(
        seconds=report.duration_s,
        bytes=report.bytes_out,
        packets=report.packets_out,
        achieved_rate_bps=report.achieved_rate_bps,
        receiver=ReceiverSummary.of(s.receiver for s in report.streams),
    )


@dataclass
class ContractRun:
    """What delivering under a contract adds to a run: the plan shaped to the contract's
    maximum rate (unless the plan has a rate of its own), the meter, and, for a ``node:``
    executor, node calls tagged with the contract."""

    plan: Plan
    meter: ContractMeter
    executor: NodeExecutor | None = None
    terms: ContractTerms | None = None

    @classmethod
    def open(
        cls,
        client: ExchangeClient,
        contract_id: str,
        plan: Plan,
        *,
        every_s: float = DEFAULT_EVERY_S,
        warn: Callable[[str], None] = lambda message: None,
    ) -> ContractRun:
        """Check the contract (see :func:`open_contract`) and set the run up for it."""
        terms = open_contract(client, contract_id)
        if plan.max_rate_bps is None and terms.max_rate_bps:
            plan = replace(plan, max_rate_bps=terms.max_rate_bps)
        meter = ContractMeter(
            client,
            contract_id,
            live=plan.live,
            every_s=every_s,
            rate_bps=plan.max_rate_bps,
            warn=warn,
        )
        executor = None
        if plan.executor.kind == "node":
            # The provider's own nodes take the segments as work under the contract; this run
            # reports the delivery itself, so the nodes do not count it again.
            executor = NodeExecutor(
                plan.executor.urls(),
                token=token_from_env(),
                contract=contract_id,
                metered_by_caller=True,
            )
        return cls(plan, meter, executor, terms)

    def settle(self, report: RunReport) -> tuple[RunReport, CommexError | None]:
        """Report the run to the contract: the report with the exchange's answer as its
        ``contract``, and a delivery that was not recorded (returned, not raised, so the
        caller can keep the report first)."""
        try:
            return replace(report, contract=self.meter.finish(delivery_of(report))), None
        except (DeliveryNotRecorded, Conflict) as exc:
            summary = self.meter.summary() | {"recorded": False, "error": exc.message}
            return replace(report, contract=summary), exc

    def close(self) -> None:
        """Stop the meter's sender and release the node executor, if any."""
        self.meter.drain()
        if self.executor is not None:
            self.executor.close()
