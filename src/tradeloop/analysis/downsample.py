"""Min/max downsampling of a time series for charts.

A curve of a million samples cannot be drawn point by point in a self-contained HTML file,
but plain decimation (every n-th point) can skip the very trough that matters. The time
span is cut into equal buckets and each bucket keeps its lowest and highest sample, in time
order, together with the first and last sample of the series. Every extreme therefore
survives: the global minimum and maximum are always kept.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Sequence

from tradeloop.analysis.drawdown import check_time_order
from tradeloop.analysis.records import EquityPoint
from tradeloop.core.errors import DataError

__all__ = ["DEFAULT_MAX_POINTS", "downsample", "downsample_indices"]

DEFAULT_MAX_POINTS = 2_000


def downsample_indices(
    ts_ns: Sequence[int], values: Sequence[float], max_points: int = DEFAULT_MAX_POINTS
) -> list[int]:
    """Ascending indices of at most ``max_points`` samples that keep each bucket's extremes.

    Parameters
    ----------
    ts_ns
        Non-decreasing timestamps (not checked here; :func:`downsample` checks them).
    values
        The sampled values, same length as ``ts_ns``.
    max_points
        Upper bound on the result's length; at least 4 (first, last, one min and one max).
    """
    if max_points < 4:
        raise DataError(f"max_points must be at least 4, got {max_points}")
    n = len(ts_ns)
    if len(values) != n:
        raise DataError(f"{n} timestamps but {len(values)} values")
    if n <= max_points:
        return list(range(n))
    buckets = (max_points - 2) // 2
    start, end = ts_ns[0], ts_ns[-1]
    span = end - start + 1  # +1: the last sample falls inside the last bucket
    keep = {0, n - 1}
    get = values.__getitem__
    low = 0
    for bucket in range(1, buckets + 1):
        # Integer edges: exact, and identical on every platform.
        edge = start + -(-span * bucket // buckets)
        high = n if bucket == buckets else bisect_left(ts_ns, edge, low)
        if high > low:
            keep.add(min(range(low, high), key=get))
            keep.add(max(range(low, high), key=get))
        low = high
    return sorted(keep)


def downsample(points: Sequence[EquityPoint], max_points: int = DEFAULT_MAX_POINTS) -> list[EquityPoint]:
    """At most ``max_points`` of ``points`` (time-ordered), keeping each bucket's min and max.

    Raises ``DataError`` when the points are not in time order.
    """
    check_time_order(points)
    ts = [p.ts_ns for p in points]
    values = [float(p.equity) for p in points]
    return [points[i] for i in downsample_indices(ts, values, max_points)]
