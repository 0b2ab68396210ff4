"""Every streaming indicator agrees with a naive recomputation over the full history.

The references below recompute each indicator from scratch after every input, in plain
Python, from the textbook definition (closed-form EMA weights instead of the recursion, the
max-of-three true range, ``100 - 100 / (1 + RS)``, a two-pass variance...).

Tolerances: the streaming versions keep running sums that are re-summed exactly once per
window, so their rounding error is a few ulps of the largest input that touched the running
state since the last re-sum (at most the last ``2 * period`` inputs). Comparisons therefore
allow ``1e-9`` relative to that scale; a standard deviation inherits ``sqrt`` of its
variance's error near zero, which its tolerance spells out.
"""

from __future__ import annotations

import itertools
import math

from hypothesis import given, settings
from hypothesis import strategies as st

from tradeloop.indicators import (
    ATR,
    EMA,
    ER,
    MACD,
    RSI,
    SMA,
    BollingerBands,
)

REL = 1e-9

# Prices with four decimals from 0.0001 to 100,000: one series may mix wildly different
# scales, which is what stresses a running sum.
prices = st.integers(min_value=1, max_value=10**9).map(lambda n: n / 10**4)
series = st.lists(prices, min_size=1, max_size=90)
periods = st.integers(min_value=1, max_value=25)
SETTINGS = settings(max_examples=150, deadline=None)


def scale_of(xs: list[float]) -> float:
    return max(abs(x) for x in xs)


def assert_close(actual: float, expected: float, scale: float, what: str) -> None:
    assert math.isclose(actual, expected, rel_tol=REL, abs_tol=REL * scale), (
        f"{what}: streaming {actual!r} != naive {expected!r} (scale {scale})"
    )


# -- naive references -------------------------------------------------------------------


def naive_sma(xs: list[float], period: int) -> float:
    return math.fsum(xs[-period:]) / period


def naive_ema_series(xs: list[float], period: int) -> list[float]:
    """EMA after each prefix, from the closed form: seed * (1-a)^m + sum a (1-a)^j x."""
    alpha = 2.0 / (period + 1)
    out = [math.nan] * len(xs)
    if len(xs) < period:
        return out
    seed = math.fsum(xs[:period]) / period
    for end in range(period, len(xs) + 1):
        steps = end - period
        terms = [seed * (1 - alpha) ** steps]
        terms += [alpha * (1 - alpha) ** (end - 1 - i) * xs[i] for i in range(period, end)]
        out[end - 1] = math.fsum(terms)
    return out


def naive_rsi(xs: list[float], period: int) -> float:
    changes = [b - a for a, b in itertools.pairwise(xs)]
    gains = [max(c, 0.0) for c in changes]
    losses = [max(-c, 0.0) for c in changes]
    avg_gain = math.fsum(gains[:period]) / period
    avg_loss = math.fsum(losses[:period]) / period
    for g, loss in zip(gains[period:], losses[period:], strict=True):
        avg_gain = (avg_gain * (period - 1) + g) / period
        avg_loss = (avg_loss * (period - 1) + loss) / period
    if avg_loss == 0.0:
        return 100.0 if avg_gain > 0.0 else 50.0
    return 100.0 - 100.0 / (1.0 + avg_gain / avg_loss)


def naive_atr(bars: list[tuple[float, float, float]], period: int) -> float:
    trs = [bars[0][0] - bars[0][1]]
    for (high, low, _), (_, _, prev_close) in zip(bars[1:], bars, strict=False):
        trs.append(max(high - low, abs(high - prev_close), abs(low - prev_close)))
    atr = math.fsum(trs[:period]) / period
    for tr in trs[period:]:
        atr = (atr * (period - 1) + tr) / period
    return atr


def naive_variance(xs: list[float], period: int) -> float:
    window = xs[-period:]
    mean = math.fsum(window) / period
    return math.fsum((x - mean) ** 2 for x in window) / period


def naive_er(xs: list[float], period: int) -> float:
    net = abs(xs[-1] - xs[-1 - period])
    path = math.fsum(abs(xs[i] - xs[i - 1]) for i in range(len(xs) - period, len(xs)))
    return net / path if path > 0.0 else 0.0


# -- properties -------------------------------------------------------------------------


@SETTINGS
@given(xs=series, period=periods)
def test_sma_matches_window_mean_when_fed_any_price_series(xs: list[float], period: int) -> None:
    sma = SMA(period)
    for n, x in enumerate(xs, start=1):
        sma.update(x)
        assert sma.count == n
        if n < period:
            assert not sma.initialized
            assert math.isnan(sma.value)
        else:
            assert sma.initialized
            assert_close(
                sma.value, naive_sma(xs[:n], period), scale_of(xs[max(0, n - 2 * period) : n]), "SMA"
            )


@SETTINGS
@given(xs=series, period=periods)
def test_ema_matches_closed_form_weights_when_fed_any_price_series(xs: list[float], period: int) -> None:
    ema = EMA(period)
    expected = naive_ema_series(xs, period)
    for n, x in enumerate(xs, start=1):
        ema.update(x)
        assert ema.initialized is (n >= period)
        if n < period:
            assert math.isnan(ema.value)
        else:
            assert_close(ema.value, expected[n - 1], scale_of(xs[:n]), "EMA")


@SETTINGS
@given(xs=series, period=periods)
def test_rsi_matches_wilder_definition_and_stays_in_0_100(xs: list[float], period: int) -> None:
    rsi = RSI(period)
    for n, x in enumerate(xs, start=1):
        rsi.update(x)
        assert rsi.initialized is (n > period)
        if n <= period:
            assert math.isnan(rsi.value)
        else:
            assert 0.0 <= rsi.value <= 100.0
            assert_close(rsi.value, naive_rsi(xs[:n], period), 100.0, "RSI")


bar_series = st.lists(
    st.tuples(prices, prices, prices).map(lambda t: (max(t), min(t), sorted(t)[1])),
    min_size=1,
    max_size=90,
)


@SETTINGS
@given(bars=bar_series, period=periods)
def test_atr_matches_max_of_three_true_range_definition(
    bars: list[tuple[float, float, float]], period: int
) -> None:
    atr = ATR(period)
    for n, (high, low, close) in enumerate(bars, start=1):
        atr.update(high, low, close)
        assert atr.initialized is (n >= period)
        if n < period:
            assert math.isnan(atr.value)
        else:
            scale = max(max(abs(v) for v in bar) for bar in bars[:n])
            assert_close(atr.value, naive_atr(bars[:n], period), scale, "ATR")


@SETTINGS
@given(xs=series, period=periods, k=st.sampled_from([0.0, 1.0, 2.0, 2.5]))
def test_bollinger_bands_match_two_pass_mean_and_population_std(
    xs: list[float], period: int, k: float
) -> None:
    bb = BollingerBands(period, k)
    for n, x in enumerate(xs, start=1):
        bb.update(x)
        assert bb.initialized is (n >= period)
        if n < period:
            assert math.isnan(bb.middle)
            assert math.isnan(bb.upper)
            continue
        scale = scale_of(xs[max(0, n - 2 * period) : n])
        mean = naive_sma(xs[:n], period)
        var = naive_variance(xs[:n], period)
        assert_close(bb.middle, mean, scale, "middle")
        assert bb.value == bb.middle
        var_tol = REL * scale * scale
        assert abs(bb.std**2 - var) <= var_tol, f"variance {bb.std**2!r} != {var!r}"
        # |std - s| = |var error| / (std + s), and never more than sqrt(var error).
        naive_std = math.sqrt(var)
        denom = bb.std + naive_std
        std_tol = min(var_tol / denom, math.sqrt(var_tol)) if denom > 0 else 0.0
        assert abs(bb.std - naive_std) <= std_tol
        band_tol = REL * scale + k * std_tol
        assert abs(bb.upper - (mean + k * naive_std)) <= band_tol
        assert abs(bb.lower - (mean - k * naive_std)) <= band_tol
        assert bb.lower <= bb.middle <= bb.upper
        assert math.isclose(bb.bandwidth, (bb.upper - bb.lower) / bb.middle, rel_tol=1e-12)


@SETTINGS
@given(
    xs=st.lists(prices, min_size=1, max_size=70),
    fast=st.integers(min_value=1, max_value=10),
    extra=st.integers(min_value=1, max_value=12),
    signal=st.integers(min_value=1, max_value=9),
)
def test_macd_matches_difference_of_closed_form_emas(
    xs: list[float], fast: int, extra: int, signal: int
) -> None:
    slow = fast + extra
    macd = MACD(fast, slow, signal)
    fast_series = naive_ema_series(xs, fast)
    slow_series = naive_ema_series(xs, slow)
    line = [f - s for f, s in zip(fast_series[slow - 1 :], slow_series[slow - 1 :], strict=True)]
    signal_series = naive_ema_series(line, signal)
    for n, x in enumerate(xs, start=1):
        macd.update(x)
        warm = slow + signal - 1
        assert macd.initialized is (n >= warm)
        if n < warm:
            assert math.isnan(macd.value)
            assert math.isnan(macd.signal)
            assert math.isnan(macd.histogram)
            continue
        scale = scale_of(xs[:n])
        expected_line = line[n - slow]
        expected_signal = signal_series[n - slow]
        assert_close(macd.macd, expected_line, scale, "macd")
        assert macd.value == macd.macd
        assert_close(macd.signal, expected_signal, scale, "signal")
        assert_close(macd.histogram, expected_line - expected_signal, scale, "histogram")


@SETTINGS
@given(xs=series, period=periods)
def test_efficiency_ratio_matches_net_over_path_and_stays_in_0_1(xs: list[float], period: int) -> None:
    er = ER(period)
    for n, x in enumerate(xs, start=1):
        er.update(x)
        assert er.initialized is (n > period)
        if n <= period:
            assert math.isnan(er.value)
            continue
        assert 0.0 <= er.value <= 1.0
        window = xs[n - period - 1 : n]
        path = math.fsum(abs(b - a) for a, b in itertools.pairwise(window))
        # The running path length is off by ulps of the scale; the ratio by that over the path.
        scale = scale_of(xs[max(0, n - 2 * period - 1) : n])
        tol = REL * scale / path if path > 0 else 0.0
        assert abs(er.value - naive_er(xs[:n], period)) <= tol + 1e-12
