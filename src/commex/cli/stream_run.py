"""What `commex stream process` does once it runs: the plan through the packet plane, under a
contract when asked, with a progress display and a summary (imported by :mod:`commex.cli.stream`
when the command runs, not for its help)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import threading
from collections.abc import Iterator
from dataclasses import dataclass, replace
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
from commex.contract_plan import prepare
from commex.contract_streams import parse_contracts
from commex.domain.errors import CommexError, InvalidInput
from commex.metering_client import ContractRun
from commex.stream import pipeline
from commex.stream.endpoints import Endpoint
from commex.stream.report import RunReport, StreamReport
from commex.stream.subcontracting import ProviderDirectory, missing_steps
from commex.subcontract_run import SubcontractBook


class Display:
    """A progress bar over the bytes of a file, or live counters for UDP input."""

    def __init__(self, live_input: bool, enabled: bool) -> None:
        columns: list[Any] = [TextColumn("[progress.description]{task.description}")]
        if not live_input:
            columns += [BarColumn(), DownloadColumn()]
        columns += [TextColumn("{task.fields[counts]}"), TimeElapsedColumn()]
        self.live = live_input
        self.bar = Progress(*columns, console=err_console, disable=not enabled, transient=False)
        self.task: TaskID = self.bar.add_task("reading", total=None, counts="")

    def update(self, p: pipeline.Progress) -> None:
        counts = f"{p.packets_in} packets in, {p.packets_done} out"
        if self.live:
            counts += f", {p.streams} streams, {p.late} late"
        self.bar.update(
            self.task,
            description="relaying" if self.live else "processing",
            total=p.total_bytes,
            completed=p.bytes_read,
            counts=counts,
        )

    def ready(self, where: Endpoint) -> None:
        self.bar.console.print(f"listening on {where}", highlight=False)

    def stream_ended(self, s: StreamReport) -> None:
        latency = f", p99 {s.latency.p99_ms:.1f} ms" if s.latency else ""
        self.bar.console.print(
            f"stream {s.ssrc:#010x} from {s.src}:{s.src_port} ended ({s.finished}): "
            f"{s.packets} in, {s.packets_out} out, {s.lost} lost, {s.late} late{latency}",
            highlight=False,
        )


@dataclass(frozen=True)
class Options:
    """What the command was told, besides the plan."""

    exchange: str | None
    contracts: tuple[str, ...]
    meter_every: float
    report: Path | None
    quiet: bool

    @property
    def contract(self) -> str | None:
        """The one contract of a run under one (several: see :mod:`commex.contract_streams`)."""
        return self.contracts[0] if len(self.contracts) == 1 else None


@dataclass
class _Under:
    """A run under a contract: its metering, its subcontracts, whom it may subcontract to."""

    run: ContractRun
    book: SubcontractBook
    directory: ProviderDirectory


def run(plan: pipeline.Plan, options: Options) -> tuple[RunReport, CommexError | None]:
    contracts = parse_contracts(options.contracts)
    if any(contracts.values()):
        from commex.cli.stream_several import run_several

        return run_several(plan, options, contracts)
    exchange = options.exchange
    if options.contract:
        exchange = exchange or os.environ.get("COMMEX_EXCHANGE_URL") or None
        if not exchange:
            raise InvalidInput(
                "--contract needs the exchange: --exchange URL or COMMEX_EXCHANGE_URL",
                field="exchange",
            )
    client = ExchangeClient(exchange, api_token_from_env()) if exchange else None
    under: _Under | None = None
    try:
        if options.contract and client is not None:
            opened = ContractRun.open(
                client, options.contract, plan, every_s=options.meter_every, warn=warn
            )
            book = SubcontractBook(client, options.contract)
            under = _Under(opened, book, ExchangeDirectory(client))
            assert opened.terms is not None
            decided = prepare(client, opened.terms, opened.plan)
            plan, under.directory = decided.plan, decided.directory
        return _execute(plan, options, client, under)
    except OSError as exc:
        raise CommexError(f"{exc.strerror or exc}: {exc.filename or plan.output}") from exc
    finally:
        if under is not None:
            under.run.close()
            under.book.close_all(warn=warn)  # a run that failed still closes what it opened
        if client is not None:
            client.close()


def _execute(
    plan: pipeline.Plan,
    options: Options,
    client: ExchangeClient | None,
    under: _Under | None,
) -> tuple[RunReport, CommexError | None]:
    display = Display(plan.live, enabled=not options.quiet)
    if under is None and client is not None and not plan.subcontractors:
        lacking = missing_steps(plan.steps, plan.capabilities)
        if lacking:
            raise InvalidInput(
                f"{lacking[0]} would go to another provider found on the exchange, which "
                "takes work only under a subcontract: name the contract you deliver "
                "(--contract CID)",
                field="contract",
            )
    services = pipeline.Services(
        executor=under.run.executor if under else None,
        progress=display.update,
        on_ready=display.ready,
        on_stream=display.stream_ended,
        directory=under.directory if under else None,
        on_result=under.run.meter.add if under else None,
        on_receivers=under.run.meter.heard if under else None,
        client_factory=under.book.node_for if under else None,
    )
    pipeline.check(plan, services)
    if under is not None:  # a provider without a card learns it here, before any packet
        lacking = missing_steps(plan.steps, plan.capabilities)
        under.book.open_first(pipeline.subcontractor(plan, services), lacking)
    with display.bar, stopping(services.stop, plan.live):
        result = pipeline.run(plan, services)
    failure = None
    if under is not None:
        result, failure = under.run.settle(result)
        under.book.judge_late(result.subcontracted)
        contract = dict(result.contract or {})
        if result.classes:
            contract["classes"] = under.book.class_costs(result.subcontracted, result.classes)
        contract["subcontracts"] = under.book.close_all(warn=warn)
        result = replace(result, contract=contract)
    if options.report is not None:
        options.report.write_text(report_json(result) + "\n")
    return result, failure


@contextlib.contextmanager
def stopping(stop: threading.Event, live: bool) -> Iterator[None]:
    """While a live run goes on, SIGINT and SIGTERM ask it to finish what it holds."""
    if not live or threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {
        sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)
    }
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def report_json(report: RunReport) -> str:
    return json.dumps(report.to_json(), indent=2)


def warn(message: str) -> None:
    err_console.print(f"warning: {message}", highlight=False)


def summary(report: RunReport) -> None:
    r = report.to_json()
    table = Table(title="stream processed", show_header=False)
    table.add_column("what")
    table.add_column("value", justify="right")
    for key in ("packets_in", "packets_out", "skipped", "segments", "bytes_out"):
        table.add_row(key.replace("_", " "), str(r[key]))
    table.add_row("dtmf events", str(len(r["dtmf"])))
    table.add_row("elapsed", f"{r['elapsed_s']:.3f} s")
    table.add_row("rate", f"{r['rate_pps']:,.0f} packets/s")
    table.add_row("media", f"{r['duration_s']:,.3f} stream-seconds")
    shaped = f" (shaped to {r['shaped_to_bps']:,})" if r["shaped_to_bps"] else ""
    table.add_row("achieved rate", f"{r['achieved_rate_bps']:,} bit/s{shaped}")
    if report.playout_delay_ms is not None:
        table.add_row("playout delay", f"{report.playout_delay_ms:g} ms")
        table.add_row("late packets", str(report.late))
    if (lat := report.latency) is not None:
        figures = f"p50 {lat.p50_ms:.1f} ms, p99 {lat.p99_ms:.1f} ms, max {lat.max_ms:.1f} ms"
        table.add_row("added latency", figures)
    console.print(table)
    if report.contract is not None:
        _contract_summary(dict(report.contract))
    if report.streams:
        _streams(report)
    _classes(report)
    for item in report.subcontracted:
        console.print(
            f"subcontracted {item.step} to {item.provider}: "
            f"{item.segments} segments, {item.packets} packets",
            highlight=False,
        )


def _streams(report: RunReport) -> None:
    streams = Table(title="streams")
    for name in ("ssrc", "packets", "out", "lost", "jitter ms", "pt in", "pt out"):
        streams.add_column(name, justify="right")
    for s in report.streams:
        streams.add_row(
            f"{s.ssrc:#010x}",
            str(s.packets),
            str(s.packets_out),
            str(s.lost),
            f"{s.jitter_ms:.2f}",
            str(s.payload_type_in),
            str(s.payload_type_out),
        )
    console.print(streams)


def _classes(report: RunReport) -> None:
    """--segment content: packets per class and, under a contract, what each cost."""
    costs = dict((report.contract or {}).get("classes") or {})
    if not report.classes:
        return
    table = Table(title="content classes")
    for name in ("class", "packets", "subcontracted", "cost"):
        table.add_column(name, justify="right")
    for kind, packets in report.classes.items():
        sent = sum(s.classes.get(kind, 0) for s in report.subcontracted)
        cost = costs.get(kind, {})
        money = f"{cost['cost']} {cost.get('currency') or ''}".strip() if cost else "-"
        table.add_row(kind, str(packets), str(sent), money)
    console.print(table)


def _contract_summary(c: dict[str, Any]) -> None:
    for each in c.get("contracts") or ():
        _contract_summary(dict(each))
    if c.get("recorded") is False or "contract_id" not in c:
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
