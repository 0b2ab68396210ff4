"""Circuit breakers: conditions that stop trading at once, and the kill switch.

The breakers (name: when it trips; what it does; how it is reset):

* ``daily_loss``: the daily loss limit is reached while ``breakers.daily_loss_flatten`` is on;
  ``flatten``; manual reset. (Off, the risk engine alone moves to REDUCING until the next day.)
* ``venue_errors``: more than ``max_errors`` ``VenueErrorOccurred`` within the window;
  ``pause_entries``; resets on its own.
* ``store_errors``: more than ``max_errors`` ``StoreErrorOccurred`` within the window;
  ``halt``; manual reset.
* ``risk_breach``: an actual state is past a limit (below); ``flatten``; manual reset.
* ``kill_switch``: an operator calls :meth:`CircuitBreakers.kill`; ``flatten``; manual reset.

Actions
    ``flatten``: a hold keeps the risk engine at REDUCING (only position-reducing orders and
    cancels pass, so the exits do), every instrument is blocked, open entry orders are
    canceled (not reduce-only, on the side that would open or grow the net position) and
    :class:`~tradeloop.model.commands.FlattenAll` asks the exit executor to close every
    position with market orders. ``pause_entries``: every instrument is blocked; positions,
    their exits and monitoring carry on. ``halt``: a hold keeps the risk engine HALTED (only
    cancels pass) and every instrument is blocked; nothing is flattened, since closing
    positions needs orders the halt refuses.

Every trip publishes :class:`~tradeloop.risk.events.CircuitBreakerTripped` (CRITICAL lane) and
an :class:`~tradeloop.model.events.Alert` (CRITICAL, source ``circuit_breakers``, kind
``breaker_tripped``); every reset :class:`~tradeloop.risk.events.CircuitBreakerReset`. A
breaker that waits for a person is reset by :meth:`CircuitBreakers.reset` or the command
:class:`~tradeloop.risk.events.ResetCircuitBreaker`; the reset releases its hold and lifts its
block, and trading re-opens once nothing else holds it. The ``venue_errors`` breaker checks
on a clock alert each time its oldest error leaves the window and resumes entries once the
window holds no more than ``max_errors`` errors (in a backtest, on the simulated clock).

Risk breach
    After every fill (on ``AccountStateChanged``), and every ``check_interval_seconds`` when
    set, the actual state is compared with the risk limits: an instrument's net position above
    ``max_position_quantity`` (or its override), a position worth more than
    ``max_position_notional`` or a gross exposure above ``max_gross_exposure`` (each beyond
    ``value_tolerance_pct``), or a drawdown past ``max_drawdown_pct``. The check is skipped
    under ``bypass``. After a reset the drawdown is measured from the equity at the reset
    until the equity makes a new high, so a reset after a drawdown breach does not trip again
    at once.

Block sources and ``FlattenAll`` sources: ``breaker:daily_loss``, ``breaker:venue_errors``,
``breaker:store_errors``, ``risk_breach``, ``kill_switch``.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from decimal import Decimal

from tradeloop.core.bus import MessageBus
from tradeloop.core.clock import NANOS_PER_SECOND, Clock, TimeEvent
from tradeloop.core.errors import TradeloopError
from tradeloop.core.ids import IdFactory, InstrumentId
from tradeloop.execution.engine import ExecutionEngine
from tradeloop.model.commands import CancelOrder, FlattenAll
from tradeloop.model.enums import OrderSide, OrderStatus
from tradeloop.model.events import (
    AccountStateChanged,
    Alert,
    AlertSeverity,
    StoreErrorOccurred,
    VenueErrorOccurred,
)
from tradeloop.model.objects import FIXED_SCALAR
from tradeloop.portfolio.portfolio import Portfolio
from tradeloop.risk.checks import num_text
from tradeloop.risk.config import BreakerConfig, ErrorRateConfig
from tradeloop.risk.engine import RiskEngine
from tradeloop.risk.events import (
    CircuitBreakerReset,
    CircuitBreakerTripped,
    ResetCircuitBreaker,
    TradingState,
    TradingStateChanged,
)

__all__ = [
    "ALERT_SOURCE",
    "BREAKERS",
    "PRIORITY_BREAKERS",
    "BreakerSpec",
    "CircuitBreakers",
]

PRIORITY_BREAKERS = 400
"""Bus priority: after the risk engine (its state is current), before strategies."""

ALERT_SOURCE = "circuit_breakers"
"""The ``source`` of the alerts a trip publishes."""
_RESUME_TIMER = "circuit_breakers.venue_errors.resume"
_CHECK_TIMER = "circuit_breakers.risk_breach.check"
_CANCELABLE = frozenset(
    {OrderStatus.SUBMITTED, OrderStatus.ACCEPTED, OrderStatus.TRIGGERED, OrderStatus.PARTIALLY_FILLED}
)


@dataclass(frozen=True, slots=True)
class BreakerSpec:
    """What a breaker does when it trips.

    ``action``: ``flatten``, ``pause_entries`` or ``halt``; ``source``: of its block and its
    ``FlattenAll``; ``hold``: the trading state it holds (``None``: none); ``manual_reset``:
    whether it waits for a person; ``check``: what REDUCING denials under it are counted as.
    """

    action: str
    source: str
    hold: TradingState | None
    manual_reset: bool
    check: str = "trading_state"


BREAKERS: dict[str, BreakerSpec] = {
    "daily_loss": BreakerSpec("flatten", "breaker:daily_loss", TradingState.REDUCING, True, "max_daily_loss"),
    "venue_errors": BreakerSpec("pause_entries", "breaker:venue_errors", None, False),
    "store_errors": BreakerSpec("halt", "breaker:store_errors", TradingState.HALTED, True),
    "risk_breach": BreakerSpec("flatten", "risk_breach", TradingState.REDUCING, True),
    "kill_switch": BreakerSpec("flatten", "kill_switch", TradingState.REDUCING, True),
}
"""Every breaker by name: its action, block source, hold and whether it waits for a person."""


class CircuitBreakers:
    """Trips breakers on what it hears on the bus, the kill switch, and manual resets.

    Parameters
    ----------
    bus:
        Subscribed to ``VenueErrorOccurred``, ``StoreErrorOccurred``, ``AccountStateChanged``,
        ``TradingStateChanged`` and ``ResetCircuitBreaker``; trips publish on it.
    clock:
        Error windows, the ``venue_errors`` resume alert and the risk-breach timer.
    ids:
        Mints the ids of what the breakers publish.
    risk_engine:
        Holds the trading state and the blocks; its compiled limits are what a risk breach
        is measured against.
    portfolio:
        Positions, exposure, equity and drawdown for the risk-breach check.
    execution:
        Open orders, to cancel the entries still working when a breaker flattens.
    config:
        The breakers' settings; ``None`` (the default) follows ``risk_engine.config.breakers``,
        so :meth:`RiskEngine.update_config` changes them too (the risk-breach timer interval
        is read once, here).
    """

    def __init__(
        self,
        bus: MessageBus,
        clock: Clock,
        ids: IdFactory,
        risk_engine: RiskEngine,
        portfolio: Portfolio,
        execution: ExecutionEngine,
        config: BreakerConfig | None = None,
    ) -> None:
        self._bus = bus
        self._clock = clock
        self._ids = ids
        self._risk = risk_engine
        self._portfolio = portfolio
        self._execution = execution
        self._config = config
        self._tripped: dict[str, str] = {}  # name -> reason, in trip order
        self._venue_errors: deque[int] = deque()
        self._store_errors: deque[int] = deque()
        self._resume_pending = False
        # Drawdown reference after a risk-breach reset: (portfolio peak then, equity then).
        self._rebase: tuple[int, int] | None = None
        bus.subscribe(VenueErrorOccurred, self._on_venue_error, priority=PRIORITY_BREAKERS)
        bus.subscribe(StoreErrorOccurred, self._on_store_error, priority=PRIORITY_BREAKERS)
        bus.subscribe(AccountStateChanged, self._on_account, priority=PRIORITY_BREAKERS)
        bus.subscribe(TradingStateChanged, self._on_state, priority=PRIORITY_BREAKERS)
        bus.subscribe(ResetCircuitBreaker, self._on_reset, priority=PRIORITY_BREAKERS)
        interval = self.config.risk_breach.check_interval_seconds
        if interval is not None:
            clock.set_timer(_CHECK_TIMER, int(interval * NANOS_PER_SECOND), self._on_check_timer)

    # -- reads -----------------------------------------------------------------------------

    @property
    def config(self) -> BreakerConfig:
        """The settings in force."""
        return self._config if self._config is not None else self._risk.config.breakers

    @property
    def tripped(self) -> dict[str, str]:
        """The breakers tripped now: name to reason, in trip order."""
        return dict(self._tripped)

    def is_tripped(self, breaker: str) -> bool:
        return breaker in self._tripped

    # -- operator --------------------------------------------------------------------------

    def kill(self, reason: str) -> bool:
        """The kill switch: REDUCING until a manual reset, flatten everything, alert.

        Returns whether it tripped now (``False`` when it already was).
        """
        if not reason:
            raise TradeloopError("the kill switch needs a reason")
        return self._trip("kill_switch", reason, None)

    def reset(self, breaker: str, reason: str, *, causation_id: str | None = None) -> list[str]:
        """Reset a tripped breaker that waits for a person (``"*"``: every such breaker).

        Returns the names reset. Breakers that reset on their own (``venue_errors``) and
        breakers not tripped are left alone.

        Raises
        ------
        TradeloopError
            For an unknown breaker name or an empty reason.
        """
        if not reason:
            raise TradeloopError("a circuit breaker reset needs a reason")
        if breaker != "*" and breaker not in BREAKERS:
            raise TradeloopError(f"unknown circuit breaker {breaker!r}; known: {', '.join(BREAKERS)} or '*'")
        names = list(self._tripped) if breaker == "*" else [breaker]
        done = [name for name in names if name in self._tripped and BREAKERS[name].manual_reset]
        for name in done:
            self._release(name, reason, causation_id)
        return done

    def check_risk_breach(self) -> str | None:
        """Compare the actual state with the limits now; trip ``risk_breach`` on a breach.

        Returns the breach found (``"<limit>: details"``), or ``None``.
        """
        return self._check_breach(None)

    # -- handlers --------------------------------------------------------------------------

    def _on_venue_error(self, event: VenueErrorOccurred) -> None:
        detail = f"{event.venue} {event.operation}: {event.error}"
        if (
            self._error_rate("venue_errors", self._venue_errors, self.config.venue_errors, detail, event.id)
            and "venue_errors" in self._tripped
            and not self._resume_pending
        ):
            self._schedule_resume()

    def _on_store_error(self, event: StoreErrorOccurred) -> None:
        detail = f"{event.operation}: {event.error}"
        self._error_rate("store_errors", self._store_errors, self.config.store_errors, detail, event.id)

    def _on_state(self, event: TradingStateChanged) -> None:
        # The risk engine moved to REDUCING at the daily loss limit; with the flatten option
        # the breaker latches it (the engine alone would lift it on the next day).
        if (
            event.state is TradingState.REDUCING
            and self._risk.daily_loss_reached
            and self.config.daily_loss_flatten
            and "daily_loss" not in self._tripped
        ):
            self._trip("daily_loss", event.reason, event.id)

    def _on_account(self, event: AccountStateChanged) -> None:
        self._check_breach(event.id)

    def _on_check_timer(self, _: TimeEvent) -> None:
        self._risk.check_daily_loss()  # a loss run up by prices alone trips the daily-loss breaker too
        self._check_breach(None)

    def _on_reset(self, command: ResetCircuitBreaker) -> None:
        self.reset(command.breaker, command.reason, causation_id=command.id)

    # -- error windows ---------------------------------------------------------------------

    def _error_rate(
        self, name: str, window: deque[int], settings: ErrorRateConfig, last: str, causation_id: str
    ) -> bool:
        """Count one error of breaker ``name``'s kind; trip it when the window holds too many.

        Returns whether the breaker is enabled (a disabled one counts nothing).
        """
        if not settings.enabled:
            return False
        count = self._count(window, settings)
        if count > settings.max_errors and name not in self._tripped:
            reason = (
                f"{count} {name.replace('_', ' ')} in the last {settings.window_seconds} s > "
                f"{settings.max_errors} (last: {last})"
            )
            self._trip(name, reason, causation_id)
        return True

    def _count(self, window: deque[int], settings: ErrorRateConfig) -> int:
        now = self._clock.timestamp_ns()
        window.append(now)
        return self._trim(window, settings, now)

    @staticmethod
    def _trim(window: deque[int], settings: ErrorRateConfig, now: int) -> int:
        cutoff = now - settings.window_ns
        while window and window[0] <= cutoff:
            window.popleft()
        return len(window)

    def _schedule_resume(self) -> None:
        """Look again when the oldest error leaves the window."""
        at = self._venue_errors[0] + self.config.venue_errors.window_ns
        self._clock.set_time_alert(_RESUME_TIMER, at, self._on_resume_check)
        self._resume_pending = True

    def _on_resume_check(self, event: TimeEvent) -> None:
        self._resume_pending = False
        if "venue_errors" not in self._tripped:
            return
        settings = self.config.venue_errors
        count = self._trim(self._venue_errors, settings, event.ts_event)
        if count <= settings.max_errors or not settings.enabled:
            reason = f"error rate cleared: {count} venue errors in the last {settings.window_seconds} s"
            self._release("venue_errors", reason, None)
        else:
            self._schedule_resume()

    # -- the risk breach -------------------------------------------------------------------

    def _check_breach(self, causation_id: str | None) -> str | None:
        if "risk_breach" in self._tripped or not self.config.risk_breach.enabled:
            return None
        reason = self._breach()
        if reason is not None:
            self._trip("risk_breach", reason, causation_id)
        return reason

    def _breach(self) -> str | None:
        limits = self._risk.limits
        if limits.bypass or not (
            limits.position_qty is not None
            or limits.position_qty_by
            or limits.position_notional is not None
            or limits.gross_exposure is not None
            or limits.drawdown_pct is not None
        ):
            return None  # nothing to breach: no work on the fill path
        portfolio = self._portfolio
        tolerance = limits.breach_tolerance_pct
        held: dict[InstrumentId, None] = dict.fromkeys(p.instrument.id for p in portfolio.positions_open())
        for iid in held:
            net = portfolio.net_position_raw(iid)
            max_pos = limits.position_qty_by.get(iid, limits.position_qty)
            if max_pos is not None and abs(net) > max_pos:
                return f"max_position_quantity: net position {num_text(net)} > {num_text(max_pos)} on {iid}"
            value = portfolio.exposure_raw(iid)
            if limits.position_notional is not None and _past(value, limits.position_notional, tolerance):
                return (
                    f"max_position_notional: position worth {portfolio.money(value)} "
                    f"> {portfolio.money(limits.position_notional)}{_beyond(tolerance)} on {iid}"
                )
        if limits.gross_exposure is not None:
            gross = portfolio.gross_exposure_raw()
            if _past(gross, limits.gross_exposure, tolerance):
                return (
                    f"max_gross_exposure: gross exposure {portfolio.money(gross)} "
                    f"> {portfolio.money(limits.gross_exposure)}{_beyond(tolerance)}"
                )
        if limits.drawdown_pct is not None:
            peak = self._drawdown_peak()
            drawdown = peak - portfolio.equity_raw
            # drawdown / peak x 100 > pct, in integers (drawdown_pct is the pct x 10**9).
            if peak > 0 and drawdown * 100 * FIXED_SCALAR > peak * limits.drawdown_pct:
                pct = (Decimal(drawdown) * 100 / peak).quantize(Decimal("0.01"))
                return (
                    f"max_drawdown_pct: drawdown {pct}% ({portfolio.money(drawdown)} from the peak "
                    f"{portfolio.money(peak)}) > {num_text(limits.drawdown_pct)}%"
                )
        return None

    def _drawdown_peak(self) -> int:
        peak = self._portfolio.peak_equity_raw
        if self._rebase is not None:
            peak_then, equity_then = self._rebase
            if peak == peak_then:  # no new high since the reset
                return equity_then
            self._rebase = None
        return peak

    # -- trip and release ------------------------------------------------------------------

    def _trip(self, name: str, reason: str, causation_id: str | None) -> bool:
        if name in self._tripped:
            return False
        spec = BREAKERS[name]
        self._tripped[name] = reason
        corr = self._ids.new_id()
        risk = self._risk
        if spec.hold is not None:
            risk.hold_trading_state(
                name,
                spec.hold,
                f"{name}: {reason}",
                check=spec.check,
                correlation_id=corr,
                causation_id=causation_id,
            )
        risk.authorisation.block(None, spec.source, reason, correlation_id=corr, causation_id=causation_id)
        now = self._clock.timestamp_ns()
        tripped = CircuitBreakerTripped(
            id=self._ids.new_id(),
            correlation_id=corr,
            causation_id=causation_id,
            ts_event=now,
            ts_init=now,
            breaker=name,
            reason=reason,
            action=spec.action,
        )
        self._bus.publish(tripped)
        if spec.action == "flatten":
            self._bus.publish(
                FlattenAll(
                    id=self._ids.new_id(),
                    correlation_id=corr,
                    causation_id=tripped.id,
                    ts_event=now,
                    ts_init=now,
                    reason=f"{name}: {reason}",
                    source=spec.source,
                )
            )
            self._cancel_entries(corr, tripped.id, now)
        self._bus.publish(
            Alert(
                id=self._ids.new_id(),
                correlation_id=corr,
                causation_id=tripped.id,
                ts_event=now,
                ts_init=now,
                severity=AlertSeverity.CRITICAL,
                source=ALERT_SOURCE,
                kind="breaker_tripped",
                message=f"circuit breaker {name} tripped ({spec.action}): {reason}",
            )
        )
        return True

    def _cancel_entries(self, correlation_id: str, causation_id: str, now: int) -> None:
        """Cancel working orders that would open or grow a position (not the exits)."""
        portfolio = self._portfolio
        for order in self._execution.open_orders():
            if order.status not in _CANCELABLE or order.spec.reduce_only:
                continue
            net = portfolio.net_position_raw(order.instrument_id)
            if net and (net > 0) != (order.side is OrderSide.BUY):
                continue  # on the exit side of the position
            self._bus.publish(
                CancelOrder(
                    id=self._ids.new_id(),
                    correlation_id=correlation_id,
                    causation_id=causation_id,
                    ts_event=now,
                    ts_init=now,
                    strategy_id=order.strategy_id,
                    instrument_id=order.instrument_id,
                    client_order_id=order.client_order_id,
                )
            )

    def _release(self, name: str, reason: str, causation_id: str | None) -> None:
        spec = BREAKERS[name]
        del self._tripped[name]
        corr = self._ids.new_id()
        risk = self._risk
        if spec.hold is not None:
            risk.release_trading_state(
                name, f"{name} reset: {reason}", correlation_id=corr, causation_id=causation_id
            )
        risk.authorisation.lift(
            None, spec.source, f"{name} reset: {reason}", correlation_id=corr, causation_id=causation_id
        )
        if name == "risk_breach":
            self._rebase = (self._portfolio.peak_equity_raw, self._portfolio.equity_raw)
        now = self._clock.timestamp_ns()
        self._bus.publish(
            CircuitBreakerReset(
                id=self._ids.new_id(),
                correlation_id=corr,
                causation_id=causation_id,
                ts_event=now,
                ts_init=now,
                breaker=name,
                reason=reason,
            )
        )


def _past(value: int, limit: int, tolerance_pct: int) -> bool:
    """``value > limit x (1 + tolerance %)``, in integers (the tolerance is pct x 10**9)."""
    return value * 100 * FIXED_SCALAR > limit * (100 * FIXED_SCALAR + tolerance_pct)


def _beyond(tolerance_pct: int) -> str:
    return f" (+{num_text(tolerance_pct)}% tolerance)" if tolerance_pct else ""
