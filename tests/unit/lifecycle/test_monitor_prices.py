"""The monitor decides on the newest price, with the thresholds in force.

* A late price snapshot (the answer to a stale-price request that crossed the feed's return)
  must not replace a newer price in the cache, nor mark the watched position.
* After a hot reload, the urgent band follows the method's new stop loss, as the decision does.
"""

from __future__ import annotations

from typing import Any

from tradeloop.core.bus import MessageBus
from tradeloop.core.clock import NANOS_PER_SECOND, SimulatedClock
from tradeloop.core.ids import AccountId, IdFactory, StrategyId
from tradeloop.lifecycle import ExitTriggered, PriceRequested
from tradeloop.lifecycle.book import PriceCache
from tradeloop.lifecycle.methods import MethodConfig
from tradeloop.lifecycle.monitor import PositionMonitor
from tradeloop.model.account import Account
from tradeloop.model.data import PriceSnapshot
from tradeloop.model.enums import OrderSide
from tradeloop.model.objects import Money
from tradeloop.portfolio import Portfolio
from tradeloop.testkit import aapl_equity, make_fill, make_trade

SEC = NANOS_PER_SECOND
T0 = 1_000_000 * SEC
AAPL = aapl_equity()
S1 = StrategyId("S-1")


def method(stop: int, **monitor: Any) -> MethodConfig:
    return MethodConfig.model_validate({"monitor": monitor, "exits": {"stop_loss_pct": stop}})


def long_10_at_100(method: MethodConfig) -> tuple[SimulatedClock, MessageBus, PriceCache, PositionMonitor]:
    """A monitor under ``method`` (named "m", S-1's) watching a long 10 AAPL bought at 100 at T0."""
    clock = SimulatedClock(T0)
    ids = IdFactory(1)
    bus = MessageBus(clock, ids)
    account = Account(AccountId("A-1"), Money.from_str("1000000", "USD"))
    portfolio = Portfolio(bus, clock, ids, account, [AAPL])
    prices = PriceCache(bus, clock)
    monitor = PositionMonitor(bus, clock, ids, portfolio, prices, {"m": method}, strategy_methods={S1: "m"})
    bus.publish(make_trade(AAPL, "100.00", ts_ns=T0))
    bus.publish(make_fill(AAPL, OrderSide.BUY, 10, "100.00", ts_ns=T0, strategy_id="S-1"))
    return clock, bus, prices, monitor


def snapshot(price: str, *, market_s: float, arrived_s: float) -> PriceSnapshot:
    return PriceSnapshot(
        ts_event=T0 + int(market_s * SEC),
        ts_init=T0 + int(arrived_s * SEC),
        instrument_id=AAPL.id,
        price=AAPL.make_price(price),
    )


def test_the_price_cache_keeps_the_newest_price_when_an_older_snapshot_arrives_late() -> None:
    clock = SimulatedClock(T0)
    bus = MessageBus(clock, IdFactory(1))
    cache = PriceCache(bus, clock)
    bus.publish(make_trade(AAPL, "95.00", ts_ns=T0 + 20 * SEC))  # the newest market price
    clock.set_time(T0 + 25 * SEC)
    bus.publish(snapshot("100.00", market_s=10, arrived_s=25))  # the market showed 100 at 10 s
    assert cache.last_raw(AAPL.id) == AAPL.make_price("95.00").raw


def test_a_late_snapshot_does_not_fire_a_stop_loss_the_newer_price_does_not_justify() -> None:
    clock, bus, _, _ = long_10_at_100(
        method(15, interval_seconds=10, urgent_interval_seconds=10, price_ttl_seconds=15)
    )
    triggers: list[ExitTriggered] = []
    requests: list[PriceRequested] = []
    bus.subscribe(ExitTriggered, triggers.append)
    bus.subscribe(PriceRequested, requests.append)

    def at(seconds: float) -> int:
        ts = T0 + int(seconds * SEC)
        clock.advance_time(ts)
        clock.set_time(ts)
        return ts

    at(30)  # the feed is silent: a check asks for a fresh price
    assert requests
    # The feed comes back first: the market is at 100 (the check decides on it: no exit).
    bus.publish(make_trade(AAPL, "100.00", ts_ns=at(30.5)))
    # Then the REST answer to the request lands: the market had printed 84 at t=29 s.
    at(30.6)
    bus.publish(snapshot("84.00", market_s=29, arrived_s=30.6))
    at(45)  # next check: the newest price seen is still 100 (ts 30.5 s); nothing fires
    assert triggers == [], [t.detail for t in triggers]


URGENT = {
    "interval_seconds": 60,
    "urgent_interval_seconds": 1,
    "urgent_band_pct": 2,
    "price_ttl_seconds": 600,
}


def test_the_urgent_band_uses_the_reloaded_stop_loss() -> None:
    clock, bus, _, monitor = long_10_at_100(method(15, **URGENT))
    monitor.update_methods({"m": method(5, **URGENT)})  # the stop loss is now at 95.00
    clock.set_time(T0 + SEC)
    bus.publish(make_trade(AAPL, "95.50", ts_ns=T0 + SEC))  # 0.5 % above the new stop

    status = monitor.watch_status(S1, AAPL.id)
    assert status is not None
    assert status.urgent
    assert status.next_check_ns <= T0 + 2 * SEC


def test_the_same_stop_configured_from_the_start_is_urgent_too() -> None:
    clock, bus, _, monitor = long_10_at_100(method(5, **URGENT))
    clock.set_time(T0 + SEC)
    bus.publish(make_trade(AAPL, "95.50", ts_ns=T0 + SEC))
    status = monitor.watch_status(S1, AAPL.id)
    assert status is not None
    assert status.urgent
