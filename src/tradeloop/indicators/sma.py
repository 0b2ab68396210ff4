"""Simple moving average over a fixed window."""

from __future__ import annotations

import math

from tradeloop.indicators.base import ValueIndicator, check_period, non_finite

__all__ = ["SMA", "SimpleMovingAverage"]

_isfinite = math.isfinite
_fsum = math.fsum


class SimpleMovingAverage(ValueIndicator):
    """Arithmetic mean of the last ``period`` values.

    A ring buffer and a running sum make each update O(1); the sum is recomputed exactly with
    :func:`math.fsum` whenever the ring wraps (once per ``period`` updates), so rounding drift
    never outlives one window.

    Parameters
    ----------
    period:
        Window length, at least 1.

    Raises
    ------
    ValueRangeError
        If ``period`` is not an int of at least 1.
    """

    __slots__ = ("_buf", "_i", "_period", "_sum")

    SHORT_NAME = "SMA"

    def __init__(self, period: int) -> None:
        self._period = check_period("SimpleMovingAverage", "period", period)
        super().__init__(warmup=period)
        self._buf = [0.0] * period
        self._i = 0
        self._sum = 0.0

    @property
    def period(self) -> int:
        """Window length."""
        return self._period

    def update(self, value: float) -> None:
        if not _isfinite(value):
            raise non_finite(self, value)
        buf = self._buf
        i = self._i
        # Before the window fills the slot holds 0.0, so subtracting it changes nothing.
        self._sum += value - buf[i]
        buf[i] = value
        i += 1
        if i == self._period:
            i = 0
            self._sum = _fsum(buf)
        self._i = i
        n = self._count + 1
        self._count = n
        if n >= self._period:
            self._value = self._sum / self._period

    def _reset_state(self) -> None:
        self._buf = [0.0] * self._period
        self._i = 0
        self._sum = 0.0

    def _params(self) -> tuple[object, ...]:
        return (self._period,)


SMA = SimpleMovingAverage
"""Short alias of :class:`SimpleMovingAverage`."""
