"""Position sizers: hand-computed sizes, the lot grid, bounds, validation and properties."""

from __future__ import annotations

import dataclasses
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tradeloop.core.errors import ValueRangeError
from tradeloop.model.instruments import Instrument
from tradeloop.model.objects import Money, Price, Quantity
from tradeloop.risk import FixedFraction, FixedQuantity, FractionalKelly, Sizer
from tradeloop.testkit import aapl_equity, btcusdt, es_future, eurusd


def usd(amount: str) -> Money:
    return Money.from_str(amount, "USD")


AAPL = aapl_equity()
ES = es_future()
BTC = btcusdt()
EURUSD = eurusd()


# -- FixedQuantity -----------------------------------------------------------------------------


def test_fixed_quantity_rounds_down_to_the_lot_grid() -> None:
    sizer = FixedQuantity("10.7")

    assert sizer.size(AAPL, Price.from_str("100.00"), usd("1000")) == Quantity.from_str("10")
    assert sizer.size(BTC, Price.from_str("50000.00"), Money.from_str("1000", "USDT")) == Quantity.from_str(
        "10.700000"
    )


def test_fixed_quantity_below_one_lot_or_the_instrument_minimum_is_zero() -> None:
    with_minimum = dataclasses.replace(AAPL, min_quantity=Quantity.from_int(5))

    assert FixedQuantity("0.5").size(AAPL, Price.from_str("100.00"), usd("1000")) == Quantity(0, 0)
    assert FixedQuantity(4).size(with_minimum, Price.from_str("100.00"), usd("1000")) == Quantity(0, 0)
    assert FixedQuantity(5).size(with_minimum, Price.from_str("100.00"), usd("1000")) == Quantity.from_int(5)


# -- FixedFraction -----------------------------------------------------------------------------


def test_fixed_fraction_commits_the_fraction_of_equity_as_notional() -> None:
    # 10 % of 100,000 is 10,000; at 150.00 that buys 66.67 shares: 66 on the grid.
    assert FixedFraction("0.1").size(AAPL, Price.from_str("150.00"), usd("100000")) == Quantity.from_int(66)


def test_fixed_fraction_is_exact_where_binary_floats_would_lose_a_lot() -> None:
    # 0.29 x 10,000 / 100 is exactly 29; in floats 0.29 * 100 is 28.999999999999996.
    assert FixedFraction(0.29).size(AAPL, Price.from_str("100.00"), usd("10000")) == Quantity.from_int(29)


def test_fixed_fraction_divides_by_the_contract_multiplier() -> None:
    sizer = FixedFraction("0.5")
    price = Price.from_str("5000.00")  # one contract is worth 5,000 x 50 = 250,000

    assert sizer.size(ES, price, usd("100000")) == Quantity(0, 0)  # 0.2 of a contract
    assert sizer.size(ES, price, usd("1000000")) == Quantity.from_int(2)


def test_fixed_fraction_rounds_fx_down_to_thousand_unit_lots() -> None:
    # 50,000 / 1.085 = 46,082.9...: 46,000 on the 1,000-unit grid.
    size = FixedFraction("0.5").size(EURUSD, Price.from_str("1.08500"), usd("100000"))

    assert size == Quantity.from_int(46_000)


# -- FractionalKelly ---------------------------------------------------------------------------


def test_kelly_fraction_is_p_minus_q_over_b_exactly() -> None:
    assert FractionalKelly("0.6", 1).kelly_fraction == Fraction(1, 5)
    assert FractionalKelly("0.55", 2).kelly_fraction == Fraction(13, 40)  # 0.55 - 0.45 / 2
    assert FractionalKelly("0.4", 1).kelly_fraction == Fraction(-1, 5)


def test_half_kelly_with_a_sixty_percent_even_money_edge() -> None:
    # f* = 0.2, half of it 0.1: 10,000 of 100,000 at 50.00 is 200 shares.
    sizer = FractionalKelly("0.6", "1")

    assert sizer.size(AAPL, Price.from_str("50.00"), usd("100000")) == Quantity.from_int(200)


def test_half_kelly_with_a_two_to_one_payoff() -> None:
    # f* = 0.325, half 0.1625: 16,250 at 25.00 is 650 shares.
    sizer = FractionalKelly("0.55", "2", "0.5")

    assert sizer.size(AAPL, Price.from_str("25.00"), usd("100000")) == Quantity.from_int(650)


def test_kelly_sizes_crypto_on_its_fine_lot_grid() -> None:
    # f* = 0.2, half 0.1: 1,000 USDT at 50,000.00 is 0.02 BTC.
    size = FractionalKelly("0.6", 1).size(BTC, Price.from_str("50000.00"), Money.from_str("10000", "USDT"))

    assert size == Quantity.from_str("0.020000")


@pytest.mark.parametrize(("p", "b"), [("0.4", "1"), ("0.5", "1"), ("0.25", "3")])
def test_kelly_without_an_edge_sizes_zero(p: str, b: str) -> None:
    assert FractionalKelly(p, b).size(AAPL, Price.from_str("50.00"), usd("100000")) == Quantity(0, 0)


def test_kelly_caps_at_max_quantity_and_is_zero_below_min_quantity() -> None:
    price, equity = Price.from_str("50.00"), usd("100000")  # full Kelly 0.2: 400 shares

    assert FractionalKelly("0.6", 1, 1, max_quantity=150).size(AAPL, price, equity) == Quantity.from_int(150)
    assert FractionalKelly("0.6", 1, 1, min_quantity=400).size(AAPL, price, equity) == Quantity.from_int(400)
    assert FractionalKelly("0.6", 1, 1, min_quantity=401).size(AAPL, price, equity) == Quantity(0, 0)


def test_a_size_beyond_the_quantity_range_raises_unless_capped() -> None:
    price, equity = Price.from_str("0.00001"), usd("1000000")  # 10**11 units of EURUSD

    with pytest.raises(ValueRangeError, match=r"EURUSD.SIM: a size of 100000000000 overflows"):
        FixedFraction(1).size(EURUSD, price, equity)
    capped = FractionalKelly("0.9", 9, 1, max_quantity=1_000_000).size(EURUSD, price, equity)
    assert capped == Quantity.from_int(1_000_000)


def test_bounds_and_fixed_size_may_be_given_as_quantities() -> None:
    price, equity = Price.from_str("50.00"), usd("100000")
    sizer = FractionalKelly("0.6", 1, 1, min_quantity=AAPL.make_qty(10), max_quantity=AAPL.make_qty(150))

    assert sizer.size(AAPL, price, equity) == Quantity.from_int(150)
    assert (sizer.min_quantity, sizer.max_quantity) == (Decimal(10), Decimal(150))
    assert FixedQuantity(BTC.make_qty("0.5")).size(AAPL, price, equity) == Quantity(0, 0)


def test_sizers_return_zero_without_equity() -> None:
    price = Price.from_str("50.00")

    assert FractionalKelly("0.6", 1).size(AAPL, price, usd("0")) == Quantity(0, 0)
    assert FixedFraction("0.5").size(AAPL, price, usd("-100")) == Quantity(0, 0)


def test_sizing_at_a_non_positive_price_or_in_another_currency_raises() -> None:
    sizer = FixedFraction("0.5")

    with pytest.raises(ValueRangeError, match="non-positive price"):
        sizer.size(AAPL, Price.from_str("0.00"), usd("1000"))
    with pytest.raises(ValueRangeError, match="equity is in USD but the instrument is quoted in USDT"):
        sizer.size(BTC, Price.from_str("50000.00"), usd("1000"))


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: FractionalKelly(0, 1), "win_probability must be in"),
        (lambda: FractionalKelly(1, 1), "win_probability must be in"),
        (lambda: FractionalKelly("0.6", 0), "payoff_ratio must be positive"),
        (lambda: FractionalKelly("0.6", 1, 0), "fraction must be in"),
        (lambda: FractionalKelly("0.6", 1, "1.5"), "fraction must be in"),
        (lambda: FractionalKelly("0.6", 1, min_quantity=10, max_quantity=5), "min_quantity 10 is above"),
        (lambda: FractionalKelly("0.6", 1, max_quantity=0), "max_quantity must be positive"),
        (lambda: FractionalKelly("nan", 1), "win_probability must be finite"),
        (lambda: FractionalKelly("0.6", "two"), "payoff_ratio must be a number"),
        (lambda: FractionalKelly(True, 1), "win_probability must be a number"),
        (lambda: FixedFraction(0), "fraction must be in"),
        (lambda: FixedFraction("1.01"), "fraction must be in"),
        (lambda: FixedQuantity(-1), "quantity must be positive"),
        (lambda: FixedQuantity("1e-10"), "more than 9 decimal places"),
    ],
)
def test_invalid_sizer_parameters_raise_with_the_parameter_name(build: object, message: str) -> None:
    with pytest.raises(ValueRangeError, match=message):
        build()  # type: ignore[operator]


# -- properties --------------------------------------------------------------------------------

INSTRUMENTS = [AAPL, ES, EURUSD, dataclasses.replace(AAPL, min_quantity=Quantity.from_int(3))]


def prices(instrument: Instrument) -> st.SearchStrategy[Price]:
    """Prices from 1 to 100,000 on the instrument's tick grid (equity up to 10**9 stays sizable)."""
    step = instrument.price_increment.raw
    return st.integers(10**9, 10**14).map(
        lambda raw: instrument.price_from_raw(max(raw // step * step, 10**9))
    )


@st.composite
def kelly_cases(draw: st.DrawFn) -> tuple[FractionalKelly, Instrument, Price, int, int]:
    instrument = draw(st.sampled_from(INSTRUMENTS))
    p = Decimal(draw(st.integers(1, 99))) / 100
    b = Decimal(draw(st.integers(1, 1000))) / 100
    fraction = Decimal(draw(st.integers(1, 100))) / 100
    low = draw(st.none() | st.integers(1, 5_000))
    high = draw(st.none() | st.integers(low or 1, 10_000))
    sizer = FractionalKelly(p, b, fraction, min_quantity=low, max_quantity=high)
    price = draw(prices(instrument))
    equity_a = draw(st.integers(-1_000_000, 10**11))  # cents
    equity_b = draw(st.integers(equity_a, 10**11))
    return sizer, instrument, price, equity_a, equity_b


@settings(deadline=None)  # no wall-clock limit in the default run
@given(kelly_cases())
def test_kelly_size_is_on_the_grid_within_bounds_and_monotone_in_equity(
    case: tuple[FractionalKelly, Instrument, Price, int, int],
) -> None:
    sizer, instrument, price, cents_a, cents_b = case
    small = sizer.size(instrument, price, Money(cents_a * 10**7, "USD"))
    large = sizer.size(instrument, price, Money(cents_b * 10**7, "USD"))

    for size in (small, large):
        assert size.precision == instrument.size_precision
        assert size.raw % instrument.size_increment.raw == 0
        if size.raw:
            if sizer.min_quantity is not None:
                assert size.as_decimal() >= sizer.min_quantity
            if sizer.max_quantity is not None:
                assert size.as_decimal() <= sizer.max_quantity
    assert small.raw <= large.raw
    # Never more than the Kelly bet allows: size x price x multiplier <= equity x f* x fraction.
    bet = max(Fraction(0), sizer.kelly_fraction * Fraction(sizer.fraction))
    assert (
        Fraction(large.raw) * price.raw * instrument.multiplier
        <= Fraction(max(cents_b, 0) * 10**7) * bet * 10**9
    )


@settings(deadline=None)  # no wall-clock limit in the default run
@given(
    st.sampled_from(INSTRUMENTS).flatmap(lambda i: st.tuples(st.just(i), prices(i))),
    st.integers(1, 100),
    st.integers(0, 10**11),
    st.integers(0, 10**11),
)
def test_fixed_fraction_is_on_the_grid_and_monotone_in_equity(
    instrument_price: tuple[Instrument, Price], percent: int, cents_a: int, cents_b: int
) -> None:
    instrument, price = instrument_price
    sizer: Sizer = FixedFraction(Decimal(percent) / 100)
    low, high = sorted((cents_a, cents_b))

    small = sizer.size(instrument, price, Money(low * 10**7, "USD"))
    large = sizer.size(instrument, price, Money(high * 10**7, "USD"))

    assert small.raw % instrument.size_increment.raw == 0
    assert large.raw % instrument.size_increment.raw == 0
    assert small.raw <= large.raw
