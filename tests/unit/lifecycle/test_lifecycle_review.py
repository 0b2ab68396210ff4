"""Review scenarios of the entry flow and the position monitor: races between timers and fills,
exit bookkeeping, supervision and price refreshes, end to end on BacktestEngine.

Each test pins a behaviour that once went wrong: an entry that kept buying while its position
was being closed, a watch that forgot its trailing stop on a restart, a stop loss the monitor
no longer published after another exit failed, and so on.
"""

from __future__ import annotations

from decimal import Decimal

from tradeloop.lifecycle import (
    EntryAbandoned,
    ExitCompleted,
    ExitFailed,
    ExitReason,
    TrailingStopMoved,
)
from tradeloop.lifecycle.exits import ExitEvaluator, ExitSignal, MarketSnapshot, WatchedPosition
from tradeloop.lifecycle.methods import MethodConfig
from tradeloop.model.commands import CancelOrder, SubmitOrder
from tradeloop.model.data import PriceSnapshot, QuoteTick
from tradeloop.model.enums import OrderSide
from tradeloop.model.events import Alert, AlertSeverity, OrderCanceled, OrderFilled
from tradeloop.testkit.stubs import make_quote
from tradeloop.venues.simulated import FaultConfig

from .scenarios import (
    ABC,
    FAST,
    SEC,
    T0,
    OpenConfig,
    OpenOnce,
    close_position_at,
    exits,
    of,
    quotes,
    run,
)


class LowBidder(OpenOnce):
    """Signals a buy edge at 95 on every quote: the limit rests far below the market."""

    def on_quote_tick(self, tick: QuoteTick) -> None:
        self.signal_edge(tick.instrument_id, OrderSide.BUY, edge=0.05, price=ABC.make_price("95"))


class AskBuyer(OpenOnce):
    """Signals one buy edge at the ask of the first quote."""

    def on_quote_tick(self, tick: QuoteTick) -> None:
        if not self.done:
            self.done = True
            self.signal_edge(tick.instrument_id, OrderSide.BUY, edge=0.05, price=tick.ask_price)


# -- entry flow ------------------------------------------------------------------------------


def test_an_abandoned_entry_does_not_hand_its_method_to_the_strategys_next_own_position() -> None:
    class SignalThenBuy(OpenOnce):
        """No method of its own: signals once under "m" (never fills), buys itself at t=10 s."""

        def on_quote_tick(self, tick: QuoteTick) -> None:
            if not self.done:
                self.done = True
                self.signal_edge(
                    tick.instrument_id, OrderSide.BUY, edge=0.05, method="m", price=ABC.make_price("95")
                )
            elif tick.ts_event == T0 + 10 * SEC:
                order = self.order_factory.market(tick.instrument_id, OrderSide.BUY, ABC.make_qty(10))
                self.submit_order(order)

    method = {
        "monitor": FAST,
        "entry": {"min_edge_pct": 1, "fill_timeout_seconds": 2, "on_no_fill": "cancel"},
        "sizing": {"rule": "fixed", "quantity": 10},
        "exits": {"stop_loss_pct": None, "max_holding_seconds": 3},
    }
    engine, seen = run(quotes(ABC, [100] * 20), method, SignalThenBuy(OpenConfig()))
    assert len(of(EntryAbandoned, seen)) == 1
    assert engine.portfolio is not None
    assert engine.portfolio.net_position_raw(ABC.id) == 10 * 10**9  # its own position is open
    assert engine.monitor is not None
    assert engine.monitor.status() == []  # ... and no method watches it
    assert exits(seen) == []


def test_an_entry_whose_cancel_is_refused_asks_again_at_the_next_timeout() -> None:
    method = {
        "entry": {"min_edge_pct": 1, "fill_timeout_seconds": 2, "on_no_fill": "retry", "max_attempts": 2},
        "sizing": {"rule": "fixed", "quantity": 10},
    }
    engine, seen = run(
        quotes(ABC, [100] * 12),
        method,
        LowBidder(OpenConfig(method="m")),
        faults=FaultConfig(cancel_rejects=True),
    )
    (submit,) = of(SubmitOrder, seen)  # the first order never closes, so no second is placed
    cid = submit.order.client_order_id
    cancels = [c for c in of(CancelOrder, seen) if c.client_order_id == cid]
    # Timeouts at 2 s, 4 s, ... 10 s: every one asks again instead of leaving the entry hanging.
    assert [(c.ts_event - T0) // SEC for c in cancels] == [2, 4, 6, 8, 10]
    assert engine.entries is not None
    (working,) = engine.entries.working()
    assert working.client_order_id == cid
    assert working.attempts == 1


def test_an_exit_of_a_partly_filled_entry_stops_the_entry_from_buying_more() -> None:
    # 10 % of the order fills per quote: at 3 s the position holds 30 of the 100 wanted when
    # the operator closes it. The entry must not buy the rest into (or after) the exit.
    method = {
        "monitor": FAST,
        "entry": {"min_edge_pct": 1, "fill_timeout_seconds": 5, "on_no_fill": "retry", "max_attempts": 3},
        "sizing": {"rule": "fixed", "quantity": 100},
        "exits": {"stop_loss_pct": None},
    }
    engine, seen = run(
        quotes(ABC, [100] * 20),
        method,
        AskBuyer(OpenConfig(method="m")),
        faults=FaultConfig(max_fill_fraction=Decimal("0.1")),
        before=close_position_at(T0 + 3 * SEC + 1, "AskBuyer-001"),
    )
    (trigger,) = exits(seen)
    assert trigger.reason is ExitReason.MANUAL_CLOSE
    buys_after = [
        f for f in of(OrderFilled, seen) if f.order_side is OrderSide.BUY and f.ts_event > trigger.ts_event
    ]
    assert buys_after == []
    entry_orders = [s for s in of(SubmitOrder, seen) if "entry" in s.order.tags]
    assert len(entry_orders) == 1  # no retry after the exit
    (abandoned,) = of(EntryAbandoned, seen)
    assert "MANUAL_CLOSE" in abandoned.reason
    assert abandoned.filled.as_decimal() == 30
    assert engine.entries is not None
    assert engine.entries.working() == []


def test_a_retried_entry_order_is_caused_by_the_cancel_of_the_order_it_replaces() -> None:
    method = {
        "entry": {"min_edge_pct": 1, "fill_timeout_seconds": 2, "on_no_fill": "retry", "max_attempts": 2},
        "sizing": {"rule": "fixed", "quantity": 10},
    }
    _, seen = run(quotes(ABC, [100] * 8), method, LowBidder(OpenConfig(method="m")))
    first, second = of(SubmitOrder, seen)[:2]  # the first entry's two attempts
    cancel = next(c for c in of(CancelOrder, seen) if c.client_order_id == first.order.client_order_id)
    canceled = next(c for c in of(OrderCanceled, seen) if c.client_order_id == first.order.client_order_id)
    assert cancel.causation_id == first.id  # the timeout cancels that order
    assert second.causation_id == canceled.id  # the retry follows the confirmed cancel
    assert second.correlation_id == first.correlation_id  # one entry, one correlation


# -- monitor: exit bookkeeping -----------------------------------------------------------------


def test_a_stop_loss_for_a_position_shrunk_under_a_running_exit_takes_over_at_once() -> None:
    class BuyThenTrim(OpenOnce):
        """Buys 100 at the first quote, sells 50 itself at t=6 s."""

        def on_quote_tick(self, tick: QuoteTick) -> None:
            factory = self.order_factory
            if not self.done:
                self.done = True
                self.submit_order(factory.market(tick.instrument_id, OrderSide.BUY, ABC.make_qty(100)))
            elif tick.ts_event == T0 + 6 * SEC:
                self.submit_order(factory.market(tick.instrument_id, OrderSide.SELL, ABC.make_qty(50)))

    # The max-holding exit (LOW) starts at 4 s with a limit that never fills. The strategy
    # sells 50 itself; the stop loss fires at 10 s for the 50 left - less than the LOW exit set
    # out to close, but all that is still open - so it replaces the LOW exit at once.
    method = {
        "monitor": FAST,
        "exits": {"stop_loss_pct": 15, "max_holding_seconds": 3},
        "execution": {
            "low": {
                "style": "conservative_limit",
                "timeout_seconds": 20,
                "escalation": "walk_price",
                "max_walks": 0,
            }
        },
    }
    engine, seen = run(
        quotes(ABC, [100] * 9 + [80] * 30),
        method,
        BuyThenTrim(OpenConfig(method="m")),
        faults=FaultConfig(never_fill_limit_orders=True),
    )
    assert [t.reason for t in exits(seen)] == [ExitReason.MAX_HOLDING, ExitReason.STOP_LOSS]
    assert of(ExitFailed, seen) == []
    (done,) = of(ExitCompleted, seen)
    assert done.reason is ExitReason.STOP_LOSS
    assert done.ts_event < T0 + 15 * SEC
    assert engine.portfolio is not None
    assert engine.portfolio.is_flat()


def test_a_flat_spell_between_two_positions_is_no_volatility_spike() -> None:
    class InOutIn(OpenOnce):
        """Buys 100 at 0 s, sells them at 40 s, buys 100 again at 70 s."""

        def on_quote_tick(self, tick: QuoteTick) -> None:
            side = {0: OrderSide.BUY, 40: OrderSide.SELL, 70: OrderSide.BUY}.get((tick.ts_event - T0) // SEC)
            if side is not None:
                self.submit_order(self.order_factory.market(tick.instrument_id, side, ABC.make_qty(100)))

    def calm(base: float, n: int) -> list[float]:
        return [base + (0.01 if i % 2 else 0) for i in range(n)]

    # Calm, then a steady climb to 120 while flat (45 s to 64 s), then calm again from 65 s:
    # when the second position opens at 71 s, the last five returns are all calm.
    method = {
        "monitor": FAST,
        "exits": {"stop_loss_pct": None, "volatility": {"window": 5, "baseline_window": 30, "ratio": 2}},
    }
    path = calm(100, 45) + [100 + i for i in range(1, 21)] + calm(120, 40)
    engine, seen = run(quotes(ABC, path), method, InOutIn(OpenConfig(method="m")))
    assert exits(seen) == []
    assert engine.portfolio is not None
    assert engine.portfolio.net_position_raw(ABC.id) == 100 * 10**9


# -- monitor: supervision and intervals ----------------------------------------------------------


class CrashOnceBelowThePeak(ExitEvaluator):
    """Raises once, at the first check priced at 109 (after a peak at 110): a bug in a custom rule."""

    crashed = False

    def evaluate(self, watched: WatchedPosition, market: MarketSnapshot, now_ns: int) -> list[ExitSignal]:
        if not CrashOnceBelowThePeak.crashed and market.price_raw == 109 * 10**9:
            CrashOnceBelowThePeak.crashed = True
            raise RuntimeError("bad custom rule")
        return super().evaluate(watched, market, now_ns)


def test_a_restarted_watch_keeps_its_trailing_stop() -> None:
    CrashOnceBelowThePeak.crashed = False
    method = {"monitor": FAST, "exits": {"stop_loss_pct": None, "trailing_stop": {"distance_pct": 2}}}
    # Peak 110 puts the stop at 107.80; the restart happens at 109; 107.50 is below the stop.
    path = [100, 100, 104, 108, 110, 110, 110, 109, 109, 109] + [107.5] * 10
    engine, seen = run(
        quotes(ABC, path),
        method,
        OpenOnce(OpenConfig(method="m")),
        evaluator=CrashOnceBelowThePeak,
        handler_errors=1,
    )
    assert engine.monitor is not None
    assert engine.monitor.restarts == 1
    stops = [m.stop.as_decimal() for m in of(TrailingStopMoved, seen)]
    assert stops == sorted(stops)  # never back, restart or not
    assert stops[-1] == Decimal("107.80")
    trigger = exits(seen)[0]
    assert trigger.reason is ExitReason.TRAILING_STOP


class CrashOnceAfterAScaleOut(ExitEvaluator):
    """Raises once, at the first check after a quarter of the position was scaled out."""

    crashed = False

    def evaluate(self, watched: WatchedPosition, market: MarketSnapshot, now_ns: int) -> list[ExitSignal]:
        if not CrashOnceAfterAScaleOut.crashed and watched.position.net_raw == 75 * 10**9:
            CrashOnceAfterAScaleOut.crashed = True
            raise RuntimeError("bad custom rule")
        return super().evaluate(watched, market, now_ns)


def test_a_restarted_watch_does_not_scale_out_twice_at_one_level() -> None:
    CrashOnceAfterAScaleOut.crashed = False
    method = {
        "monitor": FAST,
        "exits": {
            "stop_loss_pct": None,
            "profit_target": {"target_pct": 50, "scale_out": [{"pnl_pct": 10, "close_pct": 25}]},
        },
    }
    engine, seen = run(
        quotes(ABC, [100, 100] + [111] * 100),
        method,
        OpenOnce(OpenConfig(method="m")),
        evaluator=CrashOnceAfterAScaleOut,
        handler_errors=1,
    )
    assert engine.monitor is not None
    assert engine.monitor.restarts == 1
    assert [t.reason for t in exits(seen)] == [ExitReason.SCALE_OUT]
    assert engine.portfolio is not None
    assert engine.portfolio.net_position_raw(ABC.id) == 75 * 10**9


class BuildsOnceCrashesOnce(ExitEvaluator):
    """A custom evaluator that cannot be built a second time and raises at its first check."""

    built = 0
    crashed = False

    def __init__(self, method: MethodConfig) -> None:
        BuildsOnceCrashesOnce.built += 1
        if BuildsOnceCrashesOnce.built > 1:
            raise RuntimeError("rule store unavailable")
        super().__init__(method)

    def evaluate(self, watched: WatchedPosition, market: MarketSnapshot, now_ns: int) -> list[ExitSignal]:
        if not BuildsOnceCrashesOnce.crashed:
            BuildsOnceCrashesOnce.crashed = True
            raise RuntimeError("bad custom rule")
        return super().evaluate(watched, market, now_ns)


def test_a_restart_that_fails_keeps_the_old_watch_and_never_aborts_the_run() -> None:
    BuildsOnceCrashesOnce.built = 0
    BuildsOnceCrashesOnce.crashed = False
    # The first check raises on the clock's timer; building the replacement raises too. The
    # error must stay inside the monitor (not abort the backtest) and the position stay watched.
    engine, seen = run(
        quotes(ABC, [100] * 5 + [80] * 10),
        {"monitor": FAST, "exits": {"stop_loss_pct": 15}},
        OpenOnce(OpenConfig(method="m")),
        evaluator=BuildsOnceCrashesOnce,
        handler_errors=2,
    )
    failed = [a for a in of(Alert, seen) if a.kind == "monitor_restart_failed"]
    assert len(failed) == 1
    assert failed[0].severity is AlertSeverity.CRITICAL
    (trigger,) = exits(seen)  # the old watch still catches the stop loss
    assert trigger.reason is ExitReason.STOP_LOSS
    assert engine.portfolio is not None
    assert engine.portfolio.is_flat()


def test_a_position_opened_inside_the_urgent_band_is_checked_at_the_urgent_interval() -> None:
    # A 1 % trailing stop sits inside the 2 % band from the start; the price never changes.
    method = {
        "monitor": {
            "interval_seconds": 30,
            "urgent_interval_seconds": 5,
            "urgent_band_pct": 2,
            "price_ttl_seconds": 60,
        },
        "exits": {"stop_loss_pct": None, "trailing_stop": {"distance_pct": 1}},
    }
    engine, _ = run(quotes(ABC, [100] * 25), method, OpenOnce(OpenConfig(method="m")))
    assert engine.monitor is not None
    # Opened at 1 s: checks at 6, 11, 16 and 21 s, not a first one at 31 s.
    assert engine.monitor.checks == 4
    (status,) = engine.monitor.status()
    assert status.urgent


# -- price refresh -----------------------------------------------------------------------------


def test_a_refreshed_quote_is_decided_on_its_exact_mid_like_the_quote_itself() -> None:
    def q(bid: str, ask: str, second: int) -> QuoteTick:
        return make_quote(ABC, Decimal(bid), Decimal(ask), 10_000, 10_000, ts_ns=T0 + second * SEC)

    method = {
        "monitor": {"interval_seconds": 10, "urgent_interval_seconds": 5, "price_ttl_seconds": 5},
        "exits": {"stop_loss_pct": None, "trailing_stop": {"distance_pct": 1}},
    }
    # A peak mid of 101.015 puts the stop at 100.00. The last quote, 99.99 / 100.02, has its
    # mid at 100.005: above the stop. Refreshing that same quote must not move the decision.
    data = [q("100.00", "100.03", 0), q("100.00", "100.03", 1), q("101.00", "101.03", 2)]
    data += [q("99.99", "100.02", 3), q("99.99", "100.02", 60)]
    _, seen = run(data, method, OpenOnce(OpenConfig(method="m")))
    assert of(TrailingStopMoved, seen)[-1].stop.as_decimal() == Decimal("100.00")
    snapshots = of(PriceSnapshot, seen)
    assert snapshots
    assert {s.price.as_decimal() for s in snapshots} == {Decimal("100.005")}
    assert exits(seen) == []
