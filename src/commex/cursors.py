"""Cursors: the key of the last row a page showed (see :mod:`commex.domain.paging`), named by
the list and order it belongs to, as opaque base64url text that clients pass back as it is.
One from another list, or changed by hand, is refused (naming ``cursor``) rather than guessed
at. The API and the pages share it."""

from __future__ import annotations

import base64
import binascii
import json

from commex.domain.errors import InvalidInput
from commex.domain.paging import Key

MAX_CURSOR = 600


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
    if len(cursor) > MAX_CURSOR:
        raise bad
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
