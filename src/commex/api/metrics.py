"""The exchange's figures over HTTP: ``GET /metrics`` for the operator, and the middleware that
counts every request by route template and status.

Requests are labelled by the route that served them (``/v1/auctions/{auction_id}/bids``), never
by the raw path, so ids do not multiply the series; a path no route matched counts as
``unmatched``. A plain ASGI class (no ``BaseHTTPMiddleware``), so streaming answers pass through
as they are; a stream's time is its whole life.
"""

from __future__ import annotations

import time

from fastapi import APIRouter, Response
from prometheus_client import Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from commex.adapters.metrics import count, exposition, figures, observe
from commex.api.deps import CallerDep
from commex.domain.errors import Forbidden

_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
UNMATCHED = "unmatched"
# The scope key of a route template named by a layer that answers before FastAPI's routing
# (the bids' fast path), where ``scope["route"]`` is never set.
ROUTE_TEMPLATE = "commex.route_template"

router = APIRouter()


@router.get("/metrics", include_in_schema=False)
def metrics(who: CallerDep) -> Response:
    """Prometheus's text exposition of every figure, for an operator's token (a scraper
    without one uses ``commex serve --metrics-port``)."""
    if not who.is_operator:
        raise Forbidden("only the operator reads the exchange's metrics")
    body, content_type = exposition()
    return Response(body, media_type=content_type)


def route_of(scope: Scope) -> str:
    """The template of the route that served the request, or ``unmatched``."""
    template = scope.get(ROUTE_TEMPLATE)
    if isinstance(template, str):
        return template
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) and path else UNMATCHED


class HttpMetrics:
    """Counts each HTTP request by method, route template and status, and times it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # unless an answer starts: the app failed

        async def send_counted(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_counted)
        finally:
            count_request(scope["method"], route_of(scope), status, time.perf_counter() - started)


def count_request(method: str, route: str, status: int, seconds: float) -> None:
    """Count one answered request and its time (on an event loop, with the other answers of
    the loop's turn: see :mod:`commex.adapters.metrics`)."""
    method = method if method in _METHODS else "other"
    key = (method, route, status)
    found = _series.get(key)
    if found is None:  # looking a series up by its labels costs more than counting in it
        f = figures()
        found = (
            f.http_requests.labels(method, route, str(status)),
            f.http_latency.labels(method, route),
        )
        if len(_series) >= _MAX_SERIES:
            _series.clear()
        _series[key] = found
    requests, latency = found
    count(requests)
    observe(latency, seconds)


# The series of each (method, route template, status) met so far; routes are templates, so
# there are few of them.
_series: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}
_MAX_SERIES = 10_000
