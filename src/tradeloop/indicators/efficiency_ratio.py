"""Kaufman's efficiency ratio: net move over path length."""

from __future__ import annotations

import math

from tradeloop.indicators.base import ValueIndicator, check_period, non_finite

__all__ = ["ER", "EfficiencyRatio"]

_isfinite = math.isfinite
_fsum = math.fsum


class EfficiencyRatio(ValueIndicator):
    """Kaufman's efficiency ratio over ``period`` changes, 0 to 1.

    ``|x[t] - x[t - period]| / sum(|x[i] - x[i - 1]|)`` over the last ``period`` changes: 1
    for a straight line, near 0 for a series that goes nowhere. A window without movement
    reads 0. The path-length sum is a running sum recomputed exactly with :func:`math.fsum`
    whenever its ring wraps (once per ``period`` values); the ratio is clamped to 1 so
    rounding cannot push it past the triangle inequality. :attr:`value` is defined from the
    ``period + 1``-th value on.

    Parameters
    ----------
    period:
        Number of changes in the window, at least 1 (default 10).

    Raises
    ------
    ValueRangeError
        If ``period`` is not an int of at least 1.
    """

    __slots__ = ("_closes", "_i", "_moves", "_path", "_period", "_prev")

    SHORT_NAME = "ER"

    def __init__(self, period: int = 10) -> None:
        self._period = check_period("EfficiencyRatio", "period", period)
        super().__init__(warmup=period + 1)
        # Slot i of each ring holds the entry from ``period`` values ago when it is overwritten.
        self._closes = [0.0] * period
        self._moves = [0.0] * period
        self._i = 0
        self._path = 0.0
        self._prev = 0.0

    @property
    def period(self) -> int:
        """Number of changes in the window."""
        return self._period

    def update(self, value: float) -> None:
        if not _isfinite(value):
            raise non_finite(self, value)
        n = self._count + 1
        self._count = n
        move = value - self._prev if n > 1 else 0.0
        if move < 0.0:
            move = -move
        self._prev = value
        i = self._i
        moves = self._moves
        closes = self._closes
        self._path += move - moves[i]
        moves[i] = move
        then = closes[i]
        closes[i] = value
        i += 1
        if i == self._period:
            i = 0
            self._path = _fsum(moves)
        self._i = i
        if n > self._period:
            net = value - then
            if net < 0.0:
                net = -net
            path = self._path
            if path <= 0.0:
                self._value = 0.0
            else:
                ratio = net / path
                self._value = ratio if ratio < 1.0 else 1.0

    def _reset_state(self) -> None:
        self._closes = [0.0] * self._period
        self._moves = [0.0] * self._period
        self._i = 0
        self._path = 0.0
        self._prev = 0.0

    def _params(self) -> tuple[object, ...]:
        return (self._period,)


ER = EfficiencyRatio
"""Short alias of :class:`EfficiencyRatio`."""
