"""The execution engine: the order cache and the router to venue clients.

* It sees every ``SubmitOrder`` first (highest priority) and registers the order, so the
  cache knows it even if the risk engine then denies it.
* Approved commands reach it on the ``ExecutionEngine.execute`` endpoint; it publishes
  ``OrderSubmitted`` and calls the venue's :class:`~tradeloop.execution.client.ExecutionClient`.
* It applies every order event to its :class:`~tradeloop.model.orders.Order` before anyone
  else sees the event, so handlers downstream read the order's new state; an event the order
  refuses (unknown order, overfill, duplicate fill, illegal transition) is rejected and goes
  no further (:class:`~tradeloop.core.errors.MessageRejected`).
"""

from __future__ import annotations

from collections.abc import Container

from tradeloop.core.bus import MessageBus
from tradeloop.core.clock import Clock
from tradeloop.core.errors import InvalidOrderTransition, MessageRejected, TradeloopError
from tradeloop.core.ids import ClientOrderId, IdFactory, InstrumentId, StrategyId, Venue, split_instrument_id
from tradeloop.execution.answers import answer_submit, order_denied
from tradeloop.execution.client import ExecutionClient
from tradeloop.execution.factory import OrderFactory
from tradeloop.model.commands import CancelAllOrders, CancelOrder, ModifyOrder, SubmitOrder, TradingCommand
from tradeloop.model.enums import OrderSide, OrderStatus
from tradeloop.model.events import (
    OrderCancelRejected,
    OrderEvent,
    OrderModifyRejected,
    OrderRejected,
    OrderSubmitted,
)
from tradeloop.model.orders import Order

__all__ = ["EXECUTE_ENDPOINT", "ExecutionEngine", "PRIORITY_EXECUTION"]

EXECUTE_ENDPOINT = "ExecutionEngine.execute"
PRIORITY_EXECUTION = 1_000
"""Bus priority of the engine's handlers: above everything else."""

_CLOSED = frozenset(status for status in OrderStatus if status.is_closed)
"""Closed statuses, tested by membership: three order events an order round trip each ask."""


class ExecutionEngine:
    """Tracks every order and routes approved commands to venue clients."""

    def __init__(self, bus: MessageBus, clock: Clock, ids: IdFactory) -> None:
        self._bus = bus
        self._clock = clock
        self._ids = ids
        self._clients: dict[Venue, ExecutionClient] = {}
        self._orders: dict[ClientOrderId, Order] = {}
        self._open: dict[ClientOrderId, Order] = {}
        self._purged: dict[str, int] = {}  # closed orders forgotten by purge_closed, per status
        self._factories: dict[StrategyId, OrderFactory] = {}
        self._venues: dict[InstrumentId, Venue] = {}  # each instrument's venue, split once
        self.commands_routed = 0
        self.events_applied = 0
        self.event_errors = 0
        bus.subscribe(SubmitOrder, self._register, priority=PRIORITY_EXECUTION)
        bus.subscribe(OrderEvent, self._apply, priority=PRIORITY_EXECUTION)
        bus.register_endpoint(EXECUTE_ENDPOINT, self.execute)

    # -- wiring ----------------------------------------------------------------------------

    def register_client(self, client: ExecutionClient, *, replace: bool = False) -> None:
        """Route the venue's commands to ``client``; ``replace`` swaps a registered one (a node
        whose venue runs in another process replaces the kernel's in-process simulated venue)."""
        if client.venue in self._clients and not replace:
            raise TradeloopError(f"an execution client for venue {client.venue} is already registered")
        self._clients[client.venue] = client

    def order_factory(self, strategy_id: StrategyId) -> OrderFactory:
        """The strategy's factory (one per strategy, so ids never collide)."""
        factory = self._factories.get(strategy_id)
        if factory is None:
            factory = self._factories[strategy_id] = OrderFactory(strategy_id)
        return factory

    # -- cache reads -----------------------------------------------------------------------

    def order(self, client_order_id: ClientOrderId) -> Order | None:
        return self._orders.get(client_order_id)

    def orders(self, strategy_id: StrategyId | None = None) -> list[Order]:
        return [o for o in self._orders.values() if strategy_id is None or o.strategy_id == strategy_id]

    def open_orders(
        self, strategy_id: StrategyId | None = None, instrument_id: InstrumentId | None = None
    ) -> list[Order]:
        return [
            o
            for o in self._open.values()
            if (strategy_id is None or o.strategy_id == strategy_id)
            and (instrument_id is None or o.instrument_id == instrument_id)
        ]

    def working_raw(
        self, instrument_id: InstrumentId, side: OrderSide, *, exclude: Container[ClientOrderId] = ()
    ) -> int:
        """Unfilled quantity raw of the not-yet-closed orders on one side of an instrument."""
        return sum(
            o.leaves_raw
            for o in self._open.values()
            if o.spec.instrument_id == instrument_id
            and o.spec.side is side
            and o.spec.client_order_id not in exclude
        )

    def purge_closed(self, keep: int) -> int:
        """Forget all but the ``keep`` newest closed orders; returns how many were forgotten.

        For long-running nodes: open orders are never forgotten, and an event for a forgotten
        order is refused like one for an unknown order.
        """
        if keep < 0:
            raise TradeloopError(f"purge_closed: keep must be >= 0, got {keep}")
        closed = [cid for cid, order in self._orders.items() if order.status.is_closed]
        drop = closed[: max(0, len(closed) - keep)]
        purged = self._purged
        for cid in drop:
            status = self._orders.pop(cid).status.value
            purged[status] = purged.get(status, 0) + 1
        return len(drop)

    def order_counts(self) -> dict[str, int]:
        """Orders per status name since the start, the purged closed ones included."""
        counts = dict(self._purged)
        for order in self._orders.values():
            status = order.status.value
            counts[status] = counts.get(status, 0) + 1
        return counts

    def open_order_count(self, instrument_id: InstrumentId | None = None) -> int:
        if instrument_id is None:
            return len(self._open)
        return sum(1 for o in self._open.values() if o.instrument_id == instrument_id)

    # -- handlers --------------------------------------------------------------------------

    def _register(self, command: SubmitOrder) -> None:
        cid = command.order.client_order_id
        if cid in self._orders:
            raise TradeloopError(f"duplicate client order id {cid}")
        order = Order(command.order)
        self._orders[cid] = order
        self._open[cid] = order  # "open" here means not closed; closed orders leave below

    def execute(self, command: TradingCommand) -> None:
        """Route a risk-approved command to its venue."""
        venue = self._venues.get(command.instrument_id)
        if venue is None:
            venue = self._venues[command.instrument_id] = split_instrument_id(command.instrument_id)[1]
        client = self._clients.get(venue)
        if client is None:
            self._deny_unroutable(command, f"no execution client for venue {venue}")
            return
        self.commands_routed += 1
        if isinstance(command, SubmitOrder):
            ids, clock = self._ids, self._clock
            self._bus.publish(
                answer_submit(
                    OrderSubmitted, command, ids, clock.timestamp_ns(), account_id=client.account_id
                )
            )
            try:
                client.submit_order(command)
            except Exception as exc:
                reason = f"venue client error: {type(exc).__name__}: {exc}"
                self._bus.publish(
                    answer_submit(OrderRejected, command, ids, clock.timestamp_ns(), reason=reason)
                )
                raise
        elif isinstance(command, CancelOrder):
            client.cancel_order(command)
        elif isinstance(command, ModifyOrder):
            client.modify_order(command)
        elif isinstance(command, CancelAllOrders):
            client.cancel_all_orders(command)
        else:
            raise TradeloopError(f"unsupported trading command {type(command).__name__}")

    def _deny_unroutable(self, command: TradingCommand, reason: str) -> None:
        if isinstance(command, SubmitOrder):
            self._bus.publish(order_denied(command, reason, self._ids, self._clock.timestamp_ns()))
            return
        raise TradeloopError(reason)

    def _apply(self, event: OrderEvent) -> None:
        order = self._orders.get(event.client_order_id)
        if order is None:
            self.event_errors += 1
            raise MessageRejected(f"{type(event).__name__} for unknown order {event.client_order_id}")
        if order.status in _CLOSED and isinstance(event, OrderCancelRejected | OrderModifyRejected):
            # A cancel or modify that crossed the order's fill or cancel on the wire: the venue's
            # answer is information, not a state change of a closed order.
            return
        try:
            order.apply(event)
        except InvalidOrderTransition as exc:
            # The order is the authority: an event it refuses (an overfill, a duplicate fill, a
            # transition out of a closed state) must not reach the ledger or the strategies.
            self.event_errors += 1
            raise MessageRejected(str(exc)) from exc
        self.events_applied += 1
        if order.status in _CLOSED:
            self._open.pop(event.client_order_id, None)  # the order checked it is its own id
