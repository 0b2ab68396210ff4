"""The strategy API at its edges: closing twice, a failing on_stop, use before registration."""

from __future__ import annotations

import pytest

from tradeloop.core.clock import NANOS_PER_SECOND
from tradeloop.core.component import ComponentState
from tradeloop.core.errors import TradeloopError
from tradeloop.model.data import TradeTick
from tradeloop.model.enums import OrderSide
from tradeloop.model.instruments import Equity
from tradeloop.model.objects import Money, Quantity
from tradeloop.runtime import BacktestEngine
from tradeloop.strategy import Strategy, StrategyConfig
from tradeloop.testkit import make_trade
from tradeloop.venues.simulated import SimulatedVenueConfig
from tradeloop.venues.simulated.config import AccountType

SEC = NANOS_PER_SECOND
T0 = 1_704_153_600 * SEC
ABC = Equity("ABC.SIM")


def new_engine() -> BacktestEngine:
    engine = BacktestEngine(seed=0)
    engine.add_instrument(ABC)
    config = SimulatedVenueConfig(
        starting_balances=Money.from_str("100000", "USD"), account_type=AccountType.MARGIN
    )
    engine.add_venue("SIM", config)
    return engine


def trades(n: int = 10) -> list[TradeTick]:
    return [make_trade(ABC, 100, 100, ts_ns=T0 + i * SEC) for i in range(n)]


class Scripted(Strategy):
    """On its n-th trade tick does what ``plan[n]`` says: ("BUY"|"SELL", qty) or "close"."""

    def __init__(self, sid: str, plan: dict[int, list[object]]) -> None:
        super().__init__(StrategyConfig(strategy_id=sid))
        self.plan = plan
        self.n = 0
        self.close_results: list[bool] = []

    def on_start(self) -> None:
        self.subscribe_trade_ticks("ABC.SIM")

    def on_trade_tick(self, tick: TradeTick) -> None:
        self.n += 1
        for action in self.plan.get(self.n, []):
            if action == "close":
                self.close_results.append(self.close_position(tick.instrument_id))
            else:
                side, qty = action  # type: ignore[misc]
                market = self.order_factory.market(
                    tick.instrument_id, OrderSide(side), Quantity.from_int(qty)
                )
                self.submit_order(market)


def net(strategy: Strategy) -> float:
    position = strategy.position("ABC.SIM")
    return 0.0 if position is None else position.net_raw / 1e9


def test_a_second_close_while_the_first_works_closes_nothing_more() -> None:
    # Another strategy is long the same instrument: the venue's reduce-only check sees the
    # instrument's net position, so only the strategy itself can stop a double close.
    engine = new_engine()
    a = Scripted("A", {2: [("BUY", 10)], 5: ["close", "close"]})
    b = Scripted("B", {2: [("BUY", 10)]})
    engine.add_data(trades())
    engine.add_strategy(a)
    engine.add_strategy(b)
    engine.run()
    assert a.close_results == [True, False]
    assert (net(a), net(b)) == (0.0, 10.0)


class FailsOnStop(Scripted):
    def on_stop(self) -> None:
        raise RuntimeError("bug in on_stop")


def test_a_strategy_that_raises_in_on_stop_is_reported_and_the_run_ends_with_its_result() -> None:
    engine = new_engine()
    bad, good = FailsOnStop("bad", {}), Scripted("good", {})
    engine.add_data(trades(3))
    engine.add_strategy(bad)
    engine.add_strategy(good)
    result = engine.run()
    assert result.message_total > 0
    assert good.state is ComponentState.STOPPED
    assert engine.bus.handler_errors == 1


def test_order_factory_before_registration_is_a_clear_error() -> None:
    with pytest.raises(TradeloopError, match="not registered with an engine"):
        _ = Scripted("x", {}).order_factory


def test_progress_reports_the_end_once() -> None:
    engine = new_engine()
    engine.add_data(trades(4096))
    engine.add_strategy(Scripted("x", {}))
    calls: list[tuple[int, int]] = []
    engine.run(progress=lambda done, total: calls.append((done, total)))
    assert calls == [(4096, 4096)]


def test_a_stopped_strategy_sends_no_orders() -> None:
    engine = new_engine()
    strategy = Scripted("x", {})
    engine.add_data(trades(3))
    engine.add_strategy(strategy)
    engine.run()
    assert strategy.state is ComponentState.STOPPED
    order = strategy.order_factory.market(ABC.id, OrderSide.BUY, Quantity.from_int(1))
    with pytest.raises(TradeloopError, match="is STOPPED: it sends no orders"):
        strategy.submit_order(order)


class Heartbeat(Scripted):
    def on_start(self) -> None:
        super().on_start()
        self.set_timer("beat", SEC)


def test_a_strategy_that_sets_a_timer_at_start_can_be_restarted() -> None:
    engine = new_engine()
    strategy = Heartbeat("hb", {})
    engine.add_data(trades(3))
    engine.add_strategy(strategy)
    engine.run()
    strategy.start()  # its timer is set again, not refused as already set
    assert strategy.state is ComponentState.RUNNING
    assert engine.clock.timer_names.count("hb.beat") == 1
