"""`commex node serve`: offer this provider's processing steps to other providers over HTTP."""

from __future__ import annotations

import gc

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
from commex.stream.subcontracting import parse_capabilities

app = typer.Typer(help="A processing node serving steps over HTTP.", no_args_is_help=True)


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
) -> None:
    """Serve the steps to callers presenting COMMEX_NODE_TOKEN (refuses to start without it).

    With --exchange, the node first publishes its offer (URL, steps, price) on the exchange,
    where other providers' packet planes find it to subcontract. It then also takes requests
    tagged with one of its provider's active contracts (X-Commex-Contract), and reports what
    it processed for each contract to the exchange every --meter-every seconds and on exit."""
    token = token_from_env()
    offered = parse_capabilities(capabilities)
    client = ExchangeClient(exchange, api_token_from_env()) if exchange else None
    gate, meter = None, None
    try:
        if client is not None:
            url = public_url or f"http://{host}:{port}"
            client.publish_offer(url, sorted(offered), price, currency)
            console.print(
                f"offer published on {exchange}: {url}, {price} {currency} per 1,000 packets"
            )
            gate = ContractGate(lambda: [str(c["id"]) for c in client.provider_contracts("active")])
            meter = NodeMeter(
                lambda cid, body: deliver_with_retries(client, cid, body, attempts=2),
                every_s=meter_every,
                warn=lambda message: err_console.print(f"warning: {message}", highlight=False),
            )
            meter.start()
        node = create_node_app(offered, token, contracts=gate, meter=meter)
        console.print(
            f"commex node offering {', '.join(sorted(offered))} on http://{host}:{port}",
            highlight=False,
        )
        gc.collect()
        gc.freeze()  # a collection of everything imported would stall calls in flight
        uvicorn.run(node, host=host, port=port, log_level="warning")
    finally:
        if meter is not None:
            meter.close()
        if client is not None:
            client.close()
