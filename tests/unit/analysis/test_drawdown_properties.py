"""max_drawdown against naive O(n^2) recomputations, on random curves."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from tradeloop.analysis import EquityPoint, max_drawdown, underwater

NS = 1_000_000_000

cents = st.integers(min_value=-50_000, max_value=200_000).map(lambda c: Decimal(c).scaleb(-2))
gaps = st.integers(min_value=1, max_value=10 * 86_400).map(lambda s: s * NS)


@st.composite
def curves(draw: st.DrawFn) -> list[EquityPoint]:
    values = draw(st.lists(cents, min_size=0, max_size=40))
    ts = 1_700_000_000 * NS
    points = []
    for value in values:
        points.append(EquityPoint(ts, value))
        ts += draw(gaps)
    return points


def naive_max_drop(values: list[Decimal]) -> Decimal:
    best = Decimal(0)
    for j in range(len(values)):
        for i in range(j + 1):
            best = max(best, values[i] - values[j])
    return best


def naive_max_fraction(values: list[Decimal]) -> float | None:
    best: Decimal | None = None
    fell_from_non_positive = False
    for j in range(len(values)):
        peak = max(values[: j + 1])
        if values[j] == peak:
            continue
        if peak > 0:
            fraction = (peak - values[j]) / peak
            best = fraction if best is None else max(best, fraction)
        else:
            fell_from_non_positive = True
    if best is None:
        return None if fell_from_non_positive else 0.0
    return round(float(best), 6)


def naive_longest_spell(points: list[EquityPoint]) -> int:
    values = [p.equity for p in points]
    longest = 0
    for i in range(len(values) - 1):
        is_peak = all(values[i] >= v for v in values[:i])
        if not is_peak or values[i + 1] >= values[i]:
            continue
        end = next((j for j in range(i + 1, len(values)) if values[j] >= values[i]), len(values) - 1)
        longest = max(longest, points[end].ts_ns - points[i].ts_ns)
    return longest


@settings(max_examples=300, deadline=None)
@given(curves())
def test_max_drawdown_equals_naive_recomputation_when_curve_is_random(points: list[EquityPoint]) -> None:
    result = max_drawdown(points)
    values = [p.equity for p in points]

    assert result.amount == naive_max_drop(values)
    assert result.longest_ns == naive_longest_spell(points)
    assert result.fraction == naive_max_fraction(values)
    if result.amount == 0:
        assert result.peak_ns is None
        assert result.trough_ns is None
        return
    by_ts = {p.ts_ns: p.equity for p in points}
    assert result.peak_ns is not None
    assert result.trough_ns is not None
    assert result.peak_ns < result.trough_ns
    peak, trough = by_ts[result.peak_ns], by_ts[result.trough_ns]
    assert peak - trough == result.amount
    assert peak == max(p.equity for p in points if p.ts_ns <= result.trough_ns)
    assert result.peak_equity == peak


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(min_value=1.0, max_value=1e6), min_size=1, max_size=60))
def test_underwater_is_zero_at_running_peaks_and_negative_below(values: list[float]) -> None:
    under = underwater(values)
    for k, (value, fraction) in enumerate(zip(values, under, strict=True)):
        peak = max(values[: k + 1])
        assert fraction <= 0.0
        assert fraction == (0.0 if value == peak else value / peak - 1.0)
