"""`commex node serve`: offer this provider's processing steps to other providers over HTTP."""

from __future__ import annotations

import gc
import os
from typing import Annotated, Any

import typer
import uvicorn
from fastapi import FastAPI

from commex.adapters import logs
from commex.api.middleware import RequestId
from commex.cli.common import LOG_FORMAT, LogFormat, LogLevel, console, err_console, handle_errors
from commex.client import (
    ExchangeClient,
    api_token_from_env,
    deliver_with_retries,
)
from commex.stream import nodemetrics
from commex.stream.node import create_node_app
from commex.stream.nodeclient import TOKEN_ENV
from commex.stream.nodecontracts import ContractGate, NodeMeter
from commex.stream.nodework import SubcontractMeter, WorkGate
from commex.stream.realtime import request as request_realtime
from commex.stream.subcontracting import parse_capabilities
from commex.stream.tasks import default_step_factory

app = typer.Typer(help="A processing node serving steps over HTTP.", no_args_is_help=True)


@app.callback()
def _group() -> None:
    """A processing node serving steps over HTTP."""


Capabilities = Annotated[str, typer.Option("--capabilities", help="The steps to offer, a,b.")]
Host = Annotated[str, typer.Option("--host", help="Address to listen on.")]
Port = Annotated[int, typer.Option("--port", help="Port to listen on.")]
Exchange = Annotated[
    str | None,
    typer.Option("--exchange", help="Publish this node's offer on this exchange (COMMEX_TOKEN)."),
]
PublicUrl = Annotated[
    str | None, typer.Option("--public-url", help="The URL other providers reach this node at.")
]
Price = Annotated[str, typer.Option("--price", help="Price per 1,000 packets processed.")]
Currency = Annotated[str, typer.Option("--currency", help="Currency of --price.")]
Realtime = Annotated[
    bool,
    typer.Option(
        "--realtime/--no-realtime",
        help="Ask for real-time scheduling (root or CAP_SYS_NICE): for nodes that serve live "
        "calls, whose segments must come back within the caller's playout delay.",
    ),
]
# A node answers many small requests: a line for each is asked for with --log-level info.
NODE_LOG_LEVEL = typer.Option(LogLevel.warning, "--log-level", help="The least level of logs.")
MetricsPort = Annotated[
    int | None,
    typer.Option(
        "--metrics-port", min=1, max=65535,
        help="Also serve /metrics on this port, on --host, without the node token.",
    ),
]  # fmt: skip
MeterEvery = Annotated[
    float,
    typer.Option(
        "--meter-every", metavar="SECONDS", min=0.1, help="Report contract work this often."
    ),
]


@app.command("serve")
@handle_errors
def serve(
    capabilities: Capabilities,
    host: Host = "127.0.0.1",
    port: Port = 8470,
    exchange: Exchange = None,
    public_url: PublicUrl = None,
    price: Price = "0.00",
    currency: Currency = "EUR",
    realtime: Realtime = False,
    meter_every: MeterEvery = 5.0,
    metrics_port: MetricsPort = None,
    log_format: LogFormat = LOG_FORMAT,
    log_level: LogLevel = NODE_LOG_LEVEL,
) -> None:
    """Serve the steps to this provider's own plane (COMMEX_NODE_TOKEN) and, with --exchange,
    to other providers' planes under subcontracts.

    With --exchange, the node first publishes its offer (URL, steps, price) on the exchange,
    where other providers' packet planes find it to subcontract. It takes work under a
    subcontract naming its provider (checked with the exchange with the node key in
    COMMEX_NODE_KEY, or the provider's token) and meters its packets per subcontract. It also
    takes requests tagged with one of its provider's active contracts (X-Commex-Contract), and
    reports what it processed for each contract every --meter-every seconds and on exit.
    GET /metrics (with the node token) shows segments, packets and each step's time."""
    log_config = logs.configure(log_format.value, log_level.value)
    token = os.environ.get(TOKEN_ENV) or None
    offered = parse_capabilities(capabilities)
    api_token = api_token_from_env() if exchange else ""
    client = ExchangeClient(exchange, api_token) if exchange else None
    keyed = None
    if exchange:
        keyed = ExchangeClient(exchange, os.environ.get("COMMEX_NODE_KEY") or api_token)
    meter = work_meter = None
    try:
        where = (exchange or "", public_url or f"http://{host}:{port}")
        gate, meter = _on_exchange(client, where, offered, price, currency, meter_every)
        work, work_meter = _work(keyed, min(meter_every, 1.0))
        node = create_node_app(
            offered, token, step_factory=nodemetrics.timed_steps(default_step_factory),
            contracts=gate, meter=meter, work=work, work_meter=work_meter,
        )  # fmt: skip
        console.print(
            f"commex node offering {', '.join(sorted(offered))} on http://{host}:{port}",
            highlight=False,
        )
        gc.collect()
        gc.freeze()  # a collection of everything imported would stall calls in flight
        if realtime and not request_realtime():
            err_console.print("warning: real-time scheduling was refused", highlight=False)
        _run(node, (host, port), metrics_port, log_config, log_level.value)
    finally:
        for stopping in (meter, work_meter, client, keyed):
            if stopping is not None:
                stopping.close()


def _warn(message: str) -> None:
    err_console.print(f"warning: {message}", highlight=False, markup=False)


def _work(
    keyed: ExchangeClient | None, every_s: float
) -> tuple[WorkGate | None, SubcontractMeter | None]:
    """Subcontracted work, checked and metered with the node key, when there is an exchange."""
    if keyed is None:
        return None, None
    meter = SubcontractMeter(
        lambda sid, run_id, packets: keyed.meter_packets(sid, run_id, packets, attempts=2),
        every_s=every_s,
        warn=_warn,
    )
    meter.start()
    return WorkGate(keyed.check_work), meter


def _on_exchange(
    client: ExchangeClient | None,
    where: tuple[str, str],
    offered: frozenset[str],
    price: str,
    currency: str,
    meter_every: float,
) -> tuple[ContractGate | None, NodeMeter | None]:
    """Publish the node's offer and set up contract work, when there is an exchange."""
    if client is None:
        return None, None
    exchange, url = where
    client.publish_offer(url, sorted(offered), price, currency)
    console.print(f"offer published on {exchange}: {url}, {price} {currency} per 1,000 packets")
    gate = ContractGate(lambda: [str(c["id"]) for c in client.provider_contracts("active")])
    meter = NodeMeter(
        lambda cid, body: deliver_with_retries(client, cid, body, attempts=2),
        every_s=meter_every,
        warn=lambda message: err_console.print(f"warning: {message}", highlight=False),
    )
    meter.start()
    return gate, meter


def _run(
    node: FastAPI,
    where: tuple[str, int],
    metrics_port: int | None,
    log_config: dict[str, Any],
    log_level: str,
) -> None:
    """Serve the node (with its figures at /metrics, and on ``metrics_port`` when given),
    each request named by its id in the logs, until it is stopped."""
    host, port = where
    nodemetrics.install(node)
    stop_metrics = None if metrics_port is None else nodemetrics.serve_metrics(host, metrics_port)
    try:
        uvicorn.run(
            RequestId(node), host=host, port=port, log_config=log_config, log_level=log_level
        )
    finally:
        if stop_metrics is not None:
            stop_metrics()
