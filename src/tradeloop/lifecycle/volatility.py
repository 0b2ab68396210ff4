"""Rolling volatility of a price series, for the volatility exit.

:class:`VolatilityTracker` compares the standard deviation of the latest returns with that of
a longer baseline; the monitor keeps one per instrument and rule and hands its ratio to the
exit evaluator in a :class:`~tradeloop.lifecycle.exits.MarketSnapshot`. Volatility is a
statistic, not money: it is a float.
"""

from __future__ import annotations

import math
from collections import deque

from tradeloop.lifecycle.methods import VolatilityRule

__all__ = ["VolatilityTracker"]


class VolatilityTracker:
    """Rolling volatility of one price series: the short window against the baseline.

    Returns are simple returns between successive prices, ``(p - prev) / |prev|`` (a previous
    price of zero gives no return). :attr:`ratio` is the sample standard deviation of the last
    ``window`` returns over that of the last ``baseline_window`` returns.

    Sums are kept rolling, so an update is O(1). They are taken of the returns minus a shift
    (the baseline mean at the last re-summation), which keeps the variance formula free of
    cancellation; every ``baseline_window`` updates the sums are recomputed exactly from the
    stored returns, so rounding cannot accumulate.

    Parameters
    ----------
    rule:
        The method's volatility rule (the two window lengths).
    """

    __slots__ = (
        "_b_sq",
        "_b_sum",
        "_baseline",
        "_prev",
        "_returns",
        "_s_sq",
        "_s_sum",
        "_shift",
        "_since_resum",
        "_window",
    )

    def __init__(self, rule: VolatilityRule) -> None:
        self._window = rule.window
        self._baseline = rule.baseline_window
        self._returns: deque[float] = deque()
        self._prev: int | None = None
        self._shift = 0.0
        self._s_sum = self._s_sq = self._b_sum = self._b_sq = 0.0
        self._since_resum = 0

    @property
    def count(self) -> int:
        """Returns held (at most ``baseline_window``)."""
        return len(self._returns)

    @property
    def warm(self) -> bool:
        """Whether the baseline window is full."""
        return len(self._returns) == self._baseline

    def update(self, price_raw: int) -> None:
        """Fold in the next price of the series."""
        prev, self._prev = self._prev, price_raw
        if prev is None or prev == 0:
            return
        r = (price_raw - prev) / abs(prev)
        returns = self._returns
        returns.append(r)
        shift = self._shift
        x = r - shift
        xx = x * x
        self._b_sum += x
        self._b_sq += xx
        self._s_sum += x
        self._s_sq += xx
        n = len(returns)
        if n > self._window:
            y = returns[-self._window - 1] - shift  # leaves the short window
            self._s_sum -= y
            self._s_sq -= y * y
        if n > self._baseline:
            y = returns.popleft() - shift  # leaves the baseline
            self._b_sum -= y
            self._b_sq -= y * y
        self._since_resum += 1
        if self._since_resum >= self._baseline:
            self._resum()

    def _resum(self) -> None:
        returns = self._returns
        self._since_resum = 0
        shift = self._shift = math.fsum(returns) / len(returns)
        shifted = [r - shift for r in returns]
        short = shifted[-self._window :]
        self._b_sum = math.fsum(shifted)
        self._b_sq = math.fsum(x * x for x in shifted)
        self._s_sum = math.fsum(short)
        self._s_sq = math.fsum(x * x for x in short)

    @staticmethod
    def _variance(total: float, squares: float, n: int) -> float:
        var = (squares - total * total / n) / (n - 1)
        return var if var > 0.0 else 0.0

    @property
    def ratio(self) -> float | None:
        """Short-window over baseline standard deviation; ``None`` until the baseline window is
        full, or while the baseline shows no movement at all (nothing to compare with)."""
        if len(self._returns) < self._baseline:
            return None
        baseline = self._variance(self._b_sum, self._b_sq, self._baseline)
        if baseline == 0.0:
            return None
        return math.sqrt(self._variance(self._s_sum, self._s_sq, self._window) / baseline)
