"""The request id: every HTTP request gets one, answered as ``X-Request-Id``.

An incoming ``X-Request-Id`` that is sane (1 to 128 letters, digits and ``._:-``) is kept, so a
proxy's or a client's id follows the request through commex; anything else is replaced by a new
random one. The id is bound for the request's whole life (see
:mod:`commex.services.request_context`): every log line written while serving it carries it, and
so does every audit entry of a change it made. A plain ASGI class (no ``BaseHTTPMiddleware``),
so streaming answers and server-sent events pass through untouched.
"""

from __future__ import annotations

import re
import secrets

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from commex.services.request_context import request_id_bound

HEADER = "X-Request-Id"
_SANE = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


def request_id_of(headers: list[tuple[bytes, bytes]]) -> str:
    """The request's own id when it sent a sane one, else a new one."""
    for name, value in headers:
        if name.lower() == b"x-request-id":
            text = value.decode("latin-1")
            if _SANE.match(text):
                return text
            break
    return secrets.token_hex(16)


class RequestId:
    """Binds each HTTP request's id and answers it in ``X-Request-Id``."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = request_id_of(scope["headers"])
        scope.setdefault("state", {})["request_id"] = request_id

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message)[HEADER] = request_id
            await send(message)

        with request_id_bound(request_id):
            await self.app(scope, receive, send_with_id)
