"""`commex node serve`: offer this provider's processing steps to other providers over HTTP."""

from __future__ import annotations

import typer
import uvicorn

from commex.cli.common import console, handle_errors
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
) -> None:
    """Serve the steps to callers presenting COMMEX_NODE_TOKEN (refuses to start without it)."""
    token = token_from_env()
    offered = parse_capabilities(capabilities)
    node = create_node_app(offered, token)
    console.print(
        f"commex node offering {', '.join(sorted(offered))} on http://{host}:{port}",
        highlight=False,
    )
    uvicorn.run(node, host=host, port=port, log_level="warning")
