"""Price, Quantity, Money: construction limits, arithmetic, text, and the raw conversions."""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tradeloop.core import ValueRangeError
from tradeloop.model import (
    FIXED_PRECISION,
    FIXED_SCALAR,
    Money,
    Price,
    Quantity,
    currency_precision,
    fee_raw,
    raw_from_decimal,
    raw_to_decimal,
    round_raw_half_even,
)
from tradeloop.model.objects import MAX_RAW

NON_FINITE = ["nan", "NaN", "-nan", "snan", "inf", "-inf", "Infinity", "-Infinity"]
MALFORMED = ["", "abc", "1.2.3", "1e", "1.5e", "e5", "Infinite", "1,5", "--1"]


# -- rejection ------------------------------------------------------------------------------


@pytest.mark.parametrize("text", NON_FINITE)
@pytest.mark.parametrize("cls", [Price, Quantity])
def test_non_finite_text_is_rejected(cls: type[Price | Quantity], text: str) -> None:
    with pytest.raises(ValueRangeError):
        cls.from_str(text)
    with pytest.raises(ValueRangeError, match="finite"):
        cls.from_decimal(Decimal(text), 2)


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_non_finite_floats_are_rejected_everywhere(value: float) -> None:
    with pytest.raises(ValueRangeError, match="finite"):
        Price.from_decimal(value, 2)
    with pytest.raises(ValueRangeError, match="finite"):
        Quantity.from_decimal(value, 2)
    with pytest.raises(ValueRangeError, match="finite"):
        Money.from_decimal(value, "USD")
    with pytest.raises(ValueRangeError, match="finite"):
        raw_from_decimal(value, 2)


@pytest.mark.parametrize("text", MALFORMED)
@pytest.mark.parametrize("cls", [Price, Quantity])
def test_malformed_text_is_rejected_with_value_range_error(cls: type[Price | Quantity], text: str) -> None:
    with pytest.raises(ValueRangeError):
        cls.from_str(text)


@pytest.mark.parametrize("text", MALFORMED)
def test_malformed_money_text_is_rejected(text: str) -> None:
    with pytest.raises(ValueRangeError):
        Money.from_str(text, "USD")


@pytest.mark.parametrize("text", ["1e400", "-1e400", "9223372037", "1e10", "99999999999.5"])
def test_values_past_the_fixed_point_range_overflow(text: str) -> None:
    with pytest.raises(ValueRangeError, match="overflow"):
        Price.from_str(text)
    with pytest.raises(ValueRangeError, match="overflow"):
        Money.from_decimal(Decimal(text), "USD")


def test_the_largest_representable_whole_value_is_accepted() -> None:
    biggest = (MAX_RAW // FIXED_SCALAR) * FIXED_SCALAR
    assert Price(biggest, 0).raw == biggest
    assert Price(-biggest, 0).raw == -biggest
    with pytest.raises(ValueRangeError, match="overflow"):
        Price(biggest + FIXED_SCALAR, 0)


def test_raw_overflow_is_rejected_even_far_past_the_float_range() -> None:
    with pytest.raises(ValueRangeError, match="overflow"):
        Price(10**400, 0)
    with pytest.raises(ValueRangeError, match="overflow"):
        Quantity(10**400, 0)
    with pytest.raises(ValueRangeError, match="negative"):
        Quantity(-(10**400), 0)


@pytest.mark.parametrize("text", ["-1", "-0.5", "-0.000000001"])
def test_negative_quantity_is_rejected(text: str) -> None:
    with pytest.raises(ValueRangeError, match="negative"):
        Quantity.from_str(text)
    with pytest.raises(ValueRangeError, match="negative"):
        Quantity.from_decimal(Decimal(text), 9)


def test_quantity_subtraction_below_zero_is_rejected() -> None:
    with pytest.raises(ValueRangeError, match="negative"):
        Quantity.from_str("1") - Quantity.from_str("1.5")


@pytest.mark.parametrize(
    ("value", "precision"), [("1.234", 2), ("0.1", 0), ("1.0000000001", 9), (0.1 + 0.2, 9)]
)
def test_more_decimals_than_the_precision_is_rejected(value: str | float, precision: int) -> None:
    with pytest.raises(ValueRangeError, match="decimal places"):
        Price.from_decimal(value, precision)
    with pytest.raises(ValueRangeError, match="decimal places"):
        Quantity.from_decimal(value, precision)


def test_raw_off_the_precision_grid_is_rejected() -> None:
    with pytest.raises(ValueRangeError, match="decimal places"):
        Price(1, 0)
    with pytest.raises(ValueRangeError, match="decimal places"):
        Quantity(5, 8)
    with pytest.raises(ValueRangeError, match="decimal places"):
        Money.from_str("0.0000000001", "USD")


def test_money_keeps_sub_currency_amounts_exact_and_shows_them() -> None:
    # A ledger must not round: a BTC trade quoted in USD moves cash by fractions of a cent.
    assert str(Money(1, "USD")) == "0.000000001 USD"
    assert str(Money.from_str("1.001", "USD")) == "1.001 USD"
    assert str(Money.from_str("0.5", "JPY")) == "0.5 JPY"
    assert str(Money.from_str("2", "USD")) == "2.00 USD"
    assert Money.from_str("1.001", "USD").as_decimal() == Decimal("1.001")


@pytest.mark.parametrize("precision", [-1, 10])
def test_precision_outside_zero_to_nine_is_rejected(precision: int) -> None:
    with pytest.raises(ValueRangeError, match="precision"):
        Price(0, precision)
    with pytest.raises(ValueRangeError, match="precision"):
        Quantity(0, precision)
    with pytest.raises(ValueRangeError, match="precision"):
        raw_from_decimal("1", precision)


def test_unknown_currency_is_rejected() -> None:
    with pytest.raises(ValueRangeError, match="XYZ"):
        Money(0, "XYZ")
    with pytest.raises(ValueRangeError, match="XYZ"):
        currency_precision("XYZ")


# -- construction, text, arithmetic ---------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "raw", "precision", "shown"),
    [
        ("1640.25", 1_640_250_000_000, 2, "1640.25"),
        ("1.50", 1_500_000_000, 2, "1.50"),
        ("0", 0, 0, "0"),
        ("-0.25", -250_000_000, 2, "-0.25"),
        ("0.000000001", 1, 9, "0.000000001"),
        ("1e3", 1_000_000_000_000, 0, "1000"),
        ("2.5E-3", 2_500_000, 4, "0.0025"),
        (" 7.5 ", 7_500_000_000, 1, "7.5"),
    ],
)
def test_price_from_text_infers_precision_and_prints_it_back(
    text: str, raw: int, precision: int, shown: str
) -> None:
    price = Price.from_str(text)
    assert (price.raw, price.precision) == (raw, precision)
    assert str(price) == shown
    assert price.as_decimal() == Decimal(shown)


def test_price_arithmetic_keeps_the_finer_precision() -> None:
    a, b = Price.from_str("100.5"), Price.from_str("0.25")
    assert a + b == Price.from_str("100.75")
    assert a - b == Price.from_str("100.25")
    assert b - a == Price.from_str("-100.25")
    assert -a == Price.from_str("-100.5")
    assert str(a + b) == "100.75"
    assert float(a) == 100.5
    assert a.as_double() == 100.5
    assert b < a
    assert sorted([a, b, -a]) == [-a, b, a]


def test_quantity_arithmetic_truthiness_and_text() -> None:
    a, b = Quantity.from_str("1.5"), Quantity.from_str("0.25")
    assert a + b == Quantity.from_str("1.75")
    assert a - b == Quantity.from_str("1.25")
    assert str(a - a) == "0.0"
    assert not (a - a)
    assert a
    assert Quantity.from_int(3) == Quantity.from_str("3")
    assert str(Quantity.from_int(3)) == "3"
    assert float(b) == 0.25
    assert b.as_double() == 0.25


def test_money_arithmetic_text_and_precision_by_currency() -> None:
    usd = Money.from_str("10.5", "USD")
    assert str(usd) == "10.50 USD"
    assert usd.precision == 2
    assert str(Money.from_str("1500", "JPY")) == "1500 JPY"
    assert str(Money.from_str("0.00000001", "BTC")) == "0.00000001 BTC"
    assert usd + Money.from_str("0.25", "USD") == Money.from_str("10.75", "USD")
    assert usd - Money.from_str("20", "USD") == Money.from_str("-9.50", "USD")
    assert -usd == Money.from_decimal(Decimal("-10.5"), "USD")
    assert Money.zero("EUR").raw == 0
    assert float(usd) == 10.5
    assert usd.as_double() == 10.5
    assert usd.as_decimal() == Decimal("10.50")


def test_money_of_different_currencies_does_not_combine() -> None:
    with pytest.raises(ValueRangeError, match="USD with EUR"):
        Money.from_str("1", "USD") + Money.from_str("1", "EUR")
    with pytest.raises(ValueRangeError, match="USD with EUR"):
        Money.from_str("1", "USD") - Money.from_str("1", "EUR")


def test_money_of_different_currencies_does_not_order() -> None:
    with pytest.raises(ValueRangeError, match="different currencies"):
        _ = Money.from_str("100", "USD") > Money.from_str("1", "JPY")
    assert Money.from_str("1", "USD") != Money.from_str("1", "EUR")
    assert Money.from_str("1.5", "USD") > Money.from_str("1", "USD")


@given(st.integers(-(10**6), 10**6), st.integers(-(10**6), 10**6), st.integers(0, 6), st.integers(0, 6))
def test_prices_and_quantities_compare_and_hash_by_value_whatever_their_precision(
    a: int, b: int, pa: int, pb: int
) -> None:
    # a / 100 shown with at least 2 decimals: 1, 1.0 and 1.00 are one value, as with Decimal.
    x = Price.from_decimal(Decimal(a) / 100, max(pa, 2))
    y = Price.from_decimal(Decimal(b) / 100, max(pb, 2))
    dx, dy = x.as_decimal(), y.as_decimal()
    assert (x == y, x < y, x <= y, x > y, x >= y) == (dx == dy, dx < dy, dx <= dy, dx > dy, dx >= dy)
    if x == y:
        assert hash(x) == hash(y)
    qx, qy = Quantity.from_decimal(abs(dx), max(pa, 2)), Quantity.from_decimal(abs(dy), max(pb, 2))
    assert (qx == qy, qx < qy) == (abs(dx) == abs(dy), abs(dx) < abs(dy))
    assert Price.from_str("1") == Price.from_str("1.00")
    assert not Price.from_str("1.10") > Price.from_str("1.1")


def test_floats_use_their_shortest_text_not_their_binary_expansion() -> None:
    assert raw_from_decimal(0.1, 1) == 100_000_000
    assert Price.from_decimal(1.1, 1).raw == 1_100_000_000


def test_value_objects_encode_compactly_and_round_trip() -> None:
    price = Price.from_str("1640.25")
    assert msgspec.json.encode(price) == b"[1640250000000,2]"
    assert msgspec.json.decode(msgspec.json.encode(price), type=Price) == price
    money = Money.from_str("-3.5", "EUR")
    assert msgspec.msgpack.decode(msgspec.msgpack.encode(money), type=Money) == money


def test_decoding_invalid_raws_is_rejected() -> None:
    # msgspec reports a __post_init__ error as a ValidationError carrying the message.
    with pytest.raises(msgspec.ValidationError, match="negative"):
        msgspec.json.decode(b"[-5000000000,0]", type=Quantity)
    with pytest.raises(msgspec.ValidationError, match="decimal places"):
        msgspec.json.decode(b"[1,0]", type=Price)


# -- rounding and fees ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("notional", "rate", "currency", "fee"),
    [
        ("100000.00", "0.0002", "USD", "20.00"),
        ("12.50", "0.001", "USD", "0.01"),  # 0.0125 -> 0.01
        ("5.00", "0.001", "USD", "0.00"),  # 0.005 ties to even 0.00
        ("15.00", "0.001", "USD", "0.02"),  # 0.015 ties to even 0.02
        ("25.00", "0.001", "USD", "0.02"),  # 0.025 ties to even 0.02
        ("15.00", "-0.001", "USD", "-0.02"),  # a rebate rounds symmetrically
        ("5.00", "-0.001", "USD", "0.00"),
        ("0.00003", "0.0005", "USDT", "0.00000002"),  # 1.5e-8 ties to even 2e-8
        ("1234", "0.0005", "JPY", "1"),  # 0.617 -> 1
        ("0", "0.001", "USD", "0.00"),
    ],
)
def test_fee_is_rounded_half_to_even_at_the_currency_precision(
    notional: str, rate: str, currency: str, fee: str
) -> None:
    places = currency_precision(currency)
    raw = fee_raw(raw_from_decimal(notional, 9), raw_from_decimal(rate, 9), places)
    assert raw_to_decimal(raw, places) == Decimal(fee)
    assert str(Money(raw, currency)) == f"{fee} {currency}"


@settings(max_examples=500, deadline=None)
@given(
    st.integers(-(10**15), 10**15),
    st.integers(-(10**8), 10**8),
    st.integers(0, FIXED_PRECISION),
)
def test_fee_raw_equals_decimal_half_even_of_the_exact_product(
    notional_raw: int, rate_raw: int, places: int
) -> None:
    # The fee is charged on the size of the trade: its sign is the rate's (a rebate), never the
    # price's (a contract can trade below zero).
    exact = abs(Decimal(notional_raw).scaleb(-9)) * Decimal(rate_raw).scaleb(-9)
    expected = exact.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_EVEN)
    got = fee_raw(notional_raw, rate_raw, places)
    assert got % 10 ** (9 - places) == 0
    assert Decimal(got).scaleb(-9) == expected


def test_a_fill_at_a_negative_price_still_pays_its_fee() -> None:
    # WTI May 2020 settled at -37.63: a positive fee rate must still cost the trader.
    notional = -37_630 * FIXED_SCALAR  # 1 contract x -37.63 x 1000
    assert fee_raw(notional, 100_000, 2) == 3_760_000_000  # 3.76 USD at 1 bp
    assert fee_raw(notional, -100_000, 2) == -3_760_000_000  # a rebate stays a rebate


@settings(max_examples=500, deadline=None)
@given(st.integers(-(10**18), 10**18), st.integers(0, FIXED_PRECISION))
def test_round_raw_half_even_equals_decimal_quantize(raw: int, places: int) -> None:
    expected = Decimal(raw).scaleb(-9).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_EVEN)
    assert Decimal(round_raw_half_even(raw, places)).scaleb(-9) == expected


# -- raw conversions ------------------------------------------------------------------------


@settings(max_examples=500, deadline=None)
@given(
    st.integers(0, FIXED_PRECISION).flatmap(lambda p: st.tuples(st.just(p), st.integers(-(10**17), 10**17)))
)
def test_raw_from_decimal_and_raw_to_decimal_round_trip(case: tuple[int, int]) -> None:
    places, units = case
    value = Decimal(units).scaleb(-places)  # exactly ``places`` decimals
    raw = raw_from_decimal(value, places)
    assert raw == units * 10 ** (FIXED_PRECISION - places)
    assert raw_to_decimal(raw, places) == value
    assert str(raw_to_decimal(raw, places)) == str(value.quantize(Decimal(1).scaleb(-places)))
    assert raw_from_decimal(str(value), places) == raw
    assert raw_from_decimal(raw_to_decimal(raw, places), places) == raw
    if abs(raw) <= MAX_RAW:
        assert Price(raw, places).as_decimal() == value


@settings(max_examples=300, deadline=None)
@given(st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False))
def test_float_input_is_exact_when_its_shortest_text_fits_nine_decimals(value: float) -> None:
    text = repr(value)
    dec = Decimal(text)
    if dec.as_tuple().exponent >= -FIXED_PRECISION:  # type: ignore[operator]
        assert raw_from_decimal(value, FIXED_PRECISION) == int(dec.scaleb(9))
    else:
        with pytest.raises(ValueRangeError, match="decimal places"):
            raw_from_decimal(value, FIXED_PRECISION)
