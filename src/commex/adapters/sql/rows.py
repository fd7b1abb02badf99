"""Row helpers shared by the repositories: money and terms as stored."""

from __future__ import annotations

import json

from commex.domain.money import Money
from commex.domain.terms import ServiceTerms


def terms_json(terms: ServiceTerms) -> str:
    return json.dumps(terms.to_dict(), sort_keys=True)


def money_or_none(minor: int | None, currency: str) -> Money | None:
    return None if minor is None else Money.from_minor(minor, currency)


def minor_or_none(m: Money | None) -> int | None:
    return None if m is None else m.to_minor()
