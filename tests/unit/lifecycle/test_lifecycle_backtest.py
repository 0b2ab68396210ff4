"""The position lifecycle end to end: BacktestEngine, the simulated venue, a method per test.

Each scenario opens a position (a strategy's market order, or an edge through the entry
flow), feeds a price path, and checks which exit fired, how it was executed and what is left.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from tradeloop.core.ids import StrategyId
from tradeloop.lifecycle import (
    EdgeDetected,
    EntryAbandoned,
    EntryRejected,
    ExitCompleted,
    ExitPriority,
    ExitReason,
    PriceRequested,
    TrailingStopMoved,
)
from tradeloop.lifecycle.exits import ExitEvaluator, ExitSignal, MarketSnapshot, WatchedPosition
from tradeloop.model.commands import FlattenAll, SubmitOrder
from tradeloop.model.data import PriceSnapshot, QuoteTick
from tradeloop.model.enums import OrderSide, OrderType
from tradeloop.model.events import Alert, OrderDenied, OrderFilled, PositionClosed, PositionOpened
from tradeloop.risk.events import CircuitBreakerTripped, ResetCircuitBreaker, TradingAuthorized, TradingState

from .scenarios import (
    ABC,
    EVT,
    FAST,
    SEC,
    T0,
    OpenConfig,
    OpenOnce,
    close_position_at,
    exits,
    of,
    publish_at,
    quotes,
    run,
)


def only_stop_loss(**extra: Any) -> dict[str, Any]:
    return {"monitor": FAST, "exits": {"stop_loss_pct": 15, **extra}}


# -- exit conditions -------------------------------------------------------------------------


def test_stop_loss_breach_closes_position_with_market_order() -> None:
    path = [100] * 3 + [95, 90, 86, 84.9, 84.5] + [84.5] * 5
    engine, seen = run(quotes(ABC, path), only_stop_loss())
    (trigger,) = exits(seen)
    assert trigger.reason is ExitReason.STOP_LOSS
    assert trigger.priority is ExitPriority.CRITICAL
    exit_orders = [m.order for m in of(SubmitOrder, seen) if m.correlation_id == trigger.correlation_id]
    assert [o.order_type for o in exit_orders] == [OrderType.MARKET]
    assert exit_orders[0].reduce_only
    assert of(PositionClosed, seen)
    assert of(ExitCompleted, seen)
    assert engine.portfolio is not None
    assert engine.portfolio.is_flat()


def test_no_exit_fires_while_the_loss_stays_inside_the_stop() -> None:
    _, seen = run(quotes(ABC, [100, 95, 90, 86, 85.5, 86]), only_stop_loss())
    assert exits(seen) == []


def test_short_position_stop_loss_fires_on_a_rise() -> None:
    strategy = OpenOnce(OpenConfig(method="m", side="SELL"))
    _, seen = run(quotes(ABC, [100, 100, 110, 116, 116, 116]), only_stop_loss(), strategy=strategy)
    (trigger,) = exits(seen)
    assert trigger.reason is ExitReason.STOP_LOSS
    assert of(PositionClosed, seen)


def test_trailing_stop_follows_the_peak_and_fires_on_the_pullback() -> None:
    method = only_stop_loss(trailing_stop={"distance_pct": 2})
    path = [100, 100, 104, 108, 110, 109.5, 108.5, 107.5] + [107] * 40
    _, seen = run(quotes(ABC, path), method)
    moved = of(TrailingStopMoved, seen)
    stops = [m.stop.as_decimal() for m in moved]
    assert stops == sorted(stops)
    assert stops[-1] == Decimal("107.80")
    (trigger,) = exits(seen)
    assert trigger.reason is ExitReason.TRAILING_STOP
    assert trigger.priority is ExitPriority.HIGH
    first = next(m.order for m in of(SubmitOrder, seen) if m.correlation_id == trigger.correlation_id)
    assert first.order_type is OrderType.LIMIT  # an aggressive limit crossing the spread
    assert of(PositionClosed, seen)


def test_a_trailing_stop_on_quote_mids_between_ticks_reports_its_exact_peak() -> None:
    method = only_stop_loss(trailing_stop={"distance_pct": 1})
    _, seen = run(quotes(ABC, ["100.005", "100.005", "100.505", "101.005", "102.005"], spread="0.03"), method)
    peaks = [m.peak.as_decimal() for m in of(TrailingStopMoved, seen)]
    assert peaks[-1] == Decimal("102.005")  # the mid of 101.99 / 102.02, between two ticks


def test_profit_target_exits_at_a_fair_limit() -> None:
    method = only_stop_loss(profit_target={"target_pct": 25})
    _, seen = run(quotes(ABC, [100, 100, 110, 120] + [126] * 100), method)
    (trigger,) = exits(seen)
    assert trigger.reason is ExitReason.PROFIT_TARGET
    assert trigger.priority is ExitPriority.MEDIUM
    assert of(PositionClosed, seen)


def test_scale_out_levels_close_part_of_the_position_once_each() -> None:
    method = only_stop_loss(
        profit_target={
            "target_pct": 50,
            "scale_out": [{"pnl_pct": 10, "close_pct": 25}, {"pnl_pct": 20, "close_pct": 25}],
        }
    )
    path = [100, 100] + [111] * 100 + [121] * 100
    engine, seen = run(quotes(ABC, path), method)
    triggers = exits(seen)
    assert [t.reason for t in triggers] == [ExitReason.SCALE_OUT, ExitReason.SCALE_OUT]
    assert [t.quantity.as_decimal() for t in triggers] == [25, 25]
    assert engine.portfolio is not None
    assert engine.portfolio.net_position_raw(ABC.id) == 50 * 10**9


def test_max_holding_time_exits_with_low_priority() -> None:
    method = {"monitor": FAST, "exits": {"stop_loss_pct": None, "max_holding_seconds": 5}}
    _, seen = run(quotes(ABC, [100] * 40), method)
    trigger = exits(seen)[0]
    assert trigger.reason is ExitReason.MAX_HOLDING
    assert trigger.priority is ExitPriority.LOW


def test_liquidity_collapse_exits_when_the_spread_widens() -> None:
    method = only_stop_loss(max_spread_pct=3)
    data = quotes(ABC, [100] * 5) + quotes(ABC, [100] * 5, spread="4", start=T0 + 5 * SEC)
    _, seen = run(data, method)
    (trigger,) = exits(seen)[:1]
    assert trigger.reason is ExitReason.LIQUIDITY
    assert "spread" in trigger.detail


def test_volatility_spike_exits() -> None:
    # Five wild returns against a baseline of thirty, mostly calm: the ratio peaks near sqrt(30 / 5).
    method = only_stop_loss(volatility={"window": 5, "baseline_window": 30, "ratio": 2})
    calm = [100 + (0.01 if i % 2 else 0) for i in range(40)]
    wild = [100, 102, 99, 103, 98, 102, 99, 101] * 2
    _, seen = run(quotes(ABC, calm + wild), method)
    assert ExitReason.VOLATILITY in [t.reason for t in exits(seen)]


def test_event_contract_exits_before_expiry() -> None:
    method = {"monitor": FAST, "exits": {"stop_loss_pct": None, "expiry_lead_seconds": 300}}
    data = quotes(EVT, ["0.50"] * 400, step=SEC)
    strategy = OpenOnce(OpenConfig(method="m", instrument_id=str(EVT.id)))
    _, seen = run(data, method, instrument=EVT, strategy=strategy)
    trigger = exits(seen)[0]
    assert trigger.reason is ExitReason.EXPIRY
    assert trigger.ts_event >= T0 + 300 * SEC


def test_equity_exits_before_the_market_close() -> None:
    method = {
        "monitor": FAST,
        "exits": {"stop_loss_pct": None, "market_close": {"time": "10:05", "lead_seconds": 120}},
    }
    _, seen = run(quotes(ABC, [100] * 300), method)  # 10:00 to 10:05 New York
    trigger = exits(seen)[0]
    assert trigger.reason is ExitReason.MARKET_CLOSE
    assert T0 + 180 * SEC <= trigger.ts_event <= T0 + 185 * SEC


def test_manual_close_and_kill_switch_are_critical() -> None:
    _, seen = run(
        quotes(ABC, [100] * 20), only_stop_loss(), before=close_position_at(T0 + 10 * SEC, "OpenOnce-001")
    )
    (trigger,) = exits(seen)
    assert trigger.reason is ExitReason.MANUAL_CLOSE
    assert trigger.correlation_id == "close-1"
    assert of(PositionClosed, seen)

    kill = publish_at(
        T0 + 10 * SEC,
        lambda now: FlattenAll(
            id="k", correlation_id="k", ts_event=now, ts_init=now, reason="test", source="kill_switch"
        ),
        "test.kill",
    )

    _, seen = run(quotes(ABC, [100] * 20), only_stop_loss(), before=kill)
    (trigger,) = exits(seen)
    assert trigger.reason is ExitReason.KILL_SWITCH
    assert trigger.priority is ExitPriority.CRITICAL


def test_the_most_urgent_condition_wins_when_several_fire() -> None:
    # Opened at t=1; at the t=3 check the price is 80 (from t=2) and it has been held 2 s.
    method = {"monitor": FAST, "exits": {"stop_loss_pct": 15, "max_holding_seconds": 2}}
    _, seen = run(quotes(ABC, [100, 100, 80, 80, 80, 80]), method)
    assert {t.reason for t in exits(seen)} <= {ExitReason.STOP_LOSS}
    assert exits(seen)[0].reason is ExitReason.STOP_LOSS


class BuyThenAdd(OpenOnce):
    """Buys 100 at the first quote and tries to add 100 more at t=10 s."""

    def on_quote_tick(self, tick: QuoteTick) -> None:
        qty = self.instrument(tick.instrument_id).make_qty(100)
        if not self.done:
            self.done = True
            self.submit_order(self.order_factory.market(tick.instrument_id, OrderSide.BUY, qty))
        elif tick.ts_event == T0 + 10 * SEC:
            self.submit_order(self.order_factory.market(tick.instrument_id, OrderSide.BUY, qty))


def test_daily_loss_breaker_flattens_with_market_orders_and_waits_for_a_manual_reset() -> None:
    reset_at_30_seconds = publish_at(
        T0 + 30 * SEC,
        lambda now: ResetCircuitBreaker(
            id="r", correlation_id="r", ts_event=now, ts_init=now, breaker="daily_loss", reason="checked"
        ),
        "test.reset",
    )

    path = [100] * 5 + [94] * 35  # 100 long at 100.01, down 6: a loss past the 500 limit
    engine, seen = run(
        quotes(ABC, path),
        {"monitor": FAST, "exits": {"stop_loss_pct": None}},
        strategy=BuyThenAdd(OpenConfig(method="m")),
        risk={"max_daily_loss": 500, "breakers": {"daily_loss_flatten": True}},
        before=reset_at_30_seconds,
    )
    (tripped,) = of(CircuitBreakerTripped, seen)
    assert tripped.breaker == "daily_loss"
    (trigger,) = exits(seen)
    assert trigger.reason is ExitReason.CIRCUIT_BREAKER
    assert trigger.priority is ExitPriority.CRITICAL
    flatten_orders = [m.order for m in of(SubmitOrder, seen) if m.correlation_id == trigger.correlation_id]
    assert [o.order_type for o in flatten_orders] == [OrderType.MARKET]
    assert engine.portfolio is not None
    assert engine.portfolio.is_flat()
    denied = [m for m in of(OrderDenied, seen) if m.ts_event == T0 + 10 * SEC]
    assert len(denied) == 1  # the add that found the loss: new exposure is blocked
    assert [a.ts_event for a in of(TradingAuthorized, seen)] == [T0 + 30 * SEC]
    assert engine.breakers is not None
    assert not engine.breakers.is_tripped("daily_loss")
    # The reset lifts the breaker's latch; the day's loss limit itself still allows only
    # reducing orders until the next trading day.
    assert engine.risk is not None
    assert engine.risk.trading_state is TradingState.REDUCING


def test_a_loss_from_prices_alone_trips_the_daily_loss_breaker_on_its_check_timer() -> None:
    path = [100] * 5 + [94] * 20  # no order after the drop: only the timer can see the loss
    risk = {
        "max_daily_loss": 500,
        "breakers": {"daily_loss_flatten": True, "risk_breach": {"check_interval_seconds": 1}},
    }
    engine, seen = run(quotes(ABC, path), {"monitor": FAST, "exits": {"stop_loss_pct": None}}, risk=risk)
    (tripped,) = of(CircuitBreakerTripped, seen)
    assert tripped.breaker == "daily_loss"
    assert [t.reason for t in exits(seen)] == [ExitReason.CIRCUIT_BREAKER]
    assert engine.portfolio is not None
    assert engine.portfolio.is_flat()


def test_flatten_all_closes_positions_no_method_watches() -> None:
    kill = publish_at(
        T0 + 5 * SEC,
        lambda now: FlattenAll(
            id="k", correlation_id="k", ts_event=now, ts_init=now, reason="test", source="kill_switch"
        ),
        "test.kill",
    )

    unwatched = OpenOnce(OpenConfig())  # no method: opened by its own order, not watched
    engine, seen = run(quotes(ABC, [100] * 20), {"monitor": FAST}, strategy=unwatched, before=kill)
    (trigger,) = exits(seen)
    assert trigger.reason is ExitReason.KILL_SWITCH
    assert trigger.method == "default"
    assert engine.portfolio is not None
    assert engine.portfolio.is_flat()


# -- monitoring ----------------------------------------------------------------------------


def test_a_stale_price_is_refreshed_before_a_decision() -> None:
    method = {"monitor": {"interval_seconds": 10, "urgent_interval_seconds": 5, "price_ttl_seconds": 5}}
    # Quotes for 3 s, silence for 60 s, one last quote: checks in the silence find a stale price.
    data = quotes(ABC, [100, 100, 100]) + quotes(ABC, [100], start=T0 + 63 * SEC)
    engine, seen = run(data, method)
    requests = of(PriceRequested, seen)
    snapshots = of(PriceSnapshot, seen)
    assert requests
    assert len(snapshots) == len(requests)
    assert all(s.instrument_id == ABC.id for s in snapshots)
    assert engine.monitor is not None
    assert engine.monitor.price_requests == len(requests)


def test_checks_switch_to_the_urgent_interval_near_the_stop() -> None:
    method = {
        "monitor": {
            "interval_seconds": 30,
            "urgent_interval_seconds": 5,
            "urgent_band_pct": 2,
            "price_ttl_seconds": 60,
        },
        "exits": {"stop_loss_pct": 10},
    }
    data = quotes(ABC, [100] * 61) + quotes(ABC, [91.5] * 60, start=T0 + 61 * SEC)
    engine, _ = run(data, method)
    assert engine.monitor is not None
    # 61 s far from the stop: ~2 checks; 60 s within 2 % of the 90.00 stop: ~12 checks.
    assert 12 <= engine.monitor.checks <= 16
    status = engine.monitor.watch_status(StrategyId("OpenOnce-001"), ABC.id)
    assert status is not None
    assert status.urgent
    assert status.method == "m"
    assert -9 < status.pnl_pct < -8  # bought at 100.01, marked at 91.50


class CrashingTwice(ExitEvaluator):
    """Raises on its first two evaluations (a bug in a custom rule), then behaves."""

    crashes = 0

    def evaluate(self, watched: WatchedPosition, market: MarketSnapshot, now_ns: int) -> list[ExitSignal]:
        if CrashingTwice.crashes < 2:
            CrashingTwice.crashes += 1
            raise RuntimeError("bad custom rule")
        return super().evaluate(watched, market, now_ns)


def test_a_crashing_check_is_isolated_and_the_watch_restarted() -> None:
    CrashingTwice.crashes = 0
    path = [100] * 5 + [80] * 10
    engine, seen = run(quotes(ABC, path), only_stop_loss(), evaluator=CrashingTwice, handler_errors=2)
    alerts = [a for a in of(Alert, seen) if a.kind == "monitor_restarted"]
    assert len(alerts) == 2
    assert engine.monitor is not None
    assert engine.monitor.restarts == 2
    (trigger,) = exits(seen)  # the restarted watch still catches the stop loss
    assert trigger.reason is ExitReason.STOP_LOSS


def test_a_position_without_updates_raises_a_stale_alert() -> None:
    method = {"monitor": {"interval_seconds": 10, "urgent_interval_seconds": 5, "stale_alert_seconds": 60}}
    # Two quotes, then three minutes of silence, then one more quote; the venue has no newer price
    # to answer requests with, so the snapshot does not count as an update either.
    data = quotes(ABC, [100, 100]) + quotes(ABC, [100], start=T0 + 200 * SEC)
    _, seen = run(data, method)
    stale = [a for a in of(Alert, seen) if a.kind == "position_stale"]
    assert len(stale) == 1
    assert stale[0].instrument_id == ABC.id


# -- entry flow -----------------------------------------------------------------------------


def edge_strategy(edge: float, p: float = 0.6) -> OpenOnce:
    return OpenOnce(OpenConfig(method="m", edge=edge, win_probability=p))


def test_an_edge_below_the_method_minimum_is_rejected() -> None:
    method = {"entry": {"min_edge_pct": 5}, "sizing": {"rule": "fixed", "quantity": 10}}
    engine, seen = run(quotes(ABC, [100] * 5), method, strategy=edge_strategy(0.03))
    (rejected,) = of(EntryRejected, seen)
    assert rejected.reason.startswith("min_edge:")
    assert of(SubmitOrder, seen) == []
    assert engine.entries is not None
    assert engine.entries.rejected_by_check() == {"min_edge": 1}


def test_an_edge_enters_with_a_limit_and_the_whole_chain_shares_one_correlation() -> None:
    method = {
        "entry": {"min_edge_pct": 5},
        "sizing": {"rule": "kelly", "kelly_fraction": "0.5", "max_quantity": 50},
    }
    _, seen = run(quotes(ABC, [100] * 10), method, strategy=edge_strategy(0.10, p=0.6))
    (edge,) = of(EdgeDetected, seen)
    (submit,) = of(SubmitOrder, seen)
    assert submit.order.order_type is OrderType.LIMIT
    assert submit.order.quantity.as_decimal() == 50
    chain = {type(m).__name__ for m in seen if getattr(m, "correlation_id", None) == edge.correlation_id}
    assert {"EdgeDetected", "SubmitOrder", "OrderSubmitted", "OrderFilled", "PositionOpened"} <= chain


def test_an_unfilled_entry_walks_its_price_then_fills() -> None:
    method = {
        "entry": {
            "min_edge_pct": 1,
            "limit_offset_ticks": 0,
            "fill_timeout_seconds": 2,
            "on_no_fill": "walk",
            "walk_ticks": 5,
        },
        "sizing": {"rule": "fixed", "quantity": 10},
    }
    # The signal's price is the bid (a passive buy); the ask stays 0.02 above, so only walking fills it.
    strategy = OpenOnce(OpenConfig(method="m", edge=0.05, side="BUY"))

    class PassiveBuyer(OpenOnce):
        def on_quote_tick(self, tick: QuoteTick) -> None:
            if not self.done:
                self.done = True
                self.signal_edge(tick.instrument_id, OrderSide.BUY, edge=0.05, price=tick.bid_price)

    strategy = PassiveBuyer(OpenConfig(method="m"))
    _, seen = run(quotes(ABC, [100] * 20), method, strategy=strategy)
    prices = [m.order.price.as_decimal() for m in of(SubmitOrder, seen)]
    assert prices == [Decimal("99.99"), Decimal("100.04")]
    assert of(PositionOpened, seen)
    assert not of(EntryAbandoned, seen)


def test_an_entry_that_never_fills_is_abandoned_after_its_attempts() -> None:
    method = {
        "entry": {"min_edge_pct": 1, "fill_timeout_seconds": 2, "on_no_fill": "retry", "max_attempts": 2},
        "sizing": {"rule": "fixed", "quantity": 10},
    }

    class LowBidder(OpenOnce):
        def on_quote_tick(self, tick: QuoteTick) -> None:
            if not self.done:
                self.done = True
                self.signal_edge(tick.instrument_id, OrderSide.BUY, edge=0.05, price=ABC.make_price("95"))

    _, seen = run(quotes(ABC, [100] * 20), method, strategy=LowBidder(OpenConfig(method="m")))
    assert len(of(SubmitOrder, seen)) == 2
    (abandoned,) = of(EntryAbandoned, seen)
    assert abandoned.attempts == 2
    assert abandoned.filled.as_decimal() == 0
    assert not of(OrderFilled, seen)


def test_edge_decay_exits_a_position_entered_on_an_edge() -> None:
    method = {
        "monitor": FAST,
        "entry": {"min_edge_pct": 5, "order_type": "market"},
        "sizing": {"rule": "fixed", "quantity": 10},
        "exits": {"stop_loss_pct": None, "edge_decay_pct": 2},
    }

    class Decaying(OpenOnce):
        def on_quote_tick(self, tick: QuoteTick) -> None:
            seconds = (tick.ts_event - T0) // SEC
            edge = 0.08 if seconds < 5 else 0.01
            self.signal_edge(tick.instrument_id, OrderSide.BUY, edge=edge, price=tick.ask_price)

    engine, seen = run(quotes(ABC, [100] * 15), method, strategy=Decaying(OpenConfig(method="m")))
    trigger = exits(seen)[0]
    assert trigger.reason is ExitReason.EDGE_DECAY
    assert trigger.priority is ExitPriority.LOW
    assert engine.entries is not None
    assert engine.entries.edge_updates > 0  # signals while the position was open updated its edge
