"""What `commex stream process` does once it runs: the plan through the packet plane, under a
contract when asked, with a progress display and a summary (imported by :mod:`commex.cli.stream`
when the command runs, not for its help)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from commex.cli.common import console, err_console
from commex.client import ExchangeClient, ExchangeDirectory, api_token_from_env
from commex.domain.errors import CommexError
from commex.metering_client import ContractRun
from commex.stream import pipeline
from commex.stream.endpoints import Endpoint


class Display:
    """A progress bar over the bytes of a file, or live counters for UDP input."""

    def __init__(self, live_input: bool, enabled: bool) -> None:
        columns: list[Any] = [TextColumn("[progress.description]{task.description}")]
        if not live_input:
            columns += [BarColumn(), DownloadColumn()]
        columns += [TextColumn("{task.fields[counts]}"), TimeElapsedColumn()]
        self.bar = Progress(*columns, console=err_console, disable=not enabled, transient=False)
        self.task: TaskID = self.bar.add_task("reading", total=None, counts="")

    def update(self, p: pipeline.Progress) -> None:
        phase = f"step {p.phase + 1}/{p.phases}" if p.phases > 1 else "processing"
        self.bar.update(
            self.task,
            description=phase,
            total=p.total_bytes,
            completed=p.bytes_read,
            counts=f"{p.packets_in} packets in, {p.packets_done} done",
        )

    def ready(self, where: Endpoint) -> None:
        self.bar.console.print(f"listening on {where}", highlight=False)


def run(
    plan: pipeline.Plan,
    out: str,
    exchange: str | None,
    contract: str | None,
    meter_every: float,
    report: Path | None,
    display: Display,
) -> None:
    """Run the plan, under the contract if given, and print what it did."""
    client = ExchangeClient(exchange, api_token_from_env()) if exchange else None
    under: ContractRun | None = None
    failure: CommexError | None = None
    try:
        if contract and client is not None:
            under = ContractRun.open(client, contract, plan, every_s=meter_every, warn=_warn)
            plan = under.plan
        services = pipeline.Services(
            executor=under.executor if under else None,
            progress=display.update,
            on_ready=display.ready,
            directory=ExchangeDirectory(client) if client else None,
            on_result=under.meter.add if under else None,
        )
        pipeline.check(plan, services)
        with display.bar:
            result = pipeline.run(plan, services)
        if under is not None:
            failure = under.settle(result.report)
        if report is not None:
            report.write_text(json.dumps(result.report, indent=2) + "\n")
    except OSError as exc:
        raise CommexError(f"{exc.strerror or exc}: {exc.filename or out}") from exc
    finally:
        if under is not None:
            under.close()
        if client is not None:
            client.close()
    _summary(result.report)
    if failure is not None:
        raise failure


def _warn(message: str) -> None:
    err_console.print(f"warning: {message}", highlight=False)


def _summary(report: dict[str, Any]) -> None:
    table = Table(title="stream processed", show_header=False)
    table.add_column("what")
    table.add_column("value", justify="right")
    for key in ("packets_in", "packets_out", "skipped", "segments", "bytes_out"):
        table.add_row(key.replace("_", " "), str(report[key]))
    table.add_row("dtmf events", str(len(report["dtmf"])))
    table.add_row("elapsed", f"{report['elapsed_s']:.3f} s")
    table.add_row("rate", f"{report['rate_pps']:,.0f} packets/s")
    table.add_row("media", f"{report['duration_s']:,.3f} stream-seconds")
    shaped = f" (shaped to {report['shaped_to_bps']:,})" if report["shaped_to_bps"] else ""
    table.add_row("achieved rate", f"{report['achieved_rate_bps']:,} bit/s{shaped}")
    console.print(table)
    if "contract" in report:
        _contract_summary(report["contract"])
    if report["streams"]:
        streams = Table(title="streams")
        for name in ("ssrc", "packets", "out", "lost", "jitter ms", "pt in", "pt out"):
            streams.add_column(name, justify="right")
        for s in report["streams"]:
            streams.add_row(
                f"{s['ssrc']:#010x}",
                str(s["packets"]),
                str(s["packets_out"]),
                str(s["lost"]),
                f"{s['jitter_ms']:.2f}",
                str(s["payload_type_in"]),
                str(s["payload_type_out"]),
            )
        console.print(streams)
    for item in report["subcontracted"]:
        console.print(
            f"subcontracted {item['step']} to {item['provider']}: "
            f"{item['segments']} segments, {item['packets']} packets",
            highlight=False,
        )


def _contract_summary(c: dict[str, Any]) -> None:
    if c.get("recorded") is False:
        return  # the error says it
    breach = (
        f"; below the contract's minimum of {c['min_rate_bps']:,} bit/s: a breach is recorded"
        if c.get("breach")
        else ""
    )
    console.print(
        f"delivered under contract {c['contract_id']}: {c['accepted_seconds']} s accepted, "
        f"{c.get('remaining_seconds', '?')} s remaining{breach}",
        highlight=False,
    )
