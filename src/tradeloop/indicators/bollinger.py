"""Bollinger Bands: a moving average with bands ``k`` standard deviations away."""

from __future__ import annotations

import math

from tradeloop.core.errors import ValueRangeError
from tradeloop.indicators.base import NAN, ValueIndicator, check_period, non_finite

__all__ = ["BollingerBands"]

_isfinite = math.isfinite
_fsum = math.fsum
_sqrt = math.sqrt


class BollingerBands(ValueIndicator):
    """Bollinger Bands over the last ``period`` values, with the population deviation.

    ``middle`` is the simple mean of the window, ``upper``/``lower`` are
    ``middle +- k * std`` and ``bandwidth`` is ``(upper - lower) / middle`` (``nan`` when the
    middle is exactly zero). :attr:`value` is ``middle``.

    The mean and the sum of squared deviations are updated in O(1) per value with the
    sliding-window form of Welford's method, which avoids the cancellation of
    ``E[x^2] - E[x]^2`` on prices far from zero. Whenever the ring buffer wraps (once per
    ``period`` values) both are recomputed exactly from the window with :func:`math.fsum`,
    so drift never outlives one window.

    Parameters
    ----------
    period:
        Window length, at least 1 (default 20).
    k:
        Band width in standard deviations, finite and non-negative (default 2.0).

    Raises
    ------
    ValueRangeError
        If ``period`` is not an int of at least 1 or ``k`` is negative or not finite.
    """

    __slots__ = ("_bandwidth", "_buf", "_i", "_k", "_lower", "_m2", "_mean", "_period", "_std", "_upper")

    SHORT_NAME = "BollingerBands"

    def __init__(self, period: int = 20, k: float = 2.0) -> None:
        self._period = check_period("BollingerBands", "period", period)
        if isinstance(k, bool) or not isinstance(k, int | float) or not _isfinite(k) or k < 0:
            raise ValueRangeError(f"BollingerBands: k must be a finite number >= 0, got {k!r}")
        super().__init__(warmup=period)
        self._k = float(k)
        self._buf = [0.0] * period
        self._i = 0
        self._mean = 0.0
        self._m2 = 0.0
        self._upper = NAN
        self._lower = NAN
        self._std = NAN
        self._bandwidth = NAN

    @property
    def period(self) -> int:
        """Window length."""
        return self._period

    @property
    def k(self) -> float:
        """Band width in standard deviations."""
        return self._k

    @property
    def middle(self) -> float:
        """Mean of the window (``nan`` until initialized)."""
        return self._value

    @property
    def upper(self) -> float:
        """``middle + k * std`` (``nan`` until initialized)."""
        return self._upper

    @property
    def lower(self) -> float:
        """``middle - k * std`` (``nan`` until initialized)."""
        return self._lower

    @property
    def std(self) -> float:
        """Population standard deviation of the window (``nan`` until initialized)."""
        return self._std

    @property
    def bandwidth(self) -> float:
        """``(upper - lower) / middle``; ``nan`` until initialized or when ``middle == 0``."""
        return self._bandwidth

    def update(self, value: float) -> None:
        if not _isfinite(value):
            raise non_finite(self, value)
        period = self._period
        buf = self._buf
        i = self._i
        n = self._count + 1
        self._count = n
        mean = self._mean
        if n <= period:
            # Warm-up: Welford's running update over the n values seen so far.
            delta = value - mean
            mean += delta / n
            m2 = self._m2 + delta * (value - mean)
        else:
            # Full window: replace the oldest value; exact algebra for the change in M2.
            old = buf[i]
            new_mean = mean + (value - old) / period
            m2 = self._m2 + (value - old) * (value - new_mean + old - mean)
            mean = new_mean
        buf[i] = value
        i += 1
        if i == period:
            i = 0
            mean = _fsum(buf) / period
            m2 = _fsum([(x - mean) * (x - mean) for x in buf])
        elif m2 < 0.0:
            m2 = 0.0  # rounding can push a near-zero sum of squares below zero
        self._i = i
        self._mean = mean
        self._m2 = m2
        if n >= period:
            std = _sqrt(m2 / period)
            width = self._k * std
            upper = mean + width
            lower = mean - width
            self._value = mean
            self._std = std
            self._upper = upper
            self._lower = lower
            self._bandwidth = (upper - lower) / mean if mean != 0.0 else NAN

    def _reset_state(self) -> None:
        self._buf = [0.0] * self._period
        self._i = 0
        self._mean = 0.0
        self._m2 = 0.0
        self._upper = NAN
        self._lower = NAN
        self._std = NAN
        self._bandwidth = NAN

    def _params(self) -> tuple[object, ...]:
        return (self._period, self._k)
