"""`commex stream process` under several contracts at once (see :mod:`commex.contract_streams`):
one capture's streams, each contract's by SSRC, processed together, each contract metered and
its subcontracts charged on its own (imported by :mod:`commex.cli.stream_run` when asked)."""

from __future__ import annotations

import os
from dataclasses import replace
from typing import Any

from commex.cli.stream_run import Display, Options, report_json, warn
from commex.client import DeliveryNotRecorded, ExchangeClient, api_token_from_env
from commex.contract_plan import prepare
from commex.contract_streams import ContractDeliveries, SplitNode, StreamOwners
from commex.domain.errors import CommexError, Conflict, InvalidInput
from commex.metering_client import ContractRun
from commex.stream import pipeline
from commex.stream.report import RunReport
from commex.stream.subcontracting import Provider, missing_steps
from commex.subcontract_run import SubcontractBook


def run_several(
    plan: pipeline.Plan, options: Options, contracts: dict[str, frozenset[int]]
) -> tuple[RunReport, CommexError | None]:
    """The run under every contract of ``contracts`` (CID: its streams' SSRCs)."""
    if plan.live or plan.executor.kind == "node":
        raise InvalidInput(
            "several --contract serve the streams of a capture, on this machine's executors "
            "(not udp:// input or node: executors)",
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
    deliveries = ContractDeliveries(owners)
    display = Display(plan.live, enabled=not options.quiet)

    def split(provider: Provider) -> SplitNode:
        return SplitNode(books, owners, provider)

    services = pipeline.Services(
        progress=display.update, directory=decided[0].directory,
        on_result=deliveries.add, client_factory=split,
    )  # fmt: skip
    pipeline.check(plan, services)
    lacking = missing_steps(plan.steps, plan.capabilities)  # no card: told before any packet
    next(iter(books.values())).open_first(pipeline.subcontractor(plan, services), lacking)
    with display.bar:
        result = pipeline.run(plan, services)
    per: list[dict[str, Any]] = []
    failure: CommexError | None = None
    for cid, r in runs.items():
        try:
            summary = r.meter.finish(deliveries.delivery(cid))
        except (DeliveryNotRecorded, Conflict) as exc:
            summary = r.meter.summary() | {"recorded": False, "error": exc.message}
            failure = failure or exc
        summary["subcontracts"] = books[cid].close_all(warn=warn)
        per.append(summary)
    result = replace(result, contract={"contracts": per})
    if options.report is not None:
        options.report.write_text(report_json(result) + "\n")
    return result, failure
