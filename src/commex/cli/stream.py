"""`commex stream process`: run RTP streams through processing steps, from a capture or UDP.

This module only declares the command, so `commex stream process --help` imports nothing
heavy; the packet plane and the exchange's client load when the command runs
(:mod:`commex.cli.stream_run`)."""

from __future__ import annotations

import os
from pathlib import Path

import typer

from commex.cli.common import handle_errors
from commex.domain.errors import InvalidInput

# The packet plane's defaults, repeated here so the help needs no import of it (a test checks
# that they agree).
DEFAULT_SEGMENT = "packets:1000"
DEFAULT_METER_EVERY_S = 10.0

app = typer.Typer(help="The packet-stream plane: process RTP streams.", no_args_is_help=True)


@app.callback()
def _group() -> None:
    """The packet-stream plane: process RTP streams."""


_EXCHANGE = typer.Option(
    None,
    "--exchange",
    help="Find subcontractors on this exchange (URL; your API token in COMMEX_TOKEN or the "
    "profile `commex login` saved) when no --subcontractor is given; with --contract, also "
    "COMMEX_EXCHANGE_URL.",
)
_CONTRACT = typer.Option(
    None,
    "--contract",
    metavar="CID",
    help="Deliver under this active contract of yours: shape to its max_rate_bps and "
    "report the delivery to the exchange.",
)
_METER_EVERY = typer.Option(
    DEFAULT_METER_EVERY_S,
    "--meter-every",
    metavar="SECONDS",
    min=0.1,
    help="With --contract and udp:// input, report every this many stream-seconds.",
)
_MAX_RATE = typer.Option(
    None,
    "--max-rate",
    metavar="BPS",
    help="Shape the output to at most this many bit/s (RTP header and payload bytes).",
)
_BURST = typer.Option(
    None, "--burst", metavar="BYTES", help="Bytes the shaper may send at once (one packet)."
)


@app.command("process")
@handle_errors
def process(
    source: str = typer.Argument(
        ..., metavar="INPUT", help="A pcap/pcapng path or udp://HOST:PORT."
    ),
    out: str = typer.Option(..., "--out", help="A pcap path or udp://HOST:PORT."),
    step: list[str] = typer.Option(
        [], "--step", help="NAME[:ARG], applied in order (transcode:pcmu, gain:-6, dtmf, vad)."
    ),
    segment: str = typer.Option(DEFAULT_SEGMENT, "--segment", help="packets:N, ms:N or content."),
    executor: str = typer.Option(
        "inline", "--executor", help="inline, process[:N], dask[:ADDRESS] or node:URL[,URL]."
    ),
    capabilities: str | None = typer.Option(
        None, "--capabilities", help="The steps offered here, a,b (default: every local one)."
    ),
    subcontractor: list[str] = typer.Option(
        [], "--subcontractor", help="NAME=URL of a pre-approved provider, tried in order."
    ),
    exchange: str | None = _EXCHANGE,
    contract: str | None = _CONTRACT,
    meter_every: float = _METER_EVERY,
    report: Path | None = typer.Option(None, "--report", help="Write the JSON report here."),
    max_rate: int | None = _MAX_RATE,
    burst: int | None = _BURST,
    idle_timeout: float = typer.Option(
        2.0, "--idle-timeout", help="UDP input ends after this many quiet seconds."
    ),
    quiet: bool = typer.Option(False, "--quiet", help="No progress display."),
) -> None:
    """Read INPUT, apply the steps (subcontracting those not offered here), write --out."""
    from commex.cli import stream_run
    from commex.stream import pipeline
    from commex.stream.subcontracting import parse_capabilities

    plan = pipeline.Plan.build(
        source,
        out,
        steps=step,
        segment=segment,
        executor=executor,
        capabilities=None if capabilities is None else parse_capabilities(capabilities),
        subcontractors=subcontractor,
        max_rate_bps=max_rate,
        burst_bytes=burst,
        idle_timeout_s=idle_timeout,
    )
    if contract:
        exchange = exchange or os.environ.get("COMMEX_EXCHANGE_URL") or None
        if not exchange:
            raise InvalidInput(
                "--contract needs the exchange: --exchange URL or COMMEX_EXCHANGE_URL",
                field="exchange",
            )
    display = stream_run.Display(plan.input.kind == "udp", enabled=not quiet)
    stream_run.run(plan, out, exchange, contract, meter_every, report, display)
