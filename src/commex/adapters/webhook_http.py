"""Posting webhook events over HTTP(S) with httpx, to the address the URL rule checked.

The request goes to the pinned address itself (the host name stays in the ``Host`` header and
is the TLS server name, so certificates are checked against it), so a second DNS answer can
never send it elsewhere. Redirects are not followed (a 3xx is a failed attempt), the answer's
body is never read, and every step has a timeout.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING
from urllib.parse import urlsplit, urlunsplit

from commex.domain.urls import Pinned
from commex.domain.webhooks import SIGNATURE_HEADER, signature
from commex.services.ports.market import Sent

if TYPE_CHECKING:
    import httpx

TIMEOUT_S = 10.0  # a whole attempt
CONNECT_TIMEOUT_S = 5.0


def body_of(event: Mapping[str, object]) -> bytes:
    """The JSON body of an event, compact and with sorted keys (what the signature covers)."""
    return json.dumps(event, sort_keys=True, separators=(",", ":")).encode()


def _to_address(target: Pinned) -> str:
    """The URL with its host replaced by the pinned address."""
    parts = urlsplit(target.url)
    host = f"[{target.address}]" if ":" in target.address else target.address
    netloc = host if parts.port is None else f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path or "/", parts.query, ""))


class HttpWebhookTransport:
    """Sends each event in one short-lived connection (endpoints are many and far apart).
    httpx is imported at the first delivery: a server that sends none never loads it."""

    def __init__(self, timeout: httpx.Timeout | None = None) -> None:
        self._timeout = timeout

    def send(
        self, target: Pinned, event: Mapping[str, object], secret: str, timestamp: int
    ) -> Sent:
        body = body_of(event)
        parts = urlsplit(target.url)
        host_header = parts.netloc.rsplit("@", 1)[-1]
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "commex-webhooks",
            "Host": host_header,
            SIGNATURE_HEADER: signature(secret, timestamp, body),
        }
        import httpx  # noqa: PLC0415

        timeout = self._timeout or httpx.Timeout(TIMEOUT_S, connect=CONNECT_TIMEOUT_S)
        started = time.monotonic()
        try:
            with (
                httpx.Client(timeout=timeout, follow_redirects=False) as client,
                client.stream(
                    "POST",
                    _to_address(target),
                    content=body,
                    headers=headers,
                    extensions={"sni_hostname": target.host},
                ) as answer,
            ):
                status = answer.status_code
        except httpx.TimeoutException:
            return Sent(None, "timed out", _ms(started))
        except httpx.HTTPError as exc:
            return Sent(None, f"{type(exc).__name__}: {exc}"[:300], _ms(started))
        return Sent(status, None if 200 <= status < 300 else f"answered {status}", _ms(started))


def _ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)
