"""Finding and following auctions (O4): search with filters, sorts and key paging; the
watchlist; and reminders to watchers of auctions that close soon."""

from __future__ import annotations

from collections.abc import Sequence

from commex.domain.errors import InvalidInput
from commex.domain.events import AuctionClosingSoon
from commex.domain.finding import KEY_SHAPES, parse_filter, parse_sort, sort_key
from commex.domain.listing import AuctionLine, line_of
from commex.domain.paging import Key, check_key, check_limit
from commex.domain.time import to_micros
from commex.services import audit
from commex.services.bus import Deps
from commex.services.loading import account_of, auction_of
from commex.services.marketplace import (
    AuctionPage,
    FindAuctions,
    ListedAuction,
    MyWatchlist,
    RemindWatchers,
    Unwatch,
    Watch,
    Watching,
)
from commex.services.ports import UnitOfWork


def find_auctions(query: FindAuctions, uow: UnitOfWork, deps: Deps) -> AuctionPage:
    """A page of the auctions that pass the filters, in the order asked for."""
    f = parse_filter(
        service=query.service, direction=query.direction, format=query.format,
        currency=query.currency, min_price=query.min_price, max_price=query.max_price,
        min_rate_bps=query.min_rate_bps, max_rate_bps=query.max_rate_bps,
        window_from=query.window_from, window_to=query.window_to, owner=query.owner,
        status=query.status, text=query.text,
    )  # fmt: skip
    sort = parse_sort(query.sort)
    limit = check_limit(query.limit)
    after = check_key(query.after, KEY_SHAPES[sort])
    rows = uow.auctions.find(f, sort, after, limit + 1)
    shown = rows[:limit]
    more = len(rows) > limit
    watched: frozenset[str] = frozenset()
    if query.viewer_id is not None and shown:
        watched = frozenset(uow.watches.watching(query.viewer_id, [a.id for a in shown]))
    next_key = sort_key(shown[-1], sort) if more else None
    return AuctionPage(listed(uow, deps, shown), next_key, watched)


def listed(uow: UnitOfWork, deps: Deps, lines: Sequence[AuctionLine]) -> tuple[ListedAuction, ...]:
    """The lines with their owners' names (one read) and reputations (one batch per role:
    forward owners are providers, reverse ones recipients)."""
    names = uow.accounts.names({x.owner_id for x in lines})
    reps = {
        role: deps.reputations.of_many(
            uow, {x.owner_id for x in lines if x.owner_role is role}, role
        )
        for role in {x.owner_role for x in lines}
    }
    return tuple(
        ListedAuction(x, names.get(x.owner_id, x.owner_id), reps[x.owner_role][x.owner_id])
        for x in lines
    )


def watch(cmd: Watch, uow: UnitOfWork, deps: Deps) -> bool:
    """Put the auction on the account's watchlist; True when it was not there (only then is
    the change audited, so repeating the call leaves one entry)."""
    account_of(uow, cmd.account_id)
    auction_of(uow, cmd.auction_id)
    added = uow.watches.add(cmd.account_id, cmd.auction_id, deps.clock.now())
    if added:  # the watchlist is private: the entry concerns the watcher alone
        audit.record(uow, deps, "auction.watched", cmd.auction_id, by=cmd.account_id)
    return added


def unwatch(cmd: Unwatch, uow: UnitOfWork, deps: Deps) -> bool:
    auction_of(uow, cmd.auction_id)
    removed = uow.watches.remove(cmd.account_id, cmd.auction_id)
    if removed:
        audit.record(uow, deps, "auction.unwatched", cmd.auction_id, by=cmd.account_id)
    return removed


def watching(query: Watching, uow: UnitOfWork, deps: Deps) -> frozenset[str]:
    return frozenset(uow.watches.watching(query.account_id, query.auction_ids))


def my_watchlist(query: MyWatchlist, uow: UnitOfWork, deps: Deps) -> AuctionPage:
    limit = check_limit(query.limit)
    after = check_key(query.after, (int, str))
    rows = uow.watches.page(query.account_id, after, limit + 1)
    shown = rows[:limit]
    next_key: Key | None = None
    if len(rows) > limit:
        next_key = (to_micros(shown[-1].since), shown[-1].auction.id)
    items = listed(uow, deps, [line_of(w.auction) for w in shown])
    return AuctionPage(items, next_key, frozenset(w.auction.id for w in shown))


def remind_watchers(cmd: RemindWatchers, uow: UnitOfWork, deps: Deps) -> int:
    """Claim the reminders due and record one event per auction for its watchers; the
    notices are written by the in-transaction subscriber, in this same transaction."""
    if cmd.within.total_seconds() <= 0:
        raise InvalidInput("within must be a positive time", "within")
    now = deps.clock.now()
    due = uow.watches.claim_reminders(now, now + cmd.within, check_limit(cmd.limit))
    told = 0
    for auction_id, watchers in sorted(due.items()):
        auction = auction_of(uow, auction_id)
        uow.record([AuctionClosingSoon(auction.id, auction.title, auction.closes_at,
                                       tuple(watchers), now)])  # fmt: skip
        told += len(watchers)
    return told
