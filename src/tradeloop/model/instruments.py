"""Instruments: what can be traded, with its price and size grids.

Every instrument has a price increment and a size increment; prices and sizes off the grid are
invalid. The ledger relies on ``price_precision + size_precision <= FIXED_PRECISION`` so that a
notional (price x size x multiplier) is exact; construction checks it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum

from tradeloop.core.errors import ValueRangeError
from tradeloop.core.ids import InstrumentId, instrument_id, split_instrument_id
from tradeloop.model.objects import FIXED_PRECISION, FIXED_SCALAR, Price, Quantity, currency_precision

__all__ = [
    "AssetClass",
    "BinaryEventContract",
    "CryptoSpot",
    "Equity",
    "FuturesContract",
    "FxPair",
    "Instrument",
]


class AssetClass(StrEnum):
    EQUITY = "EQUITY"
    CRYPTO_SPOT = "CRYPTO_SPOT"
    FX = "FX"
    FUTURE = "FUTURE"
    EVENT_CONTRACT = "EVENT_CONTRACT"


@dataclass(frozen=True, slots=True, kw_only=True)
class Instrument:
    """A tradable instrument.

    Parameters
    ----------
    id:
        ``SYMBOL.VENUE``.
    price_increment, size_increment:
        Decimal strings such as ``"0.25"``; they set the precisions.
    quote_currency:
        Currency that prices, P&L and fees are in.
    multiplier:
        Contract multiplier (an E-mini S&P 500 point is worth 50 USD).
    maker_fee, taker_fee:
        Fee rates as fractions of notional (``"0.0002"`` is 2 bps); negative is a rebate.
    min_price, max_price:
        Optional price band the venue accepts.
    expiry_ns:
        When the contract expires or settles (futures, event contracts); ``None`` if never.
    """

    id: InstrumentId
    asset_class: AssetClass
    price_increment: Price
    size_increment: Quantity
    quote_currency: str
    multiplier: int = 1
    maker_fee: Decimal = Decimal(0)
    taker_fee: Decimal = Decimal(0)
    min_price: Price | None = None
    max_price: Price | None = None
    min_quantity: Quantity | None = None
    expiry_ns: int | None = None
    maker_fee_raw: int = field(init=False)
    taker_fee_raw: int = field(init=False)

    def __post_init__(self) -> None:
        instrument_id(self.id)
        currency_precision(self.quote_currency)
        if self.price_increment.raw <= 0 or self.size_increment.raw <= 0:
            raise ValueRangeError(f"{self.id}: increments must be positive")
        if self.price_precision + self.size_precision > FIXED_PRECISION:
            raise ValueRangeError(
                f"{self.id}: price precision {self.price_precision} + size precision "
                f"{self.size_precision} exceeds {FIXED_PRECISION}; notionals would not be exact"
            )
        if self.multiplier < 1:
            raise ValueRangeError(f"{self.id}: multiplier must be a positive integer")
        for name in ("maker_fee", "taker_fee"):
            rate = Decimal(getattr(self, name))
            if not rate.is_finite() or abs(rate) >= 1:
                raise ValueRangeError(f"{self.id}: {name} {rate} is not a fee rate")
            scaled = rate.scaleb(FIXED_PRECISION)
            if scaled != scaled.to_integral_value():
                raise ValueRangeError(f"{self.id}: {name} {rate} has more than 9 decimal places")
            object.__setattr__(self, name, rate)
            object.__setattr__(self, f"{name}_raw", int(scaled))
        if self.min_price is not None and self.max_price is not None and self.min_price > self.max_price:
            raise ValueRangeError(f"{self.id}: min_price is above max_price")
        if self.expiry_ns is not None and self.expiry_ns <= 0:
            raise ValueRangeError(f"{self.id}: expiry must be a positive time")

    @property
    def symbol(self) -> str:
        return split_instrument_id(self.id)[0]

    @property
    def venue(self) -> str:
        return split_instrument_id(self.id)[1]

    @property
    def price_precision(self) -> int:
        return self.price_increment.precision

    @property
    def size_precision(self) -> int:
        return self.size_increment.precision

    def make_price(self, value: Decimal | str | int | float) -> Price:
        """A price at this instrument's precision; raises if it is off the tick grid."""
        price = Price.from_decimal(value, self.price_precision)
        if price.raw % self.price_increment.raw:
            raise ValueRangeError(f"{self.id}: price {value} is not a multiple of {self.price_increment}")
        return price

    def make_qty(self, value: Decimal | str | int | float) -> Quantity:
        """A quantity at this instrument's precision; raises if it is off the size grid."""
        qty = Quantity.from_decimal(value, self.size_precision)
        if qty.raw % self.size_increment.raw:
            raise ValueRangeError(f"{self.id}: size {value} is not a multiple of {self.size_increment}")
        return qty

    def price_from_raw(self, raw: int) -> Price:
        return Price(raw, self.price_precision)

    def exact_price(self, raw: int) -> Price:
        """A price for any raw: at the instrument's precision when on it, else with the few
        more decimals it needs (a quote's mid, a percentage of a price)."""
        precision = self.price_precision
        step = 10 ** (FIXED_PRECISION - precision)
        while precision < FIXED_PRECISION and raw % step:
            precision += 1
            step //= 10
        return Price(raw, precision)

    def qty_from_raw(self, raw: int) -> Quantity:
        return Quantity(raw, self.size_precision)

    def round_price_raw(self, raw: int, *, up: bool) -> int:
        """Snap a raw price onto the tick grid, up or down."""
        inc = self.price_increment.raw
        q = -(-raw // inc) if up else raw // inc
        return q * inc

    def round_qty_raw_down(self, raw: int) -> int:
        inc = self.size_increment.raw
        return (raw // inc) * inc

    def price_problem(self, price: Price) -> str | None:
        """Why ``price`` is not acceptable here, or ``None`` when it is."""
        if price.raw % self.price_increment.raw:
            return f"price {price} is not a multiple of the tick size {self.price_increment}"
        if self.min_price is not None and price.raw < self.min_price.raw:
            return f"price {price} is below the minimum {self.min_price}"
        if self.max_price is not None and price.raw > self.max_price.raw:
            return f"price {price} is above the maximum {self.max_price}"
        return None

    def quantity_problem(self, qty: Quantity) -> str | None:
        """Why ``qty`` is not acceptable here, or ``None`` when it is."""
        if qty.raw <= 0:
            return "quantity must be positive"
        if qty.raw % self.size_increment.raw:
            return f"quantity {qty} is not a multiple of the lot size {self.size_increment}"
        if self.min_quantity is not None and qty.raw < self.min_quantity.raw:
            return f"quantity {qty} is below the minimum {self.min_quantity}"
        return None

    def notional_raw(self, price_raw: int, qty_raw: int) -> int:
        """Exact notional raw (currency units x 10**9) of ``qty`` at ``price``."""
        return price_raw * qty_raw * self.multiplier // FIXED_SCALAR


def _inc_price(text: str) -> Price:
    return Price.from_str(text)


def _inc_qty(text: str) -> Quantity:
    return Quantity.from_str(text)


def _spot(
    asset_class: AssetClass, symbol_venue: str, currency: str, tick: str, lot: str, maker: str, taker: str
) -> Instrument:
    """An instrument bought outright in lots, priced on a tick grid from one tick upward."""
    return Instrument(
        id=instrument_id(symbol_venue),
        asset_class=asset_class,
        price_increment=_inc_price(tick),
        size_increment=_inc_qty(lot),
        quote_currency=currency,
        maker_fee=Decimal(maker),
        taker_fee=Decimal(taker),
        min_price=_inc_price(tick),
    )


def Equity(  # noqa: N802 - reads as a type at call sites
    symbol_venue: str,
    *,
    currency: str = "USD",
    tick: str = "0.01",
    lot: str = "1",
    maker_fee: str = "0",
    taker_fee: str = "0",
) -> Instrument:
    """A share of stock: cents and whole shares by default."""
    return _spot(AssetClass.EQUITY, symbol_venue, currency, tick, lot, maker_fee, taker_fee)


def CryptoSpot(  # noqa: N802
    symbol_venue: str,
    *,
    quote_currency: str = "USDT",
    tick: str = "0.01",
    lot: str = "0.000001",
    maker_fee: str = "0.001",
    taker_fee: str = "0.001",
) -> Instrument:
    """A spot crypto pair such as ``BTCUSDT.BINANCE``."""
    return _spot(AssetClass.CRYPTO_SPOT, symbol_venue, quote_currency, tick, lot, maker_fee, taker_fee)


def FxPair(  # noqa: N802
    symbol_venue: str,
    *,
    quote_currency: str = "USD",
    tick: str = "0.00001",
    lot: str = "1000",
    maker_fee: str = "0",
    taker_fee: str = "0.00002",
) -> Instrument:
    """A spot FX pair such as ``EURUSD.SIM``: pipettes and thousand-unit lots by default."""
    return _spot(AssetClass.FX, symbol_venue, quote_currency, tick, lot, maker_fee, taker_fee)


def FuturesContract(  # noqa: N802
    symbol_venue: str,
    *,
    currency: str = "USD",
    tick: str = "0.25",
    multiplier: int = 50,
    maker_fee: str = "0",
    taker_fee: str = "0",
    expiry_ns: int | None = None,
) -> Instrument:
    """A futures contract; the E-mini S&P 500 defaults (0.25 tick, 50 USD a point)."""
    return Instrument(
        id=instrument_id(symbol_venue),
        asset_class=AssetClass.FUTURE,
        price_increment=_inc_price(tick),
        size_increment=_inc_qty("1"),
        quote_currency=currency,
        multiplier=multiplier,
        maker_fee=Decimal(maker_fee),
        taker_fee=Decimal(taker_fee),
        expiry_ns=expiry_ns,
    )


def BinaryEventContract(  # noqa: N802
    symbol_venue: str,
    *,
    currency: str = "USD",
    maker_fee: str = "0",
    taker_fee: str = "0",
    expiry_ns: int | None = None,
) -> Instrument:
    """A binary event contract: pays 1.00 if the event happens, trades from 0.01 to 0.99."""
    return Instrument(
        id=instrument_id(symbol_venue),
        asset_class=AssetClass.EVENT_CONTRACT,
        price_increment=_inc_price("0.01"),
        size_increment=_inc_qty("1"),
        quote_currency=currency,
        maker_fee=Decimal(maker_fee),
        taker_fee=Decimal(taker_fee),
        min_price=_inc_price("0.01"),
        max_price=_inc_price("0.99"),
        expiry_ns=expiry_ns,
    )
