"""The bid call on the hot path: ``POST /v1/auctions/{auction_id}/bids`` answered by the
outermost middleware, before the other layers and FastAPI's routing.

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
(:func:`~commex.api.errors.error_response_for`); anything unexpected still becomes a 500.

The FastAPI route in :mod:`commex.api.routes` stays: it describes the call in the OpenAPI
document and answers through the same :func:`placed_bid_response`. The bid itself is counted,
accepted or refused by reason, by the message bus's observers when its commit answers it.
"""

from __future__ import annotations

import json
import logging
import re
import secrets
import time
from typing import Any, cast

from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from commex.api.deps import account_for_token, bearer_token
from commex.api.errors import error_response_for
from commex.api.layers import (
    MAX_BODY,
    REQUEST_ID_HEADER,
    TOO_LARGE,
    access_log,
    incoming_id,
    log_access,
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


class BidFastPath:
    """Answers ``POST /v1/auctions/{id}/bids``; hands every other request to the app."""

    def __init__(
        self,
        app: ASGIApp,
        access_log_enabled: bool = True,
        max_body: int = MAX_BODY,
        hsts: bool = False,
    ) -> None:
        self.app = app
        self._log = access_log_enabled
        self._max_body = max_body
        self._headers = security_headers(hsts)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        found = _BID_PATH.fullmatch(scope["path"])
        if found is None:
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        # 128 random bits: an id names its request in the audit trail for years, across servers.
        rid = incoming_id(scope["headers"]) or secrets.token_hex(16)
        scope.setdefault("state", {})["request_id"] = rid
        scope[ROUTE_TEMPLATE] = BID_ROUTE  # for anything that reads it, as routing would name it
        context = REQUEST_ID.set(rid)
        headers = [*self._headers, (REQUEST_ID_HEADER, rid.encode())]
        status = 500  # what the client gets if nothing was sent
        try:
            status = await self._answer(scope, receive, send, found.group(1), headers)
        finally:
            REQUEST_ID.reset(context)
            seconds = time.perf_counter() - started
            count_request("POST", BID_ROUTE, status, seconds)
            if self._log and access_log.isEnabledFor(logging.INFO):
                log_access("POST", scope["path"], status, seconds * 1e3, rid)

    async def _answer(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        auction_id: str,
        headers: list[tuple[bytes, bytes]],
    ) -> int:
        """Answer the bid; the status answered."""
        try:
            placed = await _place_bid(scope, receive, auction_id, self._max_body)
        except Exception as exc:
            mapped = error_response_for(exc)
            if mapped is None:
                raise
            await mapped(scope, receive, _adding(send, headers))
            return mapped.status_code
        body = json.dumps(
            wire.placed_bid(placed), ensure_ascii=False, allow_nan=False, separators=(",", ":")
        ).encode()
        headers += [_JSON, (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": 201, "headers": headers})
        await send({"type": "http.response.body", "body": body})
        return 201


def _adding(send: Send, headers: list[tuple[bytes, bytes]]) -> Send:
    """``send`` that adds ``headers`` (those the answer does not set itself) to its start."""

    async def sending(message: Message) -> None:
        if message["type"] == "http.response.start":
            own = list(message.get("headers", ()))
            present = {name.lower() for name, _ in own}
            message["headers"] = own + [(k, v) for k, v in headers if k not in present]
        await send(message)

    return sending


async def _place_bid(scope: Scope, receive: Receive, auction_id: str, max_body: int) -> PlacedBid:
    headers = dict(scope["headers"])
    length = headers.get(b"content-length")
    if length is not None and (not length.isdigit() or int(length) > max_body):
        raise PayloadTooLarge()
    services = cast(Services, scope["app"].state.services)
    token = bearer_token(_text(headers.get(b"authorization")))
    who = await account_for_token(services, token)
    body = bid_body(await _body(receive, max_body), _text(headers.get(b"content-type")))
    key = _text(headers.get(b"idempotency-key"))
    cmd = c.PlaceBid(auction_id, who.id, body.amount, body.max_amount, key)
    return await services.bus.submit_on_loop(cmd)


async def placed_bid_response(
    bus: MessageBus, who: Account, auction_id: str, body: BidIn, key: str | None
) -> JSONResponse:
    """Queue the bid for the bid desk, await its commit, answer 201 with the bid."""
    cmd = c.PlaceBid(auction_id, who.id, body.amount, body.max_amount, key)
    placed = await bus.submit_on_loop(cmd)
    return JSONResponse(wire.placed_bid(placed), status_code=201)


def bid_body(raw: bytes, content_type: str | None) -> BidIn:
    """The body as a :class:`BidIn`, or the error FastAPI would raise for it."""
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
    chunks = []
    received = 0
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


def _text(value: bytes | None) -> str | None:
    return None if value is None else value.decode("latin-1")


def _json_invalid(at: int, why: str) -> RequestValidationError:
    error = {"type": "json_invalid", "loc": ("body", at), "msg": "JSON decode error"}
    return RequestValidationError([error | {"input": {}, "ctx": {"error": why}}])


def _is_json(content_type: str | None) -> bool:
    if not content_type:
        return False
    kind = content_type.split(";", 1)[0].strip().lower()
    return kind == "application/json" or (
        kind.startswith("application/") and kind.endswith("+json")
    )


class PayloadTooLarge(HTTPException):
    """A bid's body over the server's limit: 413, as the body limit answers it."""

    def __init__(self) -> None:
        super().__init__(413, TOO_LARGE)
