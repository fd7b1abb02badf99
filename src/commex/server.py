"""The exchange server: the HTTP API, the web pages and the closing scheduler in one app."""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from commex import __version__
from commex.api import billing as billing_api
from commex.api import errors
from commex.api import groups as groups_api
from commex.api import market as market_api
from commex.api import payments as payments_api
from commex.api.contracts import router as contracts_router
from commex.api.errors import error_body, http_error_response
from commex.api.routes import router as api_router
from commex.bootstrap import Services
from commex.services.commands import ChargeDue, CloseDue, StartDue
from commex.services.marketplace import RemindWatchers, SpreadNotices
from commex.web import apidocs
from commex.web.render import http_error_page
from commex.web.routes import router as web_router

log = logging.getLogger("commex.server")
MAX_BODY = 1 << 20
_TOO_LARGE = "the request body is too large"
STATIC = Path(__file__).parent / "web" / "static"
_SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Content-Security-Policy": (
        "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
        "frame-ancestors 'none'; form-action 'self'; base-uri 'self'"
    ),
}


class ClosingScheduler:
    """Closes due auctions every ``interval`` seconds on a background thread. Several servers
    may each run one against a shared database: a close locks its auction and happens once."""

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
                    log.info("closed auction %s", auction.id)
                for contract in bus.handle(StartDue()):
                    log.info("started contract %s", contract.id)
                bus.handle(ChargeDue())
                bus.handle(RemindWatchers())
                for _ in range(20):  # told a chunk per transaction, the lock held briefly
                    if not bus.handle(SpreadNotices()):
                        break
            except Exception:  # keep closing later auctions whatever one failure was
                log.exception("closing due auctions failed; retrying")
            self._stop.wait(self._interval)


class BodyLimit:
    """Refuses a request body over ``max_body`` bytes with 413, by its Content-Length or, for a
    chunked body, as soon as the bytes received pass the limit (before a handler sees them)."""

    def __init__(self, app: ASGIApp, max_body: int) -> None:
        self.app = app
        self.max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_body):
            response = JSONResponse(error_body("too_large", _TOO_LARGE), 413)
            await response(scope, receive, send)
            return
        # Read the body here (it is small by definition), so a chunked body is refused as soon
        # as it passes the limit, before any handler sees it; then replay it to the app.
        chunks: list[bytes] = []
        received = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                await self.app(scope, _replay([message], receive), send)
                return
            chunk = message.get("body", b"")
            received += len(chunk)
            if received > self.max_body:
                response = JSONResponse(error_body("too_large", _TOO_LARGE), 413)
                await response(scope, receive, send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body: Message = {"type": "http.request", "body": b"".join(chunks), "more_body": False}
        await self.app(scope, _replay([body], receive), send)


def _replay(first: list[Message], receive: Receive) -> Receive:
    """A receive channel that answers ``first`` before handing over to ``receive``."""
    pending = list(first)

    async def replayed() -> Message:
        if pending:
            return pending.pop(0)
        return await receive()

    return replayed


def create_server(services: Services, *, scheduler: bool = True) -> FastAPI:
    """The ASGI app. ``scheduler=False`` for tests that drive closing (and webhook deliveries)
    themselves."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        closer = ClosingScheduler(services) if scheduler else None
        if closer:
            closer.start()
            services.webhooks.start()  # sends webhook deliveries, outside any request
        try:
            yield
        finally:
            if closer:
                closer.stop()
                services.webhooks.stop()

    app = FastAPI(
        title="commex",
        version=__version__,
        description="An open exchange for communications services: auctions, ratings, billing.",
        lifespan=lifespan,
        docs_url=None,  # served by web.apidocs from the package, within the CSP
        redoc_url=None,
    )
    app.state.services = services
    errors.install(app)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        # The API answers JSON; every other address (a page, a static file) answers a page.
        if request.url.path.startswith("/v1"):
            return http_error_response(exc)
        return http_error_page(request, exc.status_code, str(exc.detail))

    @app.middleware("http")
    async def headers(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        response = await call_next(request)
        for name, value in _SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        return response

    app.add_middleware(BodyLimit, max_body=MAX_BODY)
    app.include_router(api_router)
    app.include_router(contracts_router)
    app.include_router(payments_api.router)
    app.include_router(groups_api.router)
    app.include_router(billing_api.router)
    app.include_router(market_api.router)
    app.include_router(web_router)
    apidocs.install(app)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app
