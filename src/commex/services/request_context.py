"""The request a piece of work answers, carried without passing it through every call.

The HTTP edge binds a request id (see :mod:`commex.api.middleware`) for the time it serves the
request; work done on its behalf reads it here: the audit trail stamps it on every entry and
each log line carries it. A context variable follows the request onto the worker thread that
runs a handler, and the bid desk, which runs several callers' bids on one thread, takes each
caller's id with its bid. Work started by the exchange itself (the scheduler) has none.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

_REQUEST_ID: ContextVar[str | None] = ContextVar("commex_request_id", default=None)


def current_request_id() -> str | None:
    """The id of the request being served, or None outside one."""
    return _REQUEST_ID.get()


@contextmanager
def request_id_bound(request_id: str | None) -> Iterator[None]:
    """Work inside the block answers ``request_id``."""
    token = _REQUEST_ID.set(request_id)
    try:
        yield
    finally:
        _REQUEST_ID.reset(token)
