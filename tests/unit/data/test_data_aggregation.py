"""Tick-to-bar aggregation: alignment, new-candle detection, gaps, timers, exact volumes."""

from __future__ import annotations

from collections.abc import Iterable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tradeloop.core.clock import SimulatedClock
from tradeloop.core.errors import DataError
from tradeloop.data import (
    TimeBarAggregator,
    aggregate_quotes_to_bars,
    aggregate_trades_to_bars,
)
from tradeloop.model import (
    Bar,
    BarSpec,
    CryptoSpot,
    FuturesContract,
    Price,
    Quantity,
    QuoteTick,
    TradeTick,
)

ES = FuturesContract("ES.CME")
NQ = FuturesContract("NQ.CME")
BTC = CryptoSpot("BTCUSDT.BINANCE", tick="0.01", lot="0.000001")
MINUTE = BarSpec.parse("1-MINUTE")
SEC = 1_000_000_000
MIN = 60 * SEC
TICK = 250_000_000  # 0.25 in raw


def trade(ts: int, ticks: int, size: int, instrument_id: str = "ES.CME") -> TradeTick:
    return TradeTick(
        ts_event=ts,
        ts_init=ts,
        instrument_id=instrument_id,  # type: ignore[arg-type]
        price=Price(ticks * TICK, 2),
        size=Quantity.from_int(size),
    )


def quote(ts: int, bid: str, ask: str) -> QuoteTick:
    return QuoteTick(
        ts_event=ts,
        ts_init=ts,
        instrument_id=ES.id,
        bid_price=Price.from_str(bid),
        ask_price=Price.from_str(ask),
        bid_size=Quantity.from_int(1),
        ask_size=Quantity.from_int(1),
    )


def naive_bars(ticks: Iterable[TradeTick], interval: int) -> list[tuple[int, int, int, int, int, int]]:
    """(close_ns, open, high, low, close, volume) per interval, by plain grouping."""
    groups: dict[int, list[TradeTick]] = {}
    for t in ticks:
        groups.setdefault(t.ts_event // interval, []).append(t)
    out = []
    for key in sorted(groups):
        g = groups[key]
        prices = [t.price.raw for t in g]
        out.append(
            (
                (key + 1) * interval,
                prices[0],
                max(prices),
                min(prices),
                prices[-1],
                sum(t.size.raw for t in g),
            )
        )
    return out


def as_tuples(bars: list[Bar]) -> list[tuple[int, int, int, int, int, int]]:
    return [(b.ts_event, b.open.raw, b.high.raw, b.low.raw, b.close.raw, b.volume.raw) for b in bars]


tick_streams = st.lists(
    st.tuples(
        # Gaps: often zero (equal timestamps), sometimes landing exactly on boundaries, sometimes long.
        st.one_of(st.just(0), st.integers(1, 5 * SEC), st.just(MIN), st.integers(0, 10 * MIN)),
        st.integers(6000, 6100),
        st.integers(1, 50),
    ),
    max_size=120,
)


# Starts on a boundary half the time, so that ticks land exactly on interval edges.
starts = st.one_of(st.integers(0, 10).map(lambda k: k * MIN), st.integers(0, 10 * MIN))


def build_stream(start: int, steps: list[tuple[int, int, int]]) -> list[TradeTick]:
    ts = start
    ticks = []
    for gap, price_ticks, size in steps:
        ts += gap
        ticks.append(trade(ts, price_ticks, size))
    return ticks


@settings(max_examples=200, deadline=None)
@given(start=starts, steps=tick_streams)
def test_bars_equal_a_naive_groupby_of_the_ticks(start: int, steps: list[tuple[int, int, int]]) -> None:
    ticks = build_stream(start, steps)
    bars = aggregate_trades_to_bars(ticks, ES, MINUTE)
    assert as_tuples(bars) == naive_bars(ticks, MIN)
    for bar in bars:
        assert bar.ts_init == bar.ts_event
        assert bar.ts_event % MIN == 0
        assert bar.spec == MINUTE
        assert bar.instrument_id == ES.id


@settings(max_examples=60, deadline=None)
@given(
    start=starts,
    steps=tick_streams,
    timer_every=st.sampled_from([13 * SEC, MIN, 5 * MIN]),
)
def test_clock_driven_closing_gives_the_same_bars_as_tick_driven(
    start: int, steps: list[tuple[int, int, int]], timer_every: int
) -> None:
    ticks = build_stream(start, steps)
    bars: list[Bar] = []
    agg = TimeBarAggregator(ES, MINUTE, bars.append)
    clock = SimulatedClock(start)
    clock.set_timer("bars", timer_every, agg.on_time_event)
    for t in ticks:
        clock.advance_time(t.ts_event)
        agg.handle_trade_tick(t)
    agg.flush()
    assert as_tuples(bars) == naive_bars(ticks, MIN)


def test_bar_is_emitted_when_the_first_tick_of_the_next_interval_arrives() -> None:
    bars: list[Bar] = []
    agg = TimeBarAggregator(ES, MINUTE, bars.append)
    agg.handle_trade_tick(trade(10 * SEC, 6000, 1))
    agg.handle_trade_tick(trade(59 * SEC, 6004, 2))
    agg.handle_trade_tick(trade(MIN - 1, 5998, 3))
    assert bars == []
    assert agg.pending_close_ns == MIN
    agg.handle_trade_tick(trade(MIN, 6001, 4))  # exactly on the boundary: opens the next bar
    assert as_tuples(bars) == [(MIN, 6000 * TICK, 6004 * TICK, 5998 * TICK, 5998 * TICK, 6 * SEC)]
    assert agg.pending_close_ns == 2 * MIN


def test_on_time_closes_the_bar_only_once_the_boundary_is_reached() -> None:
    bars: list[Bar] = []
    agg = TimeBarAggregator(ES, MINUTE, bars.append)
    agg.handle_trade_tick(trade(5 * SEC, 6000, 1))
    agg.on_time(MIN - 1)
    assert bars == []
    agg.on_time(MIN)
    assert [b.ts_event for b in bars] == [MIN]
    assert agg.pending_close_ns is None
    agg.on_time(2 * MIN)  # nothing open: nothing emitted
    assert len(bars) == 1


def test_intervals_without_ticks_produce_no_bars() -> None:
    ticks = [trade(5 * SEC, 6000, 1), trade(3 * MIN + SEC, 6010, 2), trade(3 * MIN + 2 * SEC, 6011, 1)]
    bars = aggregate_trades_to_bars(ticks, ES, MINUTE)
    assert [b.ts_event for b in bars] == [MIN, 4 * MIN]
    assert bars[1].open.raw == 6010 * TICK


def test_flush_emits_the_partial_last_bar_with_its_interval_close_time() -> None:
    bars: list[Bar] = []
    agg = TimeBarAggregator(ES, BarSpec.parse("5-MINUTE"), bars.append)
    agg.handle_trade_tick(trade(MIN + 3, 6000, 1))
    agg.flush()
    agg.flush()
    assert [b.ts_event for b in bars] == [5 * MIN]


def test_hour_and_day_bars_align_to_the_epoch() -> None:
    ts = 1_378_054_800_083_000_000  # 2013-09-01T17:00:00.083Z
    hour = aggregate_trades_to_bars([trade(ts, 6000, 1)], ES, BarSpec.parse("1-HOUR"))
    day = aggregate_trades_to_bars([trade(ts, 6000, 1)], ES, BarSpec.parse("1-DAY"))
    assert hour[0].ts_event == 1_378_058_400_000_000_000  # 18:00Z
    assert day[0].ts_event == 1_378_080_000_000_000_000  # 2013-09-02T00:00Z


def test_fractional_volumes_add_up_exactly() -> None:
    def btc(ts: int, size: str) -> TradeTick:
        return TradeTick(
            ts_event=ts,
            ts_init=ts,
            instrument_id=BTC.id,
            price=Price.from_str("42000.00"),
            size=Quantity.from_str(size),
        )

    bars = aggregate_trades_to_bars([btc(1, "0.1"), btc(2, "0.2"), btc(3, "0.000001")], BTC, MINUTE)
    assert bars[0].volume == Quantity.from_str("0.300001")
    assert bars[0].volume.precision == BTC.size_precision


def test_quote_bars_use_the_exact_mid_price_and_zero_volume() -> None:
    bars = aggregate_quotes_to_bars(
        [quote(1, "1640.00", "1640.25"), quote(2, "1640.25", "1640.75"), quote(3, "1639.75", "1640.00")],
        ES,
        MINUTE,
    )
    (bar,) = bars
    assert (str(bar.open), str(bar.high), str(bar.low), str(bar.close)) == (
        "1640.125",
        "1640.500",
        "1639.875",
        "1639.875",
    )
    assert bar.volume.raw == 0


def test_a_tick_older_than_the_previous_one_is_rejected() -> None:
    agg = TimeBarAggregator(ES, MINUTE, lambda bar: None)
    agg.handle_trade_tick(trade(10 * SEC, 6000, 1))
    with pytest.raises(DataError, match="arrived after"):
        agg.handle_trade_tick(trade(9 * SEC, 6000, 1))


def test_a_tick_for_a_bar_already_closed_by_the_clock_is_rejected() -> None:
    bars: list[Bar] = []
    agg = TimeBarAggregator(ES, MINUTE, bars.append)
    agg.handle_trade_tick(trade(10 * SEC, 6000, 1))
    agg.on_time(MIN + SEC)
    with pytest.raises(DataError, match=r"ES\.CME"):
        agg.handle_trade_tick(trade(30 * SEC, 6000, 1))
    assert len(bars) == 1


def test_ticks_of_another_instrument_are_rejected() -> None:
    agg = TimeBarAggregator(ES, MINUTE, lambda bar: None)
    agg.handle_trade_tick(trade(1, 6000, 1))
    with pytest.raises(DataError, match=r"fed a tick of NQ\.CME"):
        agg.handle_trade_tick(trade(2, 6000, 1, instrument_id=NQ.id))


def test_one_aggregator_does_not_mix_trades_and_quotes() -> None:
    agg = TimeBarAggregator(ES, MINUTE, lambda bar: None)
    agg.handle_trade_tick(trade(1, 6000, 1))
    with pytest.raises(DataError, match="cannot mix"):
        agg.handle_quote_tick(quote(2, "1640.00", "1640.25"))


def test_no_ticks_give_no_bars() -> None:
    assert aggregate_trades_to_bars([], ES, MINUTE) == []
