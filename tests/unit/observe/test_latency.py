"""LatencyHistogram: percentiles never below the truth, fixed memory."""

from __future__ import annotations

import math
import random

import pytest

from tradeloop.observe import LatencyHistogram


def test_percentiles_are_the_upper_edge_of_the_true_bucket() -> None:
    hist = LatencyHistogram(resolution_ns=1_000, max_ns=1_000_000)
    values = [random.Random(3).randrange(0, 900_000) for _ in range(10_000)]
    for v in values:
        hist.record(v)
    ordered = sorted(values)
    for pct in (50, 95, 99, 100):
        true = ordered[max(0, math.ceil(pct / 100 * len(ordered)) - 1)]
        got = hist.percentile_ns(pct)
        assert true <= got <= true + 1_000
    assert hist.count == 10_000
    assert hist.max_seen_ns == max(values)


def test_values_past_the_range_report_the_largest_seen() -> None:
    hist = LatencyHistogram(resolution_ns=100, max_ns=1_000)
    for v in (10, 20, 5_000_000):
        hist.record(v)
    assert hist.percentile_ns(100) == 5_000_000
    assert hist.percentile_ns(50) == 100


def test_empty_and_invalid() -> None:
    hist = LatencyHistogram()
    assert hist.percentile_ns(99) == 0
    with pytest.raises(ValueError, match="percentile"):
        hist.percentile_ns(101)
    with pytest.raises(ValueError, match="resolution_ns"):
        LatencyHistogram(resolution_ns=0)
