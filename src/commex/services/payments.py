"""Payment methods (B1): a recipient saves cards through the payment gateway and picks the one
it is charged on.

The card number goes to the gateway and is dropped: only the gateway's token, the brand, the
last four digits and the expiry are stored. The gateway is called outside any transaction, so
no database lock is held across a network call; the account's row lock then serialises saving,
so two cards saved at once still respect the limit and leave one default.
"""

from __future__ import annotations

from dataclasses import replace

from commex.domain import payment_methods as rules
from commex.domain.billing import validate_card
from commex.domain.payment_methods import PaymentMethod
from commex.services.loading import account_of, check_id
from commex.services.ports import Clock, IdGenerator, PaymentGateway, UnitOfWorkFactory


class PaymentMethods:
    """Save, list, remove and choose the default card of a recipient account."""

    def __init__(
        self, uow: UnitOfWorkFactory, clock: Clock, ids: IdGenerator, gateway: PaymentGateway
    ) -> None:
        self._uow = uow
        self._clock = clock
        self._ids = ids
        self._gateway = gateway

    def add(
        self, account_id: str, number: object, exp_month: object, exp_year: object, cvc: object
    ) -> PaymentMethod:
        """Check the caller and the card, tokenize it at the gateway, and store the token."""
        with self._uow(write=False) as uow:
            account = account_of(uow, account_id)
            rules.check_may_add(account, len(uow.payment_methods.of_account(account.id)))
        card = validate_card(number, exp_month, exp_year, cvc, self._clock.now())
        stored = self._gateway.tokenize(card.number, card.exp_month, card.exp_year, card.cvc)
        with self._uow() as uow:
            uow.accounts.lock(account_id)
            account = account_of(uow, account_id)
            saved = uow.payment_methods.of_account(account.id)
            method = rules.new_payment_method(
                self._ids.new("card"), account, self._gateway.name, stored, saved, self._clock.now()
            )
            uow.payment_methods.add(method)
            uow.commit()
        return method

    def of_account(self, account_id: str) -> list[PaymentMethod]:
        """The account's cards, oldest first."""
        with self._uow(write=False) as uow:
            account = account_of(uow, account_id)
            return uow.payment_methods.of_account(account.id)

    def default_of(self, account_id: str) -> PaymentMethod | None:
        """The card the account is charged on, if any (for billing)."""
        with self._uow(write=False) as uow:
            return uow.payment_methods.default_of(account_id)

    def remove(self, account_id: str, method_id: str) -> PaymentMethod | None:
        """Remove one of the caller's cards; returns the card that became the default, if the
        default was removed and another card remains."""
        check_id("payment method", method_id)
        with self._uow() as uow:
            uow.accounts.lock(account_id)
            account = account_of(uow, account_id)
            saved = uow.payment_methods.of_account(account.id)
            removed = rules.own(saved, method_id)
            heir = rules.successor(saved, removed)
            uow.payment_methods.remove(removed.id)
            if heir is not None:
                uow.payment_methods.set_default(account.id, heir.id)
            uow.commit()
        return None if heir is None else _as_default(heir)

    def make_default(self, account_id: str, method_id: str) -> PaymentMethod:
        """Charge the caller on this card from now on."""
        check_id("payment method", method_id)
        with self._uow() as uow:
            uow.accounts.lock(account_id)
            account = account_of(uow, account_id)
            chosen = rules.own(uow.payment_methods.of_account(account.id), method_id)
            uow.payment_methods.set_default(account.id, chosen.id)
            uow.commit()
        return _as_default(chosen)


def _as_default(method: PaymentMethod) -> PaymentMethod:
    return replace(method, is_default=True)
