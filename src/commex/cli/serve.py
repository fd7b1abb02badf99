"""`commex serve`: the exchange server (API, pages, closing scheduler). It opens the database
(COMMEX_DATABASE_URL, or SQLite in COMMEX_DATA_DIR), so it needs access to the database file."""

from __future__ import annotations

import typer
import uvicorn

from commex.adapters import logs, metrics
from commex.bootstrap import Services, build_services
from commex.cli.common import LOG_FORMAT, LOG_LEVEL, LogFormat, LogLevel, console, handle_errors
from commex.domain.errors import InvalidInput
from commex.server import create_server
from commex.services.demo import seed_demo
from commex.services.queries import AnyAccounts

app = typer.Typer(help="Run the exchange server.")


@app.callback(invoke_without_command=True)
@handle_errors
def serve(
    host: str = typer.Option("127.0.0.1", help="Address to listen on."),
    port: int = typer.Option(8000, min=1, max=65535, help="TCP port."),
    demo: bool = typer.Option(False, "--demo", help="Add demo data if the database is empty."),
    metrics_port: int | None = typer.Option(
        None,
        "--metrics-port",
        min=1,
        max=65535,
        help="Also serve /metrics on this port, on --host, without a token (for a scraper).",
    ),
    log_format: LogFormat = LOG_FORMAT,
    log_level: LogLevel = LOG_LEVEL,
) -> None:
    """Serve the HTTP API (/v1, docs at /docs), the web pages and the closing scheduler.

    Migrations are applied at start. Several servers may share one PostgreSQL database. Logs
    go to stderr, one JSON object per line (--log-format text for people); GET /metrics
    answers an operator's token."""
    if metrics_port == port:
        raise InvalidInput("--metrics-port must differ from --port", field="metrics_port")
    log_config = logs.configure(log_format.value, log_level.value)
    shared = metrics.prepare_multiprocess()  # before the first figure is made
    stop_metrics = None
    try:
        services = build_services()
        _announce(services, host, port, demo)
        if metrics_port is not None:
            stop_metrics = metrics.serve_metrics(host, metrics_port)
            console.print(f"metrics (no token): http://{_shown(host)}:{metrics_port}/metrics")
        uvicorn.run(
            create_server(services), host=host, port=port, log_config=log_config,
            log_level=log_level.value,
        )  # fmt: skip
    finally:
        if stop_metrics is not None:
            stop_metrics()
        metrics.remove_multiprocess_dir(shared)


def _announce(services: Services, host: str, port: int, demo: bool) -> None:
    url = services.settings.url()
    console.print(f"database: {url.split('@')[-1] if '@' in url else url}")
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
    console.print(f"[bold]commex is serving at http://{_shown(host)}:{port}/[/]  (API docs: /docs)")


def _shown(host: str) -> str:
    return "localhost" if host in ("127.0.0.1", "0.0.0.0") else host  # noqa: S104
