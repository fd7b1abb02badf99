"""The HTTP client's core: one connection to an exchange's ``/v1`` API with an API token, and
the server's JSON errors raised as the same commex errors the library raises."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any, Self, TypeVar

import httpx

from commex.client import profiles
from commex.domain.errors import (
    CommexError,
    Conflict,
    Forbidden,
    InvalidInput,
    NotFound,
    Throttled,
    Unauthenticated,
    Unavailable,
)

_BY_STATUS: dict[int, type[CommexError]] = {
    401: Unauthenticated,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    422: InvalidInput,
    503: Unavailable,
}
T = TypeVar("T")


def retriable(exc: CommexError) -> bool:
    """A transport failure or a server error (the base class), or a part of the exchange down
    for a moment (503): another try may succeed. A refusal (4xx) would only be refused again."""
    return type(exc) is CommexError or isinstance(exc, Unavailable)


def with_retries(
    call: Callable[[], T],
    *,
    attempts: int,
    backoff_s: float,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """``call()``, tried up to ``attempts`` times while it fails in a :func:`retriable` way,
    waiting ``backoff_s``, then twice as long, between tries; the last failure is raised."""
    for attempt in range(attempts - 1):
        try:
            return call()
        except CommexError as exc:
            if not retriable(exc):
                raise
        sleep(backoff_s * 2**attempt)
    return call()


def api_token_from_env() -> str:
    """The API token: ``COMMEX_TOKEN``, else the profile ``commex login`` saved
    (``COMMEX_PROFILE``, by default ``default``); having neither is a clear error."""
    token = os.environ.get("COMMEX_TOKEN", "").strip()
    if token:
        return token
    saved = profiles.load(profiles.profile_name())
    if saved is None:
        raise Unauthenticated(
            "set COMMEX_TOKEN to your API token, or run `commex login`, to talk to the exchange"
        )
    return saved.token


class ClientBase:
    """A small client of the exchange's ``/v1`` API."""

    def __init__(
        self,
        base_url: str,
        token: str | None,
        *,
        timeout: float = 10.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise InvalidInput(f"the exchange URL must be http(s)://..., not {base_url!r}", "url")
        headers = {} if token is None else {"Authorization": f"Bearer {token}"}
        self._http = httpx.Client(
            base_url=base_url.rstrip("/"), headers=headers, timeout=timeout, transport=transport
        )

    @property
    def base_url(self) -> str:
        return str(self._http.base_url)

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise CommexError(
                f"the exchange at {self._http.base_url} did not answer: {exc}"
            ) from exc
        if response.status_code >= 400:
            try:
                error = response.json()["error"]
                message, field = str(error["message"]), error.get("field")
            except (ValueError, KeyError, TypeError):
                message, field = f"the exchange answered {response.status_code}", None
            if response.status_code == 429:
                retry_after = response.headers.get("Retry-After", "")
                raise Throttled(message, int(retry_after) if retry_after.isdigit() else 1, field)
            raise _BY_STATUS.get(response.status_code, CommexError)(message, field)
        return response.json()

    def _get(self, path: str, **kwargs: Any) -> dict[str, Any]:
        result: dict[str, Any] = self._call("GET", path, **kwargs)
        return result

    def _send(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        result: dict[str, Any] = self._call(method, path, **kwargs)
        return result

    def me(self) -> dict[str, Any]:
        """The account behind the token."""
        return self._get("/v1/accounts/me")

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
