"""Relative strength index with Wilder smoothing."""

from __future__ import annotations

import math

from tradeloop.indicators.base import ValueIndicator, check_period, non_finite

__all__ = ["RSI", "RelativeStrengthIndex"]

_isfinite = math.isfinite


class RelativeStrengthIndex(ValueIndicator):
    """Wilder's relative strength index, 0 to 100.

    Each value after the first contributes a gain (rise) and a loss (fall). The first average
    gain and loss are the simple means of the first ``period`` of them; afterwards Wilder's
    smoothing ``avg = (avg * (period - 1) + new) / period`` applies. The index is
    ``100 - 100 / (1 + avg_gain / avg_loss)``, computed as
    ``100 * (avg_gain / (avg_gain + avg_loss))``, which is the same number, stays within
    0..100 under rounding and needs no special case when only ``avg_loss`` is zero (100).
    A window without any movement reads 50.

    :attr:`value` is defined from the ``period + 1``-th value on (``period`` changes).

    Parameters
    ----------
    period:
        Smoothing period, at least 1 (default 14).

    Raises
    ------
    ValueRangeError
        If ``period`` is not an int of at least 1.
    """

    __slots__ = ("_avg_gain", "_avg_loss", "_period", "_prev")

    SHORT_NAME = "RSI"

    def __init__(self, period: int = 14) -> None:
        self._period = check_period("RelativeStrengthIndex", "period", period)
        super().__init__(warmup=period + 1)
        self._prev = 0.0
        self._avg_gain = 0.0
        self._avg_loss = 0.0

    @property
    def period(self) -> int:
        """Smoothing period."""
        return self._period

    @property
    def avg_gain(self) -> float:
        """Wilder-smoothed average gain (``nan`` until initialized)."""
        return self._avg_gain if self._count > self._period else math.nan

    @property
    def avg_loss(self) -> float:
        """Wilder-smoothed average loss, as a positive number (``nan`` until initialized)."""
        return self._avg_loss if self._count > self._period else math.nan

    def update(self, value: float) -> None:
        if not _isfinite(value):
            raise non_finite(self, value)
        changes = self._count  # changes seen once this value is folded in
        self._count = changes + 1
        if changes == 0:
            self._prev = value
            return
        change = value - self._prev
        self._prev = value
        gain = change if change > 0.0 else 0.0
        loss = -change if change < 0.0 else 0.0
        period = self._period
        if changes > period:
            keep = period - 1
            ag = (self._avg_gain * keep + gain) / period
            al = (self._avg_loss * keep + loss) / period
        elif changes == period:
            ag = (self._avg_gain + gain) / period
            al = (self._avg_loss + loss) / period
        else:
            # Warm-up: the averages hold plain sums until the first mean is taken.
            self._avg_gain += gain
            self._avg_loss += loss
            return
        self._avg_gain = ag
        self._avg_loss = al
        total = ag + al
        self._value = 100.0 * (ag / total) if total > 0.0 else 50.0

    def _reset_state(self) -> None:
        self._prev = 0.0
        self._avg_gain = 0.0
        self._avg_loss = 0.0

    def _params(self) -> tuple[object, ...]:
        return (self._period,)


RSI = RelativeStrengthIndex
"""Short alias of :class:`RelativeStrengthIndex`."""
