"""After a hot reload, the urgent band follows the method's new stop loss, like the decision does."""

from __future__ import annotations

from tradeloop.core.bus import MessageBus
from tradeloop.core.clock import NANOS_PER_SECOND, SimulatedClock
from tradeloop.core.ids import AccountId, IdFactory, StrategyId
from tradeloop.lifecycle.book import PriceCache
from tradeloop.lifecycle.methods import MethodConfig
from tradeloop.lifecycle.monitor import PositionMonitor
from tradeloop.model.account import Account
from tradeloop.model.enums import OrderSide
from tradeloop.model.objects import Money
from tradeloop.portfolio import Portfolio
from tradeloop.testkit import aapl_equity, make_fill, make_trade

SEC = NANOS_PER_SECOND
T0 = 1_000_000 * SEC
AAPL = aapl_equity()
S1 = StrategyId("S-1")


def method(stop: int) -> MethodConfig:
    return MethodConfig.model_validate(
        {
            "monitor": {
                "interval_seconds": 60,
                "urgent_interval_seconds": 1,
                "urgent_band_pct": 2,
                "price_ttl_seconds": 600,
            },
            "exits": {"stop_loss_pct": stop},
        }
    )


def test_the_urgent_band_uses_the_reloaded_stop_loss() -> None:
    clock = SimulatedClock(T0)
    ids = IdFactory(1)
    bus = MessageBus(clock, ids)
    portfolio = Portfolio(
        bus, clock, ids, Account(AccountId("A-1"), Money.from_str("1000000", "USD")), [AAPL]
    )
    prices = PriceCache(bus, clock)
    monitor = PositionMonitor(
        bus, clock, ids, portfolio, prices, {"m": method(15)}, strategy_methods={S1: "m"}
    )
    bus.publish(make_trade(AAPL, "100.00", ts_ns=T0))
    bus.publish(make_fill(AAPL, OrderSide.BUY, 10, "100.00", ts_ns=T0, strategy_id="S-1"))

    monitor.update_methods({"m": method(5)})  # the stop loss is now at 95.00
    clock.set_time(T0 + SEC)
    bus.publish(make_trade(AAPL, "95.50", ts_ns=T0 + SEC))  # 0.5 % above the new stop

    status = monitor.watch_status(S1, AAPL.id)
    assert status is not None
    assert status.urgent
    assert status.next_check_ns <= T0 + 2 * SEC


def test_control_the_same_stop_configured_from_the_start_is_urgent() -> None:
    clock = SimulatedClock(T0)
    ids = IdFactory(1)
    bus = MessageBus(clock, ids)
    portfolio = Portfolio(
        bus, clock, ids, Account(AccountId("A-1"), Money.from_str("1000000", "USD")), [AAPL]
    )
    prices = PriceCache(bus, clock)
    monitor = PositionMonitor(
        bus, clock, ids, portfolio, prices, {"m": method(5)}, strategy_methods={S1: "m"}
    )
    bus.publish(make_trade(AAPL, "100.00", ts_ns=T0))
    bus.publish(make_fill(AAPL, OrderSide.BUY, 10, "100.00", ts_ns=T0, strategy_id="S-1"))
    clock.set_time(T0 + SEC)
    bus.publish(make_trade(AAPL, "95.50", ts_ns=T0 + SEC))
    status = monitor.watch_status(S1, AAPL.id)
    assert status is not None
    assert status.urgent
