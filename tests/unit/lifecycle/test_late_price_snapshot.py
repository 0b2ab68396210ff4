"""A late price snapshot (the answer to a stale-price request) must not replace a newer price."""

from __future__ import annotations

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


def test_price_cache_keeps_the_newest_price_when_an_older_snapshot_arrives_late() -> None:
    clock = SimulatedClock(T0)
    bus = MessageBus(clock, IdFactory(1))
    cache = PriceCache(bus, clock)
    bus.publish(make_trade(AAPL, "95.00", ts_ns=T0 + 20 * SEC))  # the newest market price
    clock.set_time(T0 + 25 * SEC)
    # A REST answer for a request made earlier: the market showed 100 at t=10 s.
    bus.publish(
        PriceSnapshot(
            ts_event=T0 + 10 * SEC,
            ts_init=T0 + 25 * SEC,
            instrument_id=AAPL.id,
            price=AAPL.make_price("100.00"),
        )
    )
    assert cache.last_raw(AAPL.id) == AAPL.make_price("95.00").raw


def test_a_late_snapshot_does_not_fire_a_stop_loss_the_newer_price_does_not_justify() -> None:
    clock = SimulatedClock(T0)
    ids = IdFactory(1)
    bus = MessageBus(clock, ids)
    portfolio = Portfolio(
        bus, clock, ids, Account(AccountId("A-1"), Money.from_str("1000000", "USD")), [AAPL]
    )
    prices = PriceCache(bus, clock)
    method = MethodConfig.model_validate(
        {
            "monitor": {"interval_seconds": 10, "urgent_interval_seconds": 10, "price_ttl_seconds": 15},
            "exits": {"stop_loss_pct": 15},
        }
    )
    PositionMonitor(  # subscribed to the bus: it watches the position from its fill
        bus, clock, ids, portfolio, prices, {"m": method}, strategy_methods={StrategyId("S-1"): "m"}
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

    at(0)
    bus.publish(make_trade(AAPL, "100.00", ts_ns=T0))
    bus.publish(make_fill(AAPL, OrderSide.BUY, 10, "100.00", ts_ns=T0, strategy_id="S-1"))
    at(30)  # the feed is silent: a check asks for a fresh price
    assert requests
    # The feed comes back first: the market is at 100 (the check decides on it: no exit).
    bus.publish(make_trade(AAPL, "100.00", ts_ns=at(30.5)))
    # Then the REST answer to the request lands: the market had printed 84 at t=29 s.
    at(30.6)
    bus.publish(
        PriceSnapshot(
            ts_event=T0 + 29 * SEC,
            ts_init=T0 + int(30.6 * SEC),
            instrument_id=AAPL.id,
            price=AAPL.make_price("84.00"),
        )
    )
    at(45)  # next check: the newest price seen is still 100 (ts 30.5 s); nothing should fire
    assert triggers == [], [t.detail for t in triggers]
