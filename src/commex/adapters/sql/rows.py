"""Row helpers shared by the repositories: money and terms as stored, and paging by key."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import ColumnElement, and_, or_

from commex.domain.money import Money
from commex.domain.paging import Key
from commex.domain.terms import ServiceTerms


def terms_json(terms: ServiceTerms) -> str:
    return json.dumps(terms.to_dict(), sort_keys=True)


def money_or_none(minor: int | None, currency: str) -> Money | None:
    return None if minor is None else Money.from_minor(minor, currency)


def stored_money_or_none(minor: int | None, currency: str) -> Money | None:
    """Money read back from a row (checked when it was written), without checking it again."""
    return None if minor is None else Money.from_stored(minor, currency)


def minor_or_none(m: Money | None) -> int | None:
    return None if m is None else m.to_minor()


def oldest_after(created: Any, ident: Any, after: Key | None) -> list[ColumnElement[bool]]:
    """The condition for rows after ``after`` (a (created, id) key) in oldest-first order."""
    if after is None:
        return []
    at, key_id = after[0], after[1]
    return [or_(created > at, and_(created == at, ident > key_id))]


def newest_after(created: Any, ident: Any, after: Key | None) -> list[ColumnElement[bool]]:
    """The condition for rows after ``after`` (a (created, id) key) in newest-first order."""
    if after is None:
        return []
    at, key_id = after[0], after[1]
    return [or_(created < at, and_(created == at, ident < key_id))]
