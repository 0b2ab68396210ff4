"""Exact value types: :class:`Price`, :class:`Quantity`, :class:`Money`.

Each holds a ``raw`` integer: the value times ``10**FIXED_PRECISION`` (one scale for all, so
raws of different precisions compare and add directly), plus its decimal precision. Building
one from a value it cannot represent raises :class:`~tradeloop.core.errors.ValueRangeError`:
non-finite input, more decimals than the precision, a raw outside the signed 64-bit range
(what the event log and Parquet store), or a negative quantity.

The ledger works on raws: ``price.raw * qty.raw // FIXED_SCALAR`` is exact whenever price and
size precision add up to at most ``FIXED_PRECISION`` (every :class:`Instrument` checks this).
Fees are rounded half-to-even to the currency's precision, the one place rounding happens.
"""

from __future__ import annotations

import math
from decimal import Decimal, InvalidOperation
from typing import Final

import msgspec

from tradeloop.core.errors import ValueRangeError

__all__ = [
    "CURRENCY_PRECISION",
    "FIXED_PRECISION",
    "FIXED_SCALAR",
    "MAX_RAW",
    "Money",
    "Price",
    "Quantity",
    "currency_precision",
    "fee_raw",
    "raw_from_decimal",
    "raw_to_decimal",
    "round_raw_half_even",
]

FIXED_PRECISION: Final = 9
FIXED_SCALAR: Final = 10**FIXED_PRECISION
MAX_RAW: Final = 2**63 - 1

CURRENCY_PRECISION: Final[dict[str, int]] = {
    "USD": 2,
    "EUR": 2,
    "GBP": 2,
    "CHF": 2,
    "CAD": 2,
    "AUD": 2,
    "JPY": 0,
    "USDT": 8,
    "USDC": 8,
    "BTC": 8,
    "ETH": 8,
}

_STEP: Final[tuple[int, ...]] = tuple(10 ** (FIXED_PRECISION - p) for p in range(FIXED_PRECISION + 1))


def currency_precision(code: str) -> int:
    """Decimal places of a currency code; raises ``ValueRangeError`` for an unknown one."""
    try:
        return CURRENCY_PRECISION[code]
    except KeyError:
        raise ValueRangeError(f"unknown currency {code!r}") from None


def _approx(raw: int) -> str:
    # Decimal, not float: a raw past the float range must still produce an error message.
    return f"{Decimal(raw).scaleb(-FIXED_PRECISION):.6g}"


def _check(raw: int, precision: int, what: str) -> None:
    if not 0 <= precision <= FIXED_PRECISION:
        raise ValueRangeError(f"{what}: precision {precision} outside 0..{FIXED_PRECISION}")
    if raw > MAX_RAW or raw < -MAX_RAW:
        raise ValueRangeError(f"{what}: value {_approx(raw)} overflows the fixed-point range")
    if raw % _STEP[precision]:
        raise ValueRangeError(f"{what}: {raw_to_decimal(raw)} has more than {precision} decimal places")


def raw_from_decimal(value: Decimal | str | int | float, precision: int) -> int:
    """Exact raw of ``value`` at ``precision``; raises if it is not finite or needs rounding."""
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueRangeError(f"value must be finite, got {value}")
        value = repr(value)  # shortest repr: 0.1 -> "0.1", not the binary expansion
    try:
        dec = Decimal(value)
    except (InvalidOperation, ValueError):
        raise ValueRangeError(f"not a number: {value!r}") from None
    if not dec.is_finite():
        raise ValueRangeError(f"value must be finite, got {value}")
    if not 0 <= precision <= FIXED_PRECISION:
        raise ValueRangeError(f"precision {precision} outside 0..{FIXED_PRECISION}")
    scaled = dec.scaleb(FIXED_PRECISION)
    if scaled != scaled.to_integral_value():
        raise ValueRangeError(f"{value} has more than {FIXED_PRECISION} decimal places")
    raw = int(scaled)
    if raw % _STEP[precision]:
        raise ValueRangeError(f"{value} has more than {precision} decimal places")
    return raw


def raw_to_decimal(raw: int, precision: int = FIXED_PRECISION) -> Decimal:
    """The exact decimal of a raw, shown with ``precision`` places."""
    return (Decimal(raw).scaleb(-FIXED_PRECISION)).quantize(Decimal(1).scaleb(-precision))


def round_raw_half_even(raw: int, precision: int) -> int:
    """Round a raw to ``precision`` decimal places, half to even."""
    step = _STEP[precision]
    q, r = divmod(raw, step)
    twice = 2 * r
    if twice > step or (twice == step and q % 2):
        q += 1
    return q * step


def fee_raw(notional_raw: int, rate_raw: int, precision: int) -> int:
    """Commission raw of ``notional_raw`` at fee rate ``rate_raw`` (both scaled by 10**9).

    The exact product is rounded half to even to ``precision`` decimals (the currency's): the
    one documented rounding in the ledger. A negative rate is a rebate (negative fee).
    """
    exact = abs(notional_raw) * abs(rate_raw)  # scale 10**18
    step: int = 10 ** (2 * FIXED_PRECISION - precision)
    q, r = divmod(exact, step)
    if 2 * r > step or (2 * r == step and q % 2):
        q += 1
    value = q * _STEP[precision]
    return -value if rate_raw < 0 else value  # the sign is the rate's: a rebate, never the price's


def _decimals_of(text: str) -> int:
    text = text.strip().lower()
    if "e" in text:
        try:
            exponent = Decimal(text).as_tuple().exponent
        except InvalidOperation:
            raise ValueRangeError(f"not a number: {text!r}") from None
        return max(0, -exponent) if isinstance(exponent, int) else 0
    _, _, frac = text.partition(".")
    return len(frac)


class Price(msgspec.Struct, frozen=True, array_like=True, gc=False):
    """A price: ``raw / 10**9`` shown with ``precision`` decimals. May be negative."""

    raw: int
    precision: int

    def __post_init__(self) -> None:
        # One combined check on the hot path (decoding, the backtest); the detailed one only
        # runs to name what is wrong.
        raw = self.raw
        precision = self.precision
        if not (
            0 <= precision <= FIXED_PRECISION and -MAX_RAW <= raw <= MAX_RAW and not raw % _STEP[precision]
        ):
            _check(raw, precision, "Price")

    @classmethod
    def from_str(cls, text: str) -> Price:
        """``Price.from_str("1640.25")`` has precision 2."""
        precision = _decimals_of(text)
        return cls(raw_from_decimal(text, precision), precision)

    @classmethod
    def from_decimal(cls, value: Decimal | str | int | float, precision: int) -> Price:
        return cls(raw_from_decimal(value, precision), precision)

    def as_decimal(self) -> Decimal:
        return raw_to_decimal(self.raw, self.precision)

    def as_double(self) -> float:
        return self.raw / FIXED_SCALAR

    def __float__(self) -> float:
        return self.raw / FIXED_SCALAR

    def __str__(self) -> str:
        return f"{self.as_decimal():f}"  # positional: str() would print 0.00000001 as 1E-8

    def __add__(self, other: Price) -> Price:
        return Price(self.raw + other.raw, max(self.precision, other.precision))

    def __sub__(self, other: Price) -> Price:
        return Price(self.raw - other.raw, max(self.precision, other.precision))

    def __neg__(self) -> Price:
        return Price(-self.raw, self.precision)

    # Compared and hashed by value, like Decimal: 1 and 1.00 are equal; the precision is how
    # it is shown. (The generated order would break ties of equal raws by precision.)
    def __eq__(self, other: object) -> bool:
        return self.raw == other.raw if type(other) is Price else NotImplemented

    def __ne__(self, other: object) -> bool:
        return self.raw != other.raw if type(other) is Price else NotImplemented

    def __lt__(self, other: Price) -> bool:
        return self.raw < other.raw if type(other) is Price else NotImplemented

    def __le__(self, other: Price) -> bool:
        return self.raw <= other.raw if type(other) is Price else NotImplemented

    def __gt__(self, other: Price) -> bool:
        return self.raw > other.raw if type(other) is Price else NotImplemented

    def __ge__(self, other: Price) -> bool:
        return self.raw >= other.raw if type(other) is Price else NotImplemented

    def __hash__(self) -> int:
        return hash(self.raw)


class Quantity(msgspec.Struct, frozen=True, array_like=True, gc=False):
    """A non-negative amount of an instrument: ``raw / 10**9`` with ``precision`` decimals."""

    raw: int
    precision: int

    def __post_init__(self) -> None:
        raw = self.raw
        precision = self.precision
        if 0 <= precision <= FIXED_PRECISION and 0 <= raw <= MAX_RAW and not raw % _STEP[precision]:
            return  # the hot path: valid; the checks below only run to name what is wrong
        if self.raw < 0:
            shown = raw_to_decimal(self.raw) if self.raw >= -MAX_RAW else _approx(self.raw)
            raise ValueRangeError(f"Quantity must not be negative, got {shown}")
        _check(self.raw, self.precision, "Quantity")

    @classmethod
    def from_str(cls, text: str) -> Quantity:
        precision = _decimals_of(text)
        return cls(raw_from_decimal(text, precision), precision)

    @classmethod
    def from_decimal(cls, value: Decimal | str | int | float, precision: int) -> Quantity:
        return cls(raw_from_decimal(value, precision), precision)

    @classmethod
    def from_int(cls, value: int) -> Quantity:
        return cls(value * FIXED_SCALAR, 0)

    def as_decimal(self) -> Decimal:
        return raw_to_decimal(self.raw, self.precision)

    def as_double(self) -> float:
        return self.raw / FIXED_SCALAR

    def __float__(self) -> float:
        return self.raw / FIXED_SCALAR

    def __str__(self) -> str:
        return f"{self.as_decimal():f}"  # positional: str() would print 0.00000001 as 1E-8

    def __bool__(self) -> bool:
        return self.raw != 0

    def __add__(self, other: Quantity) -> Quantity:
        return Quantity(self.raw + other.raw, max(self.precision, other.precision))

    def __sub__(self, other: Quantity) -> Quantity:
        return Quantity(self.raw - other.raw, max(self.precision, other.precision))

    # Compared and hashed by value, like Decimal: 1 and 1.00 are equal; the precision is how
    # it is shown. (The generated order would break ties of equal raws by precision.)
    def __eq__(self, other: object) -> bool:
        return self.raw == other.raw if type(other) is Quantity else NotImplemented

    def __ne__(self, other: object) -> bool:
        return self.raw != other.raw if type(other) is Quantity else NotImplemented

    def __lt__(self, other: Quantity) -> bool:
        return self.raw < other.raw if type(other) is Quantity else NotImplemented

    def __le__(self, other: Quantity) -> bool:
        return self.raw <= other.raw if type(other) is Quantity else NotImplemented

    def __gt__(self, other: Quantity) -> bool:
        return self.raw > other.raw if type(other) is Quantity else NotImplemented

    def __ge__(self, other: Quantity) -> bool:
        return self.raw >= other.raw if type(other) is Quantity else NotImplemented

    def __hash__(self) -> int:
        return hash(self.raw)


class Money(msgspec.Struct, frozen=True, array_like=True, gc=False):
    """An exact amount of a currency: ``raw / 10**9``.

    Balances and P&L may carry more decimals than the currency's precision (a BTC trade quoted
    in USD moves cash by fractions of a cent); nothing rounds them. Only commissions are
    rounded to the currency (:func:`fee_raw`). The text form shows at least the currency's
    places and every further non-zero digit.
    """

    raw: int
    currency: str

    def __post_init__(self) -> None:
        raw = self.raw
        # The hot path; ``raw % 1`` keeps rejecting a fractional (float) raw as _check does.
        if self.currency in CURRENCY_PRECISION and -MAX_RAW <= raw <= MAX_RAW and not raw % 1:
            return
        currency_precision(self.currency)
        _check(self.raw, FIXED_PRECISION, f"Money({self.currency})")

    @classmethod
    def from_str(cls, text: str, currency: str) -> Money:
        currency_precision(currency)
        return cls(raw_from_decimal(text, FIXED_PRECISION), currency)

    @classmethod
    def from_decimal(cls, value: Decimal | str | int | float, currency: str) -> Money:
        currency_precision(currency)
        return cls(raw_from_decimal(value, FIXED_PRECISION), currency)

    @classmethod
    def zero(cls, currency: str) -> Money:
        return cls(0, currency)

    @property
    def precision(self) -> int:
        return CURRENCY_PRECISION[self.currency]

    def as_decimal(self) -> Decimal:
        """The exact amount, with at least the currency's decimal places."""
        places = CURRENCY_PRECISION[self.currency]
        step = _STEP[places]
        if self.raw % step == 0:
            return raw_to_decimal(self.raw, places)
        return Decimal(self.raw).scaleb(-FIXED_PRECISION).normalize()

    def as_double(self) -> float:
        return self.raw / FIXED_SCALAR

    def __float__(self) -> float:
        return self.raw / FIXED_SCALAR

    def __str__(self) -> str:
        return f"{self.as_decimal():f} {self.currency}"

    # Ordered only within a currency, as + and - are (the generated order would rank
    # currencies by name).
    def _same_currency(self, other: Money) -> None:
        if other.currency != self.currency:
            raise ValueRangeError(f"cannot compare {self} with {other}: different currencies")

    def __lt__(self, other: Money) -> bool:
        if type(other) is not Money:
            return NotImplemented
        self._same_currency(other)
        return self.raw < other.raw

    def __le__(self, other: Money) -> bool:
        if type(other) is not Money:
            return NotImplemented
        self._same_currency(other)
        return self.raw <= other.raw

    def __gt__(self, other: Money) -> bool:
        if type(other) is not Money:
            return NotImplemented
        self._same_currency(other)
        return self.raw > other.raw

    def __ge__(self, other: Money) -> bool:
        if type(other) is not Money:
            return NotImplemented
        self._same_currency(other)
        return self.raw >= other.raw

    def _same(self, other: Money) -> None:
        if other.currency != self.currency:
            raise ValueRangeError(f"cannot combine {self.currency} with {other.currency}")

    def __add__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.raw + other.raw, self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.raw - other.raw, self.currency)

    def __neg__(self) -> Money:
        return Money(-self.raw, self.currency)
