"""The operator's moderation (O2): find accounts, suspend and reinstate them, hide ratings and
refund charges. Each handler checks that the caller is the operator, and records an event that
names the operator and the reason (the audit trail takes them from there:
:mod:`commex.services.moderation_audit`).

A suspension is written with the account's row locked, before the auctions it has bids on are
locked one by one (the order bids take them too), and its open bids are withdrawn in the same
transaction: a bid either committed before it (and is withdrawn) or sees the account suspended.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from commex.domain import moderation as rules
from commex.domain.accounts import Account
from commex.domain.auctions import Auction
from commex.domain.errors import NotFound
from commex.domain.events import CredentialsChanged, RatingHidden
from commex.domain.ratings import Rating
from commex.domain.reputation import remove_rating
from commex.services import trust_messages as m
from commex.services.bus import Deps
from commex.services.loading import account_of, check_id, locked_auction
from commex.services.ports import UnitOfWork

MAX_FIND = 200


def operator_of(uow: UnitOfWork, account_id: str, what: str) -> Account:
    """The acting account, if it is the operator."""
    by = account_of(uow, account_id)
    rules.require_operator(by, what)
    return by


def suspend_account(cmd: m.SuspendAccount, uow: UnitOfWork, deps: Deps) -> Account:
    by = operator_of(uow, cmd.by_id, "suspend an account")
    uow.accounts.lock(check_id("account", cmd.account_id))
    target = account_of(uow, cmd.account_id)
    now = deps.clock.now()
    done, event = rules.suspend(target, by, cmd.reason, now)
    uow.accounts.set_suspension(done.id, done.suspended_at, done.suspension_reason)
    withdrawn = _withdraw_open_bids(uow, done.id)
    uow.accounts.delete_sessions_of(done.id)
    # The token cache forgets the account, so its next call is refused (CredentialsChanged).
    uow.record([replace(event, withdrawn=withdrawn), CredentialsChanged(done.id)])
    return done


def _withdraw_open_bids(uow: UnitOfWork, account_id: str) -> tuple[str, ...]:
    withdrawn: list[str] = []
    for auction_id in uow.auctions.open_auctions_bid_on(account_id):
        auction = locked_auction(uow, auction_id)
        new, ids = rules.withdraw_bids(auction, account_id, uow.auctions.active_bids(auction_id))
        if ids:
            uow.auctions.deactivate_bids(ids)
            uow.auctions.update(new)
            withdrawn.extend(ids)
    return tuple(withdrawn)


def reinstate_account(cmd: m.ReinstateAccount, uow: UnitOfWork, deps: Deps) -> Account:
    by = operator_of(uow, cmd.by_id, "reinstate an account")
    uow.accounts.lock(check_id("account", cmd.account_id))
    target = account_of(uow, cmd.account_id)
    done, event = rules.reinstate(target, by, cmd.reason, deps.clock.now())
    uow.accounts.set_suspension(done.id, None, None)
    uow.record([event, CredentialsChanged(done.id)])
    return done


def find_accounts(query: m.FindAccounts, uow: UnitOfWork, deps: Deps) -> list[Account]:
    operator_of(uow, query.by_id, "search accounts")
    text = " ".join(str(query.text).split())[:80]
    return uow.accounts.find(text, max(1, min(query.limit, MAX_FIND)))


def find_auctions(query: m.FindAuctions, uow: UnitOfWork, deps: Deps) -> list[Auction]:
    operator_of(uow, query.by_id, "search auctions")
    text = " ".join(str(query.text).split())[:80]
    limit = max(1, min(query.limit, MAX_FIND))
    exact = uow.auctions.get(text) if text else None
    if exact is not None:
        return [exact]
    wanted = text.casefold()
    newest = uow.auctions.page(None, m.FIND_AUCTIONS_AMONG, 0)
    return [a for a in newest if wanted in a.title.casefold()][:limit]


def hide_rating(cmd: m.HideRating, uow: UnitOfWork, deps: Deps) -> Rating:
    """Hide a rating: it stays stored (and in the audit) but leaves the rated reputation, with
    the weight it carried, decayed as the rest; hiding it twice is a conflict."""
    by = operator_of(uow, cmd.by_id, "hide a rating")
    reason = rules.check_reason(cmd.reason)
    found = uow.ratings.get(check_id("rating", cmd.rating_id))
    if found is None:
        raise NotFound(f"rating {cmd.rating_id} not found")
    now = deps.clock.now()
    uow.accounts.lock(found.rated_id)
    rating = rules.hide_rating(found, reason, now)
    uow.ratings.hide(rating.id, now, reason)
    _take_out_of_reputation(uow, rating, now)
    uow.record(
        [
            RatingHidden(
                rating.id,
                rating.contract_id,
                rating.rater_account_id,
                rating.rated_id,
                by.id,
                reason,
                now,
            )
        ]
    )
    return rating


def _take_out_of_reputation(uow: UnitOfWork, rating: Rating, now: datetime) -> None:
    role = rating.rated_role.value
    tally = uow.ratings.tallies([rating.rated_id], role).get(rating.rated_id)
    if tally is None:
        return
    owner = account_of(uow, rating.rater_account_id).owner
    pair = uow.ratings.pair(rating.rated_id, role, owner)
    new_tally, new_pair = remove_rating(
        tally, pair, rating.weight, rating.satisfied, rating.created_at, now
    )
    uow.ratings.put_tally(rating.rated_id, role, new_tally)
    if new_pair is not None:
        uow.ratings.put_pair(rating.rated_id, role, owner, new_pair)
