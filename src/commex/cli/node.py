"""`commex node serve`: offer this provider's processing steps to other providers over HTTP."""

from __future__ import annotations

from typing import Any

import typer
import uvicorn
from fastapi import FastAPI

from commex.adapters import logs
from commex.api.middleware import RequestId
from commex.cli.common import (
    LOG_FORMAT,
    LogFormat,
    LogLevel,
    console,
    err_console,
    handle_errors,
)
from commex.client import (
    ExchangeClient,
    api_token_from_env,
    deliver_with_retries,
)
from commex.stream import nodemetrics
from commex.stream.dispersal import default_step_factory
from commex.stream.node import create_node_app
from commex.stream.nodeclient import token_from_env
from commex.stream.nodecontracts import ContractGate, NodeMeter
from commex.stream.subcontracting import parse_capabilities

app = typer.Typer(help="A processing node serving steps over HTTP.", no_args_is_help=True)
# A node answers many small requests: a line for each is asked for with --log-level info.
NODE_LOG_LEVEL = typer.Option(LogLevel.warning, "--log-level", help="The least level of logs.")
METRICS_PORT = typer.Option(
    None, "--metrics-port", min=1, max=65535,
    help="Also serve /metrics on this port, on --host, without the node token.",
)  # fmt: skip


@app.callback()
def _group() -> None:
    """A processing node serving steps over HTTP."""


@app.command("serve")
@handle_errors
def serve(
    capabilities: str = typer.Option(..., "--capabilities", help="The steps to offer, a,b."),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on."),
    port: int = typer.Option(8470, "--port", help="Port to listen on."),
    exchange: str | None = typer.Option(
        None, "--exchange", help="Publish this node's offer on this exchange (COMMEX_TOKEN)."
    ),
    public_url: str | None = typer.Option(
        None, "--public-url", help="The URL other providers reach this node at."
    ),
    price: str = typer.Option("0.00", "--price", help="Price per 1,000 packets processed."),
    currency: str = typer.Option("EUR", "--currency", help="Currency of --price."),
    meter_every: float = typer.Option(
        5.0,
        "--meter-every",
        metavar="SECONDS",
        min=0.1,
        help="Report contract work this often.",
    ),
    metrics_port: int | None = METRICS_PORT,
    log_format: LogFormat = LOG_FORMAT,
    log_level: LogLevel = NODE_LOG_LEVEL,
) -> None:
    """Serve the steps to callers presenting COMMEX_NODE_TOKEN (refuses to start without it).

    With --exchange, the node first publishes its offer (URL, steps, price) on the exchange,
    where other providers' packet planes find it to subcontract. It then also takes requests
    tagged with one of its provider's active contracts (X-Commex-Contract), and reports what
    it processed for each contract to the exchange every --meter-every seconds and on exit.
    GET /metrics (with the node token) shows segments, packets and each step's time."""
    log_config = logs.configure(log_format.value, log_level.value)
    token = token_from_env()
    offered = parse_capabilities(capabilities)
    client = ExchangeClient(exchange, api_token_from_env()) if exchange else None
    gate, meter = None, None
    try:
        if client is not None:
            url = public_url or f"http://{host}:{port}"
            offer = (url, sorted(offered), price, currency)
            gate, meter = _on_exchange(client, exchange or "", offer, meter_every)
        node = create_node_app(
            offered, token, step_factory=nodemetrics.timed_steps(default_step_factory),
            contracts=gate, meter=meter,
        )  # fmt: skip
        console.print(
            f"commex node offering {', '.join(sorted(offered))} on http://{host}:{port}",
            highlight=False,
        )
        _run(node, host, port, metrics_port, log_config, log_level.value)
    finally:
        if meter is not None:
            meter.close()
        if client is not None:
            client.close()


def _on_exchange(
    client: ExchangeClient,
    exchange: str,
    offer: tuple[str, list[str], str, str],
    meter_every: float,
) -> tuple[ContractGate, NodeMeter]:
    """Publish the node's offer (URL, steps, price, currency) on the exchange; then the gate of
    its provider's active contracts, and the meter (started) that reports the work done for
    them."""
    url, steps, price, currency = offer
    client.publish_offer(url, steps, price, currency)
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
    host: str,
    port: int,
    metrics_port: int | None,
    log_config: dict[str, Any],
    log_level: str,
) -> None:
    """Serve the node (with its figures at /metrics, and on ``metrics_port`` when given),
    each request named by its id in the logs, until it is stopped."""
    nodemetrics.install(node)
    stop_metrics = None if metrics_port is None else nodemetrics.serve_metrics(host, metrics_port)
    try:
        uvicorn.run(
            RequestId(node), host=host, port=port, log_config=log_config, log_level=log_level
        )
    finally:
        if stop_metrics is not None:
            stop_metrics()
