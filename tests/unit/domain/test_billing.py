"""B1, G2: card rules (Luhn, brand, expiry, CVC) and the exact split of a group's price."""

from datetime import UTC, datetime
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from commex.domain.billing import (
    TEST_CARDS,
    CardInput,
    ChargeOutcome,
    SplitRule,
    card_brand,
    check_cvc,
    check_expiry,
    describe,
    luhn_ok,
    parse_card_number,
    split_price,
    validate_card,
)
from commex.domain.errors import Conflict, InvalidInput
from commex.domain.money import Money

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def eur(text: str) -> Money:
    return Money.parse(text, "EUR")


# -- cards ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("number", "brand"),
    [
        ("4242424242424242", "visa"),
        ("4000 0566 5566 5556", "visa"),
        ("5555-5555-5555-4444", "mastercard"),
        ("2223003122003222", "mastercard"),
        ("5200828282828210", "mastercard"),
        ("378282246310005", "amex"),
        ("371449635398431", "amex"),
        ("6011111111111117", "discover"),
        ("6011000990139424", "discover"),
        ("6445644564456445", "discover"),
        ("3056930009020004", "unknown"),  # Diners Club
        ("3566002020360505", "unknown"),  # JCB
    ],
)
def test_valid_numbers_are_accepted_with_their_brand(number, brand):
    digits = parse_card_number(number)
    assert digits == number.replace(" ", "").replace("-", "")
    assert card_brand(digits) == brand


@pytest.mark.parametrize(
    ("digits", "ok"),
    [
        ("4242424242424242", True),
        ("4242424242424241", False),
        ("79927398713", True),
        ("79927398710", False),
        ("000000000000", True),
    ],
)
def test_luhn_check_digit(digits, ok):
    assert luhn_ok(digits) is ok


@pytest.mark.parametrize(
    ("number", "says"),
    [
        ("4242424242424241", "card.number has a wrong check digit"),
        ("4242 4242 4241", "card.number has a wrong check digit"),
        ("0000 0000 0000 0000", "card.number cannot start with 0"),
        ("0424 2424 2424 2428", "cannot start with 0"),
        ("8888 8888 8888 8888", "card.number cannot be one digit repeated"),
        ("42424242424", "card.number must have 12 to 19 digits, not 11"),
        ("42424242424242424242", "card.number must have 12 to 19 digits, not 20"),
        ("", "card.number is required"),
        (" - ", "card.number is required"),
        ("4242.4242.4242.4242", "card.number may contain only digits, spaces and dashes"),
        ("4242\uff14\uff12\uff14\uff1242424242", "may contain only digits, spaces and dashes"),
        ("4" * 41, "card.number must be at most 40 characters"),
        (4242424242424242, "card.number must be a string of digits"),
        (None, "card.number must be a string of digits"),
    ],
)
def test_bad_numbers_are_refused_naming_the_field_and_never_the_number(number, says):
    with pytest.raises(InvalidInput) as err:
        parse_card_number(number)
    assert err.value.field == "card.number"
    assert says in err.value.message
    digits = "".join(ch for ch in str(number) if ch.isascii() and ch.isdigit())
    if len(digits) > 4:
        assert digits[:6] not in err.value.message  # not even the issuer prefix


def test_a_valid_twelve_digit_number_is_accepted():
    assert parse_card_number("4242 4242 4242") == "424242424242"


@given(st.text(alphabet="0123456789 -x", max_size=45))
def test_no_error_ever_contains_more_than_the_last_four_digits(text):
    try:
        validate_card(text, 12, 2030, "123", NOW)
    except InvalidInput as exc:
        digits = "".join(ch for ch in text if ch.isdigit())
        for start in range(len(digits) - 4):
            assert digits[start : start + 5] not in exc.message.replace(" ", "")


def test_card_input_never_shows_its_number_or_cvc_in_repr():
    card = validate_card("4242 4242 4242 4242", 12, 2030, "314", NOW)
    assert card == CardInput("4242424242424242", 12, 2030, "314", "visa")
    assert card.last4 == "4242"
    assert "4242424242424242" not in repr(card)
    assert "314" not in repr(card)


@pytest.mark.parametrize(
    ("month", "year"),
    [(11, 2026), (12, 2026), (1, 2027), ("07", "2031"), (12, 2046)],
)
def test_expiry_is_good_through_the_end_of_its_month(month, year):
    assert check_expiry(month, year, NOW) == (int(month), int(year))


@pytest.mark.parametrize(
    ("month", "year", "field", "says"),
    [
        (10, 2026, "card.exp_month", "the card has expired: its expiry month is before 2026-11"),
        (12, 2025, "card.exp_year", "card.exp_year is before 2026: the card has expired"),
        (0, 2030, "card.exp_month", "card.exp_month must be from 1 to 12"),
        (13, 2030, "card.exp_month", "card.exp_month must be from 1 to 12"),
        (12, 2047, "card.exp_year", "must be a four-digit year from 2026 to 2046"),
        (12, 30, "card.exp_year", "card.exp_year is before 2026"),
        (True, 2030, "card.exp_month", "whole number"),
        (12.0, 2030, "card.exp_month", "whole number"),
        ("1x", 2030, "card.exp_month", "whole number"),
        (12, "20300", "card.exp_year", "whole number"),
        (12, None, "card.exp_year", "whole number"),
    ],
)
def test_bad_expiry_is_refused_naming_the_field(month, year, field, says):
    with pytest.raises(InvalidInput) as err:
        check_expiry(month, year, NOW)
    assert err.value.field == field
    assert says in err.value.message


@pytest.mark.parametrize(
    ("month", "year", "field"),
    [
        (4242424242424242, 2030, "card.exp_month"),
        (12, 4242424242424242, "card.exp_year"),
        (12, 4242, "card.exp_year"),
        (1999, 2030, "card.exp_month"),
        (12, 1999, "card.exp_year"),
        ("42", 2030, "card.exp_month"),
    ],
)
def test_expiry_errors_never_repeat_what_was_given(month, year, field):
    """A card number pasted into the expiry must not come back in the error."""
    with pytest.raises(InvalidInput) as err:
        check_expiry(month, year, NOW)
    assert err.value.field == field
    assert str(month if field == "card.exp_month" else year) not in err.value.message


def test_expiry_needs_an_aware_now():
    with pytest.raises(InvalidInput):
        check_expiry(12, 2030, datetime(2026, 11, 23))


@pytest.mark.parametrize("cvc", ["123", "0123", "000"])
def test_cvc_of_three_or_four_digits_keeps_its_leading_zero(cvc):
    assert check_cvc(cvc) == cvc


@pytest.mark.parametrize("cvc", ["12", "12345", "12a", 123, None, "\uff11\uff12\uff13", ""])
def test_bad_cvc_is_refused(cvc):
    with pytest.raises(InvalidInput) as err:
        check_cvc(cvc)
    assert err.value.field == "card.cvc"
    assert err.value.message == "card.cvc must be 3 or 4 digits"


def test_validate_card_checks_fields_in_form_order():
    with pytest.raises(InvalidInput) as err:
        validate_card("4242424242424241", 13, 2020, "1", NOW)
    assert err.value.field == "card.number"
    with pytest.raises(InvalidInput) as err:
        validate_card("4242424242424242", 13, 2030, "1", NOW)
    assert err.value.field == "card.exp_month"
    with pytest.raises(InvalidInput) as err:
        validate_card("4242424242424242", 12, 2030, "1", NOW)
    assert err.value.field == "card.cvc"


def test_the_documented_test_cards():
    outcomes = {number: (c.outcome, c.code) for number, c in TEST_CARDS.items()}
    assert outcomes["4242424242424242"] == (ChargeOutcome.SUCCEEDED, None)
    assert outcomes["5555555555554444"] == (ChargeOutcome.SUCCEEDED, None)
    assert outcomes["4000000000000002"] == (ChargeOutcome.DECLINED, "card_declined")
    assert outcomes["4000000000009995"] == (ChargeOutcome.DECLINED, "insufficient_funds")
    assert outcomes["4000000000000119"] == (ChargeOutcome.FAILED, "processing_error")
    for number, card in TEST_CARDS.items():
        assert parse_card_number(number) == number == card.number
        assert card_brand(number) == card.brand
        assert card.message


# -- split ---------------------------------------------------------------------------------------


def shares(result: dict[str, Money]) -> dict[str, str]:
    return {payer: str(share) for payer, share in result.items()}


def test_one_hundred_split_three_ways_gives_the_extra_cent_to_the_earliest_payer():
    pledges = [("a", eur("50.00")), ("b", eur("50.00")), ("c", eur("50.00"))]
    for rule in SplitRule:
        assert shares(split_price(eur("100.00"), pledges, rule)) == {
            "a": "33.34",
            "b": "33.33",
            "c": "33.33",
        }


def test_proportional_shares_follow_the_pledges_and_the_largest_remainder_gets_the_cent():
    pledges = [("a", eur("10.00")), ("b", eur("20.00")), ("c", eur("70.00"))]
    # exact: 3.333.., 6.666.., 23.333..: floors 3.33, 6.66, 23.33 leave 0.01 for b (.666 > .333)
    assert shares(split_price(eur("33.33"), pledges, SplitRule.PROPORTIONAL)) == {
        "a": "3.33",
        "b": "6.67",
        "c": "23.33",
    }


def test_equal_split_caps_a_small_pledge_and_spreads_the_excess_until_it_fits():
    pledges = [("a", eur("10.00")), ("b", eur("25.00")), ("c", eur("100.00"))]
    # equal would be 30 each; a pays its 10; 50 each for b and c; b pays its 25; c pays 65
    assert shares(split_price(eur("100.00"), pledges, SplitRule.EQUAL)) == {
        "a": "10.00",
        "b": "25.00",
        "c": "65.00",
    }


def test_zero_decimal_currencies_split_in_whole_units():
    pledges = [("a", Money.parse("1000", "JPY")), ("b", Money.parse("1000", "JPY"))]
    pledges.append(("c", Money.parse("1000", "JPY")))
    result = split_price(Money.parse("1000", "JPY"), pledges, SplitRule.EQUAL)
    assert shares(result) == {"a": "334", "b": "333", "c": "333"}


def test_three_decimal_currencies_split_to_the_fils():
    pledges = [("a", Money.parse("1", "KWD")), ("b", Money.parse("2", "KWD"))]
    result = split_price(Money.parse("1.000", "KWD"), pledges, SplitRule.PROPORTIONAL)
    assert shares(result) == {"a": "0.333", "b": "0.667"}


def test_pledges_short_of_the_price_are_refused_with_the_numbers():
    with pytest.raises(Conflict) as err:
        split_price(eur("100.00"), [("a", eur("40.00")), ("b", eur("50.00"))], SplitRule.EQUAL)
    assert err.value.message == (
        "the payers pledged 90.00 EUR in all, less than the price 100.00 EUR (short by 10.00 EUR)"
    )


@pytest.mark.parametrize(
    ("price", "pledges", "says"),
    [
        (eur("1.00"), [], "at least one payer"),
        (eur("1.00"), [("a", eur("1")), ("a", eur("1"))], "only once"),
        (eur("1.00"), [("a", Money.parse("5", "USD"))], "pledge of a is in USD, the price in EUR"),
        (eur("-1.00"), [("a", eur("5"))], "price must not be negative"),
        (eur("1.00"), [("a", eur("5")), ("b", eur("-1"))], "pledge of b is negative"),
    ],
)
def test_bad_splits_are_refused(price, pledges, says):
    with pytest.raises(InvalidInput) as err:
        split_price(price, pledges, SplitRule.PROPORTIONAL)
    assert says in err.value.message


def test_the_rule_is_described_for_members_with_its_rounding():
    for rule in SplitRule:
        text = describe(rule)
        assert "rounded down" in text
        assert "earlier-joined payer first on a tie" in text
        assert "never above anyone's pledge" in text
    assert "in proportion to their pledges" in describe(SplitRule.PROPORTIONAL)
    assert "equally" in describe(SplitRule.EQUAL)


_currency = st.sampled_from(["EUR", "JPY", "KWD"])


@st.composite
def _split_case(draw):
    currency = draw(_currency)
    n = draw(st.integers(1, 8))
    caps = draw(st.lists(st.integers(0, 10**7), min_size=n, max_size=n))
    price = draw(st.integers(0, sum(caps)))
    pledges = [(f"p{i}", Money.from_minor(cap, currency)) for i, cap in enumerate(caps)]
    return Money.from_minor(price, currency), pledges


@given(_split_case(), st.sampled_from(SplitRule))
def test_shares_sum_exactly_to_the_price_and_stay_within_pledges(case, rule):
    price, pledges = case
    result = split_price(price, pledges, rule)
    assert list(result) == [payer for payer, _ in pledges]
    assert sum((s.to_minor() for s in result.values()), 0) == price.to_minor()
    for payer, pledge in pledges:
        assert Money.zero(price.currency) <= result[payer] <= pledge


@given(_split_case())
def test_proportional_shares_are_within_one_minor_unit_of_exact(case):
    price, pledges = case
    result = split_price(price, pledges, SplitRule.PROPORTIONAL)
    total = sum(p.to_minor() for _, p in pledges)
    for payer, pledge in pledges:
        exact = Fraction(price.to_minor() * pledge.to_minor(), total) if total else Fraction(0)
        assert abs(result[payer].to_minor() - exact) < 1


@given(_split_case())
def test_equal_shares_differ_by_at_most_one_unit_among_uncapped_payers(case):
    price, pledges = case
    result = split_price(price, pledges, SplitRule.EQUAL)
    uncapped = [result[p].to_minor() for p, pledge in pledges if result[p] < pledge]
    if uncapped:
        assert max(uncapped) - min(uncapped) <= 1
        # nobody who pays less than its pledge pays less than a capped payer could have spared
        # (give or take the one indivisible unit a payer may get over another)
        capped = [result[p].to_minor() for p, pledge in pledges if result[p] == pledge]
        assert all(c <= max(uncapped) + 1 for c in capped)


@given(st.integers(1, 10**6), st.integers(1, 12))
def test_equal_pledges_split_like_long_division(price_minor, n):
    price = Money.from_minor(price_minor, "EUR")
    pledges = [(f"p{i}", price) for i in range(n)]
    result = split_price(price, pledges, SplitRule.EQUAL)
    base, extra = divmod(price_minor, n)
    assert [s.to_minor() for s in result.values()] == [base + 1] * extra + [base] * (n - extra)
    assert sum((s.amount for s in result.values()), Decimal(0)) == price.amount
