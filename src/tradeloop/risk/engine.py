"""The risk engine: every trading command passes it on the way to execution.

It sees each :class:`~tradeloop.model.commands.TradingCommand` after the execution engine
registered it (bus priority 1000) and before anyone else. A command that passes goes to the
execution engine's endpoint; a ``SubmitOrder`` that fails is answered by ``OrderDenied`` and a
``ModifyOrder`` that fails by :class:`~tradeloop.risk.events.OrderModifyDenied`, each with a
reason ``"<check>: <details>"`` whose check is the config field that failed. ``CancelOrder``
and ``CancelAllOrders`` always pass.

Checks of a ``SubmitOrder``, in order (the first failure denies):

1. ``max_daily_loss`` / ``trading_state`` - the day's loss is compared with the limit first
   (reaching it moves ACTIVE to REDUCING); then HALTED denies everything and REDUCING
   everything that does not reduce the position. These apply even with ``bypass``.
2. ``trading_authorisation`` - an order that does not reduce the position is denied on an
   instrument that is blocked (:class:`~tradeloop.risk.authorisation.TradingAuthorisation`: a
   circuit breaker, a risk breach, the kill switch, a blackout window):
   ``"trading_authorisation: <instrument> blocked (<source>: <reason>; ...)"``. Applies even
   with ``bypass``.
3. ``instrument`` - the instrument is known and quantity and prices are on its grids.
4. ``max_order_quantity`` (per-instrument override, else the default).
5. ``price_band_pct`` - limit and trigger prices within the band around the last price.
6. ``max_order_notional``.
7. ``max_position_quantity``, ``max_position_notional``, ``max_gross_exposure``,
   ``max_correlated_exposure`` - on the worst case, as if every order working on the same
   side filled too; skipped for a position-reducing order. The gross exposure adds every
   other instrument on its own worst case (its position with the orders working on the side
   that enlarges it filled, at its last price), so orders in flight on several instruments
   cannot together pass the limit. The correlated exposure is the
   position's value after the order plus the open positions of instruments correlated with
   it (:mod:`tradeloop.risk.correlation`).
8. ``max_open_orders``, ``max_open_orders_per_instrument``.
9. ``max_order_rate`` - last, because an approval is what the window counts.

An order *reduces the position* when it is ``reduce_only`` (the venue will not let it grow a
position) or when it is on the other side of the instrument's net position (all strategies)
and, together with the orders already working on that side, no larger than it, so it cannot
flip the position. Orders are valued at their limit
price, else their trigger price (stop market), else the last price; an order that cannot be
valued is denied by the first check that needs a value. A ``ModifyOrder`` is checked for the
trading state, the instrument's authorisation (a raised quantity whose unfilled part does not
reduce the position is refused on a blocked instrument or while REDUCING), the instrument
grids, ``max_order_quantity`` and the price band; and, when it makes the order larger (its
quantity, or its notional at the new price), ``max_order_notional`` and the limits of step 7
on the order as modified, as a submit of that order would be.

All arithmetic is on integer raws; limits are compiled to raws once per config, and
:meth:`RiskEngine.update_config` swaps the compiled limits in one assignment.

The trading state is the strictest of the *base* state (set by an operator through
:meth:`RiskEngine.set_trading_state`, or REDUCING by the daily loss limit until the next UTC
day) and the *holds* circuit breakers place (:meth:`RiskEngine.hold_trading_state`), which
last until released (:meth:`RiskEngine.release_trading_state`, on a manual reset).
:meth:`RiskEngine.entry_problem` answers, before any order is built, whether a new position
may be opened now.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec

from tradeloop.core.bus import MessageBus
from tradeloop.core.clock import NANOS_PER_SECOND, Clock
from tradeloop.core.errors import TradeloopError
from tradeloop.core.ids import ClientOrderId, IdFactory, InstrumentId
from tradeloop.execution.answers import order_denied
from tradeloop.execution.engine import EXECUTE_ENDPOINT, ExecutionEngine
from tradeloop.model.commands import (
    CancelAllOrders,
    CancelOrder,
    ModifyOrder,
    OrderSpec,
    SubmitOrder,
    TradingCommand,
)
from tradeloop.model.enums import OrderSide, OrderStatus
from tradeloop.model.events import AccountStateChanged, OrderDenied, OrderSubmitted
from tradeloop.model.instruments import Instrument
from tradeloop.model.orders import Order
from tradeloop.portfolio.portfolio import Portfolio
from tradeloop.risk.authorisation import (
    BlackoutWindow,
    TradingAuthorisation,
    TradingStateKeeper,
    load_blackout_calendar,
)
from tradeloop.risk.checks import (
    band_problem,
    correlation_problem,
    exposure_problem,
    grid_problem,
    money_text,
    num_text,
    parts_text,
    product_text,
    valuation_price,
)
from tradeloop.risk.config import CorrelationConfig, RiskConfig
from tradeloop.risk.correlation import CorrelationTracker
from tradeloop.risk.events import OrderModifyDenied, TradingState
from tradeloop.risk.limits import RiskLimits

__all__ = ["PRIORITY_RISK", "RiskEngine"]

PRIORITY_RISK = 500
"""Bus priority: after the execution engine and the portfolio, before strategies."""

_DAY_NS = 86_400 * NANOS_PER_SECOND


class RiskEngine:
    """Pre-trade checks, trading state and order-rate throttle between strategies and execution.

    Parameters
    ----------
    bus:
        The message bus; the engine subscribes to ``TradingCommand`` at :data:`PRIORITY_RISK`.
    clock:
        Time source for the rate window, the trading day and event timestamps.
    ids:
        Mints the ids of the events the engine publishes.
    portfolio:
        Read for net positions, last prices, exposure, daily P&L and instruments.
    execution:
        Read for open orders; approved commands go to its endpoint.
    config:
        The limits; ``None`` means no limits. Its blackout calendar is read (a
        :class:`~tradeloop.core.errors.ConfigError` names a bad file and row) and scheduled
        on ``clock``, and its correlation sampling starts, when the engine is built: a live
        clock needs a running event loop by then.
    """

    def __init__(
        self,
        bus: MessageBus,
        clock: Clock,
        ids: IdFactory,
        portfolio: Portfolio,
        execution: ExecutionEngine,
        config: RiskConfig | None = None,
    ) -> None:
        self._bus = bus
        self._clock = clock
        self._ids = ids
        self._portfolio = portfolio
        self._execution = execution
        config = config if config is not None else RiskConfig()
        self._limits = RiskLimits(config)
        self._status = TradingStateKeeper(bus, clock, ids)
        self._loss_day: int | None = None  # UTC day the daily loss limit moved us to REDUCING
        self._authorisation = TradingAuthorisation(bus, clock, ids)
        self._correlation: CorrelationTracker | None = None
        self._calendar_path: Path | None = None
        self._approvals: deque[int] = deque()  # timestamps of approvals inside the rate window
        # Orders denied here whose OrderDenied is still queued: the execution engine counts
        # them as open until it applies the denial.
        self._denials_in_flight: dict[ClientOrderId, InstrumentId] = {}
        # Orders approved here whose OrderSubmitted is still queued (still INITIALIZED).
        self._approvals_in_flight: set[ClientOrderId] = set()
        self._denied: dict[str, int] = {}
        self.approved = 0
        """``SubmitOrder`` commands approved."""
        self.forwarded = 0
        """Commands of any kind sent on to execution."""
        self._handlers: dict[type[TradingCommand], Callable[[Any], None]] = {
            SubmitOrder: self._on_submit,
            ModifyOrder: self._on_modify,
            CancelOrder: self._forward,
            CancelAllOrders: self._forward,
        }
        bus.subscribe(TradingCommand, self._on_command, priority=PRIORITY_RISK)
        bus.subscribe(OrderDenied, self._on_denied, priority=PRIORITY_RISK)
        bus.subscribe(OrderSubmitted, self._on_submitted, priority=PRIORITY_RISK)
        bus.subscribe(AccountStateChanged, self._on_account, priority=PRIORITY_RISK)
        self._apply_extras(config, self._read_calendar(config))

    # -- configuration and state ------------------------------------------------------------

    @property
    def config(self) -> RiskConfig:
        return self._limits.config

    def update_config(self, config: RiskConfig) -> RiskConfig:
        """Replace the limits at once; returns the previous config.

        The next command is checked against the new limits. The rate window's history, the
        trading state and its holds, and the blocks carry over. A blackout calendar at a new
        path is read first (a bad file changes nothing) and replaces the old one; the same
        path is not read again. The correlation history carries over unless the window or
        the sampling changed.
        """
        if not isinstance(config, RiskConfig):
            raise TradeloopError(f"update_config needs a RiskConfig, got {type(config).__name__}")
        previous = self._limits.config
        windows = self._read_calendar(config)  # may raise: nothing has changed yet
        self._limits = RiskLimits(config)  # one assignment: no command sees half a config
        self._apply_extras(config, windows)
        return previous

    def _read_calendar(self, config: RiskConfig) -> list[BlackoutWindow] | None:
        """The windows of a calendar at a new path (``[]`` when it was removed), else ``None``."""
        path = config.blackout_calendar
        if path == self._calendar_path:
            return None
        return [] if path is None else load_blackout_calendar(path)

    def _apply_extras(self, config: RiskConfig, windows: list[BlackoutWindow] | None) -> None:
        """Swap the correlation tracker and the calendar to match ``config``."""
        self._swap_correlation(config.correlation)
        if windows is not None:
            self._calendar_path = config.blackout_calendar
            self._authorisation.set_calendar(windows)

    def _swap_correlation(self, config: CorrelationConfig | None) -> None:
        tracker = self._correlation
        if tracker is not None and config is not None and tracker.same_sampling(config):
            return
        if tracker is not None:
            tracker.close()  # first: the new tracker takes over the timer's name
        self._correlation = (
            None if config is None else CorrelationTracker(self._bus, self._clock, self._portfolio, config)
        )

    @property
    def limits(self) -> RiskLimits:
        """The compiled limits in force (read by the circuit breakers' post-trade check)."""
        return self._limits

    @property
    def authorisation(self) -> TradingAuthorisation:
        """The per-instrument blocks: circuit breakers and operators block and lift here."""
        return self._authorisation

    @property
    def correlation(self) -> CorrelationTracker | None:
        """The correlation tracker, while ``correlation`` is configured."""
        return self._correlation

    @property
    def trading_state(self) -> TradingState:
        return self._status.state

    @property
    def trading_state_reason(self) -> str:
        return self._status.reason

    @property
    def daily_loss_reached(self) -> bool:
        """Whether the daily loss limit holds the base state at REDUCING (until a new day)."""
        return self._loss_day is not None

    @property
    def holds(self) -> dict[str, tuple[TradingState, str]]:
        """The holds in force: name to (state, reason), oldest first."""
        return self._status.holds

    def set_trading_state(self, state: TradingState, reason: str) -> bool:
        """Move to ``state`` (an operator's decision) and publish ``TradingStateChanged``.

        Returns whether the trading state changed. A state set here is never undone
        automatically, not even a REDUCING the daily loss limit had set. It sets the base
        state: a stricter hold of a circuit breaker stays in force until it is released.
        """
        if not reason:
            raise TradeloopError("a trading state change needs a reason")
        state = TradingState(state)
        self._loss_day = None
        correlation_id = self._ids.new_id()
        return self._change_state(state, reason, correlation_id, None)

    def hold_trading_state(
        self,
        name: str,
        state: TradingState,
        reason: str,
        *,
        check: str = "trading_state",
        correlation_id: str | None = None,
        causation_id: str | None = None,
    ) -> bool:
        """Keep the trading state at least as strict as ``state`` until ``name`` is released.

        A circuit breaker's latch: neither an operator's ``set_trading_state`` nor a new day
        lifts it. Placing a hold of the same name again replaces it. ``check`` names the check
        REDUCING denials are counted under while this hold decides the state. Returns whether
        the trading state changed.
        """
        corr = correlation_id or self._ids.new_id()
        return self._status.hold(name, state, reason, corr, causation_id, check)

    def release_trading_state(
        self, name: str, reason: str, *, correlation_id: str | None = None, causation_id: str | None = None
    ) -> bool:
        """Release the hold ``name``; returns whether there was one.

        The trading state becomes the strictest of the base state and the other holds.
        """
        if not reason:
            raise TradeloopError("releasing a trading state hold needs a reason")
        return self._status.release(name, reason, correlation_id or self._ids.new_id(), causation_id)

    def _change_state(
        self, state: TradingState, reason: str, correlation_id: str, causation_id: str | None
    ) -> bool:
        """Set the base state; returns whether the trading state changed."""
        check = "max_daily_loss" if self._loss_day is not None else "trading_state"
        return self._status.set_base(state, reason, check, correlation_id, causation_id)

    def check_daily_loss(self) -> None:
        """Compare the day's P&L (marks included) with ``max_daily_loss`` now.

        The engine checks on every order command and account change; a timer calls this to
        catch a loss that prices alone run up between fills.
        """
        correlation_id = self._ids.new_id()
        self._watch_daily_loss(self._limits, correlation_id, correlation_id)

    def _watch_daily_loss(self, limits: RiskLimits, correlation_id: str, causation_id: str) -> None:
        """Trip to REDUCING at the daily loss limit; resume on a later day below it."""
        limit = limits.daily_loss
        state = self._status.state
        if state is TradingState.ACTIVE:
            if limit is None:
                return
            loss = -self._portfolio.daily_pnl_raw()
            if loss >= limit:
                self._loss_day = self._clock.timestamp_ns() // _DAY_NS
                self._change_state(
                    TradingState.REDUCING,
                    f"max_daily_loss: daily loss {self._money(loss)} reached the limit {self._money(limit)}",
                    correlation_id,
                    causation_id,
                )
        elif self._status.base_state is TradingState.REDUCING and self._loss_day is not None:
            today = self._clock.timestamp_ns() // _DAY_NS
            if today > self._loss_day and (limit is None or -self._portfolio.daily_pnl_raw() < limit):
                self._loss_day = None
                self._change_state(
                    TradingState.ACTIVE,
                    "max_daily_loss: a new trading day began",
                    correlation_id,
                    causation_id,
                )

    # -- the entry flow's question ---------------------------------------------------------

    def entry_problem(self, instrument_id: InstrumentId, side: OrderSide) -> str | None:
        """Why a new position may not be opened on ``instrument_id`` now, or ``None``.

        The entry flow asks before it sizes an order, so it need not build one to learn that
        it would be denied. The answer is ``"<check>: <details>"``, the first of:
        ``max_daily_loss`` (the day's loss reached the limit), ``trading_state`` (not ACTIVE),
        ``trading_authorisation`` (the instrument is blocked: a paused breaker, a blackout
        window...), ``max_position_quantity`` (the net position on ``side``, with the orders
        working on that side, is already at its limit) and ``max_correlated_exposure`` (the
        instrument's correlated exposure is already at the limit). Under ``bypass`` only the
        first three apply. A pure query: it publishes nothing and changes no state.
        """
        limits = self._limits
        status = self._status
        state = status.state
        if state is TradingState.ACTIVE and limits.daily_loss is not None:
            loss = -self._portfolio.daily_pnl_raw()
            if loss >= limits.daily_loss:
                return (
                    f"max_daily_loss: daily loss {self._money(loss)} reached the limit "
                    f"{self._money(limits.daily_loss)}"
                )
        if state is TradingState.HALTED:
            return f"trading_state: HALTED ({status.reason}); no new positions"
        if state is TradingState.REDUCING:
            return f"{status.check}: trading state REDUCING ({status.reason}); no new positions"
        problem = self._blocked_problem(instrument_id) if self._authorisation.any_blocks else None
        if problem is not None or limits.bypass:
            return problem
        net = self._portfolio.net_position_raw(instrument_id)
        max_pos = limits.position_qty_by.get(instrument_id, limits.position_qty)
        if max_pos is not None and (net == 0 or (net > 0) == (side is OrderSide.BUY)):
            working = self._working(instrument_id, side, None)
            if abs(net) + working >= max_pos:
                return (
                    f"max_position_quantity: net position {num_text(net)}"
                    f"{f' with {num_text(working)} more working' if working else ''} is already at the "
                    f"limit {num_text(max_pos)} on {instrument_id}"
                )
        tracker = self._correlation
        limit = limits.correlated_exposure
        if tracker is not None and limit is not None:
            own = self._portfolio.exposure_raw(instrument_id)
            total, parts = tracker.correlated_exposure(instrument_id, own, limits.correlation_threshold)
            if total >= limit:
                counted = parts_text(parts, self._portfolio.currency)
                return (
                    f"max_correlated_exposure: correlated exposure of {instrument_id} is already "
                    f"{self._money(total)} ({instrument_id} {self._money(own)}{counted}) "
                    f"at the limit {self._money(limit)}"
                )
        return None

    # -- counters --------------------------------------------------------------------------

    def limit_utilisation(self) -> dict[str, float]:
        """How much of each configured limit the current state uses (``1.0``: at the limit).

        For metrics and dashboards: the largest net position against its quantity limit, gross
        exposure, the day's loss, open orders and the order-rate window. Limits that are off
        are left out.
        """
        limits = self._limits
        portfolio = self._portfolio
        out: dict[str, float] = {}
        if limits.position_qty is not None or limits.position_qty_by:
            worst = 0.0
            for position in portfolio.positions_open():
                iid = position.instrument.id
                limit = limits.position_qty_by.get(iid, limits.position_qty)
                if limit:
                    worst = max(worst, abs(portfolio.net_position_raw(iid)) / limit)
            out["max_position_quantity"] = worst
        if limits.gross_exposure:
            out["max_gross_exposure"] = portfolio.gross_exposure_raw() / limits.gross_exposure
        if limits.daily_loss:
            out["max_daily_loss"] = max(0, -portfolio.daily_pnl_raw()) / limits.daily_loss
        if limits.open_orders:
            out["max_open_orders"] = self._execution.open_order_count() / limits.open_orders
        if limits.order_rate:
            cutoff = self._clock.timestamp_ns() - limits.rate_window_ns
            recent = sum(1 for ts in self._approvals if ts > cutoff)
            out["max_order_rate"] = recent / limits.order_rate
        return out

    def denied_by_check(self) -> dict[str, int]:
        """How many commands each check denied (``{"max_order_quantity": 2, ...}``)."""
        return dict(self._denied)

    @property
    def denied(self) -> int:
        """Commands denied by any check."""
        return sum(self._denied.values())

    # -- handlers --------------------------------------------------------------------------

    def _on_command(self, command: TradingCommand) -> None:
        handler = self._handlers.get(type(command))
        if handler is None:
            raise TradeloopError(f"the risk engine cannot check a {type(command).__name__}")
        handler(command)

    def _forward(self, command: TradingCommand) -> None:
        self.forwarded += 1
        self._bus.send(EXECUTE_ENDPOINT, command, forward=True)

    def _on_denied(self, event: OrderDenied) -> None:
        self._denials_in_flight.pop(event.client_order_id, None)
        self._approvals_in_flight.discard(event.client_order_id)  # unroutable after approval

    def _on_submitted(self, event: OrderSubmitted) -> None:
        self._approvals_in_flight.discard(event.client_order_id)

    def _on_account(self, event: AccountStateChanged) -> None:
        self._watch_daily_loss(self._limits, event.correlation_id, event.id)

    def _on_submit(self, command: SubmitOrder) -> None:
        spec = command.order
        cid = spec.client_order_id
        registered = self._execution.order(cid)
        if (
            registered is None
            or registered.spec is not spec
            or registered.status is not OrderStatus.INITIALIZED
            or cid in self._approvals_in_flight
            or cid in self._denials_in_flight
        ):
            # Not freshly registered: a duplicate client order id. Approving would send it
            # twice; OrderDenied would hit the order that owns the id. Refuse loudly.
            raise TradeloopError(
                f"order {cid} was already registered or decided (duplicate client order id?); "
                "it is neither approved nor denied"
            )
        limits = self._limits
        self._watch_daily_loss(limits, command.correlation_id, command.id)
        reason = self._check_submit(limits, spec)
        if reason is not None:
            self._count(reason)
            self._denials_in_flight[cid] = spec.instrument_id
            self._bus.publish(order_denied(command, reason, self._ids, self._clock.timestamp_ns()))
            return
        if limits.order_rate is not None and not limits.bypass:  # under bypass nothing trims it
            self._approvals.append(self._clock.timestamp_ns())
        self.approved += 1
        self._approvals_in_flight.add(cid)
        self._forward(command)

    def _on_modify(self, command: ModifyOrder) -> None:
        limits = self._limits
        self._watch_daily_loss(limits, command.correlation_id, command.id)
        reason = self._check_modify(limits, command)
        if reason is None:
            self._forward(command)
            return
        self._count(reason)
        now = self._clock.timestamp_ns()
        self._bus.publish(
            OrderModifyDenied(
                id=self._ids.new_id(),
                correlation_id=command.correlation_id,
                causation_id=command.id,
                ts_event=now,
                ts_init=now,
                strategy_id=command.strategy_id,
                instrument_id=command.instrument_id,
                client_order_id=command.client_order_id,
                reason=reason,
            )
        )

    def _count(self, reason: str) -> None:
        check = reason.partition(":")[0]
        self._denied[check] = self._denied.get(check, 0) + 1

    # -- checks ----------------------------------------------------------------------------

    def _working(self, iid: InstrumentId, side: OrderSide, cid: ClientOrderId | None) -> int:
        """What other working orders on this side may still add (denied ones excluded)."""
        skip: set[ClientOrderId] = set(self._denials_in_flight)
        if cid is not None:
            skip.add(cid)
        return self._execution.working_raw(iid, side, exclude=skip)

    def _is_reducing(
        self,
        iid: InstrumentId,
        side: OrderSide,
        qty_raw: int,
        reduce_only: bool,
        cid: ClientOrderId | None = None,
    ) -> bool:
        if reduce_only:
            return True
        net = self._portfolio.net_position_raw(iid)
        if net == 0 or (net > 0) == (side is OrderSide.BUY):
            return False
        # Together with the orders already working on this side it must not flip the position.
        return qty_raw + self._working(iid, side, cid) <= abs(net)

    def _state_problem(
        self, iid: InstrumentId, side: OrderSide, qty_raw: int, reduce_only: bool, cid: ClientOrderId
    ) -> str | None:
        status = self._status
        state = status.state
        if state is TradingState.ACTIVE:
            return None
        if state is TradingState.HALTED:
            return f"trading_state: HALTED ({status.reason}); only cancels pass"
        if self._is_reducing(iid, side, qty_raw, reduce_only, cid):
            return None
        net = self._portfolio.net_position_raw(iid)
        return (
            f"{status.check}: trading state REDUCING ({status.reason}); {side.value} "
            f"{num_text(qty_raw)} would not reduce the net position {num_text(net)} on {iid}"
        )

    def _blocked_problem(self, iid: InstrumentId) -> str | None:
        reasons = self._authorisation.blocked_reasons(iid)
        if not reasons:
            return None
        return f"trading_authorisation: {iid} blocked ({'; '.join(reasons)})"

    def _instrument(self, iid: InstrumentId) -> Instrument | str:
        try:
            return self._portfolio.instrument(iid)
        except TradeloopError:
            return f"instrument: unknown instrument {iid}"

    def _check_submit(self, limits: RiskLimits, spec: OrderSpec) -> str | None:
        iid = spec.instrument_id
        qty = spec.quantity.raw
        problem = self._state_problem(iid, spec.side, qty, spec.reduce_only, spec.client_order_id)
        if problem is not None:
            return problem
        if self._authorisation.any_blocks and not self._is_reducing(
            iid, spec.side, qty, spec.reduce_only, spec.client_order_id
        ):
            problem = self._blocked_problem(iid)
            if problem is not None:
                return problem
        if limits.bypass:
            return None
        instrument = self._instrument(iid)
        if isinstance(instrument, str):
            return instrument
        problem = grid_problem(instrument, spec)
        if problem is not None:
            return problem
        max_qty = limits.order_qty_by.get(iid, limits.order_qty)
        if max_qty is not None and qty > max_qty:
            return f"max_order_quantity: {num_text(qty)} > {num_text(max_qty)} on {iid}"
        last = self._portfolio.last_price_raw(iid)
        if limits.band_pct is not None:
            problem = band_problem(limits.band_pct, instrument, last, spec.price, spec.trigger_price)
            if problem is not None:
                return problem
        px = valuation_price(spec, last)
        if px is None and limits.needs_value:
            check = (
                "max_order_notional"
                if limits.order_notional is not None
                else "max_position_notional"
                if limits.position_notional is not None
                else "max_gross_exposure"
            )
            return f"{check}: no last price on {iid} to value a {spec.order_type.value} order"
        if px is not None and limits.order_notional is not None:
            notional = instrument.notional_raw(px, qty)
            if notional > limits.order_notional:
                return (
                    f"max_order_notional: {self._money(notional)} {product_text(instrument, qty, px)} "
                    f"> {self._money(limits.order_notional)} on {iid}"
                )
        cid = spec.client_order_id
        if limits.checks_exposure and not self._is_reducing(iid, spec.side, qty, spec.reduce_only, cid):
            problem = self._exposure_problem(limits, instrument, spec.side, qty, px, cid)
            if problem is not None:
                return problem
        return self._flow_problem(limits, iid)

    def _exposure_problem(
        self,
        limits: RiskLimits,
        instrument: Instrument,
        side: OrderSide,
        qty: int,
        px: int | None,
        cid: ClientOrderId,
    ) -> str | None:
        """The position and exposure limits on the worst case: the order's ``qty`` (what it may
        still add) and every other order working on its side fill too."""
        iid = instrument.id
        net = self._portfolio.net_position_raw(iid)
        working = self._working(iid, side, cid)
        grow = qty + working
        after = abs(net + (grow if side is OrderSide.BUY else -grow))
        problem = exposure_problem(
            limits,
            self._portfolio,
            instrument,
            side,
            qty,
            net,
            after,
            px,
            working,
            lambda: self._others_worst_raw(iid, cid),
        )
        tracker = self._correlation
        if problem is None and limits.correlated_exposure is not None and tracker is not None:
            problem = correlation_problem(
                tracker,
                limits.correlated_exposure,
                limits.correlation_threshold,
                instrument,
                after,
                px,
                self._portfolio.currency,
            )
        return problem

    def _others_worst_raw(self, iid: InstrumentId, cid: ClientOrderId) -> int:
        """Gross exposure of every instrument but ``iid`` on its worst case: its net position
        with the orders working on the side that enlarges it filled, valued at its last price
        (with none, at the highest price its working orders are valued at)."""
        portfolio = self._portfolio
        skip: set[ClientOrderId] = set(self._denials_in_flight)
        skip.add(cid)
        sides: dict[InstrumentId, list[int]] = {}  # instrument -> [buys, sells, highest price]
        for order in self._execution.open_orders():
            spec = order.spec
            jid = spec.instrument_id
            if jid == iid or spec.client_order_id in skip:
                continue
            entry = sides.get(jid)
            if entry is None:
                entry = sides[jid] = [0, 0, 0]
            entry[0 if spec.side is OrderSide.BUY else 1] += order.leaves_raw
            entry[2] = max(entry[2], valuation_price(spec, None) or 0)
        total = portfolio.gross_exposure_raw() - portfolio.exposure_raw(iid)
        for jid, (buys, sells, order_px) in sides.items():
            net = portfolio.net_position_raw(jid)
            worst = max(abs(net + buys), abs(net - sells))
            last = portfolio.last_price_raw(jid)
            px = abs(last) if last is not None else order_px
            total += portfolio.instrument(jid).notional_raw(px, worst) - portfolio.exposure_raw(jid)
        return total

    def _flow_problem(self, limits: RiskLimits, iid: InstrumentId) -> str | None:
        """Open-order counts and the rate window (the order itself counts as open)."""
        if limits.open_orders is not None:
            count = self._execution.open_order_count() - len(self._denials_in_flight)
            if count > limits.open_orders:
                return f"max_open_orders: {count} open orders with this one > {limits.open_orders}"
        if limits.open_orders_per_instrument is not None:
            in_flight = sum(1 for denied_iid in self._denials_in_flight.values() if denied_iid == iid)
            count = self._execution.open_order_count(iid) - in_flight
            if count > limits.open_orders_per_instrument:
                return (
                    f"max_open_orders_per_instrument: {count} open orders on {iid} with this one "
                    f"> {limits.open_orders_per_instrument}"
                )
        if limits.order_rate is not None:
            now = self._clock.timestamp_ns()
            window = limits.rate_window_ns
            approvals = self._approvals
            cutoff = now - window
            while approvals and approvals[0] <= cutoff:
                approvals.popleft()
            if len(approvals) >= limits.order_rate:
                return (
                    f"max_order_rate: {len(approvals)} orders approved in the last "
                    f"{limits.config.rate_interval_seconds} s reach the limit of {limits.order_rate}"
                )
        return None

    def _check_modify(self, limits: RiskLimits, command: ModifyOrder) -> str | None:
        iid = command.instrument_id
        status = self._status
        state = status.state
        if state is TradingState.HALTED:
            return f"trading_state: HALTED ({status.reason}); only cancels pass"
        blocked = self._blocked_problem(iid) if self._authorisation.any_blocks else None
        order = self._execution.order(command.client_order_id)
        if (state is TradingState.REDUCING or blocked is not None) and command.quantity is not None:
            grows = order is None or command.quantity.raw > order.quantity.raw
            # What the order may still add after the modify is its new quantity less its fills.
            if grows and (
                order is None
                or not self._is_reducing(
                    iid,
                    order.side,
                    command.quantity.raw - order.filled_qty.raw,
                    order.spec.reduce_only,
                    command.client_order_id,
                )
            ):
                if state is not TradingState.REDUCING:
                    return f"{blocked}; raising the quantity of {command.client_order_id} is refused"
                return (
                    f"{status.check}: trading state REDUCING ({status.reason}); raising the "
                    f"quantity of {command.client_order_id} to {num_text(command.quantity.raw)} would not "
                    f"reduce the position on {iid}"
                )
        if limits.bypass:
            return None
        instrument = self._instrument(iid)
        if isinstance(instrument, str):
            return instrument
        problem = grid_problem(instrument, command)
        if problem is not None:
            return problem
        max_qty = limits.order_qty_by.get(iid, limits.order_qty)
        if max_qty is not None and command.quantity is not None and command.quantity.raw > max_qty:
            return f"max_order_quantity: {num_text(command.quantity.raw)} > {num_text(max_qty)} on {iid}"
        last = self._portfolio.last_price_raw(iid)
        if limits.band_pct is not None and (command.price is not None or command.trigger_price is not None):
            problem = band_problem(limits.band_pct, instrument, last, command.price, command.trigger_price)
            if problem is not None:
                return problem
        if order is not None and (limits.order_notional is not None or limits.checks_exposure):
            return self._modified_order_problem(limits, instrument, order, command, last)
        return None

    def _modified_order_problem(
        self, limits: RiskLimits, instrument: Instrument, order: Order, command: ModifyOrder, last: int | None
    ) -> str | None:
        """``max_order_notional`` and the position and exposure limits on the order as the
        modify leaves it, when the modify makes it larger (quantity or valuation price): a
        small order raised afterwards is held to the limits a submit of its new size would."""
        spec = order.spec
        new = msgspec.structs.replace(
            spec,
            quantity=command.quantity if command.quantity is not None else spec.quantity,
            price=command.price if command.price is not None else spec.price,
            trigger_price=command.trigger_price if command.trigger_price is not None else spec.trigger_price,
        )
        old_px = valuation_price(spec, last)
        px = valuation_price(new, last)
        qty = new.quantity.raw
        if px is None or (
            qty <= spec.quantity.raw
            and old_px is not None
            and instrument.notional_raw(px, qty) <= instrument.notional_raw(old_px, spec.quantity.raw)
        ):
            return None  # no larger than before (or not valued: the submit was checked without a value)
        iid = instrument.id
        cid = command.client_order_id
        if limits.order_notional is not None:
            notional = instrument.notional_raw(px, qty)
            if notional > limits.order_notional:
                return (
                    f"max_order_notional: {self._money(notional)} {product_text(instrument, qty, px)} "
                    f"> {self._money(limits.order_notional)} on {iid} after modifying {cid}"
                )
        leaves = qty - order.filled_qty.raw
        if limits.checks_exposure and not self._is_reducing(iid, spec.side, leaves, spec.reduce_only, cid):
            return self._exposure_problem(limits, instrument, spec.side, leaves, px, cid)
        return None

    def _money(self, raw: int) -> str:
        return money_text(self._portfolio.currency, raw)
