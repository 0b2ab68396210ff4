"""Orders and their state machine.

An :class:`Order` is a projection of its events: it is built from an
:class:`~tradeloop.model.commands.OrderSpec` and changes only through :meth:`Order.apply`,
which looks the ``(status, event type)`` pair up in :data:`ORDER_TRANSITIONS`. A pair missing
from the table raises :class:`~tradeloop.core.errors.InvalidOrderTransition` and leaves the
order untouched. ``RESTORE`` means "back to the status before the pending request" (an update
or cancel that the venue refused or confirmed); a fill moves to PARTIALLY_FILLED or FILLED by
the quantity left.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Final

from tradeloop.core.errors import InvalidOrderTransition
from tradeloop.core.ids import ClientOrderId, InstrumentId, StrategyId, VenueOrderId
from tradeloop.model.commands import OrderSpec
from tradeloop.model.enums import OrderSide, OrderStatus, OrderType, TimeInForce
from tradeloop.model.events import (
    OrderAccepted,
    OrderCanceled,
    OrderCancelRejected,
    OrderDenied,
    OrderEvent,
    OrderExpired,
    OrderFilled,
    OrderModifyRejected,
    OrderPendingCancel,
    OrderPendingUpdate,
    OrderRejected,
    OrderSubmitted,
    OrderTriggered,
    OrderUpdated,
)
from tradeloop.model.objects import FIXED_SCALAR, Price, Quantity

__all__ = ["FILL", "ORDER_TRANSITIONS", "RESTORE", "Order"]

RESTORE: Final = "RESTORE"
FILL: Final = "FILL"

_S = OrderStatus
_Target = OrderStatus | str

ORDER_TRANSITIONS: Final[dict[tuple[OrderStatus, type[OrderEvent]], _Target]] = {
    (_S.INITIALIZED, OrderDenied): _S.DENIED,
    (_S.INITIALIZED, OrderSubmitted): _S.SUBMITTED,
    (_S.INITIALIZED, OrderCanceled): _S.CANCELED,
    (_S.SUBMITTED, OrderAccepted): _S.ACCEPTED,
    (_S.SUBMITTED, OrderRejected): _S.REJECTED,
    (_S.SUBMITTED, OrderCanceled): _S.CANCELED,
    (_S.SUBMITTED, OrderExpired): _S.EXPIRED,
    (_S.SUBMITTED, OrderTriggered): _S.TRIGGERED,
    (_S.SUBMITTED, OrderPendingUpdate): _S.PENDING_UPDATE,
    (_S.SUBMITTED, OrderPendingCancel): _S.PENDING_CANCEL,
    (_S.SUBMITTED, OrderFilled): FILL,
    (_S.ACCEPTED, OrderTriggered): _S.TRIGGERED,
    (_S.ACCEPTED, OrderPendingUpdate): _S.PENDING_UPDATE,
    (_S.ACCEPTED, OrderPendingCancel): _S.PENDING_CANCEL,
    (_S.ACCEPTED, OrderUpdated): _S.ACCEPTED,
    (_S.ACCEPTED, OrderModifyRejected): _S.ACCEPTED,
    (_S.ACCEPTED, OrderCancelRejected): _S.ACCEPTED,
    (_S.ACCEPTED, OrderCanceled): _S.CANCELED,
    (_S.ACCEPTED, OrderExpired): _S.EXPIRED,
    (_S.ACCEPTED, OrderFilled): FILL,
    (_S.TRIGGERED, OrderPendingUpdate): _S.PENDING_UPDATE,
    (_S.TRIGGERED, OrderPendingCancel): _S.PENDING_CANCEL,
    (_S.TRIGGERED, OrderUpdated): _S.TRIGGERED,
    (_S.TRIGGERED, OrderModifyRejected): _S.TRIGGERED,
    (_S.TRIGGERED, OrderCancelRejected): _S.TRIGGERED,
    (_S.TRIGGERED, OrderRejected): _S.REJECTED,
    (_S.TRIGGERED, OrderCanceled): _S.CANCELED,
    (_S.TRIGGERED, OrderExpired): _S.EXPIRED,
    (_S.TRIGGERED, OrderFilled): FILL,
    (_S.PENDING_UPDATE, OrderUpdated): RESTORE,
    (_S.PENDING_UPDATE, OrderModifyRejected): RESTORE,
    (_S.PENDING_UPDATE, OrderTriggered): _S.TRIGGERED,
    (_S.PENDING_UPDATE, OrderPendingCancel): _S.PENDING_CANCEL,
    (_S.PENDING_UPDATE, OrderCanceled): _S.CANCELED,
    (_S.PENDING_UPDATE, OrderExpired): _S.EXPIRED,
    (_S.PENDING_UPDATE, OrderFilled): FILL,
    # Races: a modify or cancel sent while SUBMITTED, then the venue's answer to the original
    # order (Order.apply refuses these two answers when the request was sent later); a stop
    # triggering while a cancel is in flight (stop orders only); a modify's answer arriving
    # after a cancel was sent behind it. A venue that answers in order never produces these.
    (_S.PENDING_UPDATE, OrderAccepted): _S.ACCEPTED,
    (_S.PENDING_UPDATE, OrderRejected): _S.REJECTED,
    (_S.PENDING_CANCEL, OrderAccepted): _S.ACCEPTED,
    (_S.PENDING_CANCEL, OrderRejected): _S.REJECTED,
    (_S.PENDING_CANCEL, OrderTriggered): _S.TRIGGERED,
    (_S.PENDING_CANCEL, OrderUpdated): _S.PENDING_CANCEL,
    (_S.PENDING_CANCEL, OrderModifyRejected): _S.PENDING_CANCEL,
    (_S.PENDING_CANCEL, OrderCancelRejected): RESTORE,
    (_S.PENDING_CANCEL, OrderCanceled): _S.CANCELED,
    (_S.PENDING_CANCEL, OrderExpired): _S.EXPIRED,
    (_S.PENDING_CANCEL, OrderFilled): FILL,
    (_S.PARTIALLY_FILLED, OrderPendingUpdate): _S.PENDING_UPDATE,
    (_S.PARTIALLY_FILLED, OrderPendingCancel): _S.PENDING_CANCEL,
    (_S.PARTIALLY_FILLED, OrderUpdated): _S.PARTIALLY_FILLED,
    (_S.PARTIALLY_FILLED, OrderModifyRejected): _S.PARTIALLY_FILLED,
    (_S.PARTIALLY_FILLED, OrderCancelRejected): _S.PARTIALLY_FILLED,
    (_S.PARTIALLY_FILLED, OrderCanceled): _S.CANCELED,
    (_S.PARTIALLY_FILLED, OrderExpired): _S.EXPIRED,
    (_S.PARTIALLY_FILLED, OrderFilled): FILL,
}
"""Every legal ``(status, event type) -> status`` move; anything else is illegal."""

_FILLED: Final = OrderStatus.FILLED
_PARTIALLY_FILLED: Final = OrderStatus.PARTIALLY_FILLED
_PENDING: Final = frozenset({OrderStatus.PENDING_UPDATE, OrderStatus.PENDING_CANCEL})
_SUBMITTED: Final = OrderStatus.SUBMITTED
_ANSWERS_TO_SUBMIT: Final = (OrderAccepted, OrderRejected)
_STOPS: Final = frozenset({OrderType.STOP_MARKET, OrderType.STOP_LIMIT, OrderType.TRAILING_STOP_MARKET})


class Order:
    """A live order: its spec plus what its events made of it."""

    __slots__ = (
        "_fill_notional",
        "_fill_precision",
        "_status_before_pending",
        "events",
        "filled_raw",
        "price",
        "quantity",
        "spec",
        "status",
        "trade_ids",
        "trigger_price",
        "ts_last",
        "venue_order_id",
    )

    def __init__(self, spec: OrderSpec) -> None:
        self.spec = spec
        self.status = OrderStatus.INITIALIZED
        self.venue_order_id: VenueOrderId | None = None
        self.quantity: Quantity = spec.quantity
        self.price: Price | None = spec.price
        self.trigger_price: Price | None = spec.trigger_price
        self.filled_raw = 0
        self._fill_notional = 0  # sum of px_raw * qty_raw (scale 10**18), exact
        self._fill_precision = 0  # decimals of the finest fill (a 1 BTC order filled 0.5 + 0.5)
        self._status_before_pending = OrderStatus.INITIALIZED
        self.events: list[OrderEvent] = []
        self.ts_last = 0
        self.trade_ids: set[str] = set()  # the venue's trade ids already filled: duplicates are refused

    # -- identity --------------------------------------------------------------------------

    @property
    def client_order_id(self) -> ClientOrderId:
        return self.spec.client_order_id

    @property
    def strategy_id(self) -> StrategyId:
        return self.spec.strategy_id

    @property
    def instrument_id(self) -> InstrumentId:
        return self.spec.instrument_id

    @property
    def side(self) -> OrderSide:
        return self.spec.side

    @property
    def order_type(self) -> OrderType:
        return self.spec.order_type

    @property
    def time_in_force(self) -> TimeInForce:
        return self.spec.time_in_force

    # -- derived state ---------------------------------------------------------------------

    @property
    def _qty_precision(self) -> int:
        return max(self.quantity.precision, self._fill_precision)

    @property
    def filled_qty(self) -> Quantity:
        return Quantity(self.filled_raw, self._qty_precision)

    @property
    def leaves_raw(self) -> int:
        return self.quantity.raw - self.filled_raw

    @property
    def leaves_qty(self) -> Quantity:
        return Quantity(max(0, self.leaves_raw), self._qty_precision)

    @property
    def avg_px(self) -> Decimal | None:
        """Average fill price (28 significant digits), or ``None`` before the first fill."""
        if not self.filled_raw:
            return None
        return Decimal(self._fill_notional) / Decimal(self.filled_raw) / Decimal(FIXED_SCALAR)

    @property
    def is_open(self) -> bool:
        return self.status.is_open

    @property
    def is_closed(self) -> bool:
        return self.status.is_closed

    @property
    def is_inflight(self) -> bool:
        """Sent to the venue and not yet acknowledged."""
        return self.status in (OrderStatus.SUBMITTED, OrderStatus.PENDING_UPDATE, OrderStatus.PENDING_CANCEL)

    # -- the state machine -----------------------------------------------------------------

    def apply(self, event: OrderEvent) -> None:
        """Move the order by ``event``; raises ``InvalidOrderTransition`` if it is illegal."""
        spec = self.spec
        if event.client_order_id != spec.client_order_id:
            raise InvalidOrderTransition(
                f"event for {event.client_order_id} applied to order {spec.client_order_id}"
            )
        # The table is keyed by exact type, so exact-type tests below are equivalent to
        # isinstance and cheaper.
        kind = type(event)
        status = self.status
        target = ORDER_TRANSITIONS.get((status, kind))
        if target is None:
            raise InvalidOrderTransition(
                f"order {spec.client_order_id}: {kind.__name__} is not allowed in status {status.value}"
            )
        if (
            status in _PENDING
            and kind in _ANSWERS_TO_SUBMIT
            and self._status_before_pending is not _SUBMITTED
        ):
            # The race rows are for a request sent while SUBMITTED; after an ack or a fill, a
            # second ack or a reject of the order is not a race but a contradiction.
            raise InvalidOrderTransition(
                f"order {spec.client_order_id}: {kind.__name__} while {status.value} is only allowed "
                "for a request sent before the order was acknowledged "
                f"(it was {self._status_before_pending.value})"
            )
        if kind is OrderTriggered and spec.order_type not in _STOPS:
            raise InvalidOrderTransition(
                f"order {spec.client_order_id}: a {spec.order_type.value} order cannot trigger"
            )
        if target == FILL:
            assert isinstance(event, OrderFilled)
            if (
                event.order_side is not spec.side
                or event.instrument_id != spec.instrument_id
                or event.strategy_id != spec.strategy_id
            ):
                # The portfolio books a fill by its own fields: one that contradicts its order
                # would land on the wrong side, instrument or strategy.
                raise InvalidOrderTransition(
                    f"order {spec.client_order_id}: a {event.order_side.value} fill of {event.strategy_id} "
                    f"on {event.instrument_id} contradicts the order ({spec.side.value} of "
                    f"{spec.strategy_id} on {spec.instrument_id})"
                )
            qty = event.last_qty.raw
            if event.trade_id in self.trade_ids:
                raise InvalidOrderTransition(
                    f"order {spec.client_order_id}: trade {event.trade_id} was already filled (a duplicate)"
                )
            if qty <= 0 or self.filled_raw + qty > self.quantity.raw:
                raise InvalidOrderTransition(
                    f"order {spec.client_order_id}: fill of {event.last_qty} would overfill "
                    f"(filled {self.filled_qty} of {self.quantity})"
                )
            self.filled_raw += qty
            if event.last_qty.precision > self._fill_precision:
                self._fill_precision = event.last_qty.precision
            self.trade_ids.add(event.trade_id)
            self._fill_notional += event.last_px.raw * qty
            self.venue_order_id = event.venue_order_id
            new = _FILLED if self.filled_raw == self.quantity.raw else _PARTIALLY_FILLED
        elif target == RESTORE:
            new = self._status_before_pending
        else:
            assert isinstance(target, OrderStatus)
            new = target
        if new in _PENDING and status not in _PENDING:
            self._status_before_pending = status
        if kind is OrderAccepted:
            assert isinstance(event, OrderAccepted)
            self.venue_order_id = event.venue_order_id
        elif kind is OrderUpdated:
            assert isinstance(event, OrderUpdated)
            if event.quantity.raw <= 0 or event.quantity.raw < self.filled_raw:
                raise InvalidOrderTransition(
                    f"order {spec.client_order_id}: cannot change quantity to {event.quantity} "
                    f"(it must be positive and at least the {self.filled_qty} filled)"
                )
            self.quantity = event.quantity
            if event.price is not None:
                self.price = event.price
            if event.trigger_price is not None:
                self.trigger_price = event.trigger_price
            if self.filled_raw and self.filled_raw == self.quantity.raw:
                new = _FILLED
        self.status = new
        self.events.append(event)
        self.ts_last = event.ts_event

    def __repr__(self) -> str:
        s = self.spec
        px = f" @ {self.price}" if self.price is not None else ""
        trg = f" trigger {self.trigger_price}" if self.trigger_price is not None else ""
        return (
            f"Order({s.client_order_id} {s.side.value} {self.quantity} {s.instrument_id} "
            f"{s.order_type.value}{px}{trg} {s.time_in_force.value} {self.status.value})"
        )
