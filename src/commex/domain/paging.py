"""Paging by key: every list is read a page at a time after the key of the last row seen.

A page ends with the key of its last row; the next page starts strictly after it in the list's
order. Rows added meanwhile never shift what follows (as an offset would), so paging through a
list yields every row that was there exactly once, with no duplicate and no gap, whatever is
inserted between the pages. The API writes a key as an opaque cursor.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Generic, TypeVar

from commex.domain.errors import InvalidInput

T = TypeVar("T")
Key = tuple[str | int | None, ...]
"""Where a row sits in its list's order: plain values, the row's unique id last."""

MAX_LIMIT = 500
DEFAULT_LIMIT = 100


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One page of a list, and the key after which the next one starts (None: the last)."""

    items: tuple[T, ...]
    next_key: Key | None = None


def check_limit(limit: object, field: str = "limit") -> int:
    """A page size from 1 to :data:`MAX_LIMIT`."""
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
        raise InvalidInput(f"{field} must be a whole number from 1 to {MAX_LIMIT}", field)
    return limit


def check_key(after: object, shapes: tuple[type, ...], field: str = "cursor") -> Key | None:
    """``after`` if it is a key of the given shape (one type per position; ``type(None)``
    allowed where a value may be missing), else InvalidInput naming ``field``."""
    if after is None:
        return None
    bad = InvalidInput(f"{field} is not one this list gave; start again without it", field)
    if not isinstance(after, tuple) or len(after) != len(shapes):
        raise bad
    for value, shape in zip(after, shapes, strict=True):
        if isinstance(value, bool) or not isinstance(value, shape):
            raise bad
        if isinstance(value, str) and len(value) > 400:
            raise bad
    return after


def page_after(
    items: Iterable[T],
    key: Callable[[T], tuple[str | int, ...]],
    after: Key | None,
    limit: int,
    *,
    descending: bool = False,
) -> Page[T]:
    """The page of ``items`` (in ``key`` order, or its reverse) that follows ``after``: for
    lists small enough to read whole (an account's cards, a contract's members)."""
    ordered = sorted(items, key=key, reverse=descending)
    if after is not None:
        start: tuple[str | int, ...] = tuple(v for v in after if v is not None)
        if descending:
            ordered = [x for x in ordered if key(x) < start]
        else:
            ordered = [x for x in ordered if key(x) > start]
    return page_of(ordered, limit, key)


def page_of(rows: list[T], limit: int, key: Callable[[T], Key]) -> Page[T]:
    """A page from ``rows`` read with one row to spare (``limit + 1``): the spare one only
    says there is more."""
    shown = rows[:limit]
    more = len(rows) > limit
    return Page(tuple(shown), key(shown[-1]) if more and shown else None)
