"""A recipient's saved cards (B1): who may keep them, how many, and which one is charged.

Only what a payment gateway's tokenization returns is kept (token, brand, last four digits,
expiry); the card number never reaches this module. The first card saved is the default, and
when the default is removed the most recently saved card that remains takes its place, so an
account with cards always has exactly one default.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from commex.domain.accounts import Account, Role
from commex.domain.billing import StoredCard
from commex.domain.errors import Conflict, Forbidden, NotFound

MAX_CARDS = 5


@dataclass(frozen=True, slots=True)
class PaymentMethod:
    """A saved card: the gateway's token and what a person needs to recognise the card."""

    id: str
    account_id: str
    gateway: str  # the gateway that issued the token ("test", "stripe"): only it can charge it
    token: str
    brand: str
    last4: str
    exp_month: int
    exp_year: int
    is_default: bool
    created_at: datetime

    def label(self) -> str:
        """For people: ``visa ending in 4242, expires 12/2030``."""
        return f"{self.brand} ending in {self.last4}, expires {self.exp_month:02d}/{self.exp_year}"


def check_may_add(account: Account, saved: int) -> None:
    """Refuse before any card data is sent anywhere: only a recipient (for its contracts) or a
    provider (for its subcontracts) pays, with at most :data:`MAX_CARDS` cards."""
    if not (account.has(Role.RECIPIENT) or account.has(Role.PROVIDER)):
        raise Forbidden("only a recipient or a provider account saves payment cards")
    if saved >= MAX_CARDS:
        raise Conflict(
            f"an account keeps at most {MAX_CARDS} cards and this one has {saved}; remove one first"
        )


def new_payment_method(
    method_id: str,
    account: Account,
    gateway: str,
    card: StoredCard,
    saved: Sequence[PaymentMethod],
    now: datetime,
) -> PaymentMethod:
    """The card to store for ``account``; the first one becomes the default."""
    check_may_add(account, len(saved))
    return PaymentMethod(
        id=method_id,
        account_id=account.id,
        gateway=gateway,
        token=card.token,
        brand=card.brand,
        last4=card.last4,
        exp_month=card.exp_month,
        exp_year=card.exp_year,
        is_default=not saved,
        created_at=now,
    )


def own(saved: Sequence[PaymentMethod], method_id: str) -> PaymentMethod:
    """The caller's card ``method_id``; another account's card is not found, as if it did not
    exist."""
    for method in saved:
        if method.id == method_id:
            return method
    raise NotFound(f"payment method {method_id} not found")


def successor(saved: Sequence[PaymentMethod], removed: PaymentMethod) -> PaymentMethod | None:
    """The card that becomes the default when ``removed`` goes: none unless ``removed`` was the
    default, else the most recently saved card that remains."""
    if not removed.is_default:
        return None
    rest = [m for m in saved if m.id != removed.id]
    return max(rest, key=lambda m: (m.created_at, m.id), default=None)
