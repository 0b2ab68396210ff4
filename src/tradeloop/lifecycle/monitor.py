"""The position monitor: every open position watched on the clock until an exit fires.

A position is watched under the method that opened it (named by the entry flow, or the
strategy's configured ``method``); positions without a method are not watched. For each
watched position the monitor:

- updates unrealized P&L, P&L % and the trailing stop on every price of its instrument
  (trade, quote, bar, price snapshot); a stop that moves publishes ``TrailingStopMoved``;
- checks it on a timer: every ``monitor.interval_seconds``, or every
  ``monitor.urgent_interval_seconds`` while the price is within ``urgent_band_pct`` of its
  stop or target. A check first looks at the price's age: older than ``price_ttl_seconds``
  publishes ``PriceRequested`` and decides when the fresh price arrives, never on old data;
- evaluates every exit condition of the method (:class:`~tradeloop.lifecycle.exits.ExitEvaluator`);
  the most urgent that fires is published as ``ExitTriggered``, which the exit executor acts
  on. While an exit runs, only a more urgent condition is published (the executor then
  replaces the running exit).

``ClosePosition`` (an operator's close) and ``FlattenAll`` (kill switch, circuit breakers)
become CRITICAL ``ExitTriggered`` at once, for watched and unwatched positions alike.

Exit bookkeeping: the monitor remembers the priority of the exit it last published and, while
that runs, publishes only a more urgent one. Any ``ExitCompleted`` or ``ExitFailed`` of the
position ends that: the executor runs one exit per position and a replaced exit ends
silently, so an end of any of them means none runs now (the executor may have passed over the
monitor's latest trigger and kept an older exit, whose end carries the older reason).

Supervision: a check that raises is isolated, reported as ``HandlerFailed`` and an ``Alert``
(``monitor_restarted``), and the position's watch is restarted from the portfolio's position,
keeping what the old watch had decided (its trailing stop, the scale-out levels taken, the
exit under way, the time of the last update): a restart never moves a stop back. A restart
that raises too (a custom evaluator that cannot be built again) is reported, raises a
CRITICAL ``monitor_restart_failed`` alert and leaves the old watch in place, so no error of a
check ever reaches the clock (it would abort a backtest) and no position goes unwatched;
a health check every ``health_interval`` raises ``position_stale`` when a position has had no
update for longer than its method's ``stale_alert_seconds``, and re-arms a watch whose timer
was lost. In backtests all of this runs on the simulated clock.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal

from tradeloop.core.bus import MessageBus
from tradeloop.core.clock import NANOS_PER_SECOND, Clock, TimeEvent
from tradeloop.core.errors import TradeloopError
from tradeloop.core.ids import IdFactory, InstrumentId, PositionId, StrategyId
from tradeloop.core.message import Message
from tradeloop.indicators.atr import AverageTrueRange
from tradeloop.lifecycle.book import PriceCache
from tradeloop.lifecycle.events import (
    EXIT_PRIORITY,
    EdgeDetected,
    ExitCompleted,
    ExitFailed,
    ExitPriority,
    ExitReason,
    ExitTriggered,
    PriceRequested,
    TrailingStopMoved,
)
from tradeloop.lifecycle.exits import (
    ExitEvaluator,
    ExitSignal,
    MarketSnapshot,
    WatchedPosition,
)
from tradeloop.lifecycle.methods import MethodConfig, VolatilityRule
from tradeloop.lifecycle.volatility import VolatilityTracker
from tradeloop.model.commands import ClosePosition, FlattenAll
from tradeloop.model.data import Bar, PriceSnapshot, QuoteTick, TradeTick
from tradeloop.model.events import (
    Alert,
    AlertSeverity,
    PositionChanged,
    PositionClosed,
    PositionOpened,
)
from tradeloop.model.position import Position
from tradeloop.portfolio.portfolio import Portfolio

__all__ = ["DEFAULT_METHOD", "PRIORITY_MONITOR", "PositionMonitor", "WatchStatus"]

PRIORITY_MONITOR = 100
"""Bus priority: after the portfolio and risk (positions and marks are current), before strategies."""

DEFAULT_METHOD = "default"
"""The method used for executing exits of positions no method watches (a flatten-all)."""

_Key = tuple[StrategyId, InstrumentId]


@dataclass(frozen=True, slots=True)
class WatchStatus:
    """What the monitor knows of one watched position."""

    strategy_id: StrategyId
    instrument_id: InstrumentId
    position_id: PositionId
    method: str
    unrealized_pnl_raw: int
    pnl_pct: Decimal
    """Unrealized P&L as a percentage of the cost basis, at the last mark."""
    trailing_stop_raw: int | None
    urgent: bool
    next_check_ns: int
    exiting: ExitReason | None
    last_update_ns: int


class _Watch:
    __slots__ = (
        "awaiting_price",
        "evaluator",
        "exit_priority",
        "exit_reason",
        "key",
        "mark_atr",
        "mark_raw",
        "method",
        "method_name",
        "next_check_ns",
        "position_id",
        "stale_alerted",
        "timer",
        "unrealized_raw",
        "urgent",
        "watched",
    )

    def __init__(
        self,
        key: _Key,
        position: Position,
        method_name: str,
        method: MethodConfig,
        opened_ns: int,
        evaluator: ExitEvaluator,
    ) -> None:
        self.key = key
        self.position_id = position.id
        self.method_name = method_name
        self.method = method
        self.watched = WatchedPosition(position, method_name, method, opened_ns)
        self.evaluator = evaluator
        self.timer = f"lifecycle.monitor.{key[0]}.{key[1]}"
        self.next_check_ns = 0
        self.urgent = False
        self.awaiting_price = False
        self.stale_alerted = False
        self.exit_reason: ExitReason | None = None
        self.exit_priority: ExitPriority | None = None
        self.unrealized_raw = 0
        self.mark_raw: int | None = None  # the price of the last revaluation
        self.mark_atr: int | None = None


def _seconds_ns(value: Decimal) -> int:
    return int(value * NANOS_PER_SECOND)


class PositionMonitor:
    """Watches open positions and publishes ``ExitTriggered`` when an exit condition fires.

    Parameters
    ----------
    bus, clock, ids:
        The node's bus, clock and id factory.
    portfolio:
        Positions and their marks.
    prices:
        The latest prices (and their age) per instrument.
    methods:
        Methods by name. ``default`` is added (``MethodConfig()``) if missing: it executes
        the exits of positions no method watches.
    strategy_methods:
        The method of each strategy's own positions (``StrategyConfig.method``).
    health_interval_ns:
        How often the health check runs (default: 30 s).
    evaluator_factory:
        Builds the exit evaluator of a method (default :class:`ExitEvaluator`); a subclass can
        add conditions of its own.
    """

    def __init__(
        self,
        bus: MessageBus,
        clock: Clock,
        ids: IdFactory,
        portfolio: Portfolio,
        prices: PriceCache,
        methods: Mapping[str, MethodConfig],
        *,
        strategy_methods: Mapping[StrategyId, str] | None = None,
        health_interval_ns: int = 30 * NANOS_PER_SECOND,
        evaluator_factory: Callable[[MethodConfig], ExitEvaluator] = ExitEvaluator,
    ) -> None:
        self._evaluator_factory = evaluator_factory
        self._bus = bus
        self._clock = clock
        self._ids = ids
        self._portfolio = portfolio
        self._prices = prices
        self.methods: dict[str, MethodConfig] = dict(methods)
        self.methods.setdefault(DEFAULT_METHOD, MethodConfig())
        self._strategy_methods = dict(strategy_methods or {})
        for sid, name in self._strategy_methods.items():
            if name not in self.methods:
                raise KeyError(
                    f"strategy {sid}: unknown method {name!r} (known: {', '.join(sorted(self.methods))})"
                )
        self._expected: dict[_Key, str] = {}
        self._watches: dict[_Key, _Watch] = {}
        self._by_timer: dict[str, _Watch] = {}
        self._by_instrument: dict[InstrumentId, list[_Watch]] = {}
        self._edges: dict[_Key, float] = {}
        # Per instrument, so a price touches only its own instrument's trackers.
        self._vol: dict[InstrumentId, dict[VolatilityRule, VolatilityTracker]] = {}  # by rule
        self._atr: dict[InstrumentId, dict[int, AverageTrueRange]] = {}  # by period
        self.checks = 0
        """Checks run."""
        self.restarts = 0
        """Watches restarted after a check raised."""
        self.price_requests = 0
        """Fresh prices requested because the cached one was stale."""
        self._exits_by_reason: dict[str, int] = {}
        self.stale_alerts = 0
        """Stale-price alerts raised."""
        p = PRIORITY_MONITOR
        bus.subscribe(PositionOpened, self._on_opened, priority=p)
        bus.subscribe(PositionChanged, self._on_changed, priority=p)
        bus.subscribe(PositionClosed, self._on_closed, priority=p)
        bus.subscribe(TradeTick, self._on_trade, priority=p)
        bus.subscribe(QuoteTick, self._on_quote, priority=p)
        bus.subscribe(Bar, self._on_bar, priority=p)
        bus.subscribe(PriceSnapshot, self._on_snapshot, priority=p)
        bus.subscribe(EdgeDetected, self._on_edge, priority=p)
        bus.subscribe(ExitCompleted, self._on_exit_done, priority=p)
        bus.subscribe(ExitFailed, self._on_exit_done, priority=p)
        bus.subscribe(ClosePosition, self._on_close_position, priority=p)
        bus.subscribe(FlattenAll, self._on_flatten_all, priority=p)
        self._health_timer = "lifecycle.monitor.health"
        clock.set_timer(self._health_timer, health_interval_ns, self._on_health)

    # -- wiring and reads ------------------------------------------------------------------

    def expect(self, strategy_id: StrategyId, instrument_id: InstrumentId, method: str) -> None:
        """Watch the next position of ``strategy_id`` on ``instrument_id`` under ``method``."""
        if method not in self.methods:
            raise KeyError(f"unknown method {method!r} (known: {', '.join(sorted(self.methods))})")
        self._expected[(strategy_id, instrument_id)] = method

    def _count_exit(self, reason: ExitReason) -> None:
        self._exits_by_reason[reason.value] = self._exits_by_reason.get(reason.value, 0) + 1

    @property
    def exits_triggered(self) -> int:
        """Exits triggered so far, of every reason."""
        return sum(self._exits_by_reason.values())

    def exits_by_reason(self) -> dict[str, int]:
        """Exits triggered so far, by reason (``{"STOP_LOSS": 3, ...}``)."""
        return dict(self._exits_by_reason)

    def update_methods(self, methods: Mapping[str, MethodConfig]) -> None:
        """Take new method settings (config hot reload). Watched positions are evaluated with
        their method's new thresholds from their next check; a trailing stop keeps the state
        and rule it was opened with. A method still in use cannot be removed."""
        new = dict(methods)
        new.setdefault(DEFAULT_METHOD, MethodConfig())
        in_use = {w.method_name for w in self._watches.values()} | set(self._strategy_methods.values())
        in_use |= set(self._expected.values())
        missing = sorted(in_use - set(new))
        if missing:
            raise TradeloopError(f"methods {', '.join(missing)} are in use and cannot be removed live")
        evaluators = {
            name: self._evaluator_factory(m) for name, m in new.items() if self.methods.get(name) != m
        }
        self.methods = new
        for watch in self._watches.values():
            if watch.method_name in evaluators:
                watch.method = new[watch.method_name]
                watch.watched.use_method(watch.method)  # the urgent band's levels too
                watch.evaluator = evaluators[watch.method_name]

    def forget(self, strategy_id: StrategyId, instrument_id: InstrumentId) -> None:
        """Drop an expectation set by :meth:`expect` (the entry ended without a fill)."""
        self._expected.pop((strategy_id, instrument_id), None)

    def status(self) -> list[WatchStatus]:
        """Every watched position, in the order they opened."""
        return [self._status(w) for w in self._watches.values()]

    def watch_status(self, strategy_id: StrategyId, instrument_id: InstrumentId) -> WatchStatus | None:
        watch = self._watches.get((strategy_id, instrument_id))
        return None if watch is None else self._status(watch)

    def edge(self, strategy_id: StrategyId, instrument_id: InstrumentId) -> float | None:
        """The latest edge a strategy reported on an instrument."""
        return self._edges.get((strategy_id, instrument_id))

    @staticmethod
    def _status(w: _Watch) -> WatchStatus:
        trailing = w.watched.trailing
        return WatchStatus(
            strategy_id=w.key[0],
            instrument_id=w.key[1],
            position_id=w.position_id,
            method=w.method_name,
            unrealized_pnl_raw=w.unrealized_raw,
            pnl_pct=Decimal(0) if w.mark_raw is None else w.watched.pnl_pct(w.mark_raw),
            trailing_stop_raw=None if trailing is None else trailing.stop_raw,
            urgent=w.urgent,
            next_check_ns=w.next_check_ns,
            exiting=w.exit_reason,
            last_update_ns=w.watched.last_update_ns,
        )

    # -- positions ---------------------------------------------------------------------------

    def _on_opened(self, event: PositionOpened) -> None:
        key = (event.strategy_id, event.instrument_id)
        name = self._expected.pop(key, None) or self._strategy_methods.get(event.strategy_id)
        if name is None:
            return
        position = self._portfolio.position(*key)
        if position is None:
            return
        self._start_watch(key, position, name, event.ts_event)

    def _start_watch(
        self, key: _Key, position: Position, name: str, opened_ns: int, previous: _Watch | None = None
    ) -> _Watch:
        """Watch ``position``; ``previous`` is the watch a restart replaces (its decisions carry over)."""
        method = self.methods[name]
        watch = _Watch(key, position, name, method, opened_ns, self._evaluator_factory(method))
        watched = watch.watched
        watched.last_update_ns = self._clock.timestamp_ns()
        if previous is not None and previous.position_id == position.id:
            old = previous.watched
            # A fresh trailing stop would trail from the entry again: the stop would move back.
            watched.trailing = old.trailing
            for level in old.scale_outs_taken:
                watched.take_scale_out(level)  # taken levels are not sold twice
            watched.last_update_ns = old.last_update_ns  # a restart is no market update
            watch.stale_alerted = previous.stale_alerted
            watch.exit_reason, watch.exit_priority = previous.exit_reason, previous.exit_priority
        self._watches[key] = watch
        self._by_timer[watch.timer] = watch
        self._by_instrument.setdefault(key[1], []).append(watch)
        mark = self._prices.last_raw(key[1])
        if mark is not None:
            self._mark(watch, mark, self._atr_raw(key[1], watch.method))
            # Already inside the band: the first check comes at the urgent interval too (_mark
            # only shortens an armed wait, and repeated prices skip it).
            watch.urgent = watched.near_stop_or_target(mark)
        self._arm(watch, self._interval(watch))
        return watch

    def _on_changed(self, event: PositionChanged) -> None:
        watch = self._watches.get((event.strategy_id, event.instrument_id))
        if watch is not None and watch.position_id == event.position_id:
            watch.watched.last_update_ns = self._clock.timestamp_ns()
            watch.mark_raw = None  # the quantity changed: revalue at the next price

    def _on_closed(self, event: PositionClosed) -> None:
        watch = self._watches.get((event.strategy_id, event.instrument_id))
        if watch is not None and watch.position_id == event.position_id:
            self._stop_watch(watch)
        self._edges.pop((event.strategy_id, event.instrument_id), None)

    def _stop_watch(self, watch: _Watch) -> None:
        self._clock.cancel_timer(watch.timer)
        self._watches.pop(watch.key, None)
        self._by_timer.pop(watch.timer, None)
        peers = self._by_instrument.get(watch.key[1])
        if peers is not None and watch in peers:
            peers.remove(watch)

    # -- prices ------------------------------------------------------------------------------

    def _on_trade(self, tick: TradeTick) -> None:
        self._on_price(tick.instrument_id, tick.price.raw, tick.ts_event)

    def _on_quote(self, tick: QuoteTick) -> None:
        self._on_price(tick.instrument_id, (tick.bid_price.raw + tick.ask_price.raw) // 2, tick.ts_event)

    def _on_snapshot(self, snapshot: PriceSnapshot) -> None:
        # ts_event is when the market last showed this price: an old price re-sent is no update,
        # and one older than a tick the cache (subscribed above) already holds is not used.
        iid = snapshot.instrument_id
        newest = self._prices.price_ts_ns(iid)
        if newest is not None and snapshot.ts_event < newest:
            return
        self._on_price(iid, snapshot.price.raw, snapshot.ts_event)

    def _on_bar(self, bar: Bar) -> None:
        iid = bar.instrument_id
        atrs = self._atr.get(iid)
        if atrs is not None:
            for atr in atrs.values():
                atr.update_bar(bar)
        self._on_price(iid, bar.close.raw, bar.ts_event)

    def _on_price(self, iid: InstrumentId, price_raw: int, ts_event: int) -> None:
        # Volatility is the market's, watched or not: fed only while a position is open, the
        # first price after a flat spell would make one "return" of the whole gap, a spike.
        trackers = self._vol.get(iid)
        if trackers is not None:
            for tracker in trackers.values():
                tracker.update(price_raw)
        watches = self._by_instrument.get(iid)
        if not watches:
            return
        for watch in tuple(watches):
            self._mark(watch, price_raw, self._atr_raw(iid, watch.method), ts_event)
            if watch.awaiting_price:
                watch.awaiting_price = False
                self._guarded_check(watch)

    def _atr_raw(self, iid: InstrumentId, method: MethodConfig) -> int | None:
        rule = method.exits.trailing_stop
        if rule is None or rule.atr_multiple is None:
            return None
        atrs = self._atr.setdefault(iid, {})
        atr = atrs.get(rule.atr_period)
        if atr is None:
            atrs[rule.atr_period] = AverageTrueRange(rule.atr_period)
            return None
        return round(atr.value * 1e9) if atr.initialized else None

    def _volatility(self, iid: InstrumentId, method: MethodConfig) -> float | None:
        rule = method.exits.volatility
        if rule is None:
            return None
        trackers = self._vol.setdefault(iid, {})
        tracker = trackers.get(rule)
        if tracker is None:
            trackers[rule] = VolatilityTracker(rule)
            return None
        return tracker.ratio

    def _mark(self, watch: _Watch, price_raw: int, atr_raw: int | None, ts_event: int | None = None) -> None:
        """Revalue the position at ``price_raw``; ``ts_event`` is the market time of that price
        (an update when newer than the last one)."""
        watched = watch.watched
        now = self._clock.timestamp_ns()
        if ts_event is not None and ts_event > watched.last_update_ns:
            watched.last_update_ns = ts_event
            watch.stale_alerted = False
        if price_raw == watch.mark_raw and atr_raw == watch.mark_atr:
            return  # most ticks repeat the last price: nothing to revalue
        watch.mark_raw = price_raw
        watch.mark_atr = atr_raw
        position = watched.position
        watch.unrealized_raw = position.unrealized_pnl_raw(price_raw)
        if watched.update_trailing(price_raw, atr_raw):
            trailing = watched.trailing
            assert trailing is not None
            assert trailing.stop_raw is not None
            instrument = position.instrument
            self._bus.emit(
                TrailingStopMoved,
                strategy_id=watch.key[0],
                instrument_id=watch.key[1],
                position_id=watch.position_id,
                stop=instrument.price_from_raw(trailing.stop_raw),
                peak=instrument.exact_price(trailing.peak_raw),
            )
        if not watch.urgent and watched.near_stop_or_target(price_raw):
            # Entering the band: check sooner than the normal interval would.
            urgent_at = now + _seconds_ns(watch.method.monitor.urgent_interval_seconds)
            if urgent_at < watch.next_check_ns:
                watch.urgent = True
                self._arm(watch, urgent_at - now)

    # -- checks ------------------------------------------------------------------------------

    def _interval(self, watch: _Watch) -> int:
        monitor = watch.method.monitor
        return _seconds_ns(monitor.urgent_interval_seconds if watch.urgent else monitor.interval_seconds)

    def _arm(self, watch: _Watch, delay_ns: int) -> None:
        clock = self._clock
        clock.cancel_timer(watch.timer)
        watch.next_check_ns = clock.timestamp_ns() + delay_ns
        clock.set_time_alert(watch.timer, watch.next_check_ns, self._on_timer)

    def _on_timer(self, event: TimeEvent) -> None:
        watch = self._by_timer.get(event.name)
        if watch is not None:
            self._guarded_check(watch)

    def _guarded_check(self, watch: _Watch) -> None:
        """Run one check; a check that raises restarts the watch (the supervisor's job)."""
        try:
            self._check(watch)
        except Exception as exc:  # noqa: BLE001 - a failing check must not stop monitoring
            self._restart(watch, exc)

    def _check(self, watch: _Watch) -> None:
        self.checks += 1
        iid = watch.key[1]
        now = self._clock.timestamp_ns()
        monitor = watch.method.monitor
        age = self._prices.age_ns(iid)
        mark = self._prices.last_raw(iid)
        if mark is None or age is None or age > _seconds_ns(monitor.price_ttl_seconds):
            # Never decide on old data: ask for a fresh price and check when it arrives.
            watch.awaiting_price = True
            self.price_requests += 1
            self._bus.emit(
                PriceRequested,
                instrument_id=iid,
                reason=(
                    "no price yet"
                    if age is None
                    else f"price is {age / NANOS_PER_SECOND:.1f} s old "
                    f"(ttl {monitor.price_ttl_seconds} s) for {watch.position_id}"
                ),
            )
            self._arm(watch, self._interval(watch))
            return
        atr = self._atr_raw(iid, watch.method)
        self._mark(watch, mark, atr)
        market = MarketSnapshot(
            price_raw=mark,
            bid_raw=self._prices.bid_raw(iid),
            ask_raw=self._prices.ask_raw(iid),
            atr_raw=atr,
            volatility_ratio=self._volatility(iid, watch.method),
            edge=self._edges.get(watch.key),
        )
        # Most urgent first; a signal passed over (a scale-out while an exit runs) must not
        # hide a more urgent one behind it.
        for signal in watch.evaluator.evaluate(watch.watched, market, now):
            if self._trigger(watch, signal):
                break
        watch.urgent = watch.watched.near_stop_or_target(mark)
        self._arm(watch, self._interval(watch))

    def _trigger(self, watch: _Watch, signal: ExitSignal) -> bool:
        """Publish ``signal``'s exit unless the running exit makes it moot; whether it did."""
        running = watch.exit_priority
        if running is not None and signal.priority >= running:
            return False  # an exit at least this urgent is already working
        if signal.reason is ExitReason.SCALE_OUT:
            if running is not None:
                return False
            assert signal.level is not None  # ExitSignal guarantees a level for SCALE_OUT
            watch.watched.take_scale_out(signal.level)
        watch.exit_reason = signal.reason
        watch.exit_priority = signal.priority
        self._count_exit(signal.reason)
        position = watch.watched.position
        self._bus.emit(
            ExitTriggered,
            strategy_id=watch.key[0],
            instrument_id=watch.key[1],
            position_id=watch.position_id,
            method=watch.method_name,
            reason=signal.reason,
            priority=signal.priority,
            quantity=position.instrument.qty_from_raw(signal.quantity_raw),
            detail=signal.detail,
        )
        return True

    def _on_exit_done(self, event: ExitCompleted | ExitFailed) -> None:
        # Any end of an exit of the position, whatever its reason: when the executor passed
        # over the monitor's latest (more urgent but smaller) trigger, the exit that ends is
        # an older one, and waiting for the latest reason would silence the position for good.
        watch = self._watches.get((event.strategy_id, event.instrument_id))
        if watch is not None and watch.position_id == event.position_id:
            watch.exit_reason = None
            watch.exit_priority = None

    def _on_edge(self, event: EdgeDetected) -> None:
        self._edges[(event.strategy_id, event.instrument_id)] = event.edge

    # -- forced exits ----------------------------------------------------------------------

    def _on_close_position(self, command: ClosePosition) -> None:
        position = self._portfolio.position(command.strategy_id, command.instrument_id)
        if position is None or not position.net_raw:
            self._alert(
                AlertSeverity.WARNING,
                "close_position_ignored",
                f"ClosePosition for {command.strategy_id} on {command.instrument_id}: no open position",
                command.instrument_id,
                command,
            )
            return
        self._force(position, ExitReason.MANUAL_CLOSE, f"manual close: {command.reason}", command)

    def _on_flatten_all(self, command: FlattenAll) -> None:
        reason = ExitReason.KILL_SWITCH if command.source == "kill_switch" else ExitReason.CIRCUIT_BREAKER
        for position in self._portfolio.positions_open():
            if position.net_raw:
                self._force(position, reason, f"{command.source}: {command.reason}", command)

    def _force(self, position: Position, reason: ExitReason, detail: str, cause: Message) -> None:
        key = (position.strategy_id, position.instrument.id)
        watch = self._watches.get(key)
        priority = EXIT_PRIORITY[reason]
        if watch is not None:
            if watch.exit_priority is not None and watch.exit_priority <= priority:
                return
            watch.exit_reason = reason
            watch.exit_priority = priority
        self._count_exit(reason)
        cause_id = getattr(cause, "id", None)
        correlation = getattr(cause, "correlation_id", None) or self._ids.new_id()
        self._bus.emit(
            ExitTriggered,
            correlation_id=correlation,
            causation_id=cause_id,
            strategy_id=key[0],
            instrument_id=key[1],
            position_id=position.id,
            method=watch.method_name if watch is not None else DEFAULT_METHOD,
            reason=reason,
            priority=priority,
            quantity=position.quantity,
            detail=detail,
        )

    # -- supervision -------------------------------------------------------------------------

    def _restart(self, watch: _Watch, exc: Exception) -> None:
        self.restarts += 1
        key = watch.key
        self._bus.report_failure("PositionMonitor.check", f"watch of {watch.position_id}", exc)
        self._stop_watch(watch)
        position = self._portfolio.position(*key)
        if position is None or not position.net_raw:
            return
        try:
            self._start_watch(key, position, watch.method_name, watch.watched.opened_ns, watch)
        except Exception as again:  # noqa: BLE001 - runs on the clock: an error here would abort a backtest
            self._bus.report_failure("PositionMonitor.restart", f"watch of {watch.position_id}", again)
            self._reinstate(watch)
            self._alert(
                AlertSeverity.CRITICAL,
                "monitor_restart_failed",
                f"the watch of {watch.position_id} raised {type(exc).__name__}: {exc}, and its restart "
                f"raised {type(again).__name__}: {again}; the old watch goes on",
                key[1],
                None,
            )
            return
        self._alert(
            AlertSeverity.WARNING,
            "monitor_restarted",
            f"the watch of {watch.position_id} raised {type(exc).__name__}: {exc}; restarted",
            key[1],
            None,
        )

    def _reinstate(self, watch: _Watch) -> None:
        """Put ``watch`` back (its replacement could not be built): never leave a position unwatched."""
        current = self._watches.get(watch.key)
        if current is not None and current is not watch:
            self._stop_watch(current)  # a replacement half built before it raised
        self._watches[watch.key] = watch
        self._by_timer[watch.timer] = watch
        self._by_instrument.setdefault(watch.key[1], []).append(watch)
        self._arm(watch, self._interval(watch))

    def _on_health(self, event: TimeEvent) -> None:
        now = self._clock.timestamp_ns()
        timers = set(self._clock.timer_names)
        for watch in tuple(self._watches.values()):
            if watch.timer not in timers:  # a lost timer: the watch would never check again
                self._arm(watch, 0)
            silent = now - watch.watched.last_update_ns
            limit = _seconds_ns(watch.method.monitor.stale_alert_seconds)
            if silent > limit and not watch.stale_alerted:
                watch.stale_alerted = True
                self.stale_alerts += 1
                self._alert(
                    AlertSeverity.WARNING,
                    "position_stale",
                    f"{watch.position_id} has had no update for {silent / NANOS_PER_SECOND:.0f} s "
                    f"(limit {watch.method.monitor.stale_alert_seconds} s)",
                    watch.key[1],
                    None,
                )

    # -- publishing --------------------------------------------------------------------------

    def _alert(
        self,
        severity: AlertSeverity,
        kind: str,
        message: str,
        instrument_id: InstrumentId | None,
        cause: Message | None,
    ) -> None:
        self._bus.emit(
            Alert,
            correlation_id=getattr(cause, "correlation_id", None) or self._ids.new_id(),
            causation_id=getattr(cause, "id", None),
            severity=severity,
            source="position_monitor",
            kind=kind,
            message=message,
            instrument_id=instrument_id,
        )
