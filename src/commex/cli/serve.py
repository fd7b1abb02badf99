"""`commex serve`: the exchange server (API, pages, closing scheduler). It opens the database
(COMMEX_DATABASE_URL, or SQLite in COMMEX_DATA_DIR), so it needs access to the database file.

The server's own modules (FastAPI, SQLAlchemy, uvicorn) are imported when the command runs, not
when `commex --help` lists it."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import typer

from commex.cli.common import LOG_FORMAT, LOG_LEVEL, LogFormat, LogLevel, console, handle_errors
from commex.domain.errors import InvalidInput

if TYPE_CHECKING:
    from commex.bootstrap import Services
    from commex.writer import BidWriter

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
    metrics_port: int | None = typer.Option(
        None,
        "--metrics-port",
        min=1,
        max=65535,
        help="Also serve /metrics on this port, on --host, without a token (for a scraper).",
    ),
    workers: int = typer.Option(
        1,
        min=1,
        max=64,
        help="Server processes on this machine, sharing the port and the database (SQLite in "
        "WAL mode, or PostgreSQL).",
    ),
    access_log: bool = typer.Option(
        True,
        "--access-log/--no-access-log",
        envvar="COMMEX_ACCESS_LOG",
        help="One line per request on the commex.access logger (or COMMEX_ACCESS_LOG=0).",
    ),
    log_format: LogFormat = LOG_FORMAT,
    log_level: LogLevel = LOG_LEVEL,
) -> None:
    """Serve the HTTP API (/v1, docs at /docs), the web pages and the closing scheduler.

    Migrations are applied at start. Several servers may share one PostgreSQL database. Logs
    go to stderr, one JSON object per line (--log-format text for people); GET /metrics
    answers an operator's token, with the figures of every worker process added up."""
    from commex.adapters import logs, metrics
    from commex.api.protocol import OneWriteHttpProtocol

    if metrics_port == port:
        raise InvalidInput("--metrics-port must differ from --port", field="metrics_port")
    logs.configure(log_format.value, log_level.value)
    shared = metrics.prepare_multiprocess()  # before the first figure; workers inherit it
    stop_metrics = None
    try:
        if metrics_port is not None:
            stop_metrics = metrics.serve_metrics(host, metrics_port)
            console.print(f"metrics (no token): http://{_shown(host)}:{metrics_port}/metrics")
        uvicorn_options = {
            "host": host,
            "port": port,
            "http": OneWriteHttpProtocol,  # each answer in one write (see commex.api.protocol)
            "access_log": False,  # commex's own access log (commex.access) replaces uvicorn's
            "log_config": logs.logging_config(log_format.value, log_level.value),
            "log_level": log_level.value,
        }
        _run(demo, workers, access_log, uvicorn_options, (log_format.value, log_level.value))
    finally:
        if stop_metrics is not None:
            stop_metrics()
        metrics.remove_multiprocess_dir(shared)


def _run(
    demo: bool,
    workers: int,
    access_log: bool,
    options: dict[str, object],
    log_settings: tuple[str, str],
) -> None:
    """Serve in this process, or in ``workers`` processes that each configure the same logs
    (uvicorn applies ``log_config`` in every worker) and share the figures' directory; on
    SQLite, beside the bid writer that writes every worker's bids (see commex.writer)."""
    import uvicorn

    from commex.bootstrap import build_services
    from commex.server import create_server, freeze_startup_objects

    services = build_services()
    for line in startup_lines(services):
        console.print(line, highlight=False)
    if demo:
        _demo(services)
    plural = f" ({workers} worker processes)" if workers > 1 else ""
    console.print(
        f"[bold]commex is serving at http://{_shown(options['host'])}:{options['port']}/[/]"
        f"{plural}  (API docs: /docs)"
    )
    if workers == 1:
        app = create_server(services, access_log=access_log)
        freeze_startup_objects()
        uvicorn.run(app, **options)  # type: ignore[arg-type]
        return
    # Each worker builds its own services from the environment; the schema is already migrated.
    services.shutdown()
    os.environ["COMMEX_ACCESS_LOG"] = "1" if access_log else "0"
    writer = _start_writer(services, log_settings)
    try:
        uvicorn.run("commex.server:worker_app", factory=True, workers=workers, **options)  # type: ignore[arg-type]
    finally:
        if writer is not None:
            writer.stop()  # after the workers: it answers what they queued, then exits


def _start_writer(services: Services, log_settings: tuple[str, str]) -> BidWriter | None:
    """On SQLite, one process writes every worker's bids (the workers would otherwise take
    turns on the file's write lock for each group commit); PostgreSQL's row locks let every
    worker write its own."""
    if not services.settings.url().startswith("sqlite"):
        return None
    from commex.writer import BidWriter

    writer = BidWriter(*log_settings)
    writer.start()
    os.environ.update(writer.worker_env())
    return writer


def _shown(host: object) -> str:
    return "localhost" if host in ("127.0.0.1", "0.0.0.0") else str(host)  # noqa: S104


def _demo(services: Services) -> None:
    from commex.services.demo import seed_demo
    from commex.services.queries import AnyAccounts

    if services.bus.handle(AnyAccounts()):
        console.print("demo data: the database already has accounts; nothing added")
        return
    logins = seed_demo(services.bus)
    console.print(
        f"[bold]Demo logins[/] (web: the name and the password [bold]{logins[0].password}"
        "[/]; API: Authorization: Bearer TOKEN)"
    )
    for login in logins:
        console.print(f"  {login.name} ({', '.join(login.roles)})", highlight=False)
        console.print(f"    API token: {login.token}", soft_wrap=True, highlight=False)
