"""Exact decimal arithmetic for analysis: one explicit context, independent of the caller's.

``Decimal`` arithmetic rounds to the thread's current context (28 digits by default, and a
caller may change it). Sums of money here run under :data:`EXACT`, wide enough that adding
realistic amounts never rounds, and trapping invalid operations, so results do not depend on
who called us or from which thread.
"""

from __future__ import annotations

from decimal import (
    ROUND_HALF_EVEN,
    Context,
    Decimal,
    DivisionByZero,
    InvalidOperation,
    Overflow,
)

from tradeloop.core.errors import ValueRangeError

__all__ = ["EXACT", "decimal_places", "plain"]

EXACT = Context(
    prec=80,
    rounding=ROUND_HALF_EVEN,
    Emax=999_999,
    Emin=-999_999,
    traps=[InvalidOperation, DivisionByZero, Overflow],
)


def plain(value: Decimal) -> str:
    """``value`` as a plain decimal string, never in exponent notation (``1E+2`` -> ``100``)."""
    return format(value, "f")


def decimal_places(value: Decimal) -> int:
    """Digits after the decimal point in ``value``'s representation (0 for ``1E+2``)."""
    exponent = value.as_tuple().exponent
    if not isinstance(exponent, int):  # 'n', 'N' or 'F': NaN or infinity
        raise ValueRangeError(f"{value} is not a finite decimal")
    return max(0, -exponent)
