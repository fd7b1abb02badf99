"""The marketplace's messages and results (O4): finding auctions, the watchlist, the
notification centre and webhooks. Each message goes to its one handler like any other (see
:mod:`commex.services.handlers`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from commex.domain.listing import AuctionLine
from commex.domain.notices import Notice
from commex.domain.paging import DEFAULT_LIMIT, Key
from commex.domain.reputation import Reputation
from commex.domain.webhooks import Attempt, Webhook, WebhookDelivery
from commex.services.messages import Command
from commex.services.queries import Query

# -- results -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ListedAuction:
    """A line of a list of auctions found: the auction's line and its owner as others see
    it."""

    auction: AuctionLine
    owner_name: str
    owner_reputation: Reputation


@dataclass(frozen=True, slots=True)
class AuctionPage:
    """A page of auctions found, each with its owner's reputation; which of them the viewer
    watches; and the key after which the next page starts (None: the last page)."""

    items: tuple[ListedAuction, ...]
    next_key: Key | None
    watched: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class NoticePage:
    """A page of an account's notices, newest first, and how many are unread in all."""

    items: tuple[Notice, ...]
    next_key: Key | None
    unread: int


@dataclass(frozen=True, slots=True)
class CreatedWebhook:
    """A new webhook; its signing secret is in it, shown this once."""

    webhook: Webhook


@dataclass(frozen=True, slots=True)
class DeliveryPage:
    items: tuple[WebhookDelivery, ...]
    next_key: Key | None


@dataclass(frozen=True, slots=True)
class DeliveryLog:
    """A delivery with every attempt it took."""

    delivery: WebhookDelivery
    attempts: tuple[Attempt, ...]


# -- finding and following -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FindAuctions(Query[AuctionPage]):
    """Auctions that pass every filter given, in ``sort`` order (newest, closing, price or
    -price), a page at a time after the key ``after``. Filters are as typed (blank: not
    given); see :func:`commex.domain.finding.parse_filter`."""

    service: str | None = None
    direction: str | None = None
    format: str | None = None
    currency: str | None = None
    min_price: str | None = None
    max_price: str | None = None
    min_rate_bps: str | int | None = None
    max_rate_bps: str | int | None = None
    window_from: str | None = None
    window_to: str | None = None
    owner: str | None = None
    status: str | None = None
    text: str | None = None
    sort: str | None = None
    limit: int = DEFAULT_LIMIT
    after: Key | None = None
    viewer_id: str | None = None


@dataclass(frozen=True, slots=True)
class Watch(Command[bool]):
    """Put an auction on the account's watchlist (True if it was not there yet)."""

    account_id: str
    auction_id: str


@dataclass(frozen=True, slots=True)
class Unwatch(Command[bool]):
    """Take an auction off the account's watchlist (True if it was there)."""

    account_id: str
    auction_id: str


@dataclass(frozen=True, slots=True)
class Watching(Query[frozenset[str]]):
    """Which of these auctions the account watches."""

    account_id: str
    auction_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class MyWatchlist(Query[AuctionPage]):
    """The auctions the account watches, most recently added first."""

    account_id: str
    limit: int = DEFAULT_LIMIT
    after: Key | None = None


@dataclass(frozen=True, slots=True)
class RemindWatchers(Command[int]):
    """Tell watchers of auctions closing within ``within`` (once each); how many were told."""

    within: timedelta = timedelta(minutes=15)
    limit: int = 500


# -- the notification centre ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MyNotifications(Query[NoticePage]):
    """The account's notices, newest first (only the unread, or of some types, if asked)."""

    account_id: str
    unread_only: bool = False
    types: tuple[str, ...] = ()
    limit: int = DEFAULT_LIMIT
    after: Key | None = None


@dataclass(frozen=True, slots=True)
class UnreadCount(Query[int]):
    """How many of the account's notices are unread (the badge)."""

    account_id: str


@dataclass(frozen=True, slots=True)
class MarkRead(Command[int]):
    """Mark the account's notices read: those named, or all of them (``ids`` None); how many
    were unread."""

    account_id: str
    ids: tuple[str, ...] | None = None


@dataclass(frozen=True, slots=True)
class SpreadNotices(Command[int]):
    """Tell the next chunk of an auction's many losers that they lost (the close told the
    first thousand itself); how many were told, 0 once none wait."""


# -- webhooks -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CreateWebhook(Command[CreatedWebhook]):
    """Send the account's events of these types to ``url`` (public addresses only, unless the
    operator allows private ones)."""

    account_id: str
    url: str
    events: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class MyWebhooks(Query[list[Webhook]]):
    account_id: str


@dataclass(frozen=True, slots=True)
class DeleteWebhook(Command[None]):
    """Stop a webhook: nothing more is sent to it; its delivery log stays readable."""

    account_id: str
    webhook_id: str


@dataclass(frozen=True, slots=True)
class WebhookDeliveries(Query[DeliveryPage]):
    """A webhook's deliveries, newest first."""

    account_id: str
    webhook_id: str
    limit: int = DEFAULT_LIMIT
    after: Key | None = None


@dataclass(frozen=True, slots=True)
class ShowDelivery(Query[DeliveryLog]):
    account_id: str
    webhook_id: str
    delivery_id: str


@dataclass(frozen=True, slots=True)
class RetryDelivery(Command[WebhookDelivery]):
    """Send a delivery again now (and on failure for a day), however it ended."""

    account_id: str
    webhook_id: str
    delivery_id: str
