"""`commex serve`: the exchange server (API, pages, closing scheduler). It opens the database
(COMMEX_DATABASE_URL, or SQLite in COMMEX_DATA_DIR), so it needs access to the database file."""

from __future__ import annotations

import typer
import uvicorn

from commex.bootstrap import Services, build_services
from commex.cli.common import console, handle_errors
from commex.server import create_server
from commex.services.demo import seed_demo
from commex.services.queries import AnyAccounts

app = typer.Typer(help="Run the exchange server.")

TEST_GATEWAY_WARNING = (
    "payments: the built-in TEST gateway is in use: it approves every valid card number and "
    "moves no money (COMMEX_PAYMENT_GATEWAY=stripe for real payments)"
)


def startup_lines(services: Services) -> list[str]:
    """What the server says first: its database, and plainly when payments are not real."""
    url = services.settings.url()
    lines = [f"database: {url.split('@')[-1] if '@' in url else url}"]
    if services.gateway_name == "test":
        lines.append(TEST_GATEWAY_WARNING)
    return lines


@app.callback(invoke_without_command=True)
@handle_errors
def serve(
    host: str = typer.Option("127.0.0.1", help="Address to listen on."),
    port: int = typer.Option(8000, min=1, max=65535, help="TCP port."),
    demo: bool = typer.Option(False, "--demo", help="Add demo data if the database is empty."),
) -> None:
    """Serve the HTTP API (/v1, docs at /docs), the web pages and the closing scheduler.

    Migrations are applied at start. Several servers may share one PostgreSQL database."""
    services = build_services()
    for line in startup_lines(services):
        console.print(line, highlight=False)
    if demo and not services.bus.handle(AnyAccounts()):
        logins = seed_demo(services.bus)
        console.print(
            f"[bold]Demo logins[/] (web: the name and the password [bold]{logins[0].password}"
            "[/]; API: Authorization: Bearer TOKEN)"
        )
        for login in logins:
            console.print(f"  {login.name} ({', '.join(login.roles)})", highlight=False)
            console.print(f"    API token: {login.token}", soft_wrap=True, highlight=False)
    elif demo:
        console.print("demo data: the database already has accounts; nothing added")
    shown = "localhost" if host in ("127.0.0.1", "0.0.0.0") else host  # noqa: S104
    console.print(f"[bold]commex is serving at http://{shown}:{port}/[/]  (API docs: /docs)")
    uvicorn.run(create_server(services), host=host, port=port, log_level="info")
