"""A fixed-memory latency histogram with exact-enough percentiles.

Latencies are counted in buckets of ``resolution_ns`` up to ``max_ns`` (one overflow bucket
above); a percentile is the upper edge of the bucket it falls in, so it is never reported
lower than it was. Memory does not grow with the number of samples, which matters for a node
that measures every order for weeks.
"""

from __future__ import annotations

import math
from array import array

__all__ = ["LatencyHistogram"]


class LatencyHistogram:
    """Counts of latencies in equal buckets of ``resolution_ns``, up to ``max_ns``."""

    __slots__ = ("_counts", "_max_seen", "_resolution", "count", "max_ns")

    def __init__(self, *, resolution_ns: int = 500, max_ns: int = 50_000_000) -> None:
        if resolution_ns <= 0 or max_ns < resolution_ns:
            raise ValueError("need resolution_ns > 0 and max_ns >= resolution_ns")
        self._resolution = resolution_ns
        self.max_ns = max_ns
        self._counts = array("q", bytes(8 * (max_ns // resolution_ns + 2)))
        self._max_seen = 0
        self.count = 0

    def record(self, ns: int) -> None:
        """Count one latency (negative values count as zero)."""
        ns = max(ns, 0)
        index = min(ns // self._resolution, len(self._counts) - 1)
        self._counts[index] += 1
        self.count += 1
        if ns > self._max_seen:
            self._max_seen = ns

    @property
    def max_seen_ns(self) -> int:
        return self._max_seen

    def percentile_ns(self, pct: float) -> int:
        """The latency at or below which ``pct`` percent of the samples fall (0 when empty)."""
        if not 0 <= pct <= 100:
            raise ValueError(f"percentile must be within 0..100, got {pct}")
        if not self.count:
            return 0
        rank = max(1, math.ceil(pct / 100 * self.count))
        seen = 0
        for index, n in enumerate(self._counts):
            seen += n
            if seen >= rank:
                if index == len(self._counts) - 1:
                    return self._max_seen  # the overflow bucket: the largest value seen
                return min((index + 1) * self._resolution, self._max_seen)
        return self._max_seen
