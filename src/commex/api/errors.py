"""One mapping from errors to HTTP answers: ``{"error": {"code", "message"}}`` with the status
of the error's kind (see :data:`commex.domain.errors.STATUS`). No bad input becomes a 500."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from commex.domain.errors import CommexError, Throttled, Unavailable, status_of

log = logging.getLogger("commex.api")
_HTTP_CODES = {
    400: "bad_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    415: "unsupported_media_type",
    422: "invalid",
    429: "too_many_requests",
}


def error_body(code: str, message: str, field: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"code": code, "message": message}
    if field:
        body["field"] = field
    return {"error": body}


def error_response(exc: CommexError) -> JSONResponse:
    status = status_of(exc)[0]
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    if isinstance(exc, Throttled):
        headers = {"Retry-After": str(exc.retry_after)}
    elif isinstance(exc, Unavailable):
        headers = {"Retry-After": "1"}  # down for a moment: the bid writer restarts in seconds
    return JSONResponse(error_body(exc.code, exc.message, exc.field), status, headers=headers)


def install(app: FastAPI) -> None:
    """Register the handlers on ``app``."""

    @app.exception_handler(CommexError)
    async def _commex(request: Request, exc: CommexError) -> JSONResponse:
        log.debug(
            "refused %s %s: %s", request.method, request.url.path, exc.code,
            extra={"error": exc.message, "field": exc.field},
        )  # fmt: skip
        return error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        return validation_response(exc)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return http_error_response(exc)


def validation_response(exc: RequestValidationError) -> JSONResponse:
    """A request that did not parse or validate, as a 422 naming the field."""
    first = exc.errors()[0] if exc.errors() else {}
    if first.get("type") == "json_invalid":
        # The location of a JSON syntax error is a character position, not a field.
        at = first.get("loc", ("body", "?"))[-1]
        message = f"the request body is not valid JSON (at character {at})"
        return JSONResponse(error_body("invalid", message), 422)
    where = ".".join(str(p) for p in first.get("loc", ()) if p not in ("body",))
    message = f"{where}: {first.get('msg', 'invalid input')}" if where else "invalid input"
    return JSONResponse(error_body("invalid", message, where or None), 422)


def error_response_for(exc: Exception) -> JSONResponse | None:
    """The answer the app's handlers give ``exc``, or None for an unexpected error (a 500)."""
    if isinstance(exc, CommexError):
        return error_response(exc)
    if isinstance(exc, RequestValidationError):
        return validation_response(exc)
    if isinstance(exc, StarletteHTTPException):
        return http_error_response(exc)
    return None


def http_error_response(exc: StarletteHTTPException) -> JSONResponse:
    """A routing-level HTTP error (no such route, wrong method) as the JSON error object."""
    code = _HTTP_CODES.get(exc.status_code, "error")
    return JSONResponse(error_body(code, str(exc.detail)), exc.status_code, headers=exc.headers)
