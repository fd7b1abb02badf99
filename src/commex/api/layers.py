"""What every answer carries and every request leaves behind, shared by the middleware of
:mod:`commex.api.middleware` and the bids' fast path (:mod:`commex.api.fastpath`), which does
the same work inline: the request id, the security headers, the access log line."""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Sequence

from commex.adapters.logs import lines_together, write_access_lines

MAX_BODY = 1 << 20
REQUEST_ID_HEADER = b"x-request-id"
_SANE_ID = re.compile(rb"[A-Za-z0-9._:-]{1,128}")
TOO_LARGE = "the request body is too large"
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Content-Security-Policy": (
        "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
        "frame-ancestors 'none'; form-action 'self'; base-uri 'self'"
    ),
}
HSTS = "max-age=31536000; includeSubDomains"  # one year, once the public address is https
access_log = logging.getLogger("commex.access")


def security_headers(hsts: bool) -> list[tuple[bytes, bytes]]:
    """:data:`SECURITY_HEADERS` (and HSTS given ``hsts``) as raw ASGI headers."""
    wanted = SECURITY_HEADERS | ({"Strict-Transport-Security": HSTS} if hsts else {})
    return [(k.lower().encode(), v.encode()) for k, v in wanted.items()]


def incoming_id(headers: Sequence[tuple[bytes, bytes]]) -> str | None:
    """The caller's ``X-Request-Id`` when it is sane (1 to 128 letters, digits and ``._:-``)."""
    for name, value in headers:
        if name == REQUEST_ID_HEADER:
            return sane_id(value)
    return None


def sane_id(value: bytes) -> str | None:
    """An ``X-Request-Id`` value when it is sane, or None."""
    return value.decode("ascii") if _SANE_ID.fullmatch(value) else None


def header(headers: Sequence[tuple[bytes, bytes]], wanted: bytes) -> bytes | None:
    for name, value in headers:
        if name == wanted:
            return value
    return None


_ACCESS_LINE = "%s %s %d %.1fms id=%s"


def log_access(
    method: str,
    path: str,
    status: int,
    ms: float,
    request_id: str | None,
    created: float | None = None,
) -> None:
    """The access log's line for one answered request (INFO on ``commex.access``), made at
    ``created`` (``time.time()``; by default now). The record is made and handed to the
    logger's handlers directly: ``Logger.info`` would first walk the stack for the caller's
    file and line, which no access line shows, and which cost a third of the line."""
    if not access_log.isEnabledFor(logging.INFO):
        return
    record = access_log.makeRecord(
        access_log.name,
        logging.INFO,
        __file__,
        0,
        _ACCESS_LINE,
        (method, path, status, ms, request_id),
        None,
        "log_access",
        {
            "method": method,
            "path": path,
            "status": status,
            "ms": round(ms, 1),
            "request_id": request_id,
        },
    )
    if created is not None:
        record.created = created
        record.msecs = (created - int(created)) * 1000
    access_log.handle(record)


class AccessLines:
    """Access lines of the answers an event loop gives in one of its turns, written together
    at the end of that turn (one write to stderr for them all, not one per line): the answers
    of a group commit are all sent in one turn. Each line keeps the time of its answer."""

    def __init__(self) -> None:
        self._lines: list[tuple[str, str, int, float, str | None, float]] = []

    def add(self, method: str, path: str, status: int, ms: float, request_id: str | None) -> None:
        """From the event loop: note the line of a request just answered."""
        if not self._lines:
            asyncio.get_running_loop().call_soon(self.write)
        self._lines.append((method, path, status, ms, request_id, time.time()))

    def write(self) -> None:
        """Write every line noted so far."""
        lines, self._lines = self._lines, []
        if not access_log.isEnabledFor(logging.INFO):
            return
        parts = [
            (created, _ACCESS_LINE % (method, path, status, ms, rid), rid, method, path, status,
             round(ms, 1))
            for method, path, status, ms, rid, created in lines
        ]  # fmt: skip
        if write_access_lines(access_log, parts):
            return
        with lines_together(access_log):
            for line in lines:
                log_access(*line)
