"""The auction list's search form: the query string of ``/`` becomes the same FindAuctions
query the API builds from ``GET /v1/auctions``, with rates in human units (``20 Mbit/s``) and
dates from a date picker (UTC days)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from commex.domain.errors import CommexError, InvalidInput
from commex.domain.units import parse_rate
from commex.services.bus import MessageBus
from commex.services.marketplace import AuctionPage, FindAuctions
from commex.web import paging

FIELDS = (
    "service", "direction", "format", "currency", "min_price", "max_price", "min_rate",
    "max_rate", "window_from", "window_to", "status", "q", "sort",
)  # fmt: skip
SORTS = (("closing", "Closing soonest"), ("newest", "Newest"), ("price", "Lowest price"),
         ("-price", "Highest price"))  # fmt: skip
PAGE = 50


@dataclass(frozen=True, slots=True)
class Search:
    """What the list shows: the filters as typed, the page found (or the problem with the
    filters, naming its input), and the next page's address."""

    values: dict[str, str]
    page: AuctionPage | None
    problem: str
    field: str
    more: str

    @property
    def filtered(self) -> bool:
        return any(v for k, v in self.values.items() if k not in ("status", "sort"))


def values_of(params: Mapping[str, str]) -> dict[str, str]:
    """The search's inputs as typed (bounded), the list's defaults where none was given: open
    auctions, closing soonest first."""
    values = {name: params.get(name, "").strip()[:100] for name in FIELDS}
    if "status" not in params:
        values["status"] = "open"
    values["sort"] = values["sort"] or "closing"
    return values


def _day(text: str, field: str, end: bool) -> str | None:
    """A date from a date picker (``2026-03-01``) as the start (or end) of that UTC day."""
    if not text:
        return None
    if len(text) == 10 and text[4] == "-" and text[7] == "-":
        return f"{text}T{'23:59:59' if end else '00:00:00'}+00:00"
    raise InvalidInput(f"{field} must be a date such as 2026-03-01", field)


def query_of(values: Mapping[str, str], viewer_id: str | None, cursor: str | None) -> FindAuctions:
    rates = {
        name: parse_rate(values[name], name) if values[name] else None
        for name in ("min_rate", "max_rate")
    }
    sort = values["sort"]
    return FindAuctions(
        service=values["service"], direction=values["direction"], format=values["format"],
        currency=values["currency"].upper(), min_price=values["min_price"],
        max_price=values["max_price"], min_rate_bps=rates["min_rate"],
        max_rate_bps=rates["max_rate"],
        window_from=_day(values["window_from"], "window_from", end=False),
        window_to=_day(values["window_to"], "window_to", end=True), status=values["status"],
        text=values["q"], sort=sort, limit=PAGE,
        after=paging.key(f"auctions:{sort}", cursor), viewer_id=viewer_id,
    )  # fmt: skip


_INPUTS = {"min_rate_bps": "min_rate", "max_rate_bps": "max_rate", "text": "q"}


def search(bus: MessageBus, params: Mapping[str, str], viewer_id: str | None) -> Search:
    """The auctions the list's query string asks for, or why they could not be found."""
    values = values_of(params)
    try:
        query = query_of(values, viewer_id, params.get("cursor") or None)
        found = bus.handle(query)
    except CommexError as exc:
        field = _INPUTS.get(exc.field or "", exc.field or "")
        return Search(values, None, exc.message, field, "")
    more = paging.link("/", values, f"auctions:{values['sort']}", found.next_key)
    return Search(values, found, "", "", more)
