"""Position sizers: how much to trade, from the instrument, a price and the equity.

Every sizer returns a :class:`~tradeloop.model.objects.Quantity` on the instrument's lot grid,
rounded down, and zero when the result is below one lot or below the minimum (the sizer's or
the instrument's). Parameters are ``Decimal`` (strings, ints and floats are converted by their
decimal text, so ``0.55`` means 55/100); the arithmetic runs on their exact rational values
(:class:`fractions.Fraction`) with one floor at the end, so no rounding happens before the
lot grid and a size never exceeds what the parameters allow.

A quantity worth ``notional`` at ``price`` is ``notional / (price x multiplier)``.
"""

from __future__ import annotations

import math
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from typing import Protocol

from tradeloop.core.errors import ValueRangeError
from tradeloop.model.instruments import Instrument
from tradeloop.model.objects import FIXED_PRECISION, FIXED_SCALAR, MAX_RAW, Money, Price, Quantity

__all__ = ["FixedFraction", "FixedQuantity", "FractionalKelly", "Sizer"]

DecimalLike = Decimal | str | int | float
QuantityLike = Quantity | Decimal | str | int | float


class Sizer(Protocol):
    """Turns an instrument, a price and the equity into an order quantity."""

    def size(self, instrument: Instrument, price: Price, equity: Money) -> Quantity:
        """The quantity to trade: on the lot grid, zero when below one lot or the minimum."""
        ...


def _decimal(value: DecimalLike, name: str) -> Decimal:
    if isinstance(value, bool):
        raise ValueRangeError(f"{name} must be a number, got {value!r}")
    try:
        dec = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
    except (InvalidOperation, ValueError, TypeError):
        raise ValueRangeError(f"{name} must be a number, got {value!r}") from None
    if not dec.is_finite():
        raise ValueRangeError(f"{name} must be finite, got {value!r}")
    return dec


def _quantity_decimal(value: QuantityLike, name: str) -> Decimal:
    return value.as_decimal() if isinstance(value, Quantity) else _decimal(value, name)


def _quantity_raw(value: QuantityLike, name: str) -> int:
    dec = _quantity_decimal(value, name)
    if dec <= 0:
        raise ValueRangeError(f"{name} must be positive, got {dec}")
    scaled = dec.scaleb(FIXED_PRECISION)
    if scaled != scaled.to_integral_value():
        raise ValueRangeError(f"{name} {dec} has more than {FIXED_PRECISION} decimal places")
    return int(scaled)


def _on_grid(instrument: Instrument, raw: int, min_raw: int | None, max_raw: int | None) -> Quantity:
    """``raw`` rounded down to the lot grid, capped at ``max_raw``, zero below the minimum."""
    if max_raw is not None and raw > max_raw:
        raw = max_raw
    if raw > MAX_RAW:
        raise ValueRangeError(
            f"{instrument.id}: a size of {raw // FIXED_SCALAR} overflows the fixed-point quantity range; "
            "check the price or set a maximum quantity"
        )
    raw = instrument.round_qty_raw_down(raw) if raw > 0 else 0
    floor = instrument.min_quantity.raw if instrument.min_quantity is not None else 0
    if min_raw is not None and min_raw > floor:
        floor = min_raw
    if raw < floor:
        raw = 0
    return Quantity(raw, instrument.size_precision)


def _units_for(instrument: Instrument, price: Price, equity: Money, fraction: Fraction) -> int:
    """Raw quantity worth ``fraction`` of ``equity`` at ``price``, floored (exact)."""
    if price.raw <= 0:
        raise ValueRangeError(f"{instrument.id}: cannot size at a non-positive price {price}")
    if equity.currency != instrument.quote_currency:
        raise ValueRangeError(
            f"{instrument.id}: equity is in {equity.currency} but the instrument is quoted in "
            f"{instrument.quote_currency}"
        )
    if equity.raw <= 0 or fraction <= 0:
        return 0
    # qty = equity x fraction / (price x multiplier); all three raws are scaled by 10**9.
    return math.floor(equity.raw * fraction * FIXED_SCALAR / (price.raw * instrument.multiplier))


class FixedQuantity:
    """Always the same quantity (rounded down to the instrument's lot grid).

    Parameters
    ----------
    quantity:
        The size (a ``Quantity`` or a decimal), positive, at most nine decimal places.
    """

    __slots__ = ("_raw", "quantity")

    def __init__(self, quantity: QuantityLike) -> None:
        self._raw = _quantity_raw(quantity, "quantity")
        self.quantity = _quantity_decimal(quantity, "quantity")

    def size(self, instrument: Instrument, price: Price, equity: Money) -> Quantity:
        return _on_grid(instrument, self._raw, None, None)

    def __repr__(self) -> str:
        return f"FixedQuantity({self.quantity})"


class FixedFraction:
    """Commit a fixed fraction of equity as the order's notional.

    Parameters
    ----------
    fraction:
        Share of equity, ``0 < fraction <= 1`` (``0.1`` puts 10 % of equity into the order).
    """

    __slots__ = ("_fraction", "fraction")

    def __init__(self, fraction: DecimalLike) -> None:
        dec = _decimal(fraction, "fraction")
        if not 0 < dec <= 1:
            raise ValueRangeError(f"fraction must be in (0, 1], got {dec}")
        self.fraction = dec
        self._fraction = Fraction(dec)

    def size(self, instrument: Instrument, price: Price, equity: Money) -> Quantity:
        return _on_grid(instrument, _units_for(instrument, price, equity, self._fraction), None, None)

    def __repr__(self) -> str:
        return f"FixedFraction({self.fraction})"


class FractionalKelly:
    """A fraction of the Kelly bet for a strategy with a known edge.

    The Kelly fraction is ``f* = p - (1 - p) / b`` for win probability ``p`` and payoff ratio
    ``b`` (average win / average loss). The order's notional is ``equity x f* x fraction``;
    ``f* <= 0`` (no edge) sizes zero. The quantity is capped at ``max_quantity`` and is zero
    when below ``min_quantity``: the sizer never bets more than the edge warrants to reach a
    minimum.

    Parameters
    ----------
    win_probability:
        ``0 < p < 1``.
    payoff_ratio:
        ``b > 0``.
    fraction:
        Share of the full Kelly bet, ``0 < fraction <= 1`` (half Kelly by default).
    min_quantity, max_quantity:
        Optional bounds in the instrument's units (``Quantity`` or decimal),
        ``min_quantity <= max_quantity``.
    """

    __slots__ = (
        "_bet",
        "_max",
        "_min",
        "fraction",
        "max_quantity",
        "min_quantity",
        "payoff_ratio",
        "win_probability",
    )

    def __init__(
        self,
        win_probability: DecimalLike,
        payoff_ratio: DecimalLike,
        fraction: DecimalLike = Decimal("0.5"),
        *,
        min_quantity: QuantityLike | None = None,
        max_quantity: QuantityLike | None = None,
    ) -> None:
        p = _decimal(win_probability, "win_probability")
        b = _decimal(payoff_ratio, "payoff_ratio")
        f = _decimal(fraction, "fraction")
        if not 0 < p < 1:
            raise ValueRangeError(f"win_probability must be in (0, 1), got {p}")
        if b <= 0:
            raise ValueRangeError(f"payoff_ratio must be positive, got {b}")
        if not 0 < f <= 1:
            raise ValueRangeError(f"fraction must be in (0, 1], got {f}")
        self._min = None if min_quantity is None else _quantity_raw(min_quantity, "min_quantity")
        self._max = None if max_quantity is None else _quantity_raw(max_quantity, "max_quantity")
        if self._min is not None and self._max is not None and self._min > self._max:
            raise ValueRangeError(f"min_quantity {min_quantity} is above max_quantity {max_quantity}")
        self.win_probability = p
        self.payoff_ratio = b
        self.fraction = f
        self.min_quantity = None if min_quantity is None else _quantity_decimal(min_quantity, "min_quantity")
        self.max_quantity = None if max_quantity is None else _quantity_decimal(max_quantity, "max_quantity")
        self._bet = self.kelly_fraction * Fraction(f)

    @property
    def kelly_fraction(self) -> Fraction:
        """The full Kelly fraction ``f* = p - (1 - p) / b``, exact (may be zero or negative)."""
        p = Fraction(self.win_probability)
        return p - (1 - p) / Fraction(self.payoff_ratio)

    def size(self, instrument: Instrument, price: Price, equity: Money) -> Quantity:
        return _on_grid(instrument, _units_for(instrument, price, equity, self._bet), self._min, self._max)

    def __repr__(self) -> str:
        return (
            f"FractionalKelly(win_probability={self.win_probability}, payoff_ratio={self.payoff_ratio}, "
            f"fraction={self.fraction}, min_quantity={self.min_quantity}, max_quantity={self.max_quantity})"
        )
