"""The request a piece of work answers, carried without passing it through every call.

This is the one place the id lives: the HTTP edge's ``RequestId`` middleware (see
:mod:`commex.api.middleware`) sets :data:`REQUEST_ID` for the time it serves the request, and
work done on its behalf reads it here: the audit trail stamps it on every entry and each log
line carries it. A context variable follows the request onto the worker thread that runs a
handler, and a desk, which runs several callers' commands on one thread, takes each caller's id
with its command (see :class:`commex.services.group_commit.Pending`). Work started by the
exchange itself (the scheduler) has none.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

REQUEST_ID: ContextVar[str | None] = ContextVar("commex_request_id", default=None)


def current_request_id() -> str | None:
    """The id of the request being served, or None outside one."""
    return REQUEST_ID.get()


@contextmanager
def request_id_bound(request_id: str | None) -> Iterator[None]:
    """Work inside the block answers ``request_id``."""
    token = REQUEST_ID.set(request_id)
    try:
        yield
    finally:
        REQUEST_ID.reset(token)
