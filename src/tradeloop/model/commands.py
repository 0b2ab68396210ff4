"""Trading commands (imperative): what strategies ask the engine to do."""

from __future__ import annotations

from typing import ClassVar

import msgspec

from tradeloop.core.errors import ValueRangeError
from tradeloop.core.ids import ClientOrderId, InstrumentId, StrategyId
from tradeloop.core.message import Command, Lane
from tradeloop.model.enums import OrderSide, OrderType, TimeInForce, TrailingOffsetType
from tradeloop.model.objects import Price, Quantity

__all__ = [
    "CancelAllOrders",
    "CancelOrder",
    "ClosePosition",
    "FlattenAll",
    "ModifyOrder",
    "OrderSpec",
    "SubmitOrder",
    "TradingCommand",
]

_NEEDS_PRICE = frozenset({OrderType.LIMIT, OrderType.STOP_LIMIT})
_NEEDS_TRIGGER = frozenset({OrderType.STOP_MARKET, OrderType.STOP_LIMIT})


class OrderSpec(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """Everything an order is created with; validated when built.

    A trailing stop keeps its trigger ``trailing_offset`` away from the best price seen since
    it was accepted (for a sell stop: below the highest price; for a buy stop: above the
    lowest), as a price distance or in basis points.
    """

    client_order_id: ClientOrderId
    strategy_id: StrategyId
    instrument_id: InstrumentId
    side: OrderSide
    order_type: OrderType
    quantity: Quantity
    price: Price | None = None
    trigger_price: Price | None = None
    time_in_force: TimeInForce = TimeInForce.GTC
    reduce_only: bool = False
    post_only: bool = False
    trailing_offset: int = 0
    trailing_offset_type: TrailingOffsetType = TrailingOffsetType.PRICE
    expire_time_ns: int | None = None
    tags: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        where = f"order {self.client_order_id}"
        if self.quantity.raw <= 0:
            raise ValueRangeError(f"{where}: quantity must be positive")
        if self.order_type in _NEEDS_PRICE and self.price is None:
            raise ValueRangeError(f"{where}: a {self.order_type.value} order needs a price")
        if self.order_type in _NEEDS_TRIGGER and self.trigger_price is None:
            raise ValueRangeError(f"{where}: a {self.order_type.value} order needs a trigger price")
        if self.order_type is OrderType.MARKET and (self.price is not None or self.post_only):
            raise ValueRangeError(f"{where}: a market order takes no price and cannot be post-only")
        if self.order_type is OrderType.TRAILING_STOP_MARKET:
            if self.trailing_offset <= 0:
                raise ValueRangeError(f"{where}: a trailing stop needs a positive trailing offset")
        elif self.trailing_offset:
            raise ValueRangeError(f"{where}: only trailing stops take a trailing offset")
        if self.post_only and self.order_type is not OrderType.LIMIT:
            raise ValueRangeError(f"{where}: only limit orders can be post-only")
        if self.expire_time_ns is not None and self.expire_time_ns <= 0:
            raise ValueRangeError(f"{where}: expire time must be positive")


class TradingCommand(Command, frozen=True, kw_only=True, gc=False):
    """Base of the commands the risk engine sees before execution."""

    LANE: ClassVar[Lane] = Lane.HIGH

    strategy_id: StrategyId
    instrument_id: InstrumentId


class SubmitOrder(TradingCommand, frozen=True, kw_only=True, gc=False):
    order: OrderSpec


class CancelOrder(TradingCommand, frozen=True, kw_only=True, gc=False):
    client_order_id: ClientOrderId


class ModifyOrder(TradingCommand, frozen=True, kw_only=True, gc=False):
    client_order_id: ClientOrderId
    quantity: Quantity | None = None
    price: Price | None = None
    trigger_price: Price | None = None


class CancelAllOrders(TradingCommand, frozen=True, kw_only=True, gc=False):
    """Cancel every open order of the strategy on the instrument."""


class ClosePosition(Command, frozen=True, kw_only=True, gc=False):
    """Close one position now (an operator's manual close): a CRITICAL exit.

    Not a :class:`TradingCommand`: it is not an order. The exit executor turns it into
    reduce-only orders, which pass the risk engine like any other order.
    """

    LANE: ClassVar[Lane] = Lane.CRITICAL

    strategy_id: StrategyId
    instrument_id: InstrumentId
    reason: str


class FlattenAll(Command, frozen=True, kw_only=True, gc=False):
    """Close every open position with market orders (kill switch, circuit breaker)."""

    LANE: ClassVar[Lane] = Lane.CRITICAL

    reason: str
    source: str
