"""`commex node serve`: offer this provider's processing steps to other providers over HTTP."""

from __future__ import annotations

import typer
import uvicorn

from commex.cli.common import console, handle_errors
from commex.client import ExchangeClient, api_token_from_env
from commex.stream.node import create_node_app
from commex.stream.nodeclient import token_from_env
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
) -> None:
    """Serve the steps to callers presenting COMMEX_NODE_TOKEN (refuses to start without it).

    With --exchange, the node first publishes its offer (URL, steps, price) on the exchange,
    where other providers' packet planes find it to subcontract."""
    token = token_from_env()
    offered = parse_capabilities(capabilities)
    node = create_node_app(offered, token)
    if exchange:
        url = public_url or f"http://{host}:{port}"
        with ExchangeClient(exchange, api_token_from_env()) as client:
            client.publish_offer(url, sorted(offered), price, currency)
        console.print(f"offer published on {exchange}: {url}, {price} {currency} per 1,000 packets")
    console.print(
        f"commex node offering {', '.join(sorted(offered))} on http://{host}:{port}",
        highlight=False,
    )
    uvicorn.run(node, host=host, port=port, log_level="warning")
