"""Exponential moving average."""

from __future__ import annotations

import math

from tradeloop.indicators.base import ValueIndicator, check_period, non_finite

__all__ = ["EMA", "ExponentialMovingAverage"]

_isfinite = math.isfinite


class ExponentialMovingAverage(ValueIndicator):
    """Exponential moving average with ``alpha = 2 / (period + 1)``.

    Seeded with the simple average of the first ``period`` values (the common charting
    convention), after which ``ema += alpha * (value - ema)``. :attr:`value` is defined from
    the ``period``-th value on.

    Parameters
    ----------
    period:
        Smoothing period, at least 1 (``period == 1`` follows the input exactly).

    Raises
    ------
    ValueRangeError
        If ``period`` is not an int of at least 1.
    """

    __slots__ = ("_alpha", "_period", "_seed_sum")

    SHORT_NAME = "EMA"

    def __init__(self, period: int) -> None:
        self._period = check_period("ExponentialMovingAverage", "period", period)
        super().__init__(warmup=period)
        self._alpha = 2.0 / (period + 1)
        self._seed_sum = 0.0

    @property
    def period(self) -> int:
        """Smoothing period."""
        return self._period

    @property
    def alpha(self) -> float:
        """Weight of the newest value, ``2 / (period + 1)``."""
        return self._alpha

    def update(self, value: float) -> None:
        if not _isfinite(value):
            raise non_finite(self, value)
        n = self._count + 1
        self._count = n
        period = self._period
        if n > period:
            ema = self._value
            # ema + 1.0 * (value - ema) can round away from value: period 1 takes it as it is.
            self._value = ema + self._alpha * (value - ema) if period != 1 else value
        elif n == period:
            self._value = (self._seed_sum + value) / period
        else:
            self._seed_sum += value

    def _reset_state(self) -> None:
        self._seed_sum = 0.0

    def _params(self) -> tuple[object, ...]:
        return (self._period,)


EMA = ExponentialMovingAverage
"""Short alias of :class:`ExponentialMovingAverage`."""
