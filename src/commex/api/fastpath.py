"""The bid call on the hot path: ``POST /v1/auctions/{auction_id}/bids`` answered by the
innermost middleware, before FastAPI's routing.

A bid is the exchange's busiest call, and FastAPI's per-request machinery (its exception and
exit-stack layers, matching a hundred routes, solving the dependency tree, request wrappers)
cost more than the rest of a bid together. :class:`BidFastPath` does the route's steps by hand,
in the same order of checks: the bearer token (from the token cache on the event loop when it
was seen in the last second), the body through the same :class:`~commex.api.schemas.BidIn`
model, then the bid is queued for the bid desk's next group commit and awaited, with no thread
waiting for it. Its errors are answered exactly as the app's exception handlers answer them
(:func:`~commex.api.errors.error_response_for`); anything unexpected still becomes a 500.

The FastAPI route in :mod:`commex.api.routes` stays: it describes the call in the OpenAPI
document and answers through the same :func:`placed_bid_response`. The fast path names that
route's template in the request's scope, so the request metrics label the call
``/v1/auctions/{auction_id}/bids`` as they would a routed one; the bid itself is counted,
accepted or refused by reason, by the message bus's observers when its commit answers it.
"""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any, cast

from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from commex.api.deps import account_for_token, bearer_token
from commex.api.errors import error_response_for
from commex.api.metrics import ROUTE_TEMPLATE
from commex.api.schemas import BidIn
from commex.api.wire import auctions as wire
from commex.bootstrap import Services
from commex.domain.accounts import Account
from commex.services import commands as c
from commex.services.bus import MessageBus

_BID_PATH = re.compile(r"/v1/auctions/([^/]+)/bids")
BID_ROUTE = "/v1/auctions/{auction_id}/bids"


class BidFastPath:
    """Answers ``POST /v1/auctions/{id}/bids``; hands every other request to the app."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        found = _BID_PATH.fullmatch(scope["path"])
        if found is None:
            await self.app(scope, receive, send)
            return
        scope[ROUTE_TEMPLATE] = BID_ROUTE  # for the request metrics, as routing would name it
        try:
            response = await _place_bid(scope, receive, found.group(1))
        except Exception as exc:
            mapped = error_response_for(exc)
            if mapped is None:
                raise
            response = mapped
        await response(scope, receive, send)


async def _place_bid(scope: Scope, receive: Receive, auction_id: str) -> JSONResponse:
    headers = dict(scope["headers"])
    services = cast(Services, scope["app"].state.services)
    token = bearer_token(_text(headers.get(b"authorization")))
    who = await account_for_token(services, token)
    body = bid_body(await _body(receive), _text(headers.get(b"content-type")))
    key = _text(headers.get(b"idempotency-key"))
    return await placed_bid_response(services.bus, who, auction_id, body, key)


async def placed_bid_response(
    bus: MessageBus, who: Account, auction_id: str, body: BidIn, key: str | None
) -> JSONResponse:
    """Queue the bid for the bid desk, await its commit, answer 201 with the bid."""
    cmd = c.PlaceBid(auction_id, who.id, body.amount, body.max_amount, key)
    placed = await asyncio.wrap_future(bus.submit(cmd))
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


async def _body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
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
