"""PriceCache: the latest bid, ask and price per instrument, current before anyone reads it."""

from __future__ import annotations

from tradeloop.core.bus import MessageBus
from tradeloop.core.clock import NANOS_PER_SECOND
from tradeloop.core.ids import IdFactory
from tradeloop.lifecycle.book import PriceCache
from tradeloop.model.data import Bar, PriceSnapshot, QuoteTick, TradeTick
from tradeloop.model.instruments import Equity
from tradeloop.model.objects import Price
from tradeloop.portfolio import PRIORITY_PORTFOLIO
from tradeloop.testkit import TestClock, aapl_equity, make_bar, make_quote, make_trade

SEC = NANOS_PER_SECOND
AAPL = aapl_equity()
IID = AAPL.id


def _raw(text: str) -> int:
    return Price.from_str(text).raw


def _rig(start_ns: int = 100 * SEC) -> tuple[TestClock, MessageBus, PriceCache]:
    clock = TestClock(start_ns)
    bus = MessageBus(clock, IdFactory(1))
    return clock, bus, PriceCache(bus, clock)


def test_nothing_is_known_before_the_first_data_point() -> None:
    _, _, cache = _rig()
    assert (cache.bid_raw(IID), cache.ask_raw(IID), cache.last_raw(IID)) == (None, None, None)
    assert (cache.updated_ns(IID), cache.age_ns(IID)) == (None, None)


def test_a_quote_sets_bid_ask_and_its_mid_as_the_last_price() -> None:
    clock, bus, cache = _rig()
    bus.publish(make_quote(AAPL, "100.00", "100.03", ts_ns=90 * SEC))
    assert (cache.bid_raw(IID), cache.ask_raw(IID)) == (_raw("100.00"), _raw("100.03"))
    assert cache.last_raw(IID) == _raw("100.015")  # between two ticks: kept exact
    assert cache.updated_ns(IID) == 90 * SEC
    assert cache.age_ns(IID) == 10 * SEC
    clock.set_time(105 * SEC)
    assert cache.age_ns(IID) == 15 * SEC


def test_a_later_trade_becomes_the_last_price_and_leaves_the_quote_alone() -> None:
    _, bus, cache = _rig()
    bus.publish(make_quote(AAPL, "100.00", "100.03", ts_ns=90 * SEC))
    bus.publish(make_trade(AAPL, "100.05", ts_ns=95 * SEC))
    assert cache.last_raw(IID) == _raw("100.05")
    assert (cache.bid_raw(IID), cache.ask_raw(IID)) == (_raw("100.00"), _raw("100.03"))
    assert cache.updated_ns(IID) == 95 * SEC
    bus.publish(make_quote(AAPL, "100.10", "100.12", ts_ns=96 * SEC))
    assert cache.last_raw(IID) == _raw("100.11")


def test_a_bar_closing_no_later_than_the_newest_tick_does_not_replace_its_price() -> None:
    _, bus, cache = _rig()
    bus.publish(make_trade(AAPL, "101.00", ts_ns=60 * SEC))
    bus.publish(make_bar(AAPL, "100", "100.5", "99.5", "100.20", ts_ns=60 * SEC))  # built up to 60 s
    assert cache.last_raw(IID) == _raw("101.00")
    assert cache.updated_ns(IID) == 60 * SEC
    bus.publish(make_bar(AAPL, "100", "100.5", "99.5", "100.40", ts_ns=120 * SEC))  # newer
    assert cache.last_raw(IID) == _raw("100.40")
    assert cache.updated_ns(IID) == 120 * SEC


def test_bars_alone_keep_the_last_close() -> None:
    _, bus, cache = _rig()
    bus.publish(make_bar(AAPL, "100", "101", "99", "100.50", ts_ns=60 * SEC))
    bus.publish(make_bar(AAPL, "100", "101", "99", "100.70", ts_ns=120 * SEC))
    assert cache.last_raw(IID) == _raw("100.70")
    assert cache.bid_raw(IID) is None


def test_a_price_snapshot_refreshes_the_price_and_the_quote_when_it_has_one() -> None:
    clock, bus, cache = _rig()
    bus.publish(make_quote(AAPL, "100.00", "100.03", ts_ns=10 * SEC))
    assert cache.age_ns(IID) == 90 * SEC
    bus.publish(
        PriceSnapshot(instrument_id=IID, price=Price.from_str("100.20"), ts_event=10 * SEC, ts_init=100 * SEC)
    )
    assert cache.last_raw(IID) == _raw("100.20")
    assert (cache.bid_raw(IID), cache.ask_raw(IID)) == (_raw("100.00"), _raw("100.03"))  # no quote: kept
    assert cache.age_ns(IID) == 0  # fresh: taken now
    clock.set_time(101 * SEC)
    bus.publish(
        PriceSnapshot(
            instrument_id=IID,
            price=Price.from_str("100.25"),
            bid=Price.from_str("100.24"),
            ask=Price.from_str("100.26"),
            ts_event=100 * SEC,
            ts_init=101 * SEC,
        )
    )
    assert (cache.bid_raw(IID), cache.ask_raw(IID)) == (_raw("100.24"), _raw("100.26"))
    assert cache.updated_ns(IID) == 101 * SEC


def test_instruments_are_kept_apart() -> None:
    _, bus, cache = _rig()
    other = Equity("MSFT.XNAS")
    bus.publish(make_trade(other, "300.00", ts_ns=50 * SEC))
    assert cache.last_raw(other.id) == _raw("300.00")
    assert cache.last_raw(IID) is None


def test_the_cache_is_current_before_the_portfolio_and_strategies_see_the_data() -> None:
    _, bus, cache = _rig()
    seen: list[tuple[str, int | None]] = []
    for kind in (QuoteTick, TradeTick, Bar):
        bus.subscribe(
            kind, lambda d: seen.append(("portfolio", cache.last_raw(IID))), priority=PRIORITY_PORTFOLIO
        )
        bus.subscribe(kind, lambda d: seen.append(("strategy", cache.last_raw(IID))), priority=0)
    bus.publish(make_quote(AAPL, "100.00", "100.02", ts_ns=10 * SEC))
    bus.publish(make_trade(AAPL, "100.07", ts_ns=11 * SEC))
    bus.publish(make_bar(AAPL, "100", "101", "99", "100.90", ts_ns=60 * SEC))
    assert seen == [
        ("portfolio", _raw("100.01")),
        ("strategy", _raw("100.01")),
        ("portfolio", _raw("100.07")),
        ("strategy", _raw("100.07")),
        ("portfolio", _raw("100.90")),
        ("strategy", _raw("100.90")),
    ]
