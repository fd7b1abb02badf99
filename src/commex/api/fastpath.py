"""The bid call on the hot path: ``POST /v1/auctions/{auction_id}/bids`` answered by the
outermost ASGI callable (:class:`BidServingApp`), before any middleware and FastAPI's routing.

A bid is the exchange's busiest call, and a request's trip through the middleware (each layer
wrapping ``send``) and FastAPI's per-request machinery (its exception and exit-stack layers,
matching a hundred routes, solving the dependency tree, request wrappers) cost more than the
rest of a bid together. :class:`BidFastPath` does every layer's work for a bid inline, in the
same order: the request id (:data:`~commex.services.request_context.REQUEST_ID`), the body
limit, the bearer token (from the token cache on the event loop when it was seen in the last
second), the body through the same :class:`~commex.api.schemas.BidIn` model; then the bid is
queued for the bid desk's next group commit and awaited, with no thread waiting for it. The
answer is written in one go with headers encoded once at start-up (the security headers), its
request id, and then the request is counted in the metrics and named in the access log, as the
layers would. Its errors are answered exactly as the app's exception handlers answer them
(:func:`~commex.api.errors.error_response_for`); anything unexpected becomes a 500, as the
server's error layer answers it, and is raised on for the server to log.

The FastAPI route in :mod:`commex.api.routes` stays: it describes the call in the OpenAPI
document and answers through the same :func:`placed_bid_response`. The bid itself is counted,
accepted or refused by reason, by the message bus's observers when its commit answers it.
"""

from __future__ import annotations

import json
import logging
import re
import time
from typing import Any, cast

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse
from starlette.types import Message, Receive, Scope, Send

from commex.adapters.clock import random_hex
from commex.api.deps import account_for_token, bearer_token
from commex.api.errors import error_response_for
from commex.api.layers import (
    MAX_BODY,
    REQUEST_ID_HEADER,
    TOO_LARGE,
    AccessLines,
    access_log,
    sane_id,
    security_headers,
)
from commex.api.metrics import ROUTE_TEMPLATE, count_request
from commex.api.schemas import BidIn
from commex.api.wire import auctions as wire
from commex.bootstrap import Services
from commex.domain.accounts import Account
from commex.services import commands as c
from commex.services.bus import MessageBus
from commex.services.request_context import REQUEST_ID
from commex.services.results import PlacedBid

_BID_PATH = re.compile(r"/v1/auctions/([^/]+)/bids")
BID_ROUTE = "/v1/auctions/{auction_id}/bids"
_JSON = (b"content-type", b"application/json")
_TEXT = (b"content-type", b"text/plain; charset=utf-8")
_SERVER_ERROR = b"Internal Server Error"  # what the server's error layer answers


class BidServingApp(FastAPI):
    """The app, whose own call answers bids (:class:`BidFastPath`) and hands every other
    request (and every other event: lifespan, websockets) to FastAPI."""

    bid_fast_path: BidFastPath | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        fast = self.bid_fast_path
        if fast is not None and scope["type"] == "http" and scope["method"] == "POST":
            found = _BID_PATH.fullmatch(scope["path"])
            if found is not None:
                scope["app"] = self
                await fast(scope, receive, send, found.group(1))
                return
        await super().__call__(scope, receive, send)


class BidFastPath:
    """Answers ``POST /v1/auctions/{id}/bids`` for the services of ``app``."""

    def __init__(
        self,
        app: FastAPI,
        access_log_enabled: bool = True,
        max_body: int = MAX_BODY,
        hsts: bool = False,
    ) -> None:
        self._app = app
        self._log = access_log_enabled
        self._lines = AccessLines()
        self._max_body = max_body
        self._headers = security_headers(hsts)

    async def __call__(self, scope: Scope, receive: Receive, send: Send, auction_id: str) -> None:
        started = time.perf_counter()
        wanted = _Headers(scope["headers"])
        # 128 random bits: an id names its request in the audit trail for years, across servers.
        rid = wanted.request_id or random_hex(32)
        scope.setdefault("state", {})["request_id"] = rid
        scope[ROUTE_TEMPLATE] = BID_ROUTE  # for anything that reads it, as routing would name it
        context = REQUEST_ID.set(rid)
        headers = [*self._headers, (REQUEST_ID_HEADER, rid.encode())]
        status = 500  # what the client gets if nothing was sent
        try:
            status = await self._answer(scope, receive, send, auction_id, wanted, headers)
        finally:
            REQUEST_ID.reset(context)
            seconds = time.perf_counter() - started
            count_request("POST", BID_ROUTE, status, seconds)
            if self._log and access_log.isEnabledFor(logging.INFO):
                self._lines.add("POST", scope["path"], status, seconds * 1e3, rid)

    async def _answer(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        auction_id: str,
        wanted: _Headers,
        headers: list[tuple[bytes, bytes]],
    ) -> int:
        """Answer the bid; the status answered."""
        try:
            services = cast(Services, self._app.state.services)
            placed = await _place_bid(services, receive, auction_id, wanted, self._max_body)
            body = wire.placed_bid_json(placed)
        except Exception as exc:
            mapped = error_response_for(exc)
            if mapped is None:  # a 500, as the server's error layer answers, then raised on
                await _send(send, 500, [*headers, _TEXT], _SERVER_ERROR)
                raise
            await mapped(scope, receive, _adding(send, headers))
            return mapped.status_code
        headers.append(_JSON)
        await _send(send, 201, headers, body)
        return 201


async def _send(send: Send, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
    headers.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class _Headers:
    """The headers a bid reads, found in one pass over the request's."""

    __slots__ = ("authorization", "content_length", "content_type", "idempotency_key",
                 "request_id")  # fmt: skip

    def __init__(self, raw: list[tuple[bytes, bytes]]) -> None:
        self.authorization: str | None = None
        self.content_length: bytes | None = None
        self.content_type: str | None = None
        self.idempotency_key: str | None = None
        self.request_id: str | None = None
        found_id = False
        for name, value in raw:
            if name == b"authorization":
                self.authorization = value.decode("latin-1")
            elif name == b"content-length":
                self.content_length = value
            elif name == b"content-type":
                self.content_type = value.decode("latin-1")
            elif name == b"idempotency-key":
                self.idempotency_key = value.decode("latin-1")
            elif name == REQUEST_ID_HEADER and not found_id:  # the first, as the layer reads
                found_id = True
                self.request_id = sane_id(value)


def _adding(send: Send, headers: list[tuple[bytes, bytes]]) -> Send:
    """``send`` that adds ``headers`` (those the answer does not set itself) to its start."""

    async def sending(message: Message) -> None:
        if message["type"] == "http.response.start":
            own = list(message.get("headers", ()))
            present = {name.lower() for name, _ in own}
            message["headers"] = own + [(k, v) for k, v in headers if k not in present]
        await send(message)

    return sending


async def _place_bid(
    services: Services, receive: Receive, auction_id: str, wanted: _Headers, max_body: int
) -> PlacedBid:
    length = wanted.content_length
    if length is not None and (not length.isdigit() or int(length) > max_body):
        raise PayloadTooLarge()
    who = await account_for_token(services, bearer_token(wanted.authorization))
    body = bid_body(await _body(receive, max_body), wanted.content_type)
    cmd = c.PlaceBid(auction_id, who.id, body.amount, body.max_amount, wanted.idempotency_key)
    return await services.bus.submit_on_loop(cmd)


async def placed_bid_response(
    bus: MessageBus, who: Account, auction_id: str, body: BidIn, key: str | None
) -> JSONResponse:
    """Queue the bid for the bid desk, await its commit, answer 201 with the bid."""
    cmd = c.PlaceBid(auction_id, who.id, body.amount, body.max_amount, key)
    placed = await bus.submit_on_loop(cmd)
    return JSONResponse(wire.placed_bid(placed), status_code=201)


def bid_body(raw: bytes, content_type: str | None) -> BidIn:
    """The body as a :class:`BidIn`, or the error FastAPI would raise for it. A JSON body
    that the model takes as it is read (the usual case) is read and checked in one pass; any
    other is read again the way FastAPI reads it, so its error is FastAPI's."""
    if _is_json(content_type):
        try:
            return BidIn.model_validate_json(raw)
        except ValidationError:
            pass
    return _slow_bid_body(raw, content_type)


def _slow_bid_body(raw: bytes, content_type: str | None) -> BidIn:
    parsed: Any = raw  # a body that is not JSON fails the model as "not an object"
    if _is_json(content_type):
        try:
            parsed = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise _json_invalid(exc.pos, exc.msg) from exc
        except UnicodeDecodeError as exc:
            raise _json_invalid(exc.start, "not UTF-8") from exc
        except (ValueError, RecursionError) as exc:  # too deep or too long a number
            raise HTTPException(400, "There was an error parsing the body") from exc
    try:
        return BidIn.model_validate(parsed)
    except ValidationError as exc:
        errors = [dict(e) | {"loc": ("body", *e["loc"])} for e in exc.errors()]
        raise RequestValidationError(errors) from exc


async def _body(receive: Receive, max_body: int) -> bytes:
    message = await receive()
    if message["type"] != "http.request":
        return b""
    chunk: bytes = message.get("body", b"")
    if len(chunk) > max_body:
        raise PayloadTooLarge()
    if not message.get("more_body", False):  # the usual case: the body in one message
        return chunk
    chunks = [chunk]
    received = len(chunk)
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunk = message.get("body", b"")
        received += len(chunk)
        if received > max_body:  # a chunked body, refused as soon as it passes the limit
            raise PayloadTooLarge()
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _json_invalid(at: int, why: str) -> RequestValidationError:
    error = {"type": "json_invalid", "loc": ("body", at), "msg": "JSON decode error"}
    return RequestValidationError([error | {"input": {}, "ctx": {"error": why}}])


def _is_json(content_type: str | None) -> bool:
    if not content_type:
        return False
    if content_type == "application/json":
        return True
    kind = content_type.split(";", 1)[0].strip().lower()
    return kind == "application/json" or (
        kind.startswith("application/") and kind.endswith("+json")
    )


class PayloadTooLarge(HTTPException):
    """A bid's body over the server's limit: 413, as the body limit answers it."""

    def __init__(self) -> None:
        super().__init__(413, TOO_LARGE)
