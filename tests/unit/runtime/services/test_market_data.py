"""The market data service: streaming and polling feeds, restarts, new candles per timeframe."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from decimal import Decimal

import pytest

from tradeloop.core.clock import NANOS_PER_SECOND
from tradeloop.core.errors import TradeloopError
from tradeloop.core.message import Data
from tradeloop.model.data import Bar, BarSpec, TradeTick
from tradeloop.model.instruments import Equity, Instrument
from tradeloop.model.objects import Price, Quantity
from tradeloop.runtime.services import HealthStatus, MarketDataService, ServiceState
from tradeloop.testkit import make_quote, make_trade

from .kit import Recorder, until

SEC = NANOS_PER_SECOND
ABC = Equity("ABC.SIM")
XYZ = Equity("XYZ.SIM")
MINUTE = BarSpec.parse("1-MINUTE")


def trade(seconds: int, price: str, size: int = 1, instrument: Instrument = ABC) -> TradeTick:
    return make_trade(instrument, price, size, ts_ns=seconds * SEC)


def kinds(items: Sequence[Data]) -> list[str]:
    return [
        f"bar {item.ts_event // SEC} {item.spec}" if isinstance(item, Bar) else f"tick {item.ts_event // SEC}"
        for item in items
    ]


def test_streaming_delivers_every_item_and_a_candle_when_the_next_interval_begins() -> None:
    rec = Recorder()
    got: list[Data] = []
    ticks = [
        trade(10, "10.00"),
        trade(50, "10.50", 2),
        trade(70, "10.10", 4),
        trade(130, "11.00"),
        trade(185, "11.50"),
    ]

    async def feed() -> AsyncIterator[Data]:
        for tick in ticks:
            yield tick

    service = MarketDataService(
        got.append, stream=feed, instruments=[ABC], bar_specs=["1-MINUTE", "2-MINUTE"]
    )
    orch = rec.orchestrator()
    orch.add(service)

    async def scenario() -> None:
        await orch.start()
        await service.wait_exhausted()
        await until(lambda: orch.task_finished("market-data"))
        assert service.state is ServiceState.RUNNING  # a feed that ended is not a crash
        assert (await service.health()).detail == "the feed ended"
        await orch.stop()

    asyncio.run(scenario())

    assert kinds(got) == [
        "tick 10",
        "tick 50",
        "tick 70",
        "bar 60 1-MINUTE",
        "tick 130",
        "bar 120 1-MINUTE",
        "bar 120 2-MINUTE",
        "tick 185",
        "bar 180 1-MINUTE",
    ]
    first = got[3]
    assert isinstance(first, Bar)
    assert (first.open, first.high, first.low, first.close, first.volume) == (
        Price.from_str("10.00"),
        Price.from_str("10.50"),
        Price.from_str("10.00"),
        Price.from_str("10.50"),
        Quantity.from_int(3),
    )
    metrics = dict(service.metrics())
    assert metrics.pop("last_data_age_s") >= 0.0
    assert metrics == {"delivered": 9, "bars": 4, "errors": 0, "late_ticks": 0, "exhausted": 1}
    assert orch.metrics()["restarts"] == {"market-data": 0}


def test_a_feed_that_never_waits_still_lets_the_other_tasks_run() -> None:
    rec = Recorder()
    beats = [0]
    seen_beats: list[int] = []

    async def feed() -> AsyncIterator[Data]:
        for n in range(2_000):
            yield trade(n, "10.00")  # a replay at full speed: no await between items

    async def heartbeat() -> None:
        while True:
            beats[0] += 1
            await asyncio.sleep(0)

    service = MarketDataService(lambda item: seen_beats.append(beats[0]), stream=feed)
    orch = rec.orchestrator()
    orch.add(service)

    async def scenario() -> None:
        beat = asyncio.create_task(heartbeat())
        await orch.start()
        await service.wait_exhausted()
        await orch.stop()
        beat.cancel()

    asyncio.run(scenario())
    assert len(seen_beats) == 2_000
    assert seen_beats[-1] - seen_beats[0] >= 5  # the heartbeat ran while the feed delivered


def test_a_feed_that_raises_crashes_the_task_and_the_restart_reconnects() -> None:
    rec = Recorder()
    got: list[Data] = []
    connections: list[int] = []

    async def feed() -> AsyncIterator[Data]:
        connections.append(len(connections) + 1)
        if len(connections) == 1:
            yield trade(1, "10.00")
            raise ConnectionResetError("socket closed by peer")
        yield trade(2, "10.10")
        yield trade(3, "10.20")

    service = MarketDataService(got.append, stream=feed)
    orch = rec.orchestrator()
    orch.add(service)

    async def scenario() -> None:
        await orch.start()
        await service.wait_exhausted()
        await orch.stop()

    asyncio.run(scenario())

    assert connections == [1, 2]
    assert kinds(got) == ["tick 1", "tick 2", "tick 3"]
    assert service.errors == 1
    assert orch.metrics()["restarts"] == {"market-data": 1}
    assert (
        orch.health()["services"]["market-data"]["last_error"]
        == "ConnectionResetError: socket closed by peer"
    )


def test_polling_delivers_new_items_only_and_counts_the_repeats() -> None:
    rec = Recorder()
    got: list[Data] = []
    answers: list[list[Data]] = [
        [trade(1, "10.00"), trade(2, "10.10")],
        [trade(2, "10.10"), trade(3, "10.20"), trade(3, "10.30")],  # the last poll's trade again
        [trade(1, "10.00")],  # older than what was delivered
        [make_quote(ABC, "10.20", "10.30", ts_ns=3 * SEC)],  # a quote is another kind
    ]

    async def poll() -> Sequence[Data]:
        return answers.pop(0) if answers else []

    service = MarketDataService(got.append, poll=poll, poll_interval_s=0.005)
    orch = rec.orchestrator()
    orch.add(service)

    async def scenario() -> None:
        await orch.start()
        await until(lambda: service.polls >= 5)
        await orch.stop()

    asyncio.run(scenario())

    assert kinds(got) == ["tick 1", "tick 2", "tick 3", "tick 3", "tick 3"]
    assert [type(item).__name__ for item in got][-1] == "QuoteTick"
    assert service.duplicates == 2
    assert service.metrics()["polls"] == service.polls


def test_a_failed_poll_degrades_the_service_and_too_many_in_a_row_restart_it() -> None:
    rec = Recorder()
    got: list[Data] = []
    script: list[str] = ["fail", "ok", "fail", "fail", "fail"]  # then ok forever

    async def poll() -> Sequence[Data]:
        step = script.pop(0) if script else "ok"
        if step == "fail":
            raise TimeoutError("REST call timed out")
        return [trade(len(got) + 1, "10.00")]

    service = MarketDataService(got.append, poll=poll, poll_interval_s=0.005, max_poll_errors=3)
    orch = rec.orchestrator()
    orch.add(service)
    reports: list[str] = []

    async def scenario() -> None:
        await orch.start()
        await until(lambda: service.errors == 1)
        reports.append((await service.health()).detail)
        await until(
            lambda: orch.metrics()["restarts"]["market-data"] == 1 and service.state is ServiceState.RUNNING
        )
        await until(lambda: len(got) >= 2)
        assert (await service.health()).status is HealthStatus.OK
        await orch.stop()

    asyncio.run(scenario())
    assert reports == ["1 failed poll in a row: TimeoutError: REST call timed out"]
    assert service.errors == 4


def test_with_a_clock_a_candle_closes_when_its_interval_ends_even_without_a_new_tick() -> None:
    rec = Recorder(start_ns=0)
    bars: list[Bar] = []
    ticks: list[TradeTick] = []
    rec.bus.subscribe(Bar, bars.append)
    rec.bus.subscribe(TradeTick, ticks.append)
    quiet = asyncio.Event()

    async def feed() -> AsyncIterator[Data]:
        yield trade(10, "10.00")
        yield trade(20, "10.40", 3)
        await quiet.wait()  # the market goes quiet
        yield trade(55, "9.00")  # a print stamped inside the bar that already closed

    service = MarketDataService(
        rec.bus.publish,
        stream=feed,
        instruments=[ABC, XYZ],
        bar_specs=[MINUTE],
        clock=rec.clock,
        bar_check_interval_s=0.005,
    )
    orch = rec.orchestrator()
    orch.add(service)

    async def scenario() -> None:
        await orch.start()
        await until(lambda: len(ticks) == 2)
        await asyncio.sleep(0.02)
        assert bars == []  # the clock is still inside the minute
        rec.clock.set_time(61 * SEC)
        await until(lambda: len(bars) == 1)
        quiet.set()
        await service.wait_exhausted()
        await orch.stop()

    asyncio.run(scenario())

    (bar,) = bars
    assert (bar.ts_event, bar.instrument_id, bar.close, bar.volume) == (
        60 * SEC,
        ABC.id,
        Price.from_str("10.40"),
        Quantity.from_int(4),
    )
    assert len(ticks) == 3  # the late print is still delivered...
    assert service.late_ticks == 1  # ...but not folded into a bar


def test_candles_can_be_built_from_quote_mid_prices() -> None:
    rec = Recorder()
    got: list[Data] = []

    async def feed() -> AsyncIterator[Data]:
        yield make_quote(ABC, "10.00", "10.02", ts_ns=5 * SEC)
        yield trade(6, "50.00")  # trades do not move quote bars
        yield make_quote(ABC, "10.04", "10.06", ts_ns=30 * SEC)
        yield make_quote(ABC, "10.10", "10.12", ts_ns=65 * SEC)

    service = MarketDataService(
        got.append, stream=feed, instruments=[ABC], bar_specs=[MINUTE], bars_from="quotes"
    )
    orch = rec.orchestrator()
    orch.add(service)

    async def scenario() -> None:
        await orch.start()
        await service.wait_exhausted()
        await orch.stop()

    asyncio.run(scenario())
    (bar,) = [item for item in got if isinstance(item, Bar)]
    assert [p.as_decimal() for p in (bar.open, bar.high, bar.low, bar.close)] == [
        Decimal("10.01"),
        Decimal("10.05"),
        Decimal("10.01"),
        Decimal("10.05"),
    ]
    assert bar.volume == Quantity.from_int(0)


def test_a_feed_without_data_for_too_long_reads_degraded() -> None:
    rec = Recorder()

    async def poll() -> Sequence[Data]:
        return []

    service = MarketDataService(lambda item: None, poll=poll, poll_interval_s=0.005, stale_after_s=0.05)
    orch = rec.orchestrator()
    orch.add(service)

    async def scenario() -> None:
        await orch.start()
        assert (await service.health()).status is HealthStatus.OK
        await asyncio.sleep(0.06)
        await orch.check_health()
        assert service.state is ServiceState.DEGRADED
        assert "no market data for" in orch.health()["services"]["market-data"]["detail"]
        await orch.stop()

    asyncio.run(scenario())


async def _nothing() -> Sequence[Data]:
    return []


async def _no_stream() -> AsyncIterator[Data]:
    return
    yield


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({}, "exactly one of stream and poll"),
        ({"stream": _no_stream, "poll": _nothing}, "exactly one of stream and poll"),
        ({"poll": _nothing, "bar_specs": ["1-MINUTE"]}, "bar_specs need the instruments"),
        ({"poll": _nothing, "poll_interval_s": 0}, "poll_interval_s"),
        ({"poll": _nothing, "max_poll_errors": 0}, "max_poll_errors"),
        ({"poll": _nothing, "bars_from": "bids"}, "bars_from"),
    ],
)
def test_bad_market_data_settings_are_refused_with_their_name(
    options: dict[str, object], message: str
) -> None:
    with pytest.raises(TradeloopError, match=message):
        MarketDataService(lambda item: None, **options)  # type: ignore[arg-type]
