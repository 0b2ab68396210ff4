"""The entry flow: from an edge to an open, watched position.

Edge detected (``EdgeDetected``, from a strategy's ``signal_edge``) -> edge and confidence
checked against the method -> risk checks (trading state, instrument authorisation,
correlated exposure: :meth:`RiskEngine.entry_problem`) -> size (fractional Kelly within
the method's min/max, or its fixed or equity-fraction rule) -> entry order (a limit at the
reference price by default) -> wait for the fill up to ``fill_timeout_seconds`` -> on no
fill: ``retry`` at the same price, ``walk`` the price ``walk_ticks`` toward the market, or
``cancel``, up to ``max_attempts`` orders -> the position opens and the monitor watches it
under the method.

Every step publishes under the signal's correlation id: ``EntryRejected`` with the failed
check as ``"<check>: details"``, the order's ``SubmitOrder`` / ``OrderSubmitted`` / fills,
``PositionOpened``, and ``EntryAbandoned`` when attempts run out. The risk engine still
checks the entry order itself (position, exposure, daily loss, rate); its ``OrderDenied``
ends the entry with ``EntryRejected`` carrying the denial's reason.

A signal for an instrument where the strategy already holds a position is an edge update
(the monitor watches it for edge decay), and a signal while an entry is working is ignored
(counted): one entry per strategy and instrument at a time.

Races
    * An exit triggered for the position an entry is still building (a partial fill) ends the
      entry: its order is canceled and ``EntryAbandoned`` names the exit. Buying the rest into,
      or after, the exit would undo it.
    * A cancel the venue refuses leaves the order working: the entry keeps its state and asks
      again at the next timeout, so it never hangs without a timer.
    * A fill that races the timeout's cancel counts; the entry completes or retries with what
      is still missing once the cancel is confirmed.
    * An entry that ends without any fill drops the monitor's expectation, so the strategy's
      next position is watched under its own method (or not at all), not under this one.

Causation: the first order is caused by the ``EdgeDetected``, a retry by the ``OrderCanceled``
of the order it replaces, and a timeout's ``CancelOrder`` by the ``SubmitOrder`` it cancels.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

from tradeloop.core.bus import MessageBus
from tradeloop.core.clock import NANOS_PER_SECOND, Clock, TimeEvent
from tradeloop.core.errors import TradeloopError
from tradeloop.core.ids import ClientOrderId, IdFactory, InstrumentId, StrategyId
from tradeloop.execution.engine import ExecutionEngine
from tradeloop.lifecycle.book import PriceCache
from tradeloop.lifecycle.events import EdgeDetected, EntryAbandoned, EntryRejected, ExitTriggered
from tradeloop.lifecycle.exit_pricing import clamp_to_band
from tradeloop.lifecycle.methods import MethodConfig
from tradeloop.lifecycle.monitor import PositionMonitor
from tradeloop.model.commands import CancelOrder, SubmitOrder
from tradeloop.model.enums import OrderSide
from tradeloop.model.events import (
    OrderCanceled,
    OrderCancelRejected,
    OrderDenied,
    OrderExpired,
    OrderFilled,
    OrderRejected,
)
from tradeloop.model.instruments import AssetClass, Instrument
from tradeloop.model.objects import FIXED_SCALAR, Price, Quantity
from tradeloop.portfolio.portfolio import Portfolio
from tradeloop.risk.engine import RiskEngine
from tradeloop.risk.sizing import FixedFraction, FixedQuantity, FractionalKelly, Sizer

__all__ = ["PRIORITY_ENTRY", "EntryFlow", "EntryStatus"]

PRIORITY_ENTRY = 50
"""Bus priority: after the monitor recorded an edge update, before strategies."""

_Key = tuple[StrategyId, InstrumentId]


@dataclass(frozen=True, slots=True)
class EntryStatus:
    """An entry that is working."""

    strategy_id: StrategyId
    instrument_id: InstrumentId
    method: str
    client_order_id: ClientOrderId
    attempts: int
    price: Price | None
    quantity: Quantity
    filled: Quantity


class _Entry:
    __slots__ = (
        "after_cancel",
        "attempts",
        "causation_id",
        "cid",
        "correlation_id",
        "filled_raw",
        "instrument",
        "key",
        "method",
        "method_name",
        "price_raw",
        "side",
        "stopped_by",
        "submit_id",
        "target_raw",
        "timer",
    )

    def __init__(
        self,
        key: _Key,
        method_name: str,
        method: MethodConfig,
        instrument: Instrument,
        side: OrderSide,
        target_raw: int,
        price_raw: int | None,
        correlation_id: str,
        causation_id: str,
    ) -> None:
        self.key = key
        self.method_name = method_name
        self.method = method
        self.instrument = instrument
        self.side = side
        self.target_raw = target_raw
        self.price_raw = price_raw
        self.correlation_id = correlation_id
        self.causation_id = causation_id  # of the next SubmitOrder
        self.submit_id = ""  # the SubmitOrder of the working order
        self.stopped_by: str | None = None  # why an exit of the position ended the entry
        self.filled_raw = 0
        self.attempts = 0
        self.cid = ClientOrderId("")
        self.timer = ""
        self.after_cancel: str | None = None  # "resubmit" or "abandon" once the cancel is confirmed


def _pct(value: float) -> Decimal:
    return Decimal(repr(value)) * 100


class EntryFlow:
    """Turns ``EdgeDetected`` signals into entry orders under each signal's method.

    Parameters
    ----------
    bus, clock, ids:
        The node's bus, clock and id factory.
    portfolio:
        Positions, equity and instruments.
    execution:
        Order factories (entry orders are the strategy's own orders) and open orders.
    risk:
        Asked :meth:`~tradeloop.risk.engine.RiskEngine.entry_problem` before sizing.
    prices:
        Reference prices when a signal carries none.
    monitor:
        Told which method watches the position an entry opens.
    methods:
        Methods by name.
    """

    def __init__(
        self,
        bus: MessageBus,
        clock: Clock,
        ids: IdFactory,
        portfolio: Portfolio,
        execution: ExecutionEngine,
        risk: RiskEngine,
        prices: PriceCache,
        monitor: PositionMonitor,
        methods: Mapping[str, MethodConfig],
    ) -> None:
        self._bus = bus
        self._clock = clock
        self._ids = ids
        self._portfolio = portfolio
        self._execution = execution
        self._risk = risk
        self._prices = prices
        self._monitor = monitor
        self._methods = dict(methods)
        self._entries: dict[_Key, _Entry] = {}
        self._by_order: dict[ClientOrderId, _Entry] = {}
        self._by_timer: dict[str, _Entry] = {}
        self._rejected: dict[str, int] = {}
        self.started = 0
        """Entries that placed their first order."""
        self.completed = 0
        """Entries filled in full."""
        self.abandoned = 0
        """Entries that ran out of attempts (or were canceled at the first timeout)."""
        self.edge_updates = 0
        """Signals for an instrument with an open position (edge updates, no entry)."""
        self.ignored = 0
        """Signals while an entry on the same instrument was working."""
        p = PRIORITY_ENTRY
        bus.subscribe(EdgeDetected, self._on_edge, priority=p)
        bus.subscribe(OrderFilled, self._on_filled, priority=p)
        bus.subscribe(OrderCanceled, self._on_closed, priority=p)
        bus.subscribe(OrderExpired, self._on_closed, priority=p)
        bus.subscribe(OrderDenied, self._on_refused, priority=p)
        bus.subscribe(OrderRejected, self._on_refused, priority=p)
        bus.subscribe(OrderCancelRejected, self._on_cancel_rejected, priority=p)
        bus.subscribe(ExitTriggered, self._on_exit, priority=p)

    def update_methods(self, methods: Mapping[str, MethodConfig]) -> None:
        """Take new method settings: new signals use them; working entries keep theirs."""
        self._methods = dict(methods)

    # -- reads -------------------------------------------------------------------------------

    def rejected_by_check(self) -> dict[str, int]:
        """How many signals each check rejected (``{"min_edge": 12, ...}``)."""
        return dict(self._rejected)

    def working(self) -> list[EntryStatus]:
        return [
            EntryStatus(
                strategy_id=e.key[0],
                instrument_id=e.key[1],
                method=e.method_name,
                client_order_id=e.cid,
                attempts=e.attempts,
                price=None if e.price_raw is None else e.instrument.price_from_raw(e.price_raw),
                quantity=e.instrument.qty_from_raw(e.target_raw),
                filled=e.instrument.qty_from_raw(e.filled_raw),
            )
            for e in self._entries.values()
        ]

    # -- the flow ----------------------------------------------------------------------------

    def _on_edge(self, event: EdgeDetected) -> None:
        key = (event.strategy_id, event.instrument_id)
        if key in self._entries:
            self.ignored += 1
            return
        position = self._portfolio.position(*key)
        if position is not None and position.net_raw:
            self.edge_updates += 1
            return
        method = self._methods.get(event.method)
        if method is None:
            known = ", ".join(sorted(self._methods)) or "none"
            self._reject(event, f"method: unknown method {event.method!r} (known: {known})")
            return
        entry = method.entry
        edge_pct = _pct(event.edge)
        if edge_pct < entry.min_edge_pct:
            self._reject(event, f"min_edge: edge {edge_pct:.2f}% < {entry.min_edge_pct}%")
            return
        if Decimal(repr(event.confidence)) < entry.min_confidence:
            self._reject(event, f"min_confidence: confidence {event.confidence} < {entry.min_confidence}")
            return
        problem = self._risk.entry_problem(event.instrument_id, event.side)
        if problem is not None:
            self._reject(event, problem)
            return
        try:
            instrument = self._portfolio.instrument(event.instrument_id)
        except TradeloopError:
            self._reject(event, f"instrument: unknown instrument {event.instrument_id}")
            return
        reference = self._reference_price(event)
        if reference is None:
            self._reject(event, f"price: no price on {event.instrument_id} to enter at")
            return
        sized = self._size(event, method, instrument, reference)
        if isinstance(sized, str):
            self._reject(event, sized)
            return
        price_raw: int | None = None
        if entry.order_type == "limit":
            offset = entry.limit_offset_ticks * instrument.price_increment.raw
            buy = event.side is OrderSide.BUY
            # Onto the tick grid toward the market (a mid can sit between ticks).
            limit = instrument.round_price_raw(reference + offset if buy else reference - offset, up=buy)
            price_raw = clamp_to_band(instrument, limit)
        record = _Entry(
            key,
            event.method,
            method,
            instrument,
            event.side,
            sized,
            price_raw,
            event.correlation_id,
            event.id,
        )
        self._entries[key] = record
        self._monitor.expect(event.strategy_id, event.instrument_id, event.method)
        self.started += 1
        self._place(record)

    def _reference_price(self, event: EdgeDetected) -> int | None:
        if event.price is not None:
            return event.price.raw
        iid = event.instrument_id
        prices = self._prices
        touch = prices.ask_raw(iid) if event.side is OrderSide.BUY else prices.bid_raw(iid)
        return touch if touch is not None else prices.last_raw(iid)

    def _size(
        self, event: EdgeDetected, method: MethodConfig, instrument: Instrument, reference: int
    ) -> int | str:
        """The entry quantity as a raw, or the rejection reason."""
        sizing = method.sizing
        price = instrument.price_from_raw(abs(reference))
        sizer: Sizer
        try:
            if sizing.rule == "kelly":
                p = event.win_probability
                if p is None:
                    return "sizing: kelly sizing needs the signal's win_probability"
                b = event.payoff_ratio
                if b is None and instrument.asset_class is AssetClass.EVENT_CONTRACT:
                    # A contract bought at c pays 1 - c on a win and loses c; sold, the reverse.
                    c = Decimal(reference) / FIXED_SCALAR
                    b = float((1 - c) / c if event.side is OrderSide.BUY else c / (1 - c))
                if b is None:
                    return "sizing: kelly sizing needs the signal's payoff_ratio"
                sizer = FractionalKelly(
                    p,
                    b,
                    sizing.kelly_fraction,
                    min_quantity=sizing.min_quantity,
                    max_quantity=sizing.max_quantity,
                )
            elif sizing.rule == "fixed":
                assert sizing.quantity is not None  # the config validator guarantees it
                sizer = FixedQuantity(sizing.quantity)
            else:
                assert sizing.equity_pct is not None
                sizer = FixedFraction(sizing.equity_pct / 100)
            qty = sizer.size(instrument, price, self._portfolio.equity()).raw
        except TradeloopError as exc:
            return f"sizing: {exc}"
        if sizing.max_quantity is not None:
            qty = min(qty, instrument.round_qty_raw_down(int(sizing.max_quantity * FIXED_SCALAR)))
        if sizing.max_notional is not None and qty:
            per_unit = instrument.notional_raw(abs(reference), instrument.size_increment.raw)
            cap_units = int(sizing.max_notional * FIXED_SCALAR) // per_unit if per_unit else 0
            qty = min(qty, cap_units * instrument.size_increment.raw)
        if sizing.min_quantity is not None and qty < int(sizing.min_quantity * FIXED_SCALAR):
            qty = 0
        if qty <= 0:
            return f"sizing: {sizer!r} sizes nothing at {price} with equity {self._portfolio.equity()}"
        return qty

    def _place(self, e: _Entry) -> None:
        sid, iid = e.key
        factory = self._execution.order_factory(sid)
        qty = e.instrument.qty_from_raw(e.target_raw - e.filled_raw)
        tags = ("entry", e.method_name)
        if e.price_raw is None:
            spec = factory.market(iid, e.side, qty, tags=tags)
        else:
            spec = factory.limit(iid, e.side, qty, e.instrument.price_from_raw(e.price_raw), tags=tags)
        e.attempts += 1
        e.cid = spec.client_order_id
        e.after_cancel = None
        self._by_order[e.cid] = e
        e.submit_id = self._bus.emit(
            SubmitOrder,
            correlation_id=e.correlation_id,
            causation_id=e.causation_id,
            strategy_id=sid,
            instrument_id=iid,
            order=spec,
        )
        if self._entries.get(e.key) is not e:
            return  # denied while publishing (the denial already ended the entry)
        self._arm(e)

    def _arm(self, e: _Entry) -> None:
        """(Re)start the fill timeout of the working order."""
        clock = self._clock
        if e.timer:
            clock.cancel_timer(e.timer)
            self._by_timer.pop(e.timer, None)
        e.timer = f"lifecycle.entry.{e.cid}"
        self._by_timer[e.timer] = e
        timeout = int(e.method.entry.fill_timeout_seconds * NANOS_PER_SECOND)
        clock.set_time_alert(e.timer, clock.timestamp_ns() + timeout, self._on_timeout)

    def _cancel(self, e: _Entry, causation_id: str) -> None:
        sid, iid = e.key
        self._bus.emit(
            CancelOrder,
            correlation_id=e.correlation_id,
            causation_id=causation_id,
            strategy_id=sid,
            instrument_id=iid,
            client_order_id=e.cid,
        )

    def _on_timeout(self, event: TimeEvent) -> None:
        e = self._by_timer.pop(event.name, None)
        if e is None or self._entries.get(e.key) is not e:
            return
        e.timer = ""
        order = self._execution.order(e.cid)
        if order is None or order.is_closed:
            return
        if e.after_cancel is not None:
            # The last cancel was refused and the order still works: ask again, same decision.
            self._cancel(e, e.submit_id)
            return
        settings = e.method.entry
        if settings.on_no_fill == "cancel" or e.attempts >= settings.max_attempts:
            e.after_cancel = "abandon"
        else:
            e.after_cancel = "resubmit"
            if settings.on_no_fill == "walk" and e.price_raw is not None:
                step = settings.walk_ticks * e.instrument.price_increment.raw
                e.price_raw = clamp_to_band(
                    e.instrument, e.price_raw + step if e.side is OrderSide.BUY else e.price_raw - step
                )
        self._cancel(e, e.submit_id)

    def _on_cancel_rejected(self, event: OrderCancelRejected) -> None:
        e = self._by_order.get(event.client_order_id)
        if (
            e is None
            or self._entries.get(e.key) is not e
            or e.cid != event.client_order_id
            or e.after_cancel is None
        ):
            return  # not a cancel of ours (a breaker's, say): our own timeout still runs
        order = self._execution.order(e.cid)
        if order is None or order.is_closed:
            return  # it closed anyway; that event ends or retries the entry
        self._arm(e)  # still working: ask again at the next timeout rather than hang

    def _on_exit(self, event: ExitTriggered) -> None:
        """An exit of the position this entry is building: stop buying into it."""
        e = self._entries.get((event.strategy_id, event.instrument_id))
        if e is None:
            return
        position = self._portfolio.position(*e.key)
        if position is None or position.id != event.position_id:
            return  # about an earlier position, not the one this entry builds
        e.stopped_by = f"entry: stopped by the {event.reason.value} exit of {event.position_id}"
        asked = e.after_cancel is not None  # a cancel is on its way (or refused and re-armed)
        e.after_cancel = "abandon"
        if asked:
            return
        if e.timer:
            self._clock.cancel_timer(e.timer)
            self._by_timer.pop(e.timer, None)
            e.timer = ""
        self._cancel(e, event.id)

    def _on_filled(self, event: OrderFilled) -> None:
        e = self._by_order.get(event.client_order_id)
        if e is None:
            return
        e.filled_raw += event.last_qty.raw
        if e.filled_raw >= e.target_raw:
            self.completed += 1
            self._finish(e)

    def _on_closed(self, event: OrderCanceled | OrderExpired) -> None:
        e = self._by_order.get(event.client_order_id)
        if e is None or self._entries.get(e.key) is not e or e.cid != event.client_order_id:
            return
        if e.after_cancel == "resubmit" and e.filled_raw < e.target_raw:
            self._by_order.pop(e.cid, None)
            e.causation_id = event.id  # the retry follows the confirmed cancel
            self._place(e)
            return
        self.abandoned += 1
        attempts = e.attempts
        self._finish(e)
        if not e.filled_raw:
            self._monitor.forget(*e.key)  # no position came of it: its method must not watch the next
        sid, iid = e.key
        self._bus.emit(
            EntryAbandoned,
            correlation_id=e.correlation_id,
            causation_id=event.id,
            strategy_id=sid,
            instrument_id=iid,
            method=e.method_name,
            attempts=attempts,
            filled=e.instrument.qty_from_raw(e.filled_raw),
            reason=e.stopped_by
            or (
                f"entry: not filled after {attempts} attempt{'s' if attempts != 1 else ''} "
                f"of {e.method.entry.fill_timeout_seconds} s ({e.method.entry.on_no_fill})"
                if e.after_cancel is not None
                else f"entry: order {event.client_order_id} {type(event).__name__}"
            ),
        )

    def _on_refused(self, event: OrderDenied | OrderRejected) -> None:
        e = self._by_order.get(event.client_order_id)
        if e is None or self._entries.get(e.key) is not e:
            return
        self._finish(e)
        if not e.filled_raw:
            self._monitor.forget(*e.key)
        reason = event.reason if isinstance(event, OrderDenied) else f"venue: {event.reason}"
        sid, iid = e.key
        self._count(reason)
        self._bus.emit(
            EntryRejected,
            correlation_id=e.correlation_id,
            causation_id=event.id,
            strategy_id=sid,
            instrument_id=iid,
            method=e.method_name,
            reason=reason,
        )

    def _finish(self, e: _Entry) -> None:
        if e.timer:
            self._clock.cancel_timer(e.timer)
            self._by_timer.pop(e.timer, None)
        self._entries.pop(e.key, None)
        for cid in [cid for cid, owner in self._by_order.items() if owner is e]:
            del self._by_order[cid]

    def _reject(self, event: EdgeDetected, reason: str) -> None:
        self._count(reason)
        self._bus.emit(
            EntryRejected,
            correlation_id=event.correlation_id,
            causation_id=event.id,
            strategy_id=event.strategy_id,
            instrument_id=event.instrument_id,
            method=event.method,
            reason=reason,
        )

    def _count(self, reason: str) -> None:
        check = reason.partition(":")[0]
        self._rejected[check] = self._rejected.get(check, 0) + 1
