"""Loading what a use case needs, or saying precisely what was not found."""

from __future__ import annotations

from commex.domain.accounts import Account
from commex.domain.auctions import Auction
from commex.domain.errors import NotFound
from commex.services.ports import UnitOfWork


def account_of(uow: UnitOfWork, account_id: str) -> Account:
    account = uow.accounts.get(account_id)
    if account is None:
        raise NotFound(f"account {account_id} not found")
    return account


def locked_auction(uow: UnitOfWork, auction_id: str) -> Auction:
    """The auction, with its row lock held until the unit of work ends."""
    auction = uow.auctions.get_for_update(auction_id)
    if auction is None:
        raise NotFound(f"auction {auction_id} not found")
    return auction
