"""What a run did, as typed frozen values: per stream, per subcontract, and for the whole run.

A stream's figures are fixed the moment it finishes (its caller hung up, it went quiet, or
the input ended), so a live run reports each call while the others go on; the run's report
gathers them. :meth:`RunReport.to_json` gives the JSON the command line writes: it keeps every
key of the specification's section 8 and adds the live figures (playout delay, added latency,
late packets) and, where the far end sent RTCP receiver reports, what the receiver measured.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from commex.stream.rtcpsession import ReceiverFigures
from commex.stream.steps.base import DtmfEvent


@dataclass(frozen=True, slots=True)
class Latency:
    """Added latency, arrival to departure, over ``packets`` packets (milliseconds)."""

    p50_ms: float
    p99_ms: float
    max_ms: float
    packets: int

    def to_json(self) -> dict[str, Any]:
        return {
            "p50": round(self.p50_ms, 3),
            "p99": round(self.p99_ms, 3),
            "max": round(self.max_ms, 3),
            "packets": self.packets,
        }


@dataclass(frozen=True, slots=True)
class StreamReport:
    """One input stream (5-tuple and SSRC) from its first packet to its end.

    ``lost`` counts sequence numbers never received; ``duplicates`` and ``reordered`` what the
    live input put right; ``late`` the packets that left after their playout time. ``finished``
    says why the stream ended: ``end`` of the input, ``quiet``, ``bye`` or ``stopped``.
    """

    ssrc: int
    src: str
    src_port: int
    dst: str
    dst_port: int
    packets: int
    packets_out: int
    lost: int
    jitter_ms: float
    payload_type_in: int | None
    payload_type_out: int | None
    duration_s: float
    duplicates: int = 0
    reordered: int = 0
    late: int = 0
    latency: Latency | None = None
    finished: str = "end"
    receiver: ReceiverFigures | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "ssrc": self.ssrc,
            "src": self.src,
            "src_port": self.src_port,
            "dst": self.dst,
            "dst_port": self.dst_port,
            "packets": self.packets,
            "packets_out": self.packets_out,
            "lost": self.lost,
            "duplicates": self.duplicates,
            "reordered": self.reordered,
            "late": self.late,
            "jitter_ms": round(self.jitter_ms, 3),
            "payload_type_in": self.payload_type_in,
            "payload_type_out": self.payload_type_out,
            "duration_s": round(self.duration_s, 3),
            "latency_ms": None if self.latency is None else self.latency.to_json(),
            "finished": self.finished,
            "receiver": None if self.receiver is None else self.receiver.as_dict(),
        }


@dataclass(frozen=True, slots=True)
class Subcontracted:
    """Work of one step done by one other provider: requests (``segments``) and packets, and
    on live input the packets it returned after their playout time (``late_packets``, shown
    when there are any)."""

    step: str
    provider: str
    segments: int
    packets: int
    late_packets: int = 0
    classes: Mapping[str, int] = field(default_factory=dict)  # packets per content class

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "step": self.step,
            "provider": self.provider,
            "segments": self.segments,
            "packets": self.packets,
        }
        if self.late_packets:
            out["late_packets"] = self.late_packets
        if self.classes:
            out["classes"] = dict(self.classes)
        return out


def dtmf_json(event: DtmfEvent) -> dict[str, Any]:
    return {
        "digit": event.digit,
        "ssrc": event.ssrc,
        "start_ms": event.start_ms,
        "duration_ms": event.duration_ms,
        "source": event.source,
    }


@dataclass(frozen=True)
class RunReport:
    """The whole run. ``duration_s`` is its stream-seconds (each stream's media duration,
    summed); ``achieved_rate_bps`` the output's rate over its departures; ``playout_delay_ms``
    the constant delay a live run adds to every packet (None when the output is not live);
    ``realtime`` whether the live runtime ran with real-time scheduling."""

    packets_in: int
    packets_out: int
    skipped: int
    segments: int
    subcontracted: tuple[Subcontracted, ...]
    dtmf: tuple[DtmfEvent, ...]
    streams: tuple[StreamReport, ...]
    bytes_out: int
    elapsed_s: float
    duration_s: float
    achieved_rate_bps: int
    shaped_to_bps: int | None
    live: bool = False
    playout_delay_ms: float | None = None
    segment: str = ""
    executor: str = ""
    late: int = 0
    latency: Latency | None = None
    realtime: bool = False
    contract: Mapping[str, Any] | None = field(default=None)
    classes: Mapping[str, int] = field(default_factory=dict)  # --segment content: packets
    refused: int = 0  # live packets of streams the run does not admit (none of its contracts)

    def to_json(self) -> dict[str, Any]:
        elapsed = max(self.elapsed_s, 1e-9)
        out: dict[str, Any] = {
            "packets_in": self.packets_in,
            "packets_out": self.packets_out,
            "skipped": self.skipped,
            "segments": self.segments,
            "subcontracted": [s.to_json() for s in self.subcontracted],
            "dtmf": [dtmf_json(e) for e in self.dtmf],
            "streams": [s.to_json() for s in self.streams],
            "bytes_out": self.bytes_out,
            "elapsed_s": round(self.elapsed_s, 6),
            "rate_pps": round(self.packets_out / elapsed, 1),
            "rate_bps": round(self.bytes_out * 8 / elapsed, 1),
            "duration_s": round(self.duration_s, 3),
            "achieved_rate_bps": self.achieved_rate_bps,
            "shaped_to_bps": self.shaped_to_bps,
            "live": self.live,
            "playout_delay_ms": self.playout_delay_ms,
            "segment": self.segment,
            "executor": self.executor,
            "late": self.late,
            "latency_ms": None if self.latency is None else self.latency.to_json(),
            "realtime": self.realtime,
        }
        if self.classes:
            out["classes"] = dict(self.classes)
        if self.refused:
            out["refused"] = self.refused
        if self.contract is not None:
            out["contract"] = dict(self.contract)
        return out
