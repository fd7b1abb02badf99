"""Exact money: a Decimal amount with an active ISO 4217 currency, never a float.

Amounts are written as strings (``"12.50"``), kept as :class:`~decimal.Decimal` in the rules and
stored as integer minor units (cents) in the database. An amount with more decimal places than
its currency has is refused rather than rounded, so nothing is lost silently.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from functools import total_ordering

from commex.domain.currencies import EXPONENTS, ISO_4217
from commex.domain.errors import InvalidInput

_EXPONENTS = EXPONENTS
_CURRENCY = re.compile(r"^[A-Za-z]{3}$")
_DECIMAL = re.compile(r"^-?\d{1,40}(\.\d{1,40})?$")  # well formed, whatever its size
MAX_MINOR = 10**15


def currency_exponent(currency: str) -> int:
    """The number of decimal places of ``currency`` (ISO 4217's minor-unit digits)."""
    return _EXPONENTS.get(currency, 2)


def max_amount(currency: str) -> Decimal:
    """The largest amount of ``currency`` the exchange holds (just under 10**15 minor units)."""
    return Decimal(MAX_MINOR - 1).scaleb(-currency_exponent(currency))


def check_currency(currency: object, field: str = "currency") -> str:
    """Return ``currency`` if it is an active ISO 4217 code (:data:`ISO_4217`), in capitals;
    else raise InvalidInput on ``field``."""
    if not isinstance(currency, str) or not _CURRENCY.match(currency):
        raise InvalidInput(
            f"{field} must be a three-letter ISO 4217 code such as 'EUR'", field=field
        )
    if currency not in ISO_4217:
        if currency.upper() in ISO_4217:
            raise InvalidInput(
                f"{field} must be written in capitals: '{currency.upper()}', not '{currency}'",
                field=field,
            )
        raise InvalidInput(
            f"{field} '{currency}' is not an active ISO 4217 currency code (such as 'EUR')",
            field=field,
        )
    return currency


@total_ordering
@dataclass(frozen=True, slots=True)
class Money:
    """An exact amount of one currency. Arithmetic across currencies is refused."""

    amount: Decimal
    currency: str

    def __post_init__(self) -> None:
        check_currency(self.currency)
        if not isinstance(self.amount, Decimal) or not self.amount.is_finite():
            raise InvalidInput("amount must be a finite decimal", field="amount")
        exp = currency_exponent(self.currency)
        if abs(self.amount) >= Decimal(MAX_MINOR).scaleb(-exp):
            raise InvalidInput("amount is too large", field="amount")
        if self.amount != self.amount.quantize(Decimal(1).scaleb(-exp)):
            raise InvalidInput(
                f"{self.amount} has more than {exp} decimal places for {self.currency}",
                field="amount",
            )

    @classmethod
    def parse(cls, text: object, currency: str, *, field: str = "amount") -> Money:
        """Parse a wire amount such as ``"12.50"``; floats and malformed strings are refused."""
        if isinstance(text, bool) or not isinstance(text, str | int | Decimal):
            raise InvalidInput(
                f'{field} must be a decimal string such as "12.50", not {text!r}', field=field
            )
        raw = str(text).strip()
        if not _DECIMAL.match(raw):
            raise InvalidInput(
                f'{field} must be a decimal string such as "12.50", not {text!r}', field=field
            )
        check_currency(currency)
        value = Decimal(raw)
        limit = max_amount(currency)
        if abs(value) > limit:
            raise InvalidInput(f"{field} must be at most {limit} {currency}", field=field)
        quantum = Decimal(1).scaleb(-currency_exponent(currency))
        if value != value.quantize(quantum):
            raise InvalidInput(
                f"{field} {raw} has more than {currency_exponent(currency)} decimal places "
                f"for {currency}",
                field=field,
            )
        # Every check __post_init__ makes was made above (a well-formed, hence finite,
        # amount within the currency's bounds and places): made directly, not checked twice.
        money = object.__new__(cls)
        object.__setattr__(money, "amount", value.quantize(quantum))
        object.__setattr__(money, "currency", currency)
        return money

    @classmethod
    def from_minor(cls, minor: int, currency: str) -> Money:
        """Money from integer minor units (cents), as stored in the database."""
        return cls(Decimal(minor).scaleb(-currency_exponent(currency)), currency)

    @classmethod
    def from_stored(cls, minor: int, currency: str) -> Money:
        """Money from minor units already validated when stored: skips the checks, which
        dominate the cost of loading 100,000 bids to close an auction."""
        money = object.__new__(cls)
        object.__setattr__(money, "amount", Decimal(minor).scaleb(-_EXPONENTS.get(currency, 2)))
        object.__setattr__(money, "currency", currency)
        return money

    @classmethod
    def zero(cls, currency: str) -> Money:
        return cls.from_minor(0, currency)

    def to_minor(self) -> int:
        """The amount in integer minor units (exact)."""
        return int(self.amount.scaleb(currency_exponent(self.currency)))

    def _same(self, other: Money) -> None:
        if self.currency != other.currency:
            raise InvalidInput(
                f"cannot combine {self.currency} with {other.currency}", field="currency"
            )

    def __add__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.amount + other.amount, self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.amount - other.amount, self.currency)

    def __lt__(self, other: Money) -> bool:
        self._same(other)
        return self.amount < other.amount

    def __str__(self) -> str:
        """The wire form: the amount with exactly the currency's decimal places."""
        return f"{self.amount:.{currency_exponent(self.currency)}f}"

    def display(self) -> str:
        """For people: ``12.50 EUR``."""
        return f"{self} {self.currency}"
