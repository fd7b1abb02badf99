"""The exchange server: the HTTP API, the web pages and the closing scheduler in one app."""

from __future__ import annotations

import gc
import logging
import os
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from commex import __version__
from commex.adapters import metrics
from commex.api import audit as audit_api
from commex.api import billing as billing_api
from commex.api import errors, middleware
from commex.api import groups as groups_api
from commex.api import market as market_api
from commex.api import moderation as moderation_api
from commex.api import payments as payments_api
from commex.api import subcontracts as subcontracts_api
from commex.api.contracts import router as contracts_router
from commex.api.errors import http_error_response
from commex.api.fastpath import BidFastPath, BidServingApp
from commex.api.metrics import router as metrics_router
from commex.api.routes import router as api_router
from commex.bootstrap import Services, build_services
from commex.services.commands import ChargeDue, CloseDue, CompleteDue, StartDue
from commex.services.marketplace import RemindWatchers, SpreadNotices
from commex.settings import Settings
from commex.web import apidocs
from commex.web.render import http_error_page
from commex.web.routes import router as web_router

log = logging.getLogger("commex.server")
STATIC = Path(__file__).parent / "web" / "static"


class ClosingScheduler:
    """Closes due auctions, starts and completes contracts whose window opened or ended, and
    charges what is due, every ``interval`` seconds on a background thread. Several servers
    may each run one against a shared database: a close locks its auction and happens once,
    and a contract completes once (an atomic conditional update)."""

    def __init__(self, services: Services, interval: float = 1.0) -> None:
        self._services = services
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="commex-closer", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                bus = self._services.bus
                for auction in bus.handle(CloseDue()):
                    metrics.scheduler_closed(auction.closes_at, self._services.clock.now())
                    log.info("closed auction %s", auction.id, extra={"auction_id": auction.id})
                for contract in bus.handle(StartDue()):
                    log.info("started contract %s", contract.id)
                for contract in bus.handle(CompleteDue()):
                    log.info("completed contract %s: its window ended", contract.id)
                bus.handle(ChargeDue())
                bus.handle(RemindWatchers())
                for _ in range(20):  # told a chunk per transaction, the lock held briefly
                    if not bus.handle(SpreadNotices()):
                        break
                metrics.scheduler_ran(self._services.clock.now())
            except Exception:  # keep closing later auctions whatever one failure was
                log.exception("closing due auctions failed; retrying")
            self._stop.wait(self._interval)


def create_server(
    services: Services, *, scheduler: bool = True, access_log: bool = True
) -> FastAPI:
    """The ASGI app. ``scheduler=False`` for tests that drive closing themselves;
    ``access_log=False`` leaves the access log out of the middleware stack."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        closer = ClosingScheduler(services) if scheduler else None
        if closer:
            closer.start()
            services.webhooks.start()  # sends webhook deliveries, outside any request
        if services.relay is not None:
            services.relay.start()
        try:
            yield
        finally:
            if services.relay is not None:
                services.relay.stop()
            if closer:
                closer.stop()
                services.webhooks.stop()
            metrics.process_exited()  # this process's live gauges leave the sums

    app = BidServingApp(
        title="commex",
        version=__version__,
        description="An open exchange for communications services: auctions, ratings, billing.",
        lifespan=lifespan,
        middleware=middleware.stack(access_log_enabled=access_log, hsts=services.settings.https),
        # Native OpenTelemetry checks the environment on every request; commex does not use it.
        telemetry={"tracing": False, "metrics": False, "logs": False},
        docs_url=None,  # served by web.apidocs from the package, within the CSP
        redoc_url=None,
    )
    app.state.services = services
    app.bid_fast_path = BidFastPath(app, access_log, hsts=services.settings.https)
    errors.install(app)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        # The API answers JSON; every other address (a page, a static file) answers a page.
        if request.url.path.startswith("/v1"):
            return http_error_response(exc)
        return http_error_page(request, exc.status_code, str(exc.detail))

    app.include_router(api_router)
    app.include_router(contracts_router)
    app.include_router(payments_api.router)
    app.include_router(groups_api.router)
    app.include_router(billing_api.router)
    app.include_router(market_api.router)
    app.include_router(moderation_api.router)
    app.include_router(audit_api.router)
    app.include_router(metrics_router)
    app.include_router(subcontracts_api.router)
    app.include_router(web_router)
    apidocs.install(app)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app


def worker_app() -> FastAPI:
    """The app of one worker process of ``commex serve --workers N``: its own services on the
    configured database (migrated by the parent), its own closing scheduler; its figures join
    the other workers' in the parent's ``PROMETHEUS_MULTIPROC_DIR``."""
    if os.environ.get(metrics.MULTIPROC_ENV):
        metrics.prepare_multiprocess()
    settings = Settings.from_env()
    services = build_services(settings, migrate=False)
    app = create_server(services, access_log=settings.access_log)
    freeze_startup_objects()
    return app


def freeze_startup_objects() -> None:
    """For a server process, once its app is built: what start-up made (modules, routes,
    tables, compiled statements) lives as long as the process, so it is moved out of the
    collector's sight, and a full collection under load takes milliseconds, not hundreds."""
    gc.collect()
    gc.freeze()
