"""Loading what a use case needs, or saying precisely what was not found."""

from __future__ import annotations

import re

from commex.domain.accounts import Account
from commex.domain.auctions import Auction
from commex.domain.contracts import Contract
from commex.domain.errors import NotFound
from commex.services.ports import UnitOfWork

_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def check_id(kind: str, value: str) -> str:
    """An id as commex makes them; anything else (a NUL, a path, 10 kB of text) cannot name an
    object, so it is not found, and never reaches the database."""
    if not isinstance(value, str) or not _ID.match(value):
        raise NotFound(f"{kind} not found")
    return value


def account_of(uow: UnitOfWork, account_id: str) -> Account:
    check_id("account", account_id)
    account = uow.accounts.get(account_id)
    if account is None:
        raise NotFound(f"account {account_id} not found")
    return account


def auction_of(uow: UnitOfWork, auction_id: str) -> Auction:
    auction = uow.auctions.get(check_id("auction", auction_id))
    if auction is None:
        raise NotFound(f"auction {auction_id} not found")
    return auction


def locked_auction(uow: UnitOfWork, auction_id: str) -> Auction:
    """The auction, with its row lock held until the unit of work ends."""
    check_id("auction", auction_id)
    auction = uow.auctions.get_for_update(auction_id)
    if auction is None:
        raise NotFound(f"auction {auction_id} not found")
    return auction


def contract_of(uow: UnitOfWork, contract_id: str, *, lock: bool = False) -> Contract:
    """The contract (with its row lock held until the unit of work ends, given ``lock``)."""
    cid = check_id("contract", contract_id)
    contract = uow.contracts.get_for_update(cid) if lock else uow.contracts.get(cid)
    if contract is None:
        raise NotFound(f"contract {contract_id} not found")
    return contract
