"""Paging every list of the API: ``limit`` and ``cursor`` in, ``next_cursor`` out (see
:mod:`commex.cursors`)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Annotated, Any, TypeVar

from fastapi import Query

from commex.cursors import MAX_CURSOR, decode, encode
from commex.domain.errors import InvalidInput
from commex.domain.paging import DEFAULT_LIMIT, MAX_LIMIT, Key, Page, check_limit, page_after

T = TypeVar("T")
__all__ = ["CursorQuery", "LimitQuery", "answer", "decode", "encode", "page"]

LimitQuery = Annotated[
    int, Query(ge=1, le=MAX_LIMIT, description=f"Rows per page, 1 to {MAX_LIMIT}.")
]
CursorQuery = Annotated[
    str | None,
    Query(max_length=MAX_CURSOR, description="The `next_cursor` of the page before."),
]
DEFAULT = DEFAULT_LIMIT


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
