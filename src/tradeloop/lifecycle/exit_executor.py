"""The exit executor: an ``ExitTriggered`` becomes reduce-only orders that escalate until filled.

For each exit the executor looks up the method's :class:`~tradeloop.lifecycle.methods.
PriorityExecution` for the exit's priority and places one reduce-only order at a time for the
position's strategy (through that strategy's order factory, so ids stay deterministic and the
fills book to the position). Every placement and re-placement publishes ``ExitEscalated``
(step 1 is the first order); the exit ends with ``ExitCompleted`` or with ``ExitFailed`` and a
CRITICAL :class:`~tradeloop.model.events.Alert`. All its messages carry the trigger's
correlation id; each command's causation id is the message that led to it (for a timeout, the
``ExitEscalated`` of the step that timed out).

Prices
    Limit prices and walks follow :mod:`tradeloop.lifecycle.exit_pricing` (on the tick grid,
    clamped to the instrument's min/max price). Without a quote the last price stands for bid
    and ask (the :class:`~tradeloop.lifecycle.book.PriceCache`'s, else the portfolio's mark,
    else the position's last fill).

Escalation (when an order has not filled after ``timeout_seconds``)
    ``immediate_market``: cancel the limit, then a market order for the rest.
    ``walk_then_market``: move the limit ``walk_ticks`` toward the market, ``max_walks`` times,
    then market. ``walk_price``: walk ``max_walks`` times, then give up. ``walk_slowly``: walk
    one tick at a time, the wait doubling after each walk, ``max_walks`` times, then market. A
    walk that the price band stops (the limit is already at the instrument's min or max price)
    counts as the end of the walks.

Decisions (the method docstrings leave these open)
    * **Walks modify the working order** (``ModifyOrder`` with the new price) rather than cancel
      and replace it: the order keeps its id and its fills, and there is never a moment with
      two exit orders working, so a walk cannot over-close. A refused modify
      (``OrderModifyRejected``, or the risk engine's ``OrderModifyDenied``) uses up that walk
      and the next step follows at once.
    * **Market only after the cancel is confirmed.** Moving from a limit to a market order (or
      giving up) cancels the limit first and acts on its ``OrderCanceled`` (or whatever else
      closes it), for the quantity still open then; a fill racing the cancel is counted, never
      doubled.
    * **An unfilled market order is retried once** (``market_retries``): after its timeout it is
      canceled and, once canceled, a fresh market order for the rest is placed (liquidity may
      have come back, a venue may route it afresh). When that one times out too, it is
      canceled and the exit fails. A failed exit therefore leaves no order of its own working,
      except when the venue refuses a cancel: then the exit fails at once and says so.
    * **Refusals skip to the next step at once**: ``OrderRejected`` / ``OrderDenied`` (and a
      venue's own cancel or expiry of an exit order) are answered by the next escalation step
      for what is still open; with no step left the exit fails.
    * **One exit per position.** A new ``ExitTriggered`` for a position whose exit is running
      replaces it only when it is more urgent (a lower :class:`~tradeloop.lifecycle.events.
      ExitPriority`) and closes at least what the running exit still has to close; the
      running order is canceled and, once closed, the new exit starts with its own style, reason
      and correlation. Otherwise it is ignored (``ignored``), so a scale-out never cuts a full
      exit short. The replaced exit publishes no terminal event: the replacing one ends it.
    * **Closed by someone else.** When the position closes (or flips) while an exit runs, its
      working order is canceled and ``ExitCompleted`` is published at once with the steps taken
      so far. A trigger for a position that is no longer open is answered by ``ExitCompleted``
      with ``steps=0``: nothing needed placing.
    * **Unknown method.** An exit naming a method the executor does not know still executes,
      with the default :class:`~tradeloop.lifecycle.methods.ExecutionSettings`, and a WARNING
      alert (``exit_method_unknown``) says so: failing to close would be the worse error.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Final, Literal

from tradeloop.core.bus import MessageBus
from tradeloop.core.clock import NANOS_PER_SECOND, Clock, TimeEvent
from tradeloop.core.errors import TradeloopError
from tradeloop.core.ids import ClientOrderId, IdFactory, InstrumentId, PositionId, StrategyId
from tradeloop.core.message import Message
from tradeloop.execution.engine import ExecutionEngine
from tradeloop.lifecycle.book import PriceCache
from tradeloop.lifecycle.events import (
    ExitCompleted,
    ExitEscalated,
    ExitFailed,
    ExitPriority,
    ExitReason,
    ExitTriggered,
)
from tradeloop.lifecycle.exit_pricing import initial_limit_price, next_walk_price
from tradeloop.lifecycle.methods import ExecutionSettings, MethodConfig, PriorityExecution
from tradeloop.model.commands import CancelOrder, ModifyOrder, SubmitOrder
from tradeloop.model.enums import OrderSide
from tradeloop.model.events import (
    Alert,
    AlertSeverity,
    OrderCanceled,
    OrderCancelRejected,
    OrderDenied,
    OrderExpired,
    OrderFilled,
    OrderModifyRejected,
    OrderRejected,
    PositionClosed,
)
from tradeloop.model.instruments import Instrument
from tradeloop.model.objects import Price, Quantity
from tradeloop.model.position import Position
from tradeloop.portfolio.portfolio import Portfolio
from tradeloop.risk.events import OrderModifyDenied

__all__ = ["PRIORITY_EXIT_EXECUTOR", "ActiveExit", "ExitExecutor"]

PRIORITY_EXIT_EXECUTOR = 100
"""Bus priority: after the portfolio (positions include the fill) and risk, before strategies."""

SOURCE: Final = "exit_executor"
"""The ``source`` of the executor's alerts."""

_DEFAULT_SETTINGS: Final = ExecutionSettings()
_Key = tuple[StrategyId, InstrumentId]
_AfterClose = Literal["start", "market", "fail"]


def _seconds_ns(seconds: Decimal) -> int:
    return int(seconds * NANOS_PER_SECOND)  # nine decimal places at most: exact


@dataclass(frozen=True, slots=True)
class ActiveExit:
    """What one running exit is doing (a snapshot; it does not change with the exit).

    ``quantity`` is what the exit closes (before its first order: what the trigger asked for),
    ``filled`` what its own orders filled so far, ``step`` how many placements it made and
    ``style`` the latest one's (``"market"``, a limit style, ``"walk"``; ``""`` before the
    first). ``client_order_id`` and ``price`` are those of the order working now (``None``
    when none is, or for a market order's price).
    """

    strategy_id: StrategyId
    instrument_id: InstrumentId
    position_id: PositionId
    reason: ExitReason
    priority: ExitPriority
    method: str
    side: OrderSide
    quantity: Quantity
    filled: Quantity
    step: int
    style: str
    client_order_id: ClientOrderId | None
    price: Price | None
    correlation_id: str


class _Exit:
    """The mutable state of one exit."""

    __slots__ = (
        "after_close",
        "closing",
        "done",
        "exe",
        "fail_detail",
        "filled_raw",
        "instrument",
        "last_id",
        "markets",
        "own",
        "price_raw",
        "problem",
        "side",
        "started",
        "step",
        "style",
        "target_raw",
        "timer",
        "trigger",
        "wait_ns",
        "walks",
        "working",
        "working_market",
    )

    def __init__(self, trigger: ExitTriggered, exe: PriorityExecution, position: Position) -> None:
        self.trigger = trigger
        self.exe = exe
        self.instrument: Instrument = position.instrument
        self.side = OrderSide.SELL if position.net_raw > 0 else OrderSide.BUY
        self.started = False
        self.target_raw = 0
        self.filled_raw = 0
        self.step = 0
        self.walks = 0
        self.markets = 0
        self.style = ""
        self.working: ClientOrderId | None = None  # the exit's order, until it closes
        self.working_market = False  # whether the latest order placed was a market order
        self.price_raw: int | None = None  # limit price of the latest order
        self.own: set[ClientOrderId] = set()  # orders this exit placed (their fills count)
        self.closing: ClientOrderId | None = None  # an order whose cancel we await
        self.after_close: _AfterClose | None = None
        self.timer: str | None = None
        self.wait_ns = 0  # the wait of the current step
        self.last_id: str = trigger.id
        self.problem = ""  # why the latest step did not fill
        self.fail_detail = ""
        self.done = False

    @property
    def key(self) -> _Key:
        return (self.trigger.strategy_id, self.trigger.instrument_id)


class ExitExecutor:
    """Executes exits: reduce-only orders whose style and patience follow the exit's priority.

    Parameters
    ----------
    bus:
        The message bus; the executor subscribes to ``ExitTriggered``, the order events of its
        orders and ``PositionClosed`` at :data:`PRIORITY_EXIT_EXECUTOR`.
    clock:
        Time of its messages and its timeouts (``set_time_alert``).
    ids:
        Mints the ids of its messages.
    execution:
        Its order factories (one per strategy, shared with the strategy) and order cache.
    portfolio:
        Read for the position an exit closes, and its mark when no price is cached.
    prices:
        Latest bid, ask and price of each instrument.
    methods:
        The lifecycle methods by name; an exit uses ``methods[event.method].execution``.
    market_retries:
        Fresh market orders placed after a market order timed out unfilled (default 1).

    Raises
    ------
    TradeloopError
        If ``market_retries`` is negative.
    """

    def __init__(
        self,
        bus: MessageBus,
        clock: Clock,
        ids: IdFactory,
        execution: ExecutionEngine,
        portfolio: Portfolio,
        prices: PriceCache,
        methods: Mapping[str, MethodConfig],
        *,
        market_retries: int = 1,
    ) -> None:
        if isinstance(market_retries, bool) or not isinstance(market_retries, int) or market_retries < 0:
            raise TradeloopError(f"market_retries must be a non-negative integer, got {market_retries!r}")
        self._bus = bus
        self._clock = clock
        self._ids = ids
        self._execution = execution
        self._portfolio = portfolio
        self._prices = prices
        self._methods: dict[str, MethodConfig] = dict(methods)
        self._market_retries = market_retries
        self._exits: dict[_Key, _Exit] = {}
        self._by_order: dict[ClientOrderId, _Exit] = {}
        self._timers: dict[str, _Exit] = {}
        self._timer_seq = 0
        self._outbox: deque[Message] = deque()
        self._flushing = False
        self.completed = 0
        """Exits that ended with ``ExitCompleted``."""
        self.failed = 0
        """Exits that ended with ``ExitFailed``."""
        self.superseded = 0
        """Running exits replaced by a more urgent one."""
        self.ignored = 0
        """Triggers ignored because an exit at least as urgent (or larger) was running."""
        p = PRIORITY_EXIT_EXECUTOR
        bus.subscribe(ExitTriggered, self._on_exit_triggered, priority=p)
        bus.subscribe(OrderFilled, self._on_filled, priority=p)
        bus.subscribe(OrderCanceled, self._on_gone, priority=p)
        bus.subscribe(OrderExpired, self._on_gone, priority=p)
        bus.subscribe(OrderRejected, self._on_refused, priority=p)
        bus.subscribe(OrderDenied, self._on_refused, priority=p)
        bus.subscribe(OrderCancelRejected, self._on_cancel_rejected, priority=p)
        bus.subscribe(OrderModifyRejected, self._on_modify_refused, priority=p)
        bus.subscribe(OrderModifyDenied, self._on_modify_refused, priority=p)
        bus.subscribe(PositionClosed, self._on_position_closed, priority=p)

    # -- reads -----------------------------------------------------------------------------

    def update_methods(self, methods: Mapping[str, MethodConfig]) -> None:
        """Take new method settings: new exits use them; running exits keep theirs."""
        self._methods = dict(methods)

    def active_exits(self) -> list[ActiveExit]:
        """Every running exit, in the order they started."""
        return [self._view(ex) for ex in self._exits.values()]

    def _view(self, ex: _Exit) -> ActiveExit:
        inst = ex.instrument
        trigger = ex.trigger
        working = ex.working or ex.closing
        price = None
        if ex.working is not None and not ex.working_market and ex.price_raw is not None:
            price = inst.price_from_raw(ex.price_raw)
        return ActiveExit(
            strategy_id=trigger.strategy_id,
            instrument_id=trigger.instrument_id,
            position_id=trigger.position_id,
            reason=trigger.reason,
            priority=trigger.priority,
            method=trigger.method,
            side=ex.side,
            quantity=inst.qty_from_raw(ex.target_raw) if ex.started else trigger.quantity,
            filled=inst.qty_from_raw(ex.filled_raw),
            step=ex.step,
            style=ex.style,
            client_order_id=working,
            price=price,
            correlation_id=trigger.correlation_id,
        )

    # -- triggers --------------------------------------------------------------------------

    def _on_exit_triggered(self, event: ExitTriggered) -> None:
        key = (event.strategy_id, event.instrument_id)
        position = self._portfolio.position(*key)
        if position is None or position.id != event.position_id or not position.net_raw:
            self._stale(event)
        else:
            active = self._exits.get(key)
            if active is None:
                ex = self._new_exit(event, position)
                self._exits[key] = ex
                self._start(ex, event.id)
            elif event.priority < active.trigger.priority and event.quantity.raw >= min(
                self._to_close(active), abs(position.net_raw)
            ):
                # More urgent and at least what is still open (the position may have shrunk
                # under the running exit): the new exit takes over.
                self._supersede(active, event, position)
            else:
                self.ignored += 1
        self._flush()

    def _stale(self, event: ExitTriggered) -> None:
        """The trigger's position is no longer open: nothing to do, and say so."""
        self.completed += 1
        self._emit(
            ExitCompleted(
                **self._header(event, event.id),
                strategy_id=event.strategy_id,
                instrument_id=event.instrument_id,
                position_id=event.position_id,
                reason=event.reason,
                steps=0,
            )
        )

    def _new_exit(self, event: ExitTriggered, position: Position) -> _Exit:
        method = self._methods.get(event.method)
        if method is None:
            settings = _DEFAULT_SETTINGS
            known = ", ".join(sorted(self._methods)) or "none"
            self._alert(
                AlertSeverity.WARNING,
                "exit_method_unknown",
                f"exit of {event.position_id} ({event.reason.value}): unknown method {event.method!r} "
                f"(known: {known}); executing with the default execution settings",
                event,
                event.id,
            )
        else:
            settings = method.execution
        exe = {
            ExitPriority.CRITICAL: settings.critical,
            ExitPriority.HIGH: settings.high,
            ExitPriority.MEDIUM: settings.medium,
            ExitPriority.LOW: settings.low,
        }[event.priority]
        return _Exit(event, exe, position)

    def _to_close(self, ex: _Exit) -> int:
        """What a running exit still has to close."""
        if ex.started:
            return ex.target_raw - ex.filled_raw
        position = self._position(ex)
        size = abs(position.net_raw) if position is not None else 0
        return min(ex.trigger.quantity.raw, size)

    def _supersede(self, old: _Exit, event: ExitTriggered, position: Position) -> None:
        self.superseded += 1
        new = self._new_exit(event, position)
        old.done = True
        self._disarm(old)
        self._exits[new.key] = new
        open_cid = old.closing or old.working  # an exit has at most one order open
        if open_cid is None:
            self._start(new, event.id)
            return
        new.closing = open_cid
        new.after_close = "start"
        self._by_order[open_cid] = new
        if old.closing != open_cid:
            self._cancel(new, open_cid, event.id)

    def _start(self, ex: _Exit, cause: str) -> None:
        position = self._position(ex)
        if position is None:
            self._complete(ex, cause)
            return
        inst = ex.instrument
        qty = inst.round_qty_raw_down(min(ex.trigger.quantity.raw, abs(position.net_raw)))
        ex.side = OrderSide.SELL if position.net_raw > 0 else OrderSide.BUY
        if qty <= 0:
            ex.fail_detail = (
                f"exit quantity {ex.trigger.quantity} is less than one lot "
                f"({inst.size_increment}) of {inst.id}"
            )
            self._fail(ex, cause)
            return
        ex.target_raw = qty
        ex.started = True
        style = ex.exe.style
        if style == "market":
            self._place(ex, None, style, cause)
        else:
            self._place(ex, self._initial_price(ex), style, cause)

    # -- prices ----------------------------------------------------------------------------

    def _initial_price(self, ex: _Exit) -> int:
        iid = ex.instrument.id
        bid = self._prices.bid_raw(iid)
        ask = self._prices.ask_raw(iid)
        if bid is None or ask is None:
            bid = ask = self._last_raw(ex)  # no quote: the last price stands for both sides
        return initial_limit_price(ex.instrument, ex.side, ex.exe, bid, ask)

    def _last_raw(self, ex: _Exit) -> int:
        iid = ex.instrument.id
        last = self._prices.last_raw(iid)
        if last is None:
            last = self._portfolio.last_price_raw(iid)
        if last is None:
            position = self._position(ex)
            last = position.last_px_raw if position is not None else 0
        return last

    def _walked(self, ex: _Exit) -> int | None:
        """The next walk's price, or ``None`` when the band stops the walk."""
        if ex.price_raw is None:
            return None
        return next_walk_price(ex.instrument, ex.side, ex.price_raw, ex.exe)

    # -- placing, walking, canceling --------------------------------------------------------

    def _place(self, ex: _Exit, price_raw: int | None, style: str, cause: str) -> None:
        """A new order for what is still open: a limit at ``price_raw``, or a market order."""
        remaining = self._remaining(ex)
        if remaining <= 0:
            self._complete(ex, cause)
            return
        inst = ex.instrument
        trigger = ex.trigger
        qty = inst.qty_from_raw(remaining)
        factory = self._execution.order_factory(trigger.strategy_id)
        tags = ("exit", trigger.reason.value)
        if price_raw is None:
            spec = factory.market(inst.id, ex.side, qty, reduce_only=True, tags=tags)
            ex.markets += 1
        else:
            spec = factory.limit(
                inst.id, ex.side, qty, inst.price_from_raw(price_raw), reduce_only=True, tags=tags
            )
        cid = spec.client_order_id
        ex.working = cid
        ex.working_market = price_raw is None
        ex.price_raw = price_raw
        ex.own.add(cid)
        self._by_order[cid] = ex
        self._escalated(ex, style, cid, price_raw, remaining, cause)
        self._arm(ex)
        self._emit(
            SubmitOrder(
                **self._header(trigger, cause),
                strategy_id=trigger.strategy_id,
                instrument_id=trigger.instrument_id,
                order=spec,
            )
        )

    def _walk(self, ex: _Exit, price_raw: int, cause: str) -> None:
        """Move the working limit to ``price_raw``."""
        cid = ex.working
        assert cid is not None
        trigger = ex.trigger
        ex.price_raw = price_raw
        self._escalated(ex, "walk", cid, price_raw, self._remaining(ex), cause)
        self._arm(ex)
        self._emit(
            ModifyOrder(
                **self._header(trigger, cause),
                strategy_id=trigger.strategy_id,
                instrument_id=trigger.instrument_id,
                client_order_id=cid,
                price=ex.instrument.price_from_raw(price_raw),
            )
        )

    def _cancel_then(self, ex: _Exit, action: _AfterClose, cause: str) -> None:
        """Cancel the working order; ``action`` follows once it is closed."""
        cid = ex.working
        assert cid is not None
        ex.closing = cid
        ex.after_close = action
        self._disarm(ex)
        self._cancel(ex, cid, cause)

    def _cancel(self, ex: _Exit, cid: ClientOrderId, cause: str) -> None:
        trigger = ex.trigger
        self._emit(
            CancelOrder(
                **self._header(trigger, cause),
                strategy_id=trigger.strategy_id,
                instrument_id=trigger.instrument_id,
                client_order_id=cid,
            )
        )

    def _escalated(
        self, ex: _Exit, style: str, cid: ClientOrderId, price_raw: int | None, remaining: int, cause: str
    ) -> None:
        ex.step += 1
        ex.style = style
        inst = ex.instrument
        trigger = ex.trigger
        event = ExitEscalated(
            **self._header(trigger, cause),
            strategy_id=trigger.strategy_id,
            instrument_id=trigger.instrument_id,
            position_id=trigger.position_id,
            reason=trigger.reason,
            step=ex.step,
            style=style,
            client_order_id=cid,
            price=inst.price_from_raw(price_raw) if price_raw is not None else None,
            remaining=inst.qty_from_raw(remaining),
        )
        ex.last_id = event.id
        self._emit(event)

    # -- escalation ------------------------------------------------------------------------

    def _escalate(self, ex: _Exit, cause: str) -> None:
        """Take the next step: a walk, a market order, or giving up."""
        exe = ex.exe
        live = ex.working is not None
        if ex.working_market:
            if ex.markets <= self._market_retries:
                self._to_market(ex, live, cause)
            else:
                ex.fail_detail = f"{ex.problem}; no step left after {ex.markets} market order(s)"
                self._give_up(ex, live, cause)
            return
        if exe.escalation != "immediate_market" and ex.walks < exe.max_walks:
            walked = self._walked(ex)
            if walked is not None:
                ex.walks += 1
                if live:
                    self._walk(ex, walked, cause)
                else:
                    self._place(ex, walked, "walk", cause)
                return
        if exe.escalation == "walk_price":
            price = ex.instrument.price_from_raw(ex.price_raw) if ex.price_raw is not None else None
            ex.fail_detail = f"{ex.problem}; walk_price gave up after {ex.walks} walk(s) at {price}"
            self._give_up(ex, live, cause)
        else:
            self._to_market(ex, live, cause)

    def _to_market(self, ex: _Exit, live: bool, cause: str) -> None:
        if live:
            self._cancel_then(ex, "market", cause)
        else:
            self._place(ex, None, "market", cause)

    def _give_up(self, ex: _Exit, live: bool, cause: str) -> None:
        if live:
            self._cancel_then(ex, "fail", cause)
        else:
            self._fail(ex, cause)

    # -- timers ----------------------------------------------------------------------------

    def _arm(self, ex: _Exit) -> None:
        """(Re)start the wait of the step just taken."""
        self._disarm(ex)
        exe = ex.exe
        wait = _seconds_ns(exe.timeout_seconds)
        if exe.escalation == "walk_slowly" and not ex.working_market:
            wait <<= ex.walks  # the wait doubles with each walk
        ex.wait_ns = wait
        self._timer_seq += 1
        name = f"exit-executor:{ex.trigger.position_id}:{self._timer_seq}"
        ex.timer = name
        self._timers[name] = ex
        self._clock.set_time_alert(name, self._clock.timestamp_ns() + wait, self._on_timer)

    def _disarm(self, ex: _Exit) -> None:
        name = ex.timer
        if name is not None:
            ex.timer = None
            self._timers.pop(name, None)
            self._clock.cancel_timer(name)

    def _on_timer(self, event: TimeEvent) -> None:
        ex = self._timers.pop(event.name, None)
        if ex is None or ex.done or ex.timer != event.name:
            return
        ex.timer = None
        cid = ex.working
        if cid is None or ex.closing is not None:
            return
        kind = "market" if ex.working_market else "limit"
        waited = (Decimal(ex.wait_ns) / NANOS_PER_SECOND).normalize()
        ex.problem = f"{kind} order {cid} not filled within {waited:f} s"
        self._escalate(ex, ex.last_id)
        self._flush()

    # -- order events ----------------------------------------------------------------------

    def _on_filled(self, event: OrderFilled) -> None:
        cid = event.client_order_id
        ex = self._by_order.get(cid)
        if ex is None:
            return
        if cid in ex.own:
            ex.filled_raw += event.last_qty.raw
        if self._position(ex) is None or (ex.started and ex.filled_raw >= ex.target_raw):
            self._complete(ex, event.id)
        else:
            order = self._execution.order(cid)
            if order is not None and order.is_closed:
                self._closed(ex, cid, event.id, f"order {cid} filled, but {self._remaining_qty(ex)} remain")
        self._flush()

    def _on_gone(self, event: OrderCanceled | OrderExpired) -> None:
        cid = event.client_order_id
        ex = self._by_order.get(cid)
        if ex is None:
            return
        what = "canceled" if isinstance(event, OrderCanceled) else "expired"
        self._closed(ex, cid, event.id, f"order {cid} {what} by the venue")
        self._flush()

    def _on_refused(self, event: OrderRejected | OrderDenied) -> None:
        cid = event.client_order_id
        ex = self._by_order.get(cid)
        if ex is None:
            return
        what = "rejected" if isinstance(event, OrderRejected) else "denied"
        self._closed(ex, cid, event.id, f"order {cid} {what}: {event.reason}")
        self._flush()

    def _closed(self, ex: _Exit, cid: ClientOrderId, cause: str, problem: str) -> None:
        """An order of ``ex`` closed (canceled, expired, refused or filled)."""
        self._by_order.pop(cid, None)
        if ex.done:
            return
        if self._position(ex) is None:
            self._complete(ex, cause)
            return
        was_working = ex.working == cid
        if was_working:
            ex.working = None
        if ex.closing == cid:
            action = ex.after_close
            ex.closing = None
            ex.after_close = None
            if action == "start":
                self._start(ex, cause)
            elif action == "market":
                self._place(ex, None, "market", cause)
            elif self._remaining(ex) <= 0:
                self._complete(ex, cause)
            else:
                self._fail(ex, cause)
            return
        if ex.started and ex.filled_raw >= ex.target_raw:
            self._complete(ex, cause)
        elif was_working:
            self._disarm(ex)
            ex.problem = problem
            self._escalate(ex, cause)

    def _on_cancel_rejected(self, event: OrderCancelRejected) -> None:
        cid = event.client_order_id
        ex = self._by_order.get(cid)
        if ex is None or ex.done or ex.closing != cid:
            return
        order = self._execution.order(cid)
        if order is None or order.is_closed:
            return  # it closed anyway; that event drives the exit
        ex.closing = None
        ex.after_close = None
        self._by_order.pop(cid, None)
        price = f" at {order.price}" if order.price is not None else ""
        ex.fail_detail = (
            f"{ex.problem}; the cancel of {cid} was rejected ({event.reason}), "
            f"so the order is still working{price}"
        ).removeprefix("; ")
        self._fail(ex, event.id)
        self._flush()

    def _on_modify_refused(self, event: OrderModifyRejected | OrderModifyDenied) -> None:
        cid = event.client_order_id
        ex = self._by_order.get(cid)
        if ex is None or ex.done or ex.working != cid or ex.closing is not None:
            return
        order = self._execution.order(cid)
        if order is None or order.is_closed:
            return
        if order.price is not None:
            ex.price_raw = order.price.raw  # the walk did not happen: walk on from where it is
        ex.problem = f"walk of {cid} refused: {event.reason}"
        self._disarm(ex)
        self._escalate(ex, event.id)
        self._flush()

    def _on_position_closed(self, event: PositionClosed) -> None:
        ex = self._exits.get((event.strategy_id, event.instrument_id))
        if ex is None or ex.done or ex.trigger.position_id != event.position_id:
            return
        self._complete(ex, event.id)
        self._flush()

    # -- endings ---------------------------------------------------------------------------

    def _finish(self, ex: _Exit, cause: str, *, cancel: bool) -> None:
        """Stop tracking ``ex``; with ``cancel``, cancel its order if one is still open."""
        ex.done = True
        self._disarm(ex)
        if self._exits.get(ex.key) is ex:
            del self._exits[ex.key]
        for cid in (ex.working, ex.closing):
            if cid is None:
                continue
            if self._by_order.get(cid) is ex:
                del self._by_order[cid]
            order = self._execution.order(cid)
            if cancel and cid != ex.closing and (order is None or not order.is_closed):
                self._cancel(ex, cid, cause)
        ex.working = ex.closing = None

    def _complete(self, ex: _Exit, cause: str) -> None:
        self._finish(ex, cause, cancel=True)
        self.completed += 1
        trigger = ex.trigger
        self._emit(
            ExitCompleted(
                **self._header(trigger, cause),
                strategy_id=trigger.strategy_id,
                instrument_id=trigger.instrument_id,
                position_id=trigger.position_id,
                reason=trigger.reason,
                steps=ex.step,
            )
        )

    def _fail(self, ex: _Exit, cause: str) -> None:
        remaining = self._remaining(ex) if ex.started else self._to_close(ex)
        self._finish(ex, cause, cancel=False)
        self.failed += 1
        trigger = ex.trigger
        inst = ex.instrument
        detail = ex.fail_detail or ex.problem
        failed = ExitFailed(
            **self._header(trigger, cause),
            strategy_id=trigger.strategy_id,
            instrument_id=trigger.instrument_id,
            position_id=trigger.position_id,
            reason=trigger.reason,
            remaining=inst.qty_from_raw(remaining),
            detail=detail,
        )
        self._emit(failed)
        self._alert(
            AlertSeverity.CRITICAL,
            "exit_failed",
            f"exit of {trigger.position_id} ({trigger.reason.value}, {trigger.priority.name}) failed after "
            f"{ex.step} step(s): {detail}; {failed.remaining} of {inst.id} left open",
            trigger,
            failed.id,
        )

    # -- helpers ---------------------------------------------------------------------------

    def _position(self, ex: _Exit) -> Position | None:
        """The exit's position while it is open (not after it closed or flipped)."""
        position = self._portfolio.position(*ex.key)
        if position is None or position.id != ex.trigger.position_id or not position.net_raw:
            return None
        return position

    def _remaining(self, ex: _Exit) -> int:
        """What the exit still has to close, at most the open position."""
        position = self._position(ex)
        if position is None:
            return 0
        return max(0, min(ex.target_raw - ex.filled_raw, abs(position.net_raw)))

    def _remaining_qty(self, ex: _Exit) -> Quantity:
        return ex.instrument.qty_from_raw(self._remaining(ex))

    def _alert(
        self, severity: AlertSeverity, kind: str, message: str, trigger: ExitTriggered, cause: str
    ) -> None:
        self._emit(
            Alert(
                **self._header(trigger, cause),
                severity=severity,
                source=SOURCE,
                kind=kind,
                message=message,
                instrument_id=trigger.instrument_id,
            )
        )

    def _header(self, trigger: ExitTriggered, cause: str) -> dict[str, Any]:
        """Id, the exit's correlation, ``cause`` and now: what every message of an exit carries."""
        now = self._clock.timestamp_ns()
        return {
            "id": self._ids.new_id(),
            "correlation_id": trigger.correlation_id,
            "causation_id": cause,
            "ts_event": now,
            "ts_init": now,
        }

    def _emit(self, msg: Message) -> None:
        self._outbox.append(msg)

    def _flush(self) -> None:
        # State is complete before anything is published: a publish from outside the reactor
        # (a timer) runs the bus to completion, and the venue's answers re-enter this class.
        # A nested call leaves its messages to the outer loop, which keeps them in order.
        if self._flushing:
            return
        self._flushing = True
        out = self._outbox
        publish = self._bus.publish
        try:
            while out:
                publish(out.popleft())
        finally:
            self._flushing = False
