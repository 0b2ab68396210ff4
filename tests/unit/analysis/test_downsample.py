"""Min/max downsampling keeps extremes and bounds the number of points."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tradeloop.analysis import EquityPoint, downsample, downsample_indices
from tradeloop.core.errors import DataError

NS = 1_000_000_000


@st.composite
def series(draw: st.DrawFn) -> tuple[list[int], list[float]]:
    values = draw(st.lists(st.floats(min_value=-1e9, max_value=1e9), min_size=1, max_size=400))
    steps = draw(st.lists(st.integers(0, 3_600 * NS), min_size=len(values), max_size=len(values)))
    ts, now = [], 1_700_000_000 * NS
    for step in steps:
        now += step  # zero steps: equal timestamps are allowed
        ts.append(now)
    return ts, values


@settings(max_examples=300, deadline=None)
@given(series(), st.integers(min_value=4, max_value=60))
def test_downsampling_keeps_global_min_max_and_ends_within_the_budget(
    data: tuple[list[int], list[float]], max_points: int
) -> None:
    ts, values = data
    kept = downsample_indices(ts, values, max_points)

    assert len(kept) <= max_points
    assert kept == sorted(set(kept))
    assert kept[0] == 0
    assert kept[-1] == len(values) - 1
    kept_values = [values[i] for i in kept]
    assert min(kept_values) == min(values)
    assert max(kept_values) == max(values)


def test_short_series_is_returned_whole() -> None:
    assert downsample_indices([1, 2, 3], [3.0, 1.0, 2.0], 4) == [0, 1, 2]


def test_downsampling_a_long_curve_keeps_a_one_sample_crash() -> None:
    points = [EquityPoint(i * 60 * NS, Decimal(1000 + (i % 7))) for i in range(100_000)]
    points[54_321] = EquityPoint(54_321 * 60 * NS, Decimal(3))
    points[77_777] = EquityPoint(77_777 * 60 * NS, Decimal(99_999))

    drawn = downsample(points, 2_000)

    assert len(drawn) <= 2_000
    assert points[54_321] in drawn
    assert points[77_777] in drawn
    assert [p.ts_ns for p in drawn] == sorted(p.ts_ns for p in drawn)


def test_downsample_rejects_points_out_of_time_order() -> None:
    points = [EquityPoint(5, Decimal(1)), EquityPoint(4, Decimal(1))]
    with pytest.raises(DataError, match="equity point 1"):
        downsample(points)


def test_budget_below_four_points_is_rejected() -> None:
    with pytest.raises(DataError, match="at least 4"):
        downsample_indices([1, 2], [1.0, 2.0], 3)
