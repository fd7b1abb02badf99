"""The run's counts as it goes, and the report they make (see :mod:`commex.stream.report`)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from commex.stream.aggregation import merge_dtmf
from commex.stream.outstats import OutStats
from commex.stream.packets import StreamKey
from commex.stream.report import RunReport, StreamReport, Subcontracted
from commex.stream.rtcpsession import ReceiverFigures
from commex.stream.steps.base import DtmfEvent
from commex.stream.streamstats import InStats


@dataclass
class Tally:
    """Counts of one run; stream figures live in ``instats``/``outstats`` until the stream
    finishes and becomes a :class:`StreamReport` in ``finished``."""

    live: bool = False
    latency: bool = False
    instats: InStats = field(default_factory=InStats)
    outstats: OutStats = field(init=False)
    finished: list[StreamReport] = field(default_factory=list)
    packets_in: int = 0
    skipped: int = 0
    refused: int = 0  # packets of streams the run does not admit
    segments: int = 0
    bytes_read: int = 0
    total_bytes: int | None = None
    realtime: bool = False
    classes: dict[str, int] = field(default_factory=dict)  # packets per content class

    def count_classes(self, kinds: Iterable[tuple[str, int]]) -> None:
        """Add the packets of content segments, by the segment's class."""
        for kind, packets in kinds:
            self.classes[kind] = self.classes.get(kind, 0) + packets

    def __post_init__(self) -> None:
        self.outstats = OutStats(latency=self.latency)

    def stream(
        self, sid: int, key: StreamKey, reason: str, receiver: ReceiverFigures | None = None
    ) -> StreamReport:
        """Stream ``sid``'s figures so far."""
        got = self.instats.figures(sid)
        out = self.outstats.figures(sid)
        return StreamReport(
            ssrc=key.ssrc,
            src=key.src,
            src_port=key.src_port,
            dst=key.dst,
            dst_port=key.dst_port,
            packets=got.packets,
            packets_out=out.packets,
            lost=got.lost,
            jitter_ms=got.jitter_ms,
            payload_type_in=got.payload_type,
            payload_type_out=out.payload_type,
            duration_s=out.duration_s,
            duplicates=got.duplicates,
            reordered=got.reordered,
            late=out.late,
            latency=out.latency,
            finished=reason,
            receiver=receiver,
        )

    def finish(
        self, sid: int, key: StreamKey, reason: str, receiver: ReceiverFigures | None = None
    ) -> StreamReport:
        """Close stream ``sid``: its report is kept and its id may start a new stream."""
        report = self.stream(sid, key, reason, receiver)
        self.finished.append(report)
        self.instats.reset(sid)
        self.outstats.reset(sid)
        return report

    def report(
        self,
        *,
        elapsed_s: float,
        achieved_rate_bps: int,
        shaped_to_bps: int | None,
        subcontracted: list[Subcontracted],
        dtmf: list[DtmfEvent],
        playout_delay_ms: float | None,
        segment: str,
        executor: str,
    ) -> RunReport:
        """The run's report, from the streams finished so far."""
        streams = tuple(self.finished)
        return RunReport(
            packets_in=self.packets_in,
            packets_out=sum(s.packets_out for s in streams),
            skipped=self.skipped,
            refused=self.refused,
            segments=self.segments,
            subcontracted=tuple(subcontracted),
            dtmf=tuple(merge_dtmf(dtmf)),
            streams=streams,
            bytes_out=self.outstats.bytes_total,
            elapsed_s=elapsed_s,
            duration_s=sum(s.duration_s for s in streams),
            achieved_rate_bps=achieved_rate_bps,
            shaped_to_bps=shaped_to_bps,
            live=self.live,
            playout_delay_ms=playout_delay_ms,
            segment=segment,
            executor=executor,
            late=sum(s.late for s in streams),
            latency=self.outstats.run_latency(),
            realtime=self.realtime,
            classes=dict(self.classes),
        )
