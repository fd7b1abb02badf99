"""The request path's middleware: pure ASGI, one list, outermost first (:func:`stack`).

Each layer wraps ``send`` at most once and never buffers a response, so the cost per request is
a few attribute look-ups. To add a layer (metrics, another log format), append it to
:func:`stack` where it belongs in the order; the request id is set first so every later layer,
every handler, every log record and every audit entry can read it (:data:`REQUEST_ID`, the
one context variable of :mod:`commex.services.request_context`, and
``request.state.request_id``).
"""

from __future__ import annotations

import logging
import secrets
import time
from typing import Any

from starlette.middleware import Middleware
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from commex.api.errors import error_body
from commex.api.layers import (
    MAX_BODY,
    REQUEST_ID_HEADER,
    TOO_LARGE,
    access_log,
    header,
    incoming_id,
    log_access,
    security_headers,
)
from commex.api.metrics import HttpMetrics
from commex.services.request_context import REQUEST_ID


def stack(
    *, access_log_enabled: bool = True, max_body: int = MAX_BODY, hsts: bool = False
) -> list[Middleware]:
    """Every middleware of the server, outermost first: the request id, the access log, the
    request metrics (outside the body limit, so its 413s count too), the security headers (with
    HSTS given ``hsts``: the public address is https), then the body limit. Bids never pass
    here: the app itself answers them, doing these layers' work inline
    (:mod:`commex.api.fastpath`)."""
    layers = [Middleware(RequestId)]
    if access_log_enabled:
        layers.append(Middleware(AccessLog))
    layers += [
        Middleware(HttpMetrics),
        Middleware(SecurityHeaders, hsts=hsts),
        Middleware(BodyLimit, max_body=max_body),
    ]
    return layers


def request_id_of(scope: Scope) -> str | None:
    """The id :class:`RequestId` gave this request (None outside the stack)."""
    state: dict[str, Any] = scope.get("state") or {}
    found = state.get("request_id")
    return found if isinstance(found, str) else None


class RequestId:
    """Names every request: a sane incoming ``X-Request-Id`` (1 to 128 letters, digits and
    ``._:-``) is kept, anything else is replaced by a new random id. The id is answered in
    ``X-Request-Id``, put in ``request.state.request_id`` and in :data:`REQUEST_ID`."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        # 128 random bits: an id names its request in the audit trail for years, across servers.
        rid = incoming_id(scope["headers"]) or secrets.token_hex(16)
        scope.setdefault("state", {})["request_id"] = rid
        header = (REQUEST_ID_HEADER, rid.encode())
        token = REQUEST_ID.set(rid)

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), header]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            REQUEST_ID.reset(token)


class AccessLog:
    """One line per answered request on the ``commex.access`` logger (INFO): method, path,
    status, milliseconds and request id. Off when the logger is above INFO, and left out of
    :func:`stack` entirely with ``commex serve --no-access-log``."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not access_log.isEnabledFor(logging.INFO):
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what the client gets if nothing was sent

        async def send_noting_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_noting_status)
        finally:
            ms = (time.perf_counter() - started) * 1e3
            log_access(scope["method"], scope["path"], status, ms, request_id_of(scope))


class SecurityHeaders:
    """Adds the security headers (:data:`~commex.api.layers.SECURITY_HEADERS`) to every
    answer that does not set them itself."""

    def __init__(self, app: ASGIApp, hsts: bool = False) -> None:
        self.app = app
        self._raw = security_headers(hsts)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", ()))
                present = {name.lower() for name, _ in headers}
                headers += [(k, v) for k, v in self._raw if k not in present]
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


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
        length = header(scope["headers"], b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_body):
            await JSONResponse(error_body("too_large", TOO_LARGE), 413)(scope, receive, send)
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
                await JSONResponse(error_body("too_large", TOO_LARGE), 413)(scope, receive, send)
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
