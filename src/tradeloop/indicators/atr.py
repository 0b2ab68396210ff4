"""Average true range with Wilder smoothing."""

from __future__ import annotations

import math

from tradeloop.core.errors import ValueRangeError
from tradeloop.indicators.base import NAN, Indicator, check_period
from tradeloop.model.data import Bar

__all__ = ["ATR", "AverageTrueRange"]

_isfinite = math.isfinite


class AverageTrueRange(Indicator):
    """Wilder's average true range.

    The true range of a bar is ``max(high, previous close) - min(low, previous close)``, which
    equals the textbook ``max(high - low, |high - prev close|, |low - prev close|)``; the first
    bar, having no previous close, uses ``high - low``. The first average is the simple mean of
    the first ``period`` true ranges, then ``atr = (atr * (period - 1) + tr) / period``.

    Parameters
    ----------
    period:
        Smoothing period, at least 1 (default 14).

    Raises
    ------
    ValueRangeError
        If ``period`` is not an int of at least 1.
    """

    __slots__ = ("_period", "_prev_close", "_seed_sum", "_tr")

    SHORT_NAME = "ATR"

    def __init__(self, period: int = 14) -> None:
        self._period = check_period("AverageTrueRange", "period", period)
        super().__init__(warmup=period)
        self._prev_close = 0.0
        self._seed_sum = 0.0
        self._tr = NAN

    @property
    def period(self) -> int:
        """Smoothing period."""
        return self._period

    @property
    def true_range(self) -> float:
        """True range of the latest bar (``nan`` before the first)."""
        return self._tr

    def update(self, high: float, low: float, close: float) -> None:
        """Fold in one bar's high, low and close.

        Raises
        ------
        ValueRangeError
            If an input is NaN or infinite, or ``high < low`` (the indicator is unchanged).
        """
        if not (_isfinite(high) and _isfinite(low) and _isfinite(close)):
            raise ValueRangeError(
                f"{self!r}: inputs must be finite, got high={high!r} low={low!r} close={close!r}"
            )
        if high < low:
            raise ValueRangeError(f"{self!r}: high {high!r} is below low {low!r}")
        n = self._count + 1
        if n == 1:
            tr = high - low
        else:
            prev = self._prev_close
            tr = (high if high > prev else prev) - (low if low < prev else prev)
        self._count = n
        self._prev_close = close
        self._tr = tr
        period = self._period
        if n > period:
            self._value = (self._value * (period - 1) + tr) / period
        elif n == period:
            self._value = (self._seed_sum + tr) / period
        else:
            self._seed_sum += tr

    def update_bar(self, bar: Bar) -> None:
        """Fold in the bar's high, low and close."""
        self.update(bar.high.as_double(), bar.low.as_double(), bar.close.as_double())

    def _reset_state(self) -> None:
        self._prev_close = 0.0
        self._seed_sum = 0.0
        self._tr = NAN

    def _params(self) -> tuple[object, ...]:
        return (self._period,)


ATR = AverageTrueRange
"""Short alias of :class:`AverageTrueRange`."""
