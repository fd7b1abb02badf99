"""`commex node serve`: offer this provider's processing steps to other providers over HTTP."""

from __future__ import annotations

import gc
from typing import Annotated

import typer
import uvicorn

from commex.cli.common import console, err_console, handle_errors
from commex.client import (
    ExchangeClient,
    api_token_from_env,
    deliver_with_retries,
)
from commex.stream.node import create_node_app
from commex.stream.nodeclient import token_from_env
from commex.stream.nodecontracts import ContractGate, NodeMeter
from commex.stream.realtime import request as request_realtime
from commex.stream.subcontracting import parse_capabilities

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
) -> None:
    """Serve the steps to callers presenting COMMEX_NODE_TOKEN (refuses to start without it).

    With --exchange, the node first publishes its offer (URL, steps, price) on the exchange,
    where other providers' packet planes find it to subcontract. It then also takes requests
    tagged with one of its provider's active contracts (X-Commex-Contract), and reports what
    it processed for each contract to the exchange every --meter-every seconds and on exit."""
    token = token_from_env()
    offered = parse_capabilities(capabilities)
    client = ExchangeClient(exchange, api_token_from_env()) if exchange else None
    meter = None
    try:
        where = (exchange or "", public_url or f"http://{host}:{port}")
        gate, meter = _on_exchange(client, where, offered, price, currency, meter_every)
        node = create_node_app(offered, token, contracts=gate, meter=meter)
        console.print(
            f"commex node offering {', '.join(sorted(offered))} on http://{host}:{port}",
            highlight=False,
        )
        gc.collect()
        gc.freeze()  # a collection of everything imported would stall calls in flight
        if realtime and not request_realtime():
            err_console.print("warning: real-time scheduling was refused", highlight=False)
        uvicorn.run(node, host=host, port=port, log_level="warning")
    finally:
        if meter is not None:
            meter.close()
        if client is not None:
            client.close()


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
