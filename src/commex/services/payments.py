"""Payment methods (B1): a recipient saves cards through the payment gateway and picks the one
it is charged on.

The card number goes to the gateway and is dropped: only the gateway's token, the brand, the
last four digits and the expiry are stored. Saving is a flow: the gateway is called outside any
transaction, so no database lock is held across a network call; the account's row lock then
serialises saving, so two cards saved at once still respect the limit and leave one default.
"""

from __future__ import annotations

import logging
from dataclasses import replace

from commex.domain import payment_methods as rules
from commex.domain.billing import validate_card
from commex.domain.payment_methods import PaymentMethod
from commex.services import audit, security
from commex.services import commands as c
from commex.services import queries as q
from commex.services.bus import Deps, MessageBus
from commex.services.loading import account_of, check_id
from commex.services.ports import UnitOfWork
from commex.services.results import CardRemoved

log = logging.getLogger("commex.payments")


def add_card(cmd: c.AddCard, bus: MessageBus) -> PaymentMethod:
    """Check the caller and the card, tokenize it at the gateway, and store the token. Saves
    are throttled per account and client address, whether they succeed or not, so stolen
    card numbers cannot be tried one after another."""
    keys = security.card_keys(cmd.account_id, cmd.client)
    security.check_throttles(bus, keys)
    security.count_attempt(bus, keys)
    with bus.unit_of_work(write=False) as uow:
        account = account_of(uow, cmd.account_id)
        rules.check_may_add(account, len(uow.payment_methods.of_account(account.id)))
    card = validate_card(cmd.number, cmd.exp_month, cmd.exp_year, cmd.cvc, bus.clock.now())
    gateway = bus.deps.gateway
    stored = gateway.tokenize(card.number, card.exp_month, card.exp_year, card.cvc)
    with bus.unit_of_work() as uow:
        uow.accounts.lock(account.id)
        account = account_of(uow, account.id)
        saved = uow.payment_methods.of_account(account.id)
        method = rules.new_payment_method(
            bus.deps.ids.new("card"), account, gateway.name, stored, saved, bus.clock.now()
        )
        uow.payment_methods.add(method)
        _audit_card(uow, bus.deps, "card.added", method)
        uow.commit()
    log.info(
        "card saved",
        extra={"account_id": account.id, "card_id": method.id, "brand": method.brand,
               "last4": method.last4},
    )  # fmt: skip
    return method


def list_cards(query: q.ListCards, uow: UnitOfWork, deps: Deps) -> list[PaymentMethod]:
    """The account's cards, oldest first."""
    return uow.payment_methods.of_account(account_of(uow, query.account_id).id)


def default_card(query: q.DefaultCard, uow: UnitOfWork, deps: Deps) -> PaymentMethod | None:
    """The card the account is charged on, if any."""
    return uow.payment_methods.default_of(query.account_id)


def remove_card(cmd: c.RemoveCard, uow: UnitOfWork, deps: Deps) -> CardRemoved:
    """Remove one of the caller's cards; if it was the default, the newest card left takes its
    place."""
    check_id("payment method", cmd.method_id)
    uow.accounts.lock(cmd.account_id)
    account = account_of(uow, cmd.account_id)
    saved = uow.payment_methods.of_account(account.id)
    removed = rules.own(saved, cmd.method_id)
    heir = rules.successor(saved, removed)
    uow.payment_methods.remove(removed.id)
    if heir is not None:
        uow.payment_methods.set_default(account.id, heir.id)
    _audit_card(uow, deps, "card.removed", removed)
    left = tuple(uow.payment_methods.of_account(account.id))
    return CardRemoved(None if heir is None else _as_default(heir), left)


def make_default_card(cmd: c.MakeDefaultCard, uow: UnitOfWork, deps: Deps) -> PaymentMethod:
    """Charge the caller on this card from now on."""
    check_id("payment method", cmd.method_id)
    uow.accounts.lock(cmd.account_id)
    account = account_of(uow, cmd.account_id)
    chosen = rules.own(uow.payment_methods.of_account(account.id), cmd.method_id)
    uow.payment_methods.set_default(account.id, chosen.id)
    _audit_card(uow, deps, "card.made_default", chosen)
    return _as_default(chosen)


def _audit_card(uow: UnitOfWork, deps: Deps, action: str, card: PaymentMethod) -> None:
    """A card change, named as a person knows the card (never its token)."""
    detail = {"brand": card.brand, "last4": card.last4, "gateway": card.gateway}
    audit.record(uow, deps, action, card.id, by=card.account_id, detail=detail)


def _as_default(method: PaymentMethod) -> PaymentMethod:
    return replace(method, is_default=True)
