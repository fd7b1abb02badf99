"""`commex stream process`: run RTP streams through processing steps, from a capture or UDP.

This module only declares the command, so `commex stream process --help` imports nothing
heavy; the packet plane and the exchange's client load when the command runs
(:mod:`commex.cli.stream_run`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from commex.cli.common import handle_errors

# The packet plane's defaults, repeated here so the help needs no import of it (a test checks
# that they agree).
DEFAULT_SEGMENT = "packets:1000"
LIVE_SEGMENT = "ms:20"
LIVE_CONTEXT_SEGMENT = "ms:60"
DEFAULT_METER_EVERY_S = 10.0
DEFAULT_GROUP_PACKETS = 4000

app = typer.Typer(help="The packet-stream plane: process RTP streams.", no_args_is_help=True)


@app.callback()
def _group() -> None:
    """The packet-stream plane: process RTP streams."""


Input = Annotated[
    str, typer.Argument(metavar="INPUT", help="A pcap/pcapng path or udp://HOST:PORT.")
]
Out = Annotated[str, typer.Option("--out", help="A pcap path or udp://HOST:PORT.")]
Steps = Annotated[
    list[str],
    typer.Option(
        "--step", help="NAME[:ARG], applied in order (transcode:pcmu, gain:-6, dtmf, vad)."
    ),
]
Segment = Annotated[
    str | None,
    typer.Option(
        "--segment",
        help=f"packets:N, ms:N or content (default {DEFAULT_SEGMENT}; for udp:// "
        f"input {LIVE_SEGMENT}, or {LIVE_CONTEXT_SEGMENT} with dtmf or vad).",
    ),
]
ExecutorOpt = Annotated[
    str, typer.Option("--executor", help="inline, process[:N], dask[:ADDRESS] or node:URL[,URL].")
]
Capabilities = Annotated[
    str | None,
    typer.Option("--capabilities", help="The steps offered here, a,b (default: every local one)."),
]
Subcontractors = Annotated[
    list[str],
    typer.Option(
        "--subcontractor",
        help="NAME=URL of a pre-approved provider, tried in order (with --contract, a provider "
        "of that name on the exchange).",
    ),
]
ExchangeOpt = Annotated[
    str | None,
    typer.Option(
        "--exchange",
        help="The exchange (URL; your API token in COMMEX_TOKEN or the profile `commex "
        "login` saved; or COMMEX_EXCHANGE_URL) that --contract is delivered on, where "
        "missing steps are subcontracted.",
    ),
]
ContractOpt = Annotated[
    list[str],
    typer.Option(
        "--contract",
        metavar="CID[=SSRC,...]",
        help="Deliver under this active contract of yours: shape to its max_rate_bps and "
        "report the delivery to the exchange. Several, each naming its streams by SSRC, "
        "serve several recipients' streams of one capture or live input in one run.",
    ),
]
MeterEvery = Annotated[
    float,
    typer.Option(
        "--meter-every",
        metavar="SECONDS",
        min=0.1,
        help="With --contract and udp:// input, report every this many stream-seconds.",
    ),
]
ReportOpt = Annotated[Path | None, typer.Option("--report", help="Write the JSON report here.")]
MaxRate = Annotated[
    int | None,
    typer.Option(
        "--max-rate",
        metavar="BPS",
        help="Shape the output to at most this many bit/s (RTP header and payload bytes).",
    ),
]
Burst = Annotated[
    int | None,
    typer.Option(
        "--burst", metavar="BYTES", help="Bytes the shaper may send at once (one packet)."
    ),
]
IdleTimeout = Annotated[
    float | None,
    typer.Option(
        "--idle-timeout",
        metavar="SECONDS",
        help="UDP input ends this long after the last packet (default: run until stopped).",
    ),
]
StreamTimeout = Annotated[
    float,
    typer.Option("--stream-timeout", metavar="SECONDS", help="A live stream this quiet has ended."),
]
PlayoutDelay = Annotated[
    float | None,
    typer.Option(
        "--playout-delay",
        metavar="MS",
        help="Live: the delay every packet leaves at after its arrival (default: the "
        "segment plus a margin for the executor).",
    ),
]
Rtcp = Annotated[
    str, typer.Option("--rtcp", help="Live RTCP: pair (port+1), mux (the RTP port) or off.")
]
Realtime = Annotated[
    bool,
    typer.Option(
        "--realtime/--no-realtime",
        help="Live: ask for real-time scheduling (root or CAP_SYS_NICE), so a busy machine "
        "does not hold packets.",
    ),
]
GroupPackets = Annotated[
    int,
    typer.Option(
        "--group-packets",
        metavar="N",
        help="At most this many packets in one request to a subcontractor's node.",
    ),
]
Quiet = Annotated[bool, typer.Option("--quiet", help="No progress display.")]


@app.command("process")
@handle_errors
def process(
    source: Input,
    out: Out,
    step: Steps = [],  # noqa: B006 - typer reads the default, never mutates it
    segment: Segment = None,
    executor: ExecutorOpt = "inline",
    capabilities: Capabilities = None,
    subcontractor: Subcontractors = [],  # noqa: B006
    exchange: ExchangeOpt = None,
    contract: ContractOpt = [],  # noqa: B006
    meter_every: MeterEvery = DEFAULT_METER_EVERY_S,
    report: ReportOpt = None,
    max_rate: MaxRate = None,
    burst: Burst = None,
    idle_timeout: IdleTimeout = None,
    stream_timeout: StreamTimeout = 10.0,
    playout_delay: PlayoutDelay = None,
    rtcp: Rtcp = "pair",
    realtime: Realtime = True,
    group_packets: GroupPackets = DEFAULT_GROUP_PACKETS,
    quiet: Quiet = False,
) -> None:
    """Read INPUT, apply the steps (subcontracting those not offered here), write --out.

    A udp:// input is a live relay: each packet leaves at its arrival plus a constant
    playout delay, calls are told apart by address and SSRC, and the run lasts until it is
    stopped (Ctrl-C or SIGTERM finish what is in flight) or --idle-timeout after the last
    packet."""
    from commex.cli import stream_run
    from commex.stream import pipeline
    from commex.stream.subcontracting import parse_capabilities

    plan = pipeline.Plan.build(
        source, out, steps=step, segment=segment, executor=executor,
        capabilities=None if capabilities is None else parse_capabilities(capabilities),
        subcontractors=subcontractor, max_rate_bps=max_rate, burst_bytes=burst,
        idle_timeout_s=idle_timeout, stream_timeout_s=stream_timeout,
        playout_delay_ms=playout_delay, rtcp=rtcp, realtime=realtime,
        group_packets=group_packets,
    )  # fmt: skip
    options = stream_run.Options(exchange, tuple(contract), meter_every, report, quiet)
    result, failure = stream_run.run(plan, options)
    stream_run.summary(result)
    if failure is not None:
        raise failure
