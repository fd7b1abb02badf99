"""A9: exact money with a currency, integer minor units, strings on the wire, never floats."""

from decimal import Decimal

import pytest

from commex.domain.errors import InvalidInput
from commex.domain.money import Money, check_currency, currency_exponent


def test_parse_keeps_the_exact_decimal_and_writes_the_wire_form():
    m = Money.parse("12.5", "EUR")
    assert m.amount == Decimal("12.50")
    assert str(m) == "12.50"
    assert m.display() == "12.50 EUR"


def test_sums_are_exact_where_floats_are_not():
    total = Money.parse("0.10", "EUR") + Money.parse("0.20", "EUR")
    assert total == Money.parse("0.30", "EUR")
    assert str(total) == "0.30"
    assert str(Money.parse("1.00", "EUR") - Money.parse("0.01", "EUR")) == "0.99"


@pytest.mark.parametrize(
    ("text", "currency", "minor", "wire"),
    [
        ("12.50", "EUR", 1250, "12.50"),
        ("0.01", "USD", 1, "0.01"),
        ("1500", "JPY", 1500, "1500"),
        ("1.234", "KWD", 1234, "1.234"),
        ("7", "KWD", 7000, "7.000"),
    ],
)
def test_minor_units_round_trip(text, currency, minor, wire):
    m = Money.parse(text, currency)
    assert m.to_minor() == minor
    assert isinstance(m.to_minor(), int)
    back = Money.from_minor(minor, currency)
    assert back == m
    assert str(back) == wire


@pytest.mark.parametrize("value", [12.5, 0.1, float("nan"), True, None, [1], "12,50", "1e3", ""])
def test_parse_refuses_floats_and_non_decimal_text(value):
    with pytest.raises(InvalidInput) as err:
        Money.parse(value, "EUR")
    assert err.value.field == "amount"


def test_parse_names_the_field_it_was_given():
    with pytest.raises(InvalidInput) as err:
        Money.parse(9.99, "EUR", field="max_amount")
    assert err.value.field == "max_amount"
    assert "max_amount" in err.value.message


def test_constructor_refuses_a_float_amount():
    with pytest.raises(InvalidInput) as err:
        Money(12.5, "EUR")  # type: ignore[arg-type]
    assert err.value.field == "amount"


@pytest.mark.parametrize(
    ("text", "currency"),
    [("12.345", "EUR"), ("0.001", "USD"), ("100.5", "JPY"), ("1.2345", "KWD")],
)
def test_too_many_decimal_places_are_refused_not_rounded(text, currency):
    with pytest.raises(InvalidInput) as err:
        Money.parse(text, currency)
    assert err.value.field == "amount"
    assert str(currency_exponent(currency)) in err.value.message
    with pytest.raises(InvalidInput):
        Money(Decimal(text), currency)


def test_currency_exponents_follow_iso_4217():
    assert currency_exponent("EUR") == 2
    assert currency_exponent("JPY") == 0
    assert currency_exponent("KWD") == 3


@pytest.mark.parametrize("currency", ["eur", "EURO", "EU", "", None, 978, "E1R"])
def test_bad_currency_is_refused(currency):
    with pytest.raises(InvalidInput) as err:
        check_currency(currency)
    assert err.value.field == "currency"
    with pytest.raises(InvalidInput) as err:
        Money.parse("1.00", currency)  # type: ignore[arg-type]
    assert err.value.field == "currency"


def test_arithmetic_and_comparison_across_currencies_are_refused():
    eur, usd = Money.parse("1.00", "EUR"), Money.parse("1.00", "USD")
    for op in (lambda: eur + usd, lambda: eur - usd, lambda: eur < usd, lambda: eur >= usd):
        with pytest.raises(InvalidInput) as err:
            op()
        assert err.value.field == "currency"
    assert eur != usd


def test_ordering_within_a_currency():
    a, b = Money.parse("9.99", "EUR"), Money.parse("10.00", "EUR")
    assert a < b
    assert b > a
    assert max(a, b) is b
    assert Money.parse("10", "EUR") == b


def test_amounts_beyond_the_storable_range_are_refused_with_the_field():
    with pytest.raises(InvalidInput) as err:
        Money.parse("99999999999999", "EUR")
    assert err.value.field == "amount"
    big = Money.parse("9000000000000.00", "EUR")
    with pytest.raises(InvalidInput):
        big + big


def test_a_huge_decimal_is_refused_as_invalid_input_not_a_decimal_error():
    # Money(...) is public library API: any bad amount must raise the commex error naming
    # the field, never a raw decimal.InvalidOperation (which an entrypoint maps to a 500).
    with pytest.raises(InvalidInput) as err:
        Money(Decimal("1E+30"), "EUR")
    assert err.value.field == "amount"


def test_zero_and_negative_parse_but_zero_is_zero():
    assert str(Money.zero("EUR")) == "0.00"
    assert str(Money.zero("JPY")) == "0"
    assert Money.parse("-5.00", "EUR").to_minor() == -500


@pytest.mark.parametrize(
    ("code", "says"),
    [
        ("ZZZ", "currency 'ZZZ' is not an active ISO 4217 currency code (such as 'EUR')"),
        ("XXX", "currency 'XXX' is not an active ISO 4217"),
        ("DEM", "currency 'DEM' is not an active ISO 4217"),
        ("eur", "currency must be written in capitals: 'EUR', not 'eur'"),
        ("E1R", "currency must be a three-letter ISO 4217 code such as 'EUR'"),
    ],
)
def test_only_active_iso_4217_codes_are_currencies(code, says):
    with pytest.raises(InvalidInput) as err:
        check_currency(code)
    assert err.value.field == "currency" and err.value.message.startswith(says)


@pytest.mark.parametrize(("code", "places"), [("EUR", 2), ("JPY", 0), ("KWD", 3), ("CHF", 2)])
def test_each_code_has_its_minor_unit_digits(code, places):
    assert check_currency(code) == code
    assert currency_exponent(code) == places


def test_an_amount_too_large_says_the_limit():
    with pytest.raises(InvalidInput) as err:
        Money.parse("9999999999999999.99", "EUR", field="pledge")
    assert (err.value.field, err.value.message) == (
        "pledge", "pledge must be at most 9999999999999.99 EUR",
    )  # fmt: skip
    with pytest.raises(InvalidInput, match="price must be at most 999999999999999 JPY"):
        Money.parse("1000000000000000", "JPY", field="price")
    assert str(Money.parse("9999999999999.99", "EUR")) == "9999999999999.99"
