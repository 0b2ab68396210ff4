"""The common shape of every streaming indicator.

An indicator folds one input at a time into O(1) state. Strategies call ``update`` (or
``update_bar``) once per bar on the hot path, so every indicator is slotted, works on plain
floats and allocates nothing per update.

Shared conventions:

* :attr:`Indicator.value` is ``nan`` until :attr:`Indicator.initialized` (enough inputs seen
  for the textbook definition); a strategy that compares indicators before warm-up then gets
  ``False`` rather than a number computed from too few inputs.
* Non-finite input (NaN, +-inf) raises :class:`~tradeloop.core.errors.ValueRangeError` (a
  ``ValueError``) and leaves the indicator unchanged, as do invalid constructor parameters.
* Windowed running sums drift by one rounding error per update. Where an indicator keeps one
  (SMA, Bollinger Bands, efficiency ratio) it recomputes the sum exactly with
  :func:`math.fsum` each time its ring buffer wraps, i.e. once per ``period`` updates: an
  amortized O(1) cost that bounds the drift to the rounding of at most ``period`` updates.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from typing import ClassVar, Final

from tradeloop.core.errors import ValueRangeError
from tradeloop.model.data import Bar

__all__ = ["Indicator", "ValueIndicator"]

NAN: Final = math.nan


class Indicator(ABC):
    """Base of every streaming indicator.

    Subclasses set ``SHORT_NAME`` (used by ``repr``), ``_warmup`` (inputs needed before
    :attr:`initialized`) and implement :meth:`update_bar`, :meth:`_params` and
    :meth:`_reset_state`.
    """

    __slots__ = ("_count", "_value", "_warmup")

    SHORT_NAME: ClassVar[str] = ""

    def __init__(self, warmup: int) -> None:
        self._count = 0
        self._value = NAN
        self._warmup = warmup

    @property
    def value(self) -> float:
        """The latest value; ``nan`` until :attr:`initialized`."""
        return self._value

    @property
    def count(self) -> int:
        """How many inputs (values or bars) were folded in since construction or reset."""
        return self._count

    @property
    def initialized(self) -> bool:
        """Whether enough inputs were seen for :attr:`value` to be defined."""
        return self._count >= self._warmup

    @property
    def warmup(self) -> int:
        """How many inputs are needed before :attr:`initialized` becomes true."""
        return self._warmup

    @abstractmethod
    def update_bar(self, bar: Bar) -> None:
        """Fold in one bar (its close, or high, low and close for range indicators)."""

    def reset(self) -> None:
        """Forget every input: back to the state right after construction."""
        self._count = 0
        self._value = NAN
        self._reset_state()

    @abstractmethod
    def _reset_state(self) -> None:
        """Clear the subclass's own state."""

    @abstractmethod
    def _params(self) -> tuple[object, ...]:
        """Constructor parameters, in order, for ``repr``."""

    def __repr__(self) -> str:
        name = self.SHORT_NAME or type(self).__name__
        return f"{name}({', '.join(repr(p) for p in self._params())})"


class ValueIndicator(Indicator):
    """An indicator of one input series (by default a bar's close)."""

    __slots__ = ()

    @abstractmethod
    def update(self, value: float) -> None:
        """Fold in one value.

        Raises
        ------
        ValueRangeError
            If ``value`` is NaN or infinite (the indicator is left unchanged).
        """

    def update_bar(self, bar: Bar) -> None:
        """Fold in ``bar.close``."""
        self.update(bar.close.as_double())


def check_period(owner: str, name: str, period: int) -> int:
    """Return ``period`` if it is an int of at least 1, else raise ``ValueRangeError``."""
    if isinstance(period, bool) or not isinstance(period, int):
        raise ValueRangeError(f"{owner}: {name} must be an int, got {period!r}")
    if period < 1:
        raise ValueRangeError(f"{owner}: {name} must be at least 1, got {period}")
    return period


def non_finite(indicator: Indicator, value: float) -> ValueRangeError:
    """The error for a NaN or infinite input (built only on the failure path)."""
    return ValueRangeError(f"{indicator!r}: input must be finite, got {value!r}")
