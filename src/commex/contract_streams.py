"""One run serving the streams of several contracts at once (S5, seed claim 7).

``commex stream process --contract C1=SSRC --contract C2=SSRC,SSRC`` reads one capture whose
streams belong to several recipients' contracts, each stream named by its SSRC. The streams go
through the steps together: a step this provider lacks gathers the packets that need it across
all of them into shared requests (:mod:`commex.stream.remotestage`), and each request is sent
to the subcontractor's node in one part per parent contract, under that parent's subcontract
and work token (:class:`SplitNode`), so each parent's subcontract meters exactly its own
packets. Each contract is metered on its own streams only (:class:`ContractDeliveries`), and
its subcontracts are charged to it, exact to the packet.

Every stream must belong to one of the contracts: a packet of a stream that none names stops
the run, naming its SSRC. The contracts must ask for the same steps.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass, field, replace

import numpy as np

from commex.domain.errors import InvalidInput
from commex.stream.metering import Delivery, IntervalMeter
from commex.stream.packets import I64, PacketBatch, StreamKey, concat
from commex.stream.steps.base import DtmfEvent
from commex.stream.subcontracting import Provider
from commex.stream.tasks import SegmentResult, SegmentTask
from commex.subcontract_run import SubcontractBook, SubcontractedNode

_CID = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
_SSRC = re.compile(r"^(0x[0-9a-fA-F]{1,8}|[0-9]{1,10})$")


def parse_contracts(values: Iterable[str]) -> dict[str, frozenset[int]]:
    """``CID`` (alone) or ``CID=SSRC[,SSRC...]`` each; several need their SSRCs, and an SSRC
    belongs to one contract. Anything else is an InvalidInput naming ``contract``."""
    found: dict[str, frozenset[int]] = {}
    for value in values:
        cid, sep, rest = value.partition("=")
        ssrcs = [s.strip() for s in rest.split(",")] if sep else []
        if not _CID.match(cid) or (sep and not all(_SSRC.match(s) for s in ssrcs)):
            raise InvalidInput(
                f"invalid --contract {value!r}: expected CID or CID=SSRC[,SSRC] "
                "(SSRC as 0x1234abcd or decimal)",
                field="contract",
            )
        numbers = frozenset(int(s, 0) for s in ssrcs)
        if cid in found or any(n > 0xFFFFFFFF for n in numbers):
            raise InvalidInput(f"--contract {cid} is named twice or has an SSRC over 32 bits",
                               field="contract")  # fmt: skip
        found[cid] = numbers
    if len(found) > 1 and not all(found.values()):
        raise InvalidInput(
            "with several --contract each names its streams: --contract CID=SSRC[,SSRC]",
            field="contract",
        )
    taken = [s for ssrcs in found.values() for s in ssrcs]
    if len(taken) != len(set(taken)):
        raise InvalidInput("an SSRC belongs to one --contract only", field="contract")
    return found


@dataclass(frozen=True)
class StreamOwners:
    """Which contract each stream (by SSRC) belongs to."""

    by_ssrc: Mapping[int, str]

    @classmethod
    def of(cls, contracts: Mapping[str, frozenset[int]]) -> StreamOwners:
        return cls({s: cid for cid, ssrcs in contracts.items() for s in ssrcs})

    def rows(self, batch: PacketBatch) -> dict[str, I64]:
        """The rows of ``batch`` of each contract; a stream of none is an InvalidInput."""
        out: dict[str, I64] = {}
        for ssrc in np.unique(batch.ssrc).tolist():
            cid = self.by_ssrc.get(int(ssrc))
            if cid is None:
                raise InvalidInput(
                    f"stream SSRC {int(ssrc):#010x} belongs to none of the --contract given",
                    field="contract",
                )
            rows = np.flatnonzero(batch.ssrc == ssrc)
            out[cid] = rows if cid not in out else np.concatenate([out[cid], rows])
        return out


@dataclass
class ContractDeliveries:
    """What went out for each contract, from the run's results (``add`` is ``on_result``)."""

    owners: StreamOwners
    also: Mapping[str, Callable[[PacketBatch], None]] = field(default_factory=dict)
    meters: dict[str, IntervalMeter] = field(default_factory=dict)
    emitted: dict[str, Delivery] = field(default_factory=dict)

    def add(self, batch: PacketBatch) -> None:
        """Count each contract's packets of ``batch``, and hand them to its ``also`` (a live
        run's meter, which reports as the run goes)."""
        for cid, rows in self.owners.rows(batch).items():
            meter = self.meters.get(cid)
            if meter is None:
                meter = self.meters[cid] = IntervalMeter(self._emitter(cid), math.inf)
            part = batch.take(rows)
            meter.add(part)
            if (more := self.also.get(cid)) is not None:
                more(part)

    def _emitter(self, cid: str) -> _Emit:
        return _Emit(self.emitted, cid)

    def delivery(self, cid: str) -> Delivery:
        """Contract ``cid``'s delivery over the whole run (none: nothing delivered)."""
        meter = self.meters.get(cid)
        if meter is not None:
            meter.flush()
        return self.emitted.get(cid, Delivery(0.0, 0, 0, 0))


@dataclass
class _Emit:
    into: dict[str, Delivery]
    cid: str

    def __call__(self, d: Delivery) -> None:
        e = self.into.get(self.cid)
        self.into[self.cid] = d if e is None else Delivery(
            e.seconds + d.seconds, e.bytes + d.bytes, e.packets + d.packets, d.achieved_rate_bps
        )  # fmt: skip


class SplitNode:
    """A subcontractor's node called for one shared request in one part per parent contract,
    each under that parent's subcontract, the parts at the same time (a live request waits for
    the slowest part, not for their sum); the answers put back together."""

    def __init__(
        self, books: Mapping[str, SubcontractBook], owners: StreamOwners, provider: Provider
    ) -> None:
        self._nodes = {cid: SubcontractedNode(book, provider) for cid, book in books.items()}
        self._owners = owners
        # The remote stage calls from several threads at once; each call's parts run here.
        self._parts = ThreadPoolExecutor(4 * len(books), thread_name_prefix="commex-part")

    def process(self, task: SegmentTask) -> SegmentResult:
        def part(cid: str, rows: I64) -> SegmentResult:
            rows.sort()
            return self._nodes[cid].process(SegmentTask(task.id, task.batch.take(rows), task.steps))

        owned = list(self._owners.rows(task.batch).items())
        waiting = [self._parts.submit(part, cid, rows) for cid, rows in owned[1:]]
        try:
            answers = [part(*owned[0])]  # the first part on this thread, the others beside it
        finally:
            wait(waiting)  # a failed part still lets the others end before the request does
        answers += [f.result() for f in waiting]
        parts = [_in_table(a.batch, task.batch.streams) for a in answers]
        events: list[DtmfEvent] = [e for a in answers for e in a.dtmf]
        whole = concat(parts) if len(parts) > 1 else parts[0]
        whole = whole.take(np.argsort(whole.index, kind="stable"))
        return SegmentResult(task.id, whole, tuple(events))

    def close(self) -> None:
        """The books close the node clients, after their subcontracts."""
        self._parts.shutdown(wait=True)


def _in_table(batch: PacketBatch, streams: tuple[StreamKey, ...]) -> PacketBatch:
    """``batch`` with its stream ids in ``streams`` (a node's answer may number them anew)."""
    if batch.streams == streams:
        return batch
    where = {key: i for i, key in enumerate(streams)}
    ids = np.array([where[key] for key in batch.streams], dtype=np.int32)
    return replace(batch, stream=ids[batch.stream], streams=streams)
