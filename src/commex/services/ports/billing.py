"""Charges with their payouts, saved cards, and the payment gateway."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Protocol

from commex.domain.billing import GatewayCharge, GatewayRefund, StoredCard
from commex.domain.charges import Charge, Payout, Refund
from commex.domain.contracts import Contract
from commex.domain.errors import Conflict
from commex.domain.money import Money
from commex.domain.payment_methods import PaymentMethod


def charged_already(charge: Charge) -> Conflict:
    """How every charge repository refuses a second charge of one payer for one contract."""
    return Conflict(f"contract {charge.contract_id} is charged to {charge.payer_id} already")


class ChargeRepository(Protocol):
    def add_many(self, charges: Sequence[Charge]) -> None:
        """Store new charges; a second charge of one payer for one contract raises Conflict."""
        ...

    def get(self, charge_id: str) -> Charge | None: ...

    def swap(self, old: Charge, new: Charge) -> bool:
        """Write ``new`` only if the stored charge is still ``old`` (same version): an atomic
        conditional update; False when another writer got there first."""
        ...

    def for_contract(self, contract_id: str) -> list[Charge]:
        """The contract's charges, oldest first."""
        ...

    def of_payer(self, payer_id: str, limit: int) -> list[Charge]:
        """The payer's charges, newest first."""
        ...

    def uncharged_contracts(self, limit: int) -> list[Contract]:
        """Awarded or active contracts won in an auction that have no charges yet, oldest
        first (a subcontract is charged when it closes, for its packets)."""
        ...

    def due(self, now: datetime, limit: int) -> list[str]:
        """Ids of pending charges an attempt is due for: their retry time has come, their
        claim has lapsed, or their payer's default card is not the one their last attempt
        tried (``last_card_id``: a card saved or made the default since)."""
        ...

    def add_payout(self, payout: Payout) -> None: ...

    def payouts_for_contract(self, contract_id: str) -> list[Payout]:
        """The payouts of the contract's charges, oldest first."""
        ...

    def settled_count(self, account_id: str) -> int:
        """How many charges succeeded with the account as their payer or their provider."""
        ...

    def settled_counts(self, account_ids: Collection[str]) -> dict[str, int]:
        """:meth:`settled_count` of each account (those with none may be left out)."""
        ...

    def add_refund(self, refund: Refund) -> None:
        """Record a refund before the gateway is asked (its ``gateway_refund_id`` None)."""
        ...

    def complete_refund(self, refund_id: str, gateway_refund_id: str) -> None: ...

    def drop_refund(self, refund_id: str) -> None:
        """Forget a refund the gateway refused."""
        ...

    def refunds_of(self, charge_ids: Sequence[str]) -> list[Refund]:
        """The refunds of these charges, oldest first."""
        ...


class PaymentMethodRepository(Protocol):
    """Recipients' saved cards (tokens, never numbers)."""

    def add(self, method: PaymentMethod) -> None: ...

    def get(self, method_id: str) -> PaymentMethod | None: ...

    def of_account(self, account_id: str) -> list[PaymentMethod]:
        """The account's cards, oldest first."""
        ...

    def default_of(self, account_id: str) -> PaymentMethod | None:
        """The card the account is charged on, if it has one."""
        ...

    def remove(self, method_id: str) -> None: ...

    def set_default(self, account_id: str, method_id: str | None) -> None:
        """Make ``method_id`` the account's only default card (None: no default)."""
        ...


class PaymentGateway(Protocol):
    """A card processor (B1, B2): the built-in test gateway or a Stripe-compatible one.

    Declines and gateway errors are results (:class:`GatewayCharge`), not exceptions; an unknown
    token or charge id raises NotFound, a bad card at tokenization InvalidInput. A call repeated
    with the same idempotency key returns the first answer and never charges twice; the same key
    with a different request raises Conflict.
    """

    name: str  # "test" or "stripe"

    def tokenize(self, number: str, exp_month: int, exp_year: int, cvc: str) -> StoredCard:
        """Hand the card to the processor and return its token; the number goes no further."""
        ...

    def authorize(
        self, card_token: str, amount: Money, idempotency_key: str, description: str
    ) -> GatewayCharge:
        """Reserve ``amount`` on the card, to be captured later."""
        ...

    def capture(self, charge_id: str, idempotency_key: str) -> GatewayCharge:
        """Take the money an authorization reserved."""
        ...

    def refund(self, charge_id: str, amount: Money, idempotency_key: str) -> GatewayRefund:
        """Give back ``amount`` (at most what was captured and not yet refunded)."""
        ...
