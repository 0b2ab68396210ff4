"""Moving average convergence/divergence."""

from __future__ import annotations

import math

from tradeloop.core.errors import ValueRangeError
from tradeloop.indicators.base import NAN, ValueIndicator, check_period, non_finite
from tradeloop.indicators.ema import ExponentialMovingAverage

__all__ = ["MACD"]

_isfinite = math.isfinite


class MACD(ValueIndicator):
    """MACD line, signal line and histogram.

    ``macd = EMA(fast) - EMA(slow)`` of the input, ``signal = EMA(signal)`` of the MACD line
    and ``histogram = macd - signal``. Each EMA is an :class:`ExponentialMovingAverage`
    (seeded with a simple average), and both input EMAs start from the first value, so the
    MACD line exists from the ``slow``-th value and the signal from the
    ``slow + signal - 1``-th. Every output, :attr:`value` (the MACD line) included, stays
    ``nan`` until :attr:`initialized`, i.e. until the signal line exists.

    Parameters
    ----------
    fast, slow:
        EMA periods of the input, ``1 <= fast < slow`` (defaults 12 and 26).
    signal:
        EMA period of the MACD line, at least 1 (default 9).

    Raises
    ------
    ValueRangeError
        If a period is not an int of at least 1, or ``fast >= slow``.
    """

    __slots__ = ("_fast", "_histogram", "_macd", "_signal", "_signal_value", "_slow")

    SHORT_NAME = "MACD"

    def __init__(self, fast: int = 12, slow: int = 26, signal: int = 9) -> None:
        check_period("MACD", "fast", fast)
        check_period("MACD", "slow", slow)
        check_period("MACD", "signal", signal)
        if fast >= slow:
            raise ValueRangeError(f"MACD: fast period {fast} must be below slow period {slow}")
        super().__init__(warmup=slow + signal - 1)
        self._fast = ExponentialMovingAverage(fast)
        self._slow = ExponentialMovingAverage(slow)
        self._signal = ExponentialMovingAverage(signal)
        self._macd = NAN
        self._signal_value = NAN
        self._histogram = NAN

    @property
    def fast_period(self) -> int:
        return self._fast.period

    @property
    def slow_period(self) -> int:
        return self._slow.period

    @property
    def signal_period(self) -> int:
        return self._signal.period

    @property
    def macd(self) -> float:
        """``EMA(fast) - EMA(slow)`` (``nan`` until initialized)."""
        return self._macd

    @property
    def signal(self) -> float:
        """EMA of the MACD line (``nan`` until initialized)."""
        return self._signal_value

    @property
    def histogram(self) -> float:
        """``macd - signal`` (``nan`` until initialized)."""
        return self._histogram

    def update(self, value: float) -> None:
        if not _isfinite(value):
            raise non_finite(self, value)
        self._count += 1
        fast = self._fast
        slow = self._slow
        fast.update(value)
        slow.update(value)
        if not slow.initialized:
            return
        line = fast.value - slow.value
        signal = self._signal
        signal.update(line)
        if signal.initialized:
            sig = signal.value
            self._value = line
            self._macd = line
            self._signal_value = sig
            self._histogram = line - sig

    def _reset_state(self) -> None:
        self._fast.reset()
        self._slow.reset()
        self._signal.reset()
        self._macd = NAN
        self._signal_value = NAN
        self._histogram = NAN

    def _params(self) -> tuple[object, ...]:
        return (self._fast.period, self._slow.period, self._signal.period)
