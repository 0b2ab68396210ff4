"""Textbook values, warm-up, reset, bars, repr and input validation of the indicators."""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from fractions import Fraction

import pytest

from tradeloop.core.errors import ValueRangeError
from tradeloop.core.ids import InstrumentId
from tradeloop.indicators import (
    ATR,
    EMA,
    ER,
    MACD,
    RSI,
    SMA,
    AverageTrueRange,
    BollingerBands,
    EfficiencyRatio,
    ExponentialMovingAverage,
    Indicator,
    RelativeStrengthIndex,
    SimpleMovingAverage,
    ValueIndicator,
)
from tradeloop.model import Bar, BarSpec, Price, Quantity

ABC = InstrumentId("ABC.SIM")


def make_bar(high: str, low: str, close: str, ts: int = 1) -> Bar:
    return Bar(
        ts_event=ts,
        ts_init=ts,
        instrument_id=ABC,
        spec=BarSpec.parse("1-MINUTE"),
        open=Price.from_str(close),
        high=Price.from_str(high),
        low=Price.from_str(low),
        close=Price.from_str(close),
        volume=Quantity.from_str("10"),
    )


def feed(indicator: ValueIndicator, values: list[float]) -> list[float]:
    out = []
    for v in values:
        indicator.update(v)
        out.append(indicator.value)
    return out


def nan_then(warm: int, values: list[float]) -> list[float]:
    return [math.nan] * warm + values


def same(a: list[float], b: list[float]) -> bool:
    return len(a) == len(b) and all(
        (math.isnan(x) and math.isnan(y)) or math.isclose(x, y, rel_tol=1e-12, abs_tol=1e-12)
        for x, y in zip(a, b, strict=True)
    )


# -- textbook values ----------------------------------------------------------------------


def test_sma_of_one_to_five_over_three_is_two_three_four() -> None:
    assert same(feed(SMA(3), [1, 2, 3, 4, 5]), nan_then(2, [2.0, 3.0, 4.0]))


def test_ema_is_seeded_with_the_simple_average_then_weights_new_values_by_alpha() -> None:
    # alpha = 2 / (3 + 1) = 0.5; seed (2 + 4 + 6) / 3 = 4; 4 + .5 (10 - 4) = 7; 7 + .5 (2 - 7) = 4.5
    ema = EMA(3)
    assert ema.alpha == 0.5
    assert same(feed(ema, [2, 4, 6, 10, 2]), nan_then(2, [4.0, 7.0, 4.5]))


def test_ema_of_period_one_follows_the_input() -> None:
    assert feed(EMA(1), [3.0, 1.5, 8.25]) == [3.0, 1.5, 8.25]
    # Exactly, where ema + 1.0 * (value - ema) would round away from the value.
    assert feed(EMA(1), [151.33, 19.07, 1e16, 1.0]) == [151.33, 19.07, 1e16, 1.0]


# Wilder's RSI worked example (the StockCharts "RSI" spreadsheet closes); the index below is
# computed without rounding the intermediate averages, as the spreadsheet does (70.53 there).
RSI_CLOSES = [
    44.34, 44.09, 44.15, 43.61, 44.33, 44.83, 45.10, 45.42, 45.84, 46.08, 45.89, 46.03, 45.61,
    46.28, 46.28, 46.00, 46.03, 46.41, 46.22, 45.64, 46.21, 46.25, 45.71, 46.45, 45.78, 45.35,
    44.03, 44.18, 44.22, 44.57, 43.42, 42.66, 43.13,
]  # fmt: skip
RSI_14 = [
    70.46, 66.25, 66.48, 69.35, 66.29, 57.92, 62.88, 63.21, 56.01, 62.34, 54.67, 50.39, 40.02,
    41.49, 41.90, 45.50, 37.32, 33.09, 37.79,
]  # fmt: skip


def exact_rsi(closes: list[Fraction], period: int) -> list[Fraction]:
    """Wilder's RSI in exact rational arithmetic."""
    changes = [b - a for a, b in itertools.pairwise(closes)]
    gain = sum((max(c, Fraction(0)) for c in changes[:period]), Fraction(0)) / period
    loss = sum((max(-c, Fraction(0)) for c in changes[:period]), Fraction(0)) / period
    out = [100 - 100 / (1 + gain / loss)]
    for c in changes[period:]:
        gain = (gain * (period - 1) + max(c, Fraction(0))) / period
        loss = (loss * (period - 1) + max(-c, Fraction(0))) / period
        out.append(100 - 100 / (1 + gain / loss))
    return out


def test_rsi_reproduces_wilders_worked_example() -> None:
    values = feed(RSI(14), RSI_CLOSES)
    assert all(math.isnan(v) for v in values[:14])
    assert [round(v, 2) for v in values[14:]] == RSI_14
    exact = exact_rsi([Fraction(str(c)) for c in RSI_CLOSES], 14)
    assert values[14:] == pytest.approx([float(x) for x in exact], rel=1e-12)


def test_rsi_follows_wilder_smoothing_on_a_hand_worked_series() -> None:
    # period 2, changes +1 -1 +1: averages (.5, .5) -> 50; then ((.5 + 1) / 2, .5 / 2) -> RS 3 -> 75
    assert same(feed(RSI(2), [1, 2, 1, 2]), nan_then(2, [50.0, 75.0]))


def test_rsi_reads_100_when_only_rising_0_when_only_falling_and_50_when_flat() -> None:
    assert feed(RSI(3), [1, 2, 3, 4, 5])[-1] == 100.0
    assert feed(RSI(3), [5, 4, 3, 2, 1])[-1] == 0.0
    assert feed(RSI(3), [7, 7, 7, 7, 7])[-1] == 50.0


def test_atr_uses_previous_close_for_gaps_and_wilder_smoothing() -> None:
    atr = ATR(3)
    bars = [(10, 8, 9), (11, 9, 10.5), (12, 10, 11), (11.5, 9.5, 10), (13, 10.5, 12.5), (8, 7, 7.5)]
    out = []
    for high, low, close in bars:
        atr.update(high, low, close)
        out.append(atr.value)
    # TRs: 2, 2, 2, 2, |13 - 10| = 3, |7 - 12.5| = 5.5 (gap down)
    assert atr.true_range == 5.5
    assert same(out, nan_then(2, [2.0, 2.0, 7 / 3, 61 / 18]))


def test_bollinger_bands_of_the_classic_std_example_are_one_five_nine() -> None:
    bb = BollingerBands(8, 2.0)
    feed(bb, [2, 4, 4, 4, 5, 5, 7, 9])  # population std 2 around a mean of 5
    assert (bb.lower, bb.middle, bb.upper, bb.std) == (1.0, 5.0, 9.0, 2.0)
    assert bb.bandwidth == pytest.approx(8 / 5)


def test_bollinger_bandwidth_is_nan_when_the_middle_is_zero() -> None:
    bb = BollingerBands(2, 2.0)
    feed(bb, [-1.0, 1.0])
    assert bb.middle == 0.0
    assert math.isnan(bb.bandwidth)


def test_macd_of_a_straight_ramp_is_slope_times_difference_of_ema_lags() -> None:
    # An SMA-seeded EMA of a ramp lags it by exactly (period - 1) / 2 steps, so MACD(12, 26, 9)
    # of x = 0.5 t is 0.5 * (12.5 - 5.5) = 3.5, as is its signal; the histogram is zero.
    macd = MACD(12, 26, 9)
    feed(macd, [0.5 * t for t in range(60)])
    assert macd.macd == pytest.approx(3.5, rel=1e-12)
    assert macd.signal == pytest.approx(3.5, rel=1e-12)
    assert macd.histogram == pytest.approx(0.0, abs=1e-12)


def test_efficiency_ratio_is_one_on_a_line_zero_on_a_round_trip_and_half_on_a_detour() -> None:
    assert feed(ER(4), [1, 2, 3, 4, 5])[-1] == 1.0
    assert feed(ER(4), [1, 2, 1, 2, 1])[-1] == 0.0
    assert feed(ER(4), [1, 2, 1, 2, 3])[-1] == 0.5
    assert feed(ER(2), [5, 5, 5])[-1] == 0.0


# -- warm-up, reset, bars, repr -----------------------------------------------------------

ALL_VALUE_INDICATORS = [
    (lambda: SMA(5), 5),
    (lambda: EMA(5), 5),
    (lambda: RSI(5), 6),
    (lambda: BollingerBands(5, 2.0), 5),
    (lambda: MACD(3, 6, 4), 9),
    (lambda: ER(5), 6),
]
WAVE = [100 + 3 * math.sin(i / 2) + (i % 3) for i in range(40)]


@pytest.mark.parametrize(("make", "warmup"), ALL_VALUE_INDICATORS)
def test_indicator_initializes_exactly_after_its_warmup_count(
    make: Callable[[], ValueIndicator], warmup: int
) -> None:
    ind = make()
    assert ind.warmup == warmup
    for n, v in enumerate(WAVE[:warmup], start=1):
        assert not ind.initialized
        assert math.isnan(ind.value)
        ind.update(v)
        assert ind.count == n
    assert ind.initialized
    assert math.isfinite(ind.value)


@pytest.mark.parametrize(("make", "warmup"), ALL_VALUE_INDICATORS)
def test_reset_then_same_inputs_give_the_same_values_as_a_fresh_indicator(
    make: Callable[[], ValueIndicator], warmup: int
) -> None:
    used = make()
    feed(used, WAVE[::-1])
    used.reset()
    assert used.count == 0
    assert not used.initialized
    assert math.isnan(used.value)
    assert feed(used, WAVE) == feed(make(), WAVE)


def test_atr_reset_forgets_the_previous_close_and_warmup() -> None:
    atr = ATR(2)
    atr.update(50, 40, 45)
    atr.update(12, 10, 11)
    atr.reset()
    assert (atr.count, atr.initialized, math.isnan(atr.value), math.isnan(atr.true_range)) == (
        0,
        False,
        True,
        True,
    )
    atr.update(12, 10, 11)
    assert atr.true_range == 2.0  # no gap to the forgotten close of 45


def test_update_bar_feeds_the_close_to_value_indicators_and_hlc_to_atr() -> None:
    bars = [make_bar("10.5", "9.5", "10"), make_bar("12", "10", "11.5"), make_bar("11.75", "9", "9.25")]
    sma = SMA(3)
    atr = ATR(3)
    for bar in bars:
        sma.update_bar(bar)
        atr.update_bar(bar)
    assert sma.value == pytest.approx((10 + 11.5 + 9.25) / 3)
    assert atr.value == pytest.approx((1.0 + 2.0 + 2.75) / 3)


def test_every_indicator_is_an_indicator_with_slots_only() -> None:
    for ind in (SMA(2), EMA(2), RSI(2), ATR(2), BollingerBands(2), MACD(2, 3, 2), ER(2)):
        assert isinstance(ind, Indicator)
        assert not hasattr(ind, "__dict__")


def test_repr_names_the_indicator_and_its_parameters() -> None:
    assert [repr(i) for i in (SMA(10), EMA(5), RSI(), ATR(), BollingerBands(), MACD(), ER(7))] == [
        "SMA(10)",
        "EMA(5)",
        "RSI(14)",
        "ATR(14)",
        "BollingerBands(20, 2.0)",
        "MACD(12, 26, 9)",
        "ER(7)",
    ]


def test_short_aliases_are_the_full_classes() -> None:
    assert SMA is SimpleMovingAverage
    assert EMA is ExponentialMovingAverage
    assert RSI is RelativeStrengthIndex
    assert ATR is AverageTrueRange
    assert ER is EfficiencyRatio


# -- invalid input ------------------------------------------------------------------------


@pytest.mark.parametrize("cls", [SMA, EMA, RSI, ATR, BollingerBands, ER])
@pytest.mark.parametrize("period", [0, -3, 2.5, True, "14"])
def test_constructor_rejects_a_period_that_is_not_a_positive_int(
    cls: type[Indicator], period: object
) -> None:
    with pytest.raises(ValueError, match="period"):
        cls(period)  # type: ignore[arg-type]


@pytest.mark.parametrize("k", [-0.5, math.nan, math.inf])
def test_bollinger_rejects_a_negative_or_non_finite_k(k: float) -> None:
    with pytest.raises(ValueError, match="k must be"):
        BollingerBands(20, k)


@pytest.mark.parametrize(
    ("fast", "slow", "signal", "message"),
    [(26, 12, 9, "below slow"), (12, 12, 9, "below slow"), (0, 26, 9, "fast"), (12, 26, 0, "signal")],
)
def test_macd_rejects_invalid_periods(fast: int, slow: int, signal: int, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        MACD(fast, slow, signal)


@pytest.mark.parametrize(("make", "warmup"), ALL_VALUE_INDICATORS)
@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_non_finite_input_raises_and_leaves_the_indicator_unchanged(
    make: Callable[[], ValueIndicator], warmup: int, bad: float
) -> None:
    ind = make()
    feed(ind, WAVE[:warmup])
    before = (ind.count, ind.value)
    with pytest.raises(ValueRangeError, match="finite"):
        ind.update(bad)
    assert (ind.count, ind.value) == before
    ind.update(WAVE[warmup])
    reference = make()
    feed(reference, WAVE[: warmup + 1])
    assert ind.value == reference.value


@pytest.mark.parametrize(("high", "low", "close"), [(math.nan, 1.0, 1.0), (2.0, 1.0, math.inf)])
def test_atr_rejects_non_finite_inputs(high: float, low: float, close: float) -> None:
    atr = ATR(2)
    with pytest.raises(ValueRangeError, match="finite"):
        atr.update(high, low, close)
    assert atr.count == 0


def test_atr_rejects_a_high_below_the_low() -> None:
    atr = ATR(2)
    with pytest.raises(ValueRangeError, match="below low"):
        atr.update(1.0, 2.0, 1.5)
    assert atr.count == 0
