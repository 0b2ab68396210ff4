"""An order as the simulated venue holds it, and the report it gives out about one.

:class:`WorkingOrder` is the venue's private, mutable record: plain ints and flags so that
matching reads attributes, not properties. :class:`OrderReport` is the frozen snapshot that
:meth:`SimulatedExchange.open_orders` hands out for reconciliation.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from tradeloop.core.ids import ClientOrderId, InstrumentId, StrategyId, VenueOrderId
from tradeloop.model.commands import OrderSpec
from tradeloop.model.enums import OrderSide, OrderStatus, OrderType, TimeInForce, TrailingOffsetType
from tradeloop.model.instruments import Instrument
from tradeloop.model.objects import Price, Quantity

__all__ = [
    "MODE_LIMIT",
    "MODE_MARKET",
    "MODE_STOP_LIMIT",
    "MODE_STOP_MARKET",
    "MODE_TRAILING",
    "OrderReport",
    "WorkingOrder",
]

# How an order behaves right now. A stop changes mode when it triggers: a stop-market or
# trailing stop becomes MARKET, a stop-limit becomes LIMIT.
MODE_MARKET: Final = 0
MODE_LIMIT: Final = 1
MODE_STOP_MARKET: Final = 2
MODE_STOP_LIMIT: Final = 3
MODE_TRAILING: Final = 4

_MODE_OF_TYPE: Final = {
    OrderType.MARKET: MODE_MARKET,
    OrderType.LIMIT: MODE_LIMIT,
    OrderType.STOP_MARKET: MODE_STOP_MARKET,
    OrderType.STOP_LIMIT: MODE_STOP_LIMIT,
    OrderType.TRAILING_STOP_MARKET: MODE_TRAILING,
}


@dataclass(frozen=True, slots=True)
class OrderReport:
    """What the venue says about one of its orders."""

    client_order_id: ClientOrderId
    venue_order_id: VenueOrderId
    strategy_id: StrategyId
    instrument_id: InstrumentId
    side: OrderSide
    order_type: OrderType
    time_in_force: TimeInForce
    status: OrderStatus
    quantity: Quantity
    filled_qty: Quantity
    price: Price | None
    trigger_price: Price | None
    ts_accepted: int


class WorkingOrder:
    """The venue's record of one accepted order (mutable; never leaves the venue)."""

    __slots__ = (
        "best_raw",
        "client_order_id",
        "correlation_id",
        "expire_ns",
        "filled_raw",
        "frac_cap_raw",
        "has_best",
        "immediate_pending",
        "instrument",
        "instrument_id",
        "is_buy",
        "is_open",
        "last_event_id",
        "last_fill_dp",
        "maker_rate_raw",
        "mode",
        "order_type",
        "post_only",
        "price_raw",
        "quantity_raw",
        "reduce_only",
        "reserve_px_raw",
        "side",
        "spec",
        "status",
        "strategy_id",
        "taker_pending",
        "taker_rate_raw",
        "time_in_force",
        "trailing_bps",
        "trailing_offset",
        "trigger_raw",
        "ts_accepted",
        "venue_order_id",
    )

    def __init__(
        self,
        spec: OrderSpec,
        instrument: Instrument,
        venue_order_id: VenueOrderId,
        *,
        correlation_id: str,
        ts_accepted: int,
        maker_rate_raw: int,
        taker_rate_raw: int,
    ) -> None:
        self.spec = spec
        self.instrument = instrument
        self.client_order_id = spec.client_order_id
        self.strategy_id = spec.strategy_id
        self.instrument_id = spec.instrument_id
        self.venue_order_id = venue_order_id
        self.side = spec.side
        self.is_buy = spec.side is OrderSide.BUY
        self.order_type = spec.order_type
        self.time_in_force = spec.time_in_force
        self.reduce_only = spec.reduce_only
        self.post_only = spec.post_only
        self.mode: int = _MODE_OF_TYPE[spec.order_type]
        self.quantity_raw = spec.quantity.raw
        self.filled_raw = 0
        self.price_raw = spec.price.raw if spec.price is not None else 0
        self.trigger_raw = spec.trigger_price.raw if spec.trigger_price is not None else 0
        bps = spec.trailing_offset_type is TrailingOffsetType.BASIS_POINTS
        self.trailing_offset = spec.trailing_offset
        self.trailing_bps = bps
        self.best_raw = 0
        self.has_best = False
        self.taker_pending = False
        self.immediate_pending = False
        self.reserve_px_raw = 0
        self.frac_cap_raw = 0  # 0: no fault cap
        self.maker_rate_raw = maker_rate_raw
        self.taker_rate_raw = taker_rate_raw
        self.expire_ns = 0  # 0: never
        self.ts_accepted = ts_accepted
        self.status = OrderStatus.ACCEPTED
        self.is_open = True
        self.last_fill_dp = -1
        self.correlation_id = correlation_id
        self.last_event_id = ""

    @staticmethod
    def mode_of(order_type: OrderType) -> int:
        """The mode an order of this type starts in."""
        return _MODE_OF_TYPE[order_type]

    @property
    def leaves_raw(self) -> int:
        return self.quantity_raw - self.filled_raw

    @property
    def has_price(self) -> bool:
        return self.spec.order_type in (OrderType.LIMIT, OrderType.STOP_LIMIT)

    @property
    def has_trigger(self) -> bool:
        """Whether the order has a trigger price (stops and trailing stops)."""
        return self.spec.order_type in (
            OrderType.STOP_MARKET,
            OrderType.STOP_LIMIT,
            OrderType.TRAILING_STOP_MARKET,
        )

    def price(self) -> Price | None:
        return self.instrument.price_from_raw(self.price_raw) if self.has_price else None

    def trigger_price(self) -> Price | None:
        return self.instrument.price_from_raw(self.trigger_raw) if self.has_trigger else None

    def report(self) -> OrderReport:
        """A frozen snapshot of the order."""
        inst = self.instrument
        return OrderReport(
            client_order_id=self.client_order_id,
            venue_order_id=self.venue_order_id,
            strategy_id=self.strategy_id,
            instrument_id=self.instrument_id,
            side=self.side,
            order_type=self.order_type,
            time_in_force=self.time_in_force,
            status=self.status,
            quantity=inst.qty_from_raw(self.quantity_raw),
            filled_qty=inst.qty_from_raw(self.filled_raw),
            price=self.price(),
            trigger_price=self.trigger_price(),
            ts_accepted=self.ts_accepted,
        )

    def __repr__(self) -> str:
        return (
            f"WorkingOrder({self.client_order_id} {self.side.value} {self.order_type.value} "
            f"{self.filled_raw}/{self.quantity_raw} {self.status.value})"
        )
