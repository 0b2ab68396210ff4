"""Enumerations of the trading domain (string values: readable in logs and the event log)."""

from __future__ import annotations

from enum import StrEnum

__all__ = [
    "AggressorSide",
    "BarAggregation",
    "LiquiditySide",
    "OrderSide",
    "OrderStatus",
    "OrderType",
    "PositionSide",
    "TimeInForce",
    "TrailingOffsetType",
]


class OrderSide(StrEnum):
    BUY = "BUY"
    SELL = "SELL"

    @property
    def sign(self) -> int:
        return 1 if self is OrderSide.BUY else -1

    @property
    def opposite(self) -> OrderSide:
        return OrderSide.SELL if self is OrderSide.BUY else OrderSide.BUY


class OrderType(StrEnum):
    MARKET = "MARKET"
    LIMIT = "LIMIT"
    STOP_MARKET = "STOP_MARKET"
    STOP_LIMIT = "STOP_LIMIT"
    TRAILING_STOP_MARKET = "TRAILING_STOP_MARKET"


class TimeInForce(StrEnum):
    GTC = "GTC"
    IOC = "IOC"
    FOK = "FOK"
    DAY = "DAY"


class TrailingOffsetType(StrEnum):
    PRICE = "PRICE"
    """The offset is an absolute price distance."""
    BASIS_POINTS = "BASIS_POINTS"
    """The offset is in basis points of the reference price."""


class OrderStatus(StrEnum):
    INITIALIZED = "INITIALIZED"
    DENIED = "DENIED"
    SUBMITTED = "SUBMITTED"
    ACCEPTED = "ACCEPTED"
    REJECTED = "REJECTED"
    TRIGGERED = "TRIGGERED"
    PENDING_UPDATE = "PENDING_UPDATE"
    PENDING_CANCEL = "PENDING_CANCEL"
    PARTIALLY_FILLED = "PARTIALLY_FILLED"
    FILLED = "FILLED"
    CANCELED = "CANCELED"
    EXPIRED = "EXPIRED"

    @property
    def is_closed(self) -> bool:
        return self in _CLOSED

    @property
    def is_open(self) -> bool:
        return self in _OPEN


_CLOSED = frozenset(
    {OrderStatus.DENIED, OrderStatus.REJECTED, OrderStatus.FILLED, OrderStatus.CANCELED, OrderStatus.EXPIRED}
)
_OPEN = frozenset(
    {
        OrderStatus.ACCEPTED,
        OrderStatus.TRIGGERED,
        OrderStatus.PENDING_UPDATE,
        OrderStatus.PENDING_CANCEL,
        OrderStatus.PARTIALLY_FILLED,
    }
)


class PositionSide(StrEnum):
    FLAT = "FLAT"
    LONG = "LONG"
    SHORT = "SHORT"


class LiquiditySide(StrEnum):
    MAKER = "MAKER"
    TAKER = "TAKER"


class AggressorSide(StrEnum):
    NO_AGGRESSOR = "NO_AGGRESSOR"
    BUYER = "BUYER"
    SELLER = "SELLER"


class BarAggregation(StrEnum):
    SECOND = "SECOND"
    MINUTE = "MINUTE"
    HOUR = "HOUR"
    DAY = "DAY"
