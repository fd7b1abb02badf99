"""Opaque cursors for every list of the API: ``limit`` and ``cursor`` in, ``next_cursor`` out.

A cursor is the key of the last row a page showed (see :mod:`commex.domain.paging`), named by
the list (and order) it belongs to, in base64url: clients pass it back as it is. One from
another list, or changed by hand, is refused (422, naming ``cursor``) rather than guessed at.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Iterable, Sequence
from typing import Annotated, Any, TypeVar

from fastapi import Query

from commex.domain.errors import InvalidInput
from commex.domain.paging import DEFAULT_LIMIT, MAX_LIMIT, Key, Page, check_limit, page_after

T = TypeVar("T")
MAX_CURSOR = 600

LimitQuery = Annotated[
    int, Query(ge=1, le=MAX_LIMIT, description=f"Rows per page, 1 to {MAX_LIMIT}.")
]
CursorQuery = Annotated[
    str | None,
    Query(max_length=MAX_CURSOR, description="The `next_cursor` of the page before."),
]
DEFAULT = DEFAULT_LIMIT


def encode(list_name: str, key: Key | None) -> str | None:
    """The cursor of ``key`` in the list ``list_name`` (None after the last page)."""
    if key is None:
        return None
    raw = json.dumps([list_name, *key], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode(list_name: str, cursor: str | None) -> Key | None:
    """The key a cursor of ``list_name`` carries (None for no cursor: the first page)."""
    if cursor is None or cursor == "":
        return None
    bad = InvalidInput("cursor is not one this list gave; start again without it", "cursor")
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        values = json.loads(raw)
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise bad from None
    if not isinstance(values, list) or len(values) < 2 or values[0] != list_name:
        raise bad
    key = values[1:]
    if not all(v is None or (isinstance(v, str | int) and not isinstance(v, bool)) for v in key):
        raise bad
    return tuple(key)


def page(
    list_name: str,
    items: Iterable[T],
    key: Callable[[T], tuple[str | int, ...]],
    limit: int,
    cursor: str | None,
    *,
    descending: bool = False,
) -> Page[T]:
    """A page of a list read whole (an account's cards, its contracts), by ``key``."""
    after = decode(list_name, cursor)
    try:
        return page_after(items, key, after, check_limit(limit), descending=descending)
    except TypeError:  # a key of another shape than this list's
        raise InvalidInput(
            "cursor is not one this list gave; start again without it", "cursor"
        ) from None


def answer(
    list_name: str, rows: Sequence[Any], next_key: Key | None, **more: Any
) -> dict[str, Any]:
    """A list's answer: ``items``, ``next_cursor`` and anything else it shows."""
    return {"items": list(rows), "next_cursor": encode(list_name, next_key), **more}
