"""The notification centre (O4): every event a person should hear of becomes a notice in the
centre of each account it concerns, and a queued delivery to each of that account's webhooks
that subscribes to it.

:func:`record_notices` subscribes to the events *in transaction*: it runs inside the unit of
work that recorded them, just before its commit, so a notice (and its webhook outbox row) exists
exactly when the change does: none is lost, and none is left by a change that rolled back.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from commex.domain import notices as rules
from commex.domain.auctions import Status
from commex.domain.errors import InvalidInput
from commex.domain.events import (
    AuctionClosed,
    AuctionClosingSoon,
    BidOutbid,
    ChargeSettled,
    ContractCancelled,
    ContractCompleted,
    ContractStarted,
    DeliveryBreached,
    Event,
    GroupInvited,
    Notified,
    RatingReceived,
    SubcontractOpened,
)
from commex.domain.notices import Notice, parse_types
from commex.domain.paging import Key, check_key, check_limit
from commex.domain.time import to_micros
from commex.services.bus import Deps
from commex.services.marketplace import (
    MarkRead,
    MyNotifications,
    NoticePage,
    SpreadNotices,
    UnreadCount,
)
from commex.services.ports import UnitOfWork

CHUNK = 1000  # bidders told that they lost, per transaction
MAX_MARK = 500
MAX_ID = 100

TOLD: tuple[type[Event], ...] = (
    AuctionClosed,
    AuctionClosingSoon,
    BidOutbid,
    ChargeSettled,
    ContractCancelled,
    ContractCompleted,
    ContractStarted,
    DeliveryBreached,
    GroupInvited,
    RatingReceived,
    SubcontractOpened,
)
"""The events the notification centre subscribes to."""


def record_notices(events: Sequence[Event], uow: UnitOfWork, deps: Deps) -> None:
    """Write the notices of ``events`` (and queue their webhook deliveries) in the unit of work
    that recorded them; then record who gained notices, for live badges."""
    new_id = lambda: deps.ids.new("evt")  # noqa: E731 - one id per notice
    notices: list[Notice] = []
    everyone = False
    for event in events:
        if isinstance(event, AuctionClosed):
            everyone |= _closed(uow, event, notices, new_id)
        else:
            notices.extend(rules.notices_of(event, new_id))
    uow.notifications.add_many(notices)
    accounts = tuple(sorted({n.account_id for n in notices}))
    if accounts or everyone:
        uow.record([Notified(accounts, everyone)])


def _closed(
    uow: UnitOfWork, event: AuctionClosed, notices: list[Notice], new_id: rules.NewId
) -> bool:
    """Winners hear they won; the other bidders that it lost: the first :data:`CHUNK` of them
    here, and any more (an auction of thousands of bidders) a chunk at a time afterwards (see
    :func:`spread_notices`), from a fan-out kept in this same transaction, so the close stays
    quick however many bid. True when any loser was told here."""
    auction = uow.auctions.get(event.auction_id)
    if auction is None or auction.status is not Status.CLOSED:  # pragma: no cover - just closed
        return False
    notices.extend(rules.won(auction, new_id))
    fanout = rules.lost(auction, new_id())
    if fanout is None:
        return False
    told, rest = _tell_chunk(uow, fanout)
    if rest is not None:
        uow.notifications.add_fanout(rest)
    return told > 0


def _tell_chunk(uow: UnitOfWork, fanout: rules.Fanout) -> tuple[int, rules.Fanout | None]:
    """Tell the next chunk of an auction's bidders; how many were told, and the fan-out that
    remains (None once every bidder has been told)."""
    bidders = uow.auctions.bidders(fanout.auction_id, fanout.after, CHUNK)
    copies = fanout.copies(bidders)
    uow.notifications.add_many(copies)
    if len(bidders) < CHUNK:
        return len(copies), None
    return len(copies), replace(fanout, after=bidders[-1])


def spread_notices(cmd: SpreadNotices, uow: UnitOfWork, deps: Deps) -> int:
    """Tell the next chunk of bidders of the oldest fan-out still going; how many were told.
    The fan-out's row stays locked meanwhile, so two processes never tell the same bidders."""
    fanout = uow.notifications.next_fanout()
    if fanout is None:
        return 0
    told, rest = _tell_chunk(uow, fanout)
    uow.notifications.advance_fanout(fanout.notice.id, None if rest is None else rest.after)
    if told:
        uow.record([Notified((), everyone=True)])
    return told


def my_notifications(query: MyNotifications, uow: UnitOfWork, deps: Deps) -> NoticePage:
    limit = check_limit(query.limit)
    after = check_key(query.after, (int, str))
    types = parse_types(list(query.types), "type") if query.types else None
    rows = uow.notifications.page(
        query.account_id, after, limit + 1, unread_only=query.unread_only, types=types
    )
    shown = rows[:limit]
    next_key: Key | None = None
    if len(rows) > limit:
        next_key = (to_micros(shown[-1].created_at), shown[-1].id)
    return NoticePage(tuple(shown), next_key, uow.notifications.unread(query.account_id))


def unread_count(query: UnreadCount, uow: UnitOfWork, deps: Deps) -> int:
    return uow.notifications.unread(query.account_id)


def mark_read(cmd: MarkRead, uow: UnitOfWork, deps: Deps) -> int:
    """Mark notices read; ids of other accounts' notices are passed over, never revealed."""
    ids = None
    if cmd.ids is not None:
        if not 1 <= len(cmd.ids) <= MAX_MARK:
            raise InvalidInput(f"ids lists 1 to {MAX_MARK} notification ids", "ids")
        if not all(isinstance(i, str) and 0 < len(i) <= MAX_ID for i in cmd.ids):
            raise InvalidInput("ids holds notification ids such as evt_...", "ids")
        ids = list(cmd.ids)
    return uow.notifications.mark_read(cmd.account_id, ids, deps.clock.now())
