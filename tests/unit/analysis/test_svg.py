"""Inline SVG charts: axes with dated ticks for spans from seconds to years."""

from __future__ import annotations

import re

import pytest

from tradeloop.analysis import time_series_svg
from tradeloop.core.errors import DataError

NS = 1_000_000_000
DAY = 86_400 * NS
T0 = 1_704_067_200 * NS  # 2024-01-01T00:00:00Z


def labels(svg: str) -> list[str]:
    return re.findall(r"<tspan[^>]*>([^<]*)</tspan>", svg)


def test_multi_year_span_gets_first_of_month_date_ticks() -> None:
    svg = time_series_svg([T0, T0 + 730 * DAY], [1.0, 2.0], title="Equity")
    ticks = labels(svg)
    assert ticks
    assert all(re.fullmatch(r"\d{4}-\d\d-01", t) for t in ticks)
    assert "2024-01-01" in ticks
    assert len(ticks) <= 9


def test_intraday_span_gets_time_and_date_on_each_tick() -> None:
    svg = time_series_svg([T0 + 9 * 3_600 * NS, T0 + 17 * 3_600 * NS], [1.0, 2.0], title="Equity")
    ticks = labels(svg)
    assert "09:00" in ticks
    assert "17:00" in ticks
    assert "2024-01-01" in ticks


def test_a_single_sample_still_gets_a_dated_axis() -> None:
    svg = time_series_svg([T0 + 5], [100.0], title="Equity")
    assert "2024-01-01" in labels(svg)
    assert "<polyline" in svg


def test_value_ticks_use_the_unit_suffix_and_cover_the_data() -> None:
    svg = time_series_svg([T0, T0 + DAY], [-12.5, 0.0], title="Drawdown", unit_suffix="%", area=True)
    values = [float(v) for v in re.findall(r">(-?[\d.]+)%<", svg)]
    assert min(values) <= -12.5
    assert max(values) >= 0.0


def test_title_is_escaped() -> None:
    svg = time_series_svg([T0], [1.0], title="<a & b>")
    assert "<a & b>" not in svg
    assert "&lt;a &amp; b&gt;" in svg


def test_mismatched_lengths_are_rejected() -> None:
    with pytest.raises(DataError, match="2 timestamps but 1 values"):
        time_series_svg([T0, T0 + 1], [1.0], title="x")
