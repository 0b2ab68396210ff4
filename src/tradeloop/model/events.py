"""Domain events (facts, past tense)."""

from __future__ import annotations

from enum import StrEnum
from typing import ClassVar

from tradeloop.core.ids import (
    AccountId,
    ClientOrderId,
    InstrumentId,
    PositionId,
    StrategyId,
    TradeId,
    VenueOrderId,
)
from tradeloop.core.message import Event, Lane
from tradeloop.model.enums import LiquiditySide, OrderSide, OrderType, PositionSide
from tradeloop.model.objects import Money, Price, Quantity

__all__ = [
    "AccountStateChanged",
    "Alert",
    "AlertSeverity",
    "ComponentStateChanged",
    "OrderAccepted",
    "OrderCancelRejected",
    "OrderCanceled",
    "OrderDenied",
    "OrderEvent",
    "OrderExpired",
    "OrderFilled",
    "OrderModifyRejected",
    "OrderPendingCancel",
    "OrderPendingUpdate",
    "OrderRejected",
    "OrderSubmitted",
    "OrderTriggered",
    "OrderUpdated",
    "PositionChanged",
    "PositionClosed",
    "PositionEvent",
    "PositionOpened",
    "RegimeChanged",
    "StoreErrorOccurred",
    "VenueErrorOccurred",
]


class OrderEvent(Event, frozen=True, kw_only=True, gc=False):
    """Base of every event in an order's life."""

    strategy_id: StrategyId
    instrument_id: InstrumentId
    client_order_id: ClientOrderId


class OrderDenied(OrderEvent, frozen=True, kw_only=True, gc=False):
    """The risk engine refused the order before it reached a venue."""

    reason: str


class OrderSubmitted(OrderEvent, frozen=True, kw_only=True, gc=False):
    account_id: AccountId


class OrderAccepted(OrderEvent, frozen=True, kw_only=True, gc=False):
    venue_order_id: VenueOrderId


class OrderRejected(OrderEvent, frozen=True, kw_only=True, gc=False):
    """The venue refused the order."""

    reason: str


class OrderTriggered(OrderEvent, frozen=True, kw_only=True, gc=False):
    """A stop order's trigger price was reached."""


class OrderPendingUpdate(OrderEvent, frozen=True, kw_only=True, gc=False):
    pass


class OrderPendingCancel(OrderEvent, frozen=True, kw_only=True, gc=False):
    pass


class OrderUpdated(OrderEvent, frozen=True, kw_only=True, gc=False):
    quantity: Quantity
    price: Price | None = None
    trigger_price: Price | None = None


class OrderModifyRejected(OrderEvent, frozen=True, kw_only=True, gc=False):
    reason: str


class OrderCancelRejected(OrderEvent, frozen=True, kw_only=True, gc=False):
    reason: str


class OrderCanceled(OrderEvent, frozen=True, kw_only=True, gc=False):
    pass


class OrderExpired(OrderEvent, frozen=True, kw_only=True, gc=False):
    pass


class OrderFilled(OrderEvent, frozen=True, kw_only=True, gc=False):
    """Some or all of an order traded at ``last_px``."""

    venue_order_id: VenueOrderId
    account_id: AccountId
    trade_id: TradeId
    order_side: OrderSide
    order_type: OrderType
    last_qty: Quantity
    last_px: Price
    commission: Money
    liquidity_side: LiquiditySide


class PositionEvent(Event, frozen=True, kw_only=True, gc=False):
    """Base of position events: the position after the fill that caused the event."""

    strategy_id: StrategyId
    instrument_id: InstrumentId
    position_id: PositionId
    side: PositionSide
    quantity: Quantity
    avg_px_open: str
    realized_pnl: Money
    last_px: Price


class PositionOpened(PositionEvent, frozen=True, kw_only=True, gc=False):
    pass


class PositionChanged(PositionEvent, frozen=True, kw_only=True, gc=False):
    pass


class PositionClosed(PositionEvent, frozen=True, kw_only=True, gc=False):
    duration_ns: int


class AccountStateChanged(Event, frozen=True, kw_only=True, gc=False):
    """Cash and fees after a fill."""

    account_id: AccountId
    cash: Money
    commissions: Money


class RegimeChanged(Event, frozen=True, kw_only=True, gc=False):
    """The market regime of an instrument changed (``TRENDING``, ``RANGING``, ``VOLATILE``)."""

    instrument_id: InstrumentId
    regime: str
    previous: str


class ComponentStateChanged(Event, frozen=True, kw_only=True, gc=False):
    """A component moved through its lifecycle table."""

    LANE: ClassVar[Lane] = Lane.LOW

    component: str
    previous: str
    state: str


class AlertSeverity(StrEnum):
    INFO = "INFO"
    WARNING = "WARNING"
    CRITICAL = "CRITICAL"


class Alert(Event, frozen=True, kw_only=True, gc=False):
    """Something a person should look at: a failed exit, a stale position, a tripped breaker.

    ``kind`` is a stable machine-readable name (``exit_failed``, ``position_stale``,
    ``breaker_tripped``, ...); ``message`` says what happened in words. Alerts ride the HIGH
    lane: they are never conflated or dropped.
    """

    severity: AlertSeverity
    source: str
    kind: str
    message: str
    instrument_id: InstrumentId | None = None


class VenueErrorOccurred(Event, frozen=True, kw_only=True, gc=False):
    """A venue call failed (an API error, a timeout, a broken connection), not a refusal."""

    venue: str
    operation: str
    error: str


class StoreErrorOccurred(Event, frozen=True, kw_only=True, gc=False):
    """Writing to or reading from the event store failed."""

    operation: str
    error: str
