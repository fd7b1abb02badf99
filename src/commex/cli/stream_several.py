"""`commex stream process` under several contracts at once (see :mod:`commex.contract_streams`):
one capture's or one live input's streams, each contract's by SSRC, processed together, each
contract metered and its subcontracts charged on its own (imported by
:mod:`commex.cli.stream_run` when asked).

A capture's stream that no contract names stops the run, naming its SSRC: the capture is not
the one the contracts describe. On live input such a stream is refused instead (its packets go
no further, are counted as ``refused`` in the report, and a warning names its SSRC once), so a
stray sender cannot end the calls of the contracts being served. A live run reports into each
contract as it goes, every ``--meter-every`` of that contract's stream-seconds.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from typing import Any

from commex.cli.stream_run import Display, Options, report_json, stopping, warn
from commex.client import DeliveryNotRecorded, ExchangeClient, api_token_from_env
from commex.contract_plan import prepare
from commex.contract_streams import ContractDeliveries, SplitNode, StreamOwners
from commex.domain.errors import CommexError, Conflict, InvalidInput
from commex.metering_client import ContractRun
from commex.stream import pipeline
from commex.stream.ingest import Admit
from commex.stream.metering import ReceiverSummary
from commex.stream.report import RunReport, Subcontracted
from commex.stream.rtcpsession import ReceiverFigures
from commex.stream.subcontracting import Provider, missing_steps
from commex.subcontract_run import SubcontractBook

Heard = Callable[[Mapping[int, ReceiverFigures]], None]


def run_several(
    plan: pipeline.Plan, options: Options, contracts: dict[str, frozenset[int]]
) -> tuple[RunReport, CommexError | None]:
    """The run under every contract of ``contracts`` (CID: its streams' SSRCs)."""
    if plan.executor.kind == "node":
        raise InvalidInput(
            "several --contract run on this machine's executors (not node: executors)",
            field="contract",
        )
    exchange = options.exchange or os.environ.get("COMMEX_EXCHANGE_URL") or None
    if not exchange:
        raise InvalidInput(
            "--contract needs the exchange: --exchange URL or COMMEX_EXCHANGE_URL",
            field="exchange",
        )
    client = ExchangeClient(exchange, api_token_from_env())
    runs: dict[str, ContractRun] = {}
    books: dict[str, SubcontractBook] = {}
    try:
        for cid in contracts:
            runs[cid] = ContractRun.open(client, cid, plan, every_s=options.meter_every, warn=warn)
            books[cid] = SubcontractBook(client, cid)
        return _execute(plan, options, client, runs, books, StreamOwners.of(contracts))
    except OSError as exc:
        raise CommexError(f"{exc.strerror or exc}: {exc.filename or plan.output}") from exc
    finally:
        for cid, r in runs.items():
            r.close()
            books[cid].close_all(warn=warn)  # a run that failed still closes what it opened
        client.close()


def _execute(
    plan: pipeline.Plan,
    options: Options,
    client: ExchangeClient,
    runs: dict[str, ContractRun],
    books: dict[str, SubcontractBook],
    owners: StreamOwners,
) -> tuple[RunReport, CommexError | None]:
    decided = [prepare(client, r.terms, plan) for r in runs.values() if r.terms is not None]
    if len({tuple(str(s) for s in d.plan.steps) for d in decided}) > 1:
        raise InvalidInput(
            "the contracts ask for different steps: one run serves contracts of the same steps",
            field="contract",
        )
    plan = decided[0].plan
    live_meters = {cid: r.meter.add for cid, r in runs.items()} if plan.live else {}
    deliveries = ContractDeliveries(owners, also=live_meters)
    display = Display(plan.live, enabled=not options.quiet)

    def split(provider: Provider) -> SplitNode:
        return SplitNode(books, owners, provider)

    services = pipeline.Services(
        progress=display.update, on_ready=display.ready, on_stream=display.stream_ended,
        directory=decided[0].directory, on_result=deliveries.add, client_factory=split,
        admit=_admit(owners) if plan.live else None, on_receivers=_heard(owners, runs),
    )  # fmt: skip
    pipeline.check(plan, services)
    lacking = missing_steps(plan.steps, plan.capabilities)  # no card: told before any packet
    next(iter(books.values())).open_first(pipeline.subcontractor(plan, services), lacking)
    with display.bar, stopping(services.stop, plan.live):
        result = pipeline.run(plan, services)
    _judge_late(books, result.subcontracted)
    per: list[dict[str, Any]] = []
    failure: CommexError | None = None
    for cid, r in runs.items():
        heard = (s.receiver for s in result.streams if owners.by_ssrc.get(s.ssrc) == cid)
        total = replace(deliveries.delivery(cid), receiver=ReceiverSummary.of(heard))
        try:
            summary = r.meter.finish(total)
        except (DeliveryNotRecorded, Conflict) as exc:
            summary = r.meter.summary() | {"recorded": False, "error": exc.message}
            failure = failure or exc
        summary["subcontracts"] = books[cid].close_all(warn=warn)
        per.append(summary)
    result = replace(result, contract={"contracts": per})
    if options.report is not None:
        options.report.write_text(report_json(result) + "\n")
    return result, failure


def _admit(owners: StreamOwners) -> Admit:
    """Live input takes the streams the contracts name; another is refused, said once."""

    def admit(ssrc: int) -> bool:
        if ssrc in owners.by_ssrc:
            return True
        warn(f"stream SSRC {ssrc:#010x} belongs to none of the --contract given: refused")
        return False

    return admit


def _heard(owners: StreamOwners, runs: Mapping[str, ContractRun]) -> Heard:
    """Each contract's meter is told what its own streams' receivers reported."""

    def heard(figures: Mapping[int, ReceiverFigures]) -> None:
        for cid, run in runs.items():
            mine = {s: f for s, f in figures.items() if owners.by_ssrc.get(s) == cid}
            if mine:
                run.meter.heard(mine)

    return heard


def _judge_late(books: Mapping[str, SubcontractBook], records: Iterable[Subcontracted]) -> None:
    """Each parent's subcontracts judged on their share of a provider's late packets: the
    requests were shared by the parents, so their late answers were too."""
    for rec in records:
        mine = {cid: book.packets_of(rec.provider, rec.step) for cid, book in books.items()}
        total = sum(mine.values())
        for cid, book in books.items():
            if total and mine[cid]:
                share = round(rec.late_packets * mine[cid] / total)
                book.judge_late([replace(rec, late_packets=share)])
