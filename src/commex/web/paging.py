"""Pages of lists on the web: the cursor in a "Next" link (see :mod:`commex.cursors`)."""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urlencode

from commex.cursors import decode, encode
from commex.domain.paging import Key


def key(list_name: str, cursor: str | None) -> Key | None:
    """The key a page's ``cursor`` parameter carries (None: the first page)."""
    return decode(list_name, cursor)


def link(path: str, params: Mapping[str, str], list_name: str, next_key: Key | None) -> str:
    """The address of the next page (empty after the last), keeping the page's filters."""
    cursor = encode(list_name, next_key)
    if cursor is None:
        return ""
    kept = {k: v for k, v in params.items() if v}
    return f"{path}?{urlencode(kept | {'cursor': cursor})}"
