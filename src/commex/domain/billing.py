"""Card payments and the split of a price (B1, B2, G2): the rules, with no gateway and no clock.

A card number is checked here (digits, length, Luhn check digit, brand, expiry, CVC) before it is
handed to a payment gateway, which returns the only card data commex ever stores: a
:class:`StoredCard` (token, brand, last four digits, expiry). Error messages name the field and
say what is expected; they never repeat what was typed in any card field (a number pasted into
the expiry is still a card number).

:func:`split_price` divides a group's price among its payers exactly to the minor unit of the
currency, within their pledges, by a rule every member is shown (:func:`describe`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from fractions import Fraction
from types import MappingProxyType

from commex.domain.errors import Conflict, InvalidInput
from commex.domain.money import Money
from commex.domain.time import require_utc

MIN_DIGITS = 12
MAX_DIGITS = 19
MAX_NUMBER_INPUT = 40  # digits plus the spaces and dashes people type between groups
MAX_YEARS_AHEAD = 20


class ChargeOutcome(StrEnum):
    """What a gateway answered to a charge: a result, never an exception."""

    SUCCEEDED = "succeeded"
    DECLINED = "declined"  # the card's issuer refused; retrying the same card will not help
    FAILED = "failed"  # the gateway or the network failed; retryable


@dataclass(frozen=True, slots=True)
class StoredCard:
    """What a gateway's tokenization returns; the only card data ever stored."""

    token: str
    brand: str
    last4: str
    exp_month: int
    exp_year: int


@dataclass(frozen=True, slots=True)
class GatewayCharge:
    """A gateway's answer to an authorization or a capture."""

    outcome: ChargeOutcome
    charge_id: str | None
    code: str | None
    message: str


@dataclass(frozen=True, slots=True)
class GatewayRefund:
    """A refund the gateway accepted."""

    refund_id: str
    amount: Money


# -- cards -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CardInput:
    """A card that passed the rules, on its way to a gateway's tokenization (never stored).

    The number and CVC are left out of ``repr`` so that a log line or a traceback cannot show
    them.
    """

    number: str = field(repr=False)
    exp_month: int
    exp_year: int
    cvc: str = field(repr=False)
    brand: str

    @property
    def last4(self) -> str:
        return self.number[-4:]


def luhn_ok(digits: str) -> bool:
    """Whether the last digit of ``digits`` is the Luhn check digit of the others."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def card_brand(digits: str) -> str:
    """The card network by its number's prefix (IIN ranges): visa, mastercard, amex,
    discover, or ``unknown``."""
    two, four, six = int(digits[:2]), int(digits[:4]), int(digits[:6])
    if digits[0] == "4":
        return "visa"
    if 51 <= two <= 55 or 2221 <= four <= 2720:
        return "mastercard"
    if two in (34, 37):
        return "amex"
    if four == 6011 or two == 65 or 644 <= int(digits[:3]) <= 649 or 622126 <= six <= 622925:
        return "discover"
    return "unknown"


def parse_card_number(number: object) -> str:
    """The digits of a card number as typed (spaces and dashes allowed between digits).

    Raises :class:`InvalidInput` on ``card.number`` that never repeats the number.
    """
    if not isinstance(number, str):
        raise InvalidInput("card.number must be a string of digits", field="card.number")
    if len(number) > MAX_NUMBER_INPUT:
        raise InvalidInput(
            f"card.number must be at most {MAX_NUMBER_INPUT} characters", field="card.number"
        )
    digits = number.replace(" ", "").replace("-", "")
    if not digits:
        raise InvalidInput("card.number is required", field="card.number")
    if not digits.isascii() or not digits.isdigit():
        raise InvalidInput(
            "card.number may contain only digits, spaces and dashes", field="card.number"
        )
    if not MIN_DIGITS <= len(digits) <= MAX_DIGITS:
        raise InvalidInput(
            f"card.number must have {MIN_DIGITS} to {MAX_DIGITS} digits, not {len(digits)}",
            field="card.number",
        )
    if digits[0] == "0":  # no card network's numbers start with 0
        raise InvalidInput("card.number cannot start with 0: no card's does", field="card.number")
    if len(set(digits)) == 1:
        raise InvalidInput("card.number cannot be one digit repeated", field="card.number")
    if not luhn_ok(digits):
        raise InvalidInput("card.number has a wrong check digit", field="card.number")
    return digits


def _small_int(value: object, name: str, max_digits: int) -> int:
    """An integer from JSON (int) or a form (a string of digits)."""
    if isinstance(value, bool):
        raise InvalidInput(f"{name} must be a whole number", field=name)
    if isinstance(value, int):
        return value
    if isinstance(value, str) and 0 < len(value.strip()) <= max_digits:
        text = value.strip()
        if text.isascii() and text.isdigit():
            return int(text)
    raise InvalidInput(f"{name} must be a whole number", field=name)


def check_expiry(exp_month: object, exp_year: object, now: datetime) -> tuple[int, int]:
    """(month, year) of a card that has not expired at ``now``: a card is good through the
    last day of its expiry month. Messages say what is expected, never the value given."""
    now = require_utc(now, "now")
    month = _small_int(exp_month, "card.exp_month", 2)
    year = _small_int(exp_year, "card.exp_year", 4)
    if not 1 <= month <= 12:
        raise InvalidInput("card.exp_month must be from 1 to 12", field="card.exp_month")
    if not now.year <= year <= now.year + MAX_YEARS_AHEAD:
        if year < now.year:
            message = f"card.exp_year is before {now.year}: the card has expired"
        else:
            message = (
                f"card.exp_year must be a four-digit year from {now.year} "
                f"to {now.year + MAX_YEARS_AHEAD}"
            )
        raise InvalidInput(message, field="card.exp_year")
    if (year, month) < (now.year, now.month):
        raise InvalidInput(
            f"the card has expired: its expiry month is before {now.year}-{now.month:02d}",
            field="card.exp_month",
        )
    return month, year


def check_cvc(cvc: object) -> str:
    """The card's security code: 3 or 4 digits, as a string (a leading zero matters)."""
    if not isinstance(cvc, str) or not cvc.isascii() or not cvc.isdigit() or len(cvc) not in (3, 4):
        raise InvalidInput("card.cvc must be 3 or 4 digits", field="card.cvc")
    return cvc


def validate_card(
    number: object, exp_month: object, exp_year: object, cvc: object, now: datetime
) -> CardInput:
    """Every card rule at once, in the order a person reads the form."""
    digits = parse_card_number(number)
    month, year = check_expiry(exp_month, exp_year, now)
    return CardInput(digits, month, year, check_cvc(cvc), card_brand(digits))


@dataclass(frozen=True, slots=True)
class TestCard:
    """A documented test card number and what the built-in test gateway answers for it."""

    __test__ = False  # not a pytest test class

    number: str
    brand: str
    outcome: ChargeOutcome
    code: str | None
    message: str


_APPROVED = "The charge was approved."
_CARDS = (
    TestCard("4242424242424242", "visa", ChargeOutcome.SUCCEEDED, None, _APPROVED),
    TestCard("5555555555554444", "mastercard", ChargeOutcome.SUCCEEDED, None, _APPROVED),
    TestCard("378282246310005", "amex", ChargeOutcome.SUCCEEDED, None, _APPROVED),
    TestCard("6011111111111117", "discover", ChargeOutcome.SUCCEEDED, None, _APPROVED),
    TestCard(
        "4000000000000002",
        "visa",
        ChargeOutcome.DECLINED,
        "card_declined",
        "Your card was declined.",
    ),
    TestCard(  # saved without complaint, declined at every charge
        "4000000000000341",
        "visa",
        ChargeOutcome.DECLINED,
        "card_declined",
        "Your card was declined.",
    ),
    TestCard(
        "4000000000009995",
        "visa",
        ChargeOutcome.DECLINED,
        "insufficient_funds",
        "Your card has insufficient funds.",
    ),
    TestCard(
        "4000000000000119",
        "visa",
        ChargeOutcome.FAILED,
        "processing_error",
        "An error occurred while processing your card. Try again in a little bit.",
    ),
)
TEST_CARDS: Mapping[str, TestCard] = MappingProxyType({c.number: c for c in _CARDS})
"""The test cards (Stripe's standard numbers), by their digits; any other valid number is
approved by the test gateway."""


# -- the split of a price ------------------------------------------------------------------------


class SplitRule(StrEnum):
    """How a group's price is divided among its payers (G2)."""

    PROPORTIONAL = "proportional"
    EQUAL = "equal"


_ROUNDING = (
    "Each share is computed exactly, rounded down to the currency's smallest unit (the cent), "
    "and the cents left over go one at a time to the payers whose shares were rounded down the "
    "most, the earlier-joined payer first on a tie, never above anyone's pledge; the shares "
    "always add up to the price exactly."
)
_RULES = {
    SplitRule.PROPORTIONAL: "The price is shared among the payers in proportion to their pledges.",
    SplitRule.EQUAL: (
        "The price is shared equally among the payers; a payer whose pledge is less than an "
        "equal share pays its whole pledge and the rest is shared equally by the others."
    ),
}


def describe(rule: SplitRule) -> str:
    """The rule in one paragraph for every member of the group to read."""
    return f"{_RULES[rule]} {_ROUNDING}"


def split_price(
    price: Money, pledges: Sequence[tuple[str, Money]], rule: SplitRule
) -> dict[str, Money]:
    """Each payer's share of ``price``, by payer id, in the order given (the joining order).

    Exact shares are computed with fractions of a minor unit, rounded down, and the remaining
    minor units are handed out one at a time by largest remainder, ties to the earlier payer,
    never above a pledge. The shares sum to the price exactly and none exceeds its pledge.
    Refused: no payers, a payer twice, a negative amount, a currency that differs, and pledges
    that add up to less than the price (:class:`Conflict`, with the numbers).
    """
    if not pledges:
        raise InvalidInput("a price is split among at least one payer", field="pledges")
    ids = [payer for payer, _ in pledges]
    if len(set(ids)) != len(ids):
        raise InvalidInput("each payer may pledge only once", field="pledges")
    if price.amount < 0:
        raise InvalidInput(f"price must not be negative, not {price}", field="price")
    for payer, pledge in pledges:
        if pledge.currency != price.currency:
            raise InvalidInput(
                f"pledge of {payer} is in {pledge.currency}, the price in {price.currency}",
                field="pledges",
            )
        if pledge.amount < 0:
            raise InvalidInput(f"pledge of {payer} is negative ({pledge})", field="pledges")
    total = sum((p.to_minor() for _, p in pledges), 0)
    target = price.to_minor()
    if total < target:
        pledged = Money.from_minor(total, price.currency)
        raise Conflict(
            f"the payers pledged {pledged.display()} in all, less than the price "
            f"{price.display()} (short by {(price - pledged).display()})",
            field="pledges",
        )
    caps = [p.to_minor() for _, p in pledges]
    exact = _proportional(target, caps) if rule is SplitRule.PROPORTIONAL else _equal(target, caps)
    shares = _round(target, exact, caps)
    return {
        payer: Money.from_minor(share, price.currency)
        for payer, share in zip(ids, shares, strict=True)
    }


def _proportional(target: int, caps: list[int]) -> list[Fraction]:
    total = sum(caps)
    if total == 0:  # then the price is zero too
        return [Fraction(0)] * len(caps)
    return [Fraction(target * cap, total) for cap in caps]


def _equal(target: int, caps: list[int]) -> list[Fraction]:
    """Equal shares, each capped at its pledge, the excess spread over the others until it fits
    (water-filling: the smallest pledges are capped first)."""
    exact: list[Fraction | None] = [None] * len(caps)
    remaining = Fraction(target)
    open_payers = sorted(range(len(caps)), key=lambda i: caps[i])
    while open_payers:
        level = remaining / len(open_payers)
        smallest = open_payers[0]
        if caps[smallest] >= level:
            for i in open_payers:
                exact[i] = level
            break
        exact[smallest] = Fraction(caps[smallest])
        remaining -= caps[smallest]
        open_payers.pop(0)
    return [Fraction(0) if share is None else share for share in exact]


def _round(target: int, exact: list[Fraction], caps: list[int]) -> list[int]:
    """Round down, then hand out the leftover minor units by largest remainder."""
    shares = [int(share) for share in exact]  # floor: every share is non-negative
    left = target - sum(shares)
    order = sorted(range(len(exact)), key=lambda i: (-(exact[i] - shares[i]), i))
    for i in order:
        if left == 0:
            break
        if shares[i] < caps[i]:
            shares[i] += 1
            left -= 1
    if left:  # unreachable when the pledges cover the price; kept as a guard on the invariant
        raise AssertionError("split_price could not place every minor unit")
    return shares
