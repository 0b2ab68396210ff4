"""The strategy base class.

A strategy reads state (portfolio, orders, latest prices) and emits commands; it never calls a
venue or the risk engine. Handlers run only while the strategy is RUNNING. For an event the
strategy is told, in order, by its specific handler (``on_order_filled``), its family handler
(``on_order_event`` / ``on_position_event``) and the generic ``on_event``; only the handlers a
subclass overrides are called, through a table built once at registration (no ``isinstance``
chains per event). A handler that raises is isolated by the bus: counted, logged with the
correlation id and published as ``HandlerFailed``; the engine keeps running.

Correlation: everything a strategy submits while handling one message shares one correlation
id - the event's own when reacting to an event, a fresh one per market-data cycle.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Protocol

from tradeloop.core.bus import MessageBus
from tradeloop.core.clock import Clock, TimeEvent
from tradeloop.core.component import Component, ComponentState
from tradeloop.core.errors import ConfigError, TradeloopError
from tradeloop.core.ids import ClientOrderId, IdFactory, InstrumentId, StrategyId
from tradeloop.core.message import Event
from tradeloop.execution.engine import ExecutionEngine
from tradeloop.execution.factory import OrderFactory
from tradeloop.lifecycle.events import EdgeDetected
from tradeloop.model.commands import (
    CancelAllOrders,
    CancelOrder,
    ModifyOrder,
    OrderSpec,
    SubmitOrder,
    TradingCommand,
)
from tradeloop.model.data import Bar, BarSpec, QuoteTick, TradeTick
from tradeloop.model.enums import OrderSide
from tradeloop.model.events import (
    OrderEvent,
    PositionEvent,
    RegimeChanged,
)
from tradeloop.model.instruments import Instrument
from tradeloop.model.objects import Price, Quantity
from tradeloop.model.orders import Order
from tradeloop.model.position import Position
from tradeloop.portfolio.portfolio import Portfolio
from tradeloop.strategy.config import StrategyConfig

__all__ = ["DataSubscriber", "Strategy", "StrategyContext"]

_RUNNING = ComponentState.RUNNING
_SILENT = frozenset({ComponentState.STOPPED, ComponentState.DISPOSED, ComponentState.FAULTED})
"""States in which a strategy sends nothing: it was stopped, disposed of, or failed."""


class DataSubscriber(Protocol):
    """What the runtime offers strategies to ask for market data."""

    def subscribe_bars(self, instrument_id: InstrumentId, spec: BarSpec) -> None: ...

    def subscribe_trade_ticks(self, instrument_id: InstrumentId) -> None: ...

    def subscribe_quote_ticks(self, instrument_id: InstrumentId) -> None: ...


@dataclass(frozen=True, slots=True)
class StrategyContext:
    """What the runtime hands a strategy when it registers it."""

    bus: MessageBus
    clock: Clock
    ids: IdFactory
    portfolio: Portfolio
    execution: ExecutionEngine
    instruments: dict[InstrumentId, Instrument]
    data: DataSubscriber


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


_GENERIC_HANDLERS = ("on_order_event", "on_position_event", "on_event")


def _may_handle_events(cls: type[Strategy]) -> bool:
    """Whether ``cls`` has a handler an order, position or regime event could reach.

    Specific handlers are found by name (``on_order_filled``), and none is defined on
    :class:`Strategy`; so a class that adds no ``on_*`` name of its own and overrides none of
    the generic handlers never handles an event, and is not subscribed to them (four no-op
    deliveries an order round trip). Conservative: any extra ``on_*`` name subscribes.
    """
    for name in dir(cls):
        if not name.startswith("on_"):
            continue
        if name in _GENERIC_HANDLERS:
            if getattr(cls, name) is not getattr(Strategy, name):
                return True
        elif not hasattr(Strategy, name):
            return True
    return False


class Strategy(Component):
    """Base class of trading strategies. Override ``on_start`` to subscribe, then handlers."""

    def __init__(self, config: StrategyConfig | None = None) -> None:
        self.config = config or StrategyConfig()
        self.id = StrategyId(self.config.strategy_id or f"{type(self).__name__}-001")
        super().__init__(self.id)
        self.log = logging.getLogger(f"tradeloop.strategy.{self.id}")
        self._ctx: StrategyContext | None = None
        self._factory: OrderFactory | None = None
        self._closes: dict[InstrumentId, list[OrderSpec]] = {}  # close_position's orders in flight
        self._bar_subs: dict[InstrumentId, tuple[BarSpec, ...]] = {}
        self._trade_subs: set[InstrumentId] = set()
        self._quote_subs: set[InstrumentId] = set()
        self._correlation: str | None = None
        self._causation: str | None = None
        self._event_table: dict[type, tuple[Callable[[Any], None], ...]] = {}

    # -- wiring ----------------------------------------------------------------------------

    def register(self, context: StrategyContext) -> None:
        """Called once by the runtime before start."""
        if self._ctx is not None:
            raise TradeloopError(f"strategy {self.id} is already registered")
        self._ctx = context
        self._factory = context.execution.order_factory(self.id)
        if _may_handle_events(type(self)):
            bus = context.bus
            bus.subscribe(OrderEvent, self._handle_event)
            bus.subscribe(PositionEvent, self._handle_event)
            bus.subscribe(RegimeChanged, self._handle_event)

    @property
    def context(self) -> StrategyContext:
        if self._ctx is None:
            raise TradeloopError(f"strategy {self.id} is not registered with an engine")
        return self._ctx

    @property
    def order_factory(self) -> OrderFactory:
        """Builds this strategy's orders (with its own client order ids) once it is registered."""
        if self._factory is None:
            raise TradeloopError(f"strategy {self.id} is not registered with an engine: it has no orders yet")
        return self._factory

    @property
    def clock(self) -> Clock:
        return self.context.clock

    @property
    def portfolio(self) -> Portfolio:
        return self.context.portfolio

    def instrument(self, instrument_id: InstrumentId | str) -> Instrument:
        try:
            return self.context.instruments[InstrumentId(instrument_id)]
        except KeyError:
            raise TradeloopError(f"{self.id}: unknown instrument {instrument_id}") from None

    def config_quantity(self, instrument: Instrument, key: str, value: Decimal) -> Quantity:
        """The config setting ``key`` (``value``) as a quantity of ``instrument``: a value off
        its lot grid is a :class:`ConfigError` naming the setting, raised at start, not at
        the first order."""
        try:
            return instrument.make_qty(value)
        except TradeloopError as exc:
            raise ConfigError(f"{self.id}: config.{key}: {exc}") from None

    # -- subscriptions ---------------------------------------------------------------------

    def subscribe_bars(self, instrument_id: InstrumentId | str, spec: BarSpec | str = "1-MINUTE") -> None:
        iid = InstrumentId(instrument_id)
        bar_spec = BarSpec.parse(spec) if isinstance(spec, str) else spec
        specs = self._bar_subs.get(iid, ())
        if bar_spec not in specs:
            self._bar_subs[iid] = (*specs, bar_spec)
        self.context.bus.subscribe(Bar, self._handle_bar)
        self.context.data.subscribe_bars(iid, bar_spec)

    def subscribe_trade_ticks(self, instrument_id: InstrumentId | str) -> None:
        iid = InstrumentId(instrument_id)
        self._trade_subs.add(iid)
        self.context.bus.subscribe(TradeTick, self._handle_trade_tick)
        self.context.data.subscribe_trade_ticks(iid)

    def subscribe_quote_ticks(self, instrument_id: InstrumentId | str) -> None:
        iid = InstrumentId(instrument_id)
        self._quote_subs.add(iid)
        self.context.bus.subscribe(QuoteTick, self._handle_quote_tick)
        self.context.data.subscribe_quote_ticks(iid)

    # -- dispatch (hot path) ---------------------------------------------------------------

    def _handle_bar(self, bar: Bar) -> None:
        specs = self._bar_subs.get(bar.instrument_id)
        if specs is not None and self._state is _RUNNING and bar.spec in specs:
            self._correlation = None
            self.on_bar(bar)

    def _handle_trade_tick(self, tick: TradeTick) -> None:
        if self._state is _RUNNING and tick.instrument_id in self._trade_subs:
            self._correlation = None
            self.on_trade_tick(tick)

    def _handle_quote_tick(self, tick: QuoteTick) -> None:
        if self._state is _RUNNING and tick.instrument_id in self._quote_subs:
            self._correlation = None
            self.on_quote_tick(tick)

    def _handle_event(self, event: Event) -> None:
        if self._state is not _RUNNING or getattr(event, "strategy_id", self.id) != self.id:
            return
        handlers = self._event_table.get(type(event))
        if handlers is None:
            handlers = self._event_table[type(event)] = self._resolve_handlers(type(event))
        if not handlers:
            return  # the strategy does not handle this event: no correlation to set up
        # Restore, not clear: a zero-latency venue answers inside a command sent from a timer or
        # on_start, so this can run nested in a cycle whose later commands keep its correlation.
        outer = self._correlation, self._causation
        self._correlation = event.correlation_id
        self._causation = event.id
        try:
            for handler in handlers:
                handler(event)
        finally:
            self._correlation, self._causation = outer

    def _resolve_handlers(self, event_type: type) -> tuple[Callable[[Any], None], ...]:
        chain: list[str] = [f"on_{_snake(event_type.__name__)}"]
        if issubclass(event_type, OrderEvent):
            chain.append("on_order_event")
        elif issubclass(event_type, PositionEvent):
            chain.append("on_position_event")
        chain.append("on_event")
        found: list[Callable[[Any], None]] = []
        for name in chain:
            base = getattr(Strategy, name, None)
            mine = getattr(type(self), name, None)
            if mine is not None and mine is not base:
                found.append(getattr(self, name))
        return tuple(found)

    # -- commands --------------------------------------------------------------------------

    def _send(self, kind: type[TradingCommand], instrument_id: InstrumentId, **fields: Any) -> None:
        """Publish a command of this strategy in the current correlation (a new one if none)."""
        self._publish(kind, strategy_id=self.id, instrument_id=instrument_id, **fields)

    def signal_edge(
        self,
        instrument_id: InstrumentId | str,
        side: OrderSide,
        *,
        edge: float,
        confidence: float = 1.0,
        method: str | None = None,
        price: Price | None = None,
        win_probability: float | None = None,
        payoff_ratio: float | None = None,
    ) -> None:
        """Report an edge: the lifecycle's entry flow decides whether and how to enter.

        ``method`` defaults to the strategy's configured method. The entry (checks, sizing,
        the entry order and its fill) is done under the method's settings and shares this
        signal's correlation id. For an instrument with an open position the signal updates
        the edge the position is watched with.
        """
        name = method if method is not None else self.config.method
        if name is None:
            raise TradeloopError(f"{self.id}: signal_edge needs a method (or a configured 'method')")
        if not (math.isfinite(edge) and math.isfinite(confidence)):
            raise TradeloopError(f"{self.id}: edge and confidence must be finite numbers")
        if not 0.0 <= confidence <= 1.0:
            raise TradeloopError(f"{self.id}: confidence must be within 0..1, got {confidence}")
        self._publish(
            EdgeDetected,
            strategy_id=self.id,
            instrument_id=InstrumentId(instrument_id),
            side=side,
            edge=edge,
            confidence=confidence,
            method=name,
            price=price,
            win_probability=win_probability,
            payoff_ratio=payoff_ratio,
        )

    def _publish(self, kind: type[Event] | type[TradingCommand], **fields: Any) -> None:
        """Publish a message of this strategy in the current correlation (a new one if none)."""
        if self._state in _SILENT:
            raise TradeloopError(f"strategy {self.id} is {self._state.value}: it sends no orders or signals")
        ctx = self.context
        ids = ctx.ids
        if self._correlation is None:
            self._correlation = ids.new_id()
        now = ctx.clock.timestamp_ns()
        ctx.bus.publish(
            kind(
                id=ids.new_id(),
                correlation_id=self._correlation,
                causation_id=self._causation,
                ts_event=now,
                ts_init=now,
                **fields,
            )
        )

    def submit_order(self, order: OrderSpec) -> None:
        """Send an order through the risk engine to its venue."""
        if order.strategy_id != self.id:
            raise TradeloopError(f"{self.id} cannot submit an order of strategy {order.strategy_id}")
        self._publish(SubmitOrder, strategy_id=self.id, instrument_id=order.instrument_id, order=order)

    def cancel_order(self, order: Order | ClientOrderId) -> None:
        target = self._own_order(order)
        self._send(CancelOrder, target.instrument_id, client_order_id=target.client_order_id)

    def modify_order(
        self,
        order: Order | ClientOrderId,
        *,
        quantity: Quantity | None = None,
        price: Price | None = None,
        trigger_price: Price | None = None,
    ) -> None:
        target = self._own_order(order)
        self._send(
            ModifyOrder,
            target.instrument_id,
            client_order_id=target.client_order_id,
            quantity=quantity,
            price=price,
            trigger_price=trigger_price,
        )

    def cancel_all_orders(self, instrument_id: InstrumentId | str) -> None:
        self._send(CancelAllOrders, InstrumentId(instrument_id))

    def close_position(self, instrument_id: InstrumentId | str, *, tags: tuple[str, ...] = ()) -> bool:
        """Flatten this strategy's position with a reduce-only market order, less what its
        reduce-only orders on that side already working will close.

        Returns ``False`` when there is nothing (more) to close.
        """
        position = self.position(instrument_id)
        if position is None or not position.net_raw:
            return False
        side = OrderSide.SELL if position.net_raw > 0 else OrderSide.BUY
        iid = position.instrument.id
        # What this strategy's reduce-only orders on that side already close is not closed
        # twice: a second call while the first close works (or is still on its way to the
        # execution engine, within this handler) would otherwise flip the position.
        closing = 0
        counted: set[ClientOrderId] = set()
        for order in self.open_orders(iid):
            if order.side is side and order.spec.reduce_only:
                closing += order.leaves_raw
                counted.add(order.client_order_id)
        execution = self.context.execution
        still: list[OrderSpec] = []
        for sent in self._closes.get(iid, ()):
            if sent.client_order_id not in counted and execution.order(sent.client_order_id) is None:
                closing += sent.quantity.raw  # published, not yet registered
                still.append(sent)
        self._closes[iid] = still
        left = abs(position.net_raw) - closing
        if left <= 0:
            return False
        quantity = position.quantity if not closing else position.instrument.qty_from_raw(left)
        spec = self.order_factory.market(iid, side, quantity, reduce_only=True, tags=tags)
        self.submit_order(spec)
        still.append(spec)
        return True

    def _own_order(self, order: Order | ClientOrderId) -> Order:
        found = self.context.execution.order(order if isinstance(order, str) else order.client_order_id)
        if found is None or found.strategy_id != self.id:
            raise TradeloopError(f"{self.id}: no order {order!r} of this strategy")
        return found

    # -- state reads -----------------------------------------------------------------------

    def position(self, instrument_id: InstrumentId | str) -> Position | None:
        return self.context.portfolio.position(self.id, InstrumentId(instrument_id))

    def open_orders(self, instrument_id: InstrumentId | str | None = None) -> list[Order]:
        iid = None if instrument_id is None else InstrumentId(instrument_id)
        return self.context.execution.open_orders(self.id, iid)

    def set_timer(self, name: str, interval_ns: int, *, start_ns: int | None = None) -> None:
        """Call :meth:`on_time_event` every ``interval_ns`` while running. Setting a name again
        replaces its timer (a strategy restarted after a stop sets its timers anew)."""
        self.context.clock.set_timer(
            self._timer_name(name), interval_ns, self._handle_time, start_ns=start_ns
        )

    def set_time_alert(self, name: str, at_ns: int) -> None:
        """Call :meth:`on_time_event` once at ``at_ns``; setting a name again replaces it."""
        self.context.clock.set_time_alert(self._timer_name(name), at_ns, self._handle_time)

    def _timer_name(self, name: str) -> str:
        """The clock's name of this strategy's timer ``name``, freed if it is set already."""
        full = f"{self.id}.{name}"
        clock = self.context.clock
        if full in clock.timer_names:
            clock.cancel_timer(full)
        return full

    def _handle_time(self, event: TimeEvent) -> None:
        if self._state is _RUNNING:
            self._correlation = None
            try:
                self.on_time_event(event)
            except Exception as exc:  # noqa: BLE001 - a strategy's error never stops the engine
                self.context.bus.report_failure(
                    f"{type(self).__qualname__}.on_time_event", f"TimeEvent {event.name}", exc
                )

    # -- settings ------------------------------------------------------------------------------

    def update_config(self, config: StrategyConfig) -> None:
        """Take new settings while running (config hot reload).

        The config must be of the same class, with the same ``strategy_id`` and ``method``.
        :meth:`on_config_update` applies it; a strategy that does not override it refuses.
        """
        old = self.config
        if type(config) is not type(old):
            raise TradeloopError(
                f"{self.id}: new settings must be a {type(old).__name__}, got {type(config).__name__}"
            )
        for key in ("strategy_id", "method"):
            if getattr(config, key) != getattr(old, key):
                raise TradeloopError(f"{self.id}: '{key}' cannot change while the strategy runs")
        self.on_config_update(old, config)
        self.config = config

    @classmethod
    def takes_live_config(cls) -> bool:
        """Whether the strategy can take new settings while it runs (overrides the hook)."""
        return cls.on_config_update is not Strategy.on_config_update

    def on_config_update(self, old: StrategyConfig, new: StrategyConfig) -> None:
        """Apply new settings (``self.config`` still holds ``old``); raise to refuse them."""
        raise TradeloopError(f"{type(self).__name__} cannot change its settings live; restart the node")

    # -- handlers for subclasses -----------------------------------------------------------

    def on_bar(self, bar: Bar) -> None:
        """A subscribed bar closed."""

    def on_trade_tick(self, tick: TradeTick) -> None:
        """A subscribed trade printed."""

    def on_quote_tick(self, tick: QuoteTick) -> None:
        """A subscribed quote changed."""

    def on_time_event(self, event: TimeEvent) -> None:
        """A timer or alert set by this strategy fired."""

    def on_order_event(self, event: OrderEvent) -> None:
        """Any event of this strategy's orders (after the specific handler)."""

    def on_position_event(self, event: PositionEvent) -> None:
        """Any event of this strategy's positions (after the specific handler)."""

    def on_event(self, event: Event) -> None:
        """Every event this strategy is told about (after the family handler)."""

    # Specific handlers: on_order_filled, on_order_denied, on_order_rejected, on_order_accepted,
    # on_order_canceled, on_order_expired, on_order_triggered, on_order_updated,
    # on_position_opened, on_position_changed, on_position_closed, on_regime_changed.
    # They are looked up by name from the event type; define the ones you need.
