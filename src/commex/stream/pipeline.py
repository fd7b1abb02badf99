"""A stream-processing run: the plan as data, and what a run takes from its caller.

A :class:`Plan` says what to read, which steps to apply, how to cut segments, where to run
them, what this provider offers and whom it may subcontract; it is checked when built and never
changes. :func:`run` carries it out with the streaming runtime (:mod:`commex.stream.runtime`):
each segment goes through every step, local or subcontracted (S5), is put back in order (S6)
and leaves as soon as it is through, so a capture is written as it is read and a live call is
relayed as it comes (S8). With a maximum rate the output is shaped (T4). The exchange is
reached only through the :class:`ProviderDirectory` port; what a run delivers is handed to
``Services.on_result`` as it goes, for metering (S7).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from commex.domain.errors import InvalidInput, NotFound
from commex.stream import segmenting
from commex.stream.control import Control
from commex.stream.dispersal import Executor, ExecutorSpec
from commex.stream.endpoints import Endpoint
from commex.stream.ingest import Admit
from commex.stream.packets import PacketBatch
from commex.stream.report import RunReport, StreamReport
from commex.stream.rtcpsession import ReceiverFigures
from commex.stream.steps.base import StepSpec
from commex.stream.subcontracting import (
    DEFAULT_GROUP_PACKETS,
    ClientFactory,
    Phase,
    Provider,
    ProviderDirectory,
    Subcontractor,
    local_capabilities,
    parse_subcontractor,
    plan_phases,
)
from commex.stream.tasks import StepFactory, default_step_factory

DEFAULT_SEGMENT = "packets:1000"
# Live input: a segment is one 20 ms packet of a G.711 call. With bundling (every segment that
# closes in one pass of the runtime goes to the executor as one task) a short segment costs
# nothing per segment, and the first packet of a segment never waits for later ones, so the
# added latency is the playout delay alone. Measured with bench/live.py (see the README).
LIVE_SEGMENT = "ms:20"
# Steps that look across packets want more of a call at once: in-band DTMF needs 40 ms of a
# tone within one segment, and VAD's hangover runs within one.
LIVE_CONTEXT_SEGMENT = "ms:60"
CONTEXT_STEPS = frozenset({"dtmf", "vad"})
RTCP_MODES = ("pair", "mux", "off")
INLINE = ExecutorSpec("inline")
MAX_GROUP_PACKETS = 100_000  # packets in one request to a subcontractor's node, at most


@dataclass(frozen=True)
class Plan:
    """Everything a run needs to know, checked once: see :meth:`build`."""

    input: Endpoint
    output: Endpoint
    steps: tuple[StepSpec, ...] = ()
    segment: str = DEFAULT_SEGMENT
    executor: ExecutorSpec = INLINE
    capabilities: frozenset[str] = frozenset()
    subcontractors: tuple[Provider, ...] = ()
    max_rate_bps: int | None = None
    burst_bytes: int | None = None
    idle_timeout_s: float | None = None
    stream_timeout_s: float = 10.0
    playout_delay_ms: float | None = None
    rtcp: str = "pair"
    realtime: bool = False
    chunk_bytes: int = 4 << 20
    group_packets: int = DEFAULT_GROUP_PACKETS

    @classmethod
    def build(
        cls,
        input: str,
        output: str,
        *,
        steps: Sequence[str] = (),
        segment: str | None = None,
        executor: str = "inline",
        capabilities: Iterable[str] | None = None,
        subcontractors: Sequence[str] = (),
        max_rate_bps: int | None = None,
        burst_bytes: int | None = None,
        idle_timeout_s: float | None = None,
        stream_timeout_s: float = 10.0,
        playout_delay_ms: float | None = None,
        rtcp: str = "pair",
        realtime: bool = False,
        group_packets: int = DEFAULT_GROUP_PACKETS,
    ) -> Plan:
        """A plan from command-line words; each bad word is an InvalidInput naming it."""
        source = Endpoint.parse(input, field="input")
        if source.kind == "file" and not Path(source.path).is_file():
            raise NotFound(f"input capture {source.path!r} does not exist", field="input")
        specs = tuple(StepSpec.parse(s) for s in steps)
        segment = segment or _default_segment(source, specs)
        segmenting.SegmentPolicy.parse(segment)
        _check_numbers(max_rate_bps, burst_bytes, idle_timeout_s, stream_timeout_s)
        _check_words(playout_delay_ms, group_packets, rtcp)
        return cls(
            input=source,
            output=Endpoint.parse(output, field="output"),
            steps=specs,
            segment=segment,
            executor=ExecutorSpec.parse(executor),
            capabilities=(
                local_capabilities() if capabilities is None else frozenset(capabilities)
            ),
            subcontractors=tuple(parse_subcontractor(s) for s in subcontractors),
            max_rate_bps=max_rate_bps,
            burst_bytes=burst_bytes,
            idle_timeout_s=idle_timeout_s,
            stream_timeout_s=stream_timeout_s,
            playout_delay_ms=playout_delay_ms,
            rtcp=rtcp,
            realtime=realtime,
            group_packets=group_packets,
        )

    @property
    def live(self) -> bool:
        """Whether the input is a live UDP socket (a relay, not a batch job)."""
        return self.input.kind == "udp"

    def phases(self) -> list[Phase]:
        """The steps cut into runs done here and steps done by subcontractors."""
        return plan_phases(self.steps, self.capabilities)


def _default_segment(source: Endpoint, steps: tuple[StepSpec, ...]) -> str:
    if source.kind != "udp":
        return DEFAULT_SEGMENT
    return LIVE_CONTEXT_SEGMENT if any(s.name in CONTEXT_STEPS for s in steps) else LIVE_SEGMENT


def _check_numbers(
    max_rate_bps: int | None,
    burst_bytes: int | None,
    idle_timeout_s: float | None,
    stream_timeout_s: float,
) -> None:
    if max_rate_bps is not None and max_rate_bps <= 0:
        raise InvalidInput(
            f"--max-rate must be a positive number of bit/s, not {max_rate_bps}",
            field="max_rate",
        )
    if burst_bytes is not None and burst_bytes < 0:
        raise InvalidInput(f"--burst must be zero or more bytes, not {burst_bytes}", field="burst")
    if idle_timeout_s is not None and not 0 < idle_timeout_s <= 86_400:
        raise InvalidInput(
            f"--idle-timeout must be more than 0 and at most 86400 s, not {idle_timeout_s}",
            field="idle_timeout",
        )
    if not 0 < stream_timeout_s <= 3600:
        raise InvalidInput(
            f"--stream-timeout must be more than 0 and at most 3600 s, not {stream_timeout_s}",
            field="stream_timeout",
        )


def _check_words(playout_delay_ms: float | None, group_packets: int, rtcp: str) -> None:
    """The playout delay, the request size to subcontractors and the RTCP mode, each checked."""
    if playout_delay_ms is not None and not 0 <= playout_delay_ms <= 10_000:
        raise InvalidInput(
            f"--playout-delay must be 0 to 10000 ms, not {playout_delay_ms}",
            field="playout_delay",
        )
    if not 1 <= group_packets <= MAX_GROUP_PACKETS:
        raise InvalidInput(
            f"--group-packets must be 1 to {MAX_GROUP_PACKETS}, not {group_packets}",
            field="group_packets",
        )
    if rtcp not in RTCP_MODES:
        raise InvalidInput(
            f"--rtcp must be one of {', '.join(RTCP_MODES)}, not {rtcp!r}", field="rtcp"
        )


@dataclass(frozen=True, slots=True)
class Progress:
    """How far a run is: packets read and sent, bytes read, live streams and late packets."""

    packets_in: int
    packets_done: int
    bytes_read: int
    total_bytes: int | None
    streams: int = 0
    late: int = 0


@dataclass
class Services:
    """What a run takes from its caller; every field has a working default.

    ``clock`` is monotonic seconds and ``wall`` the epoch seconds it corresponds to (live
    arrival times are wall-clock microseconds, as a capture records them). ``stop`` ends a
    live run cleanly: what is in flight is still processed and sent.
    """

    executor: Executor | None = None
    directory: ProviderDirectory | None = None
    step_factory: StepFactory = default_step_factory
    client_factory: ClientFactory | None = None
    token: str | None = None
    clock: Callable[[], float] = time.monotonic
    wall: Callable[[], float] = time.time
    progress: Callable[[Progress], None] | None = None
    stop: threading.Event = field(default_factory=threading.Event)
    on_ready: Callable[[Endpoint], None] | None = None
    on_result: Callable[[PacketBatch], None] | None = None
    on_stream: Callable[[StreamReport], None] | None = None
    admit: Admit | None = None  # live input: take only the streams of these SSRCs
    # live output: what each output stream's receiver has reported so far, after every RTCP
    # round in which one had (by SSRC)
    on_receivers: Callable[[Mapping[int, ReceiverFigures]], None] | None = None
    control: Control | None = None
    sleep: Callable[[float], None] = time.sleep


def subcontractor(plan: Plan, services: Services) -> Subcontractor:
    """The subcontractor a run asks for the steps this provider lacks."""
    return Subcontractor(
        plan.subcontractors,
        services.directory,
        client_factory=services.client_factory,
    )


def check(plan: Plan, services: Services | None = None) -> None:
    """Fail before reading anything when a step's argument is bad, no provider offers it, or
    the run has no subcontract to send another provider's node work under."""
    services = services or Services()
    sub = subcontractor(plan, services)
    for phase in plan.phases():
        if phase.local:
            for spec in phase.steps:
                services.step_factory(spec)
        else:
            sub.check_reachable(phase.steps[0])


def run(plan: Plan, services: Services | None = None) -> RunReport:
    """Carry out ``plan`` (see the module notes) and return its report."""
    from commex.stream import runtime  # noqa: PLC0415 - the runtime imports this module

    return runtime.execute(plan, services or Services())
