"""The indicator service: indicators and regime per instrument from bars on the bus."""

from __future__ import annotations

import asyncio

import pytest

from tradeloop.core.errors import TradeloopError, ValueRangeError
from tradeloop.indicators import Regime, SimpleMovingAverage
from tradeloop.model.data import Bar
from tradeloop.model.events import RegimeChanged
from tradeloop.model.instruments import Equity, Instrument
from tradeloop.runtime.services import IndicatorService, RegimeSettings
from tradeloop.testkit import make_bar

from .kit import Recorder

ABC = Equity("ABC.SIM")
XYZ = Equity("XYZ.SIM")
# Warm after four bars, switch on the first bar that reads differently; never VOLATILE here.
QUICK = RegimeSettings(atr_period=2, er_period=3, volatility_threshold=1.0, confirm_bars=1)


def bar(instrument: Instrument, minute: int, close: str, spec: str = "1-MINUTE") -> Bar:
    return make_bar(instrument, close, close, close, close, ts_ns=minute * 60 * 10**9, spec=spec)


def service_on(rec: Recorder, **options: object) -> IndicatorService:
    return IndicatorService(
        rec.bus,
        rec.clock,
        rec.ids,
        spec="1-MINUTE",
        indicators={"sma": lambda: SimpleMovingAverage(3)},
        regime=QUICK,
        **options,  # type: ignore[arg-type]
    )


def test_regime_changes_are_published_per_instrument_and_indicators_follow_the_bars() -> None:
    rec = Recorder()
    service = service_on(rec)
    closes = ["10", "11", "12", "13", "14", "15", "14", "16", "15", "14", "16"]  # a trend, then chop

    async def scenario() -> None:
        await service.on_start()
        for minute, close in enumerate(closes, start=1):
            rec.bus.publish(bar(ABC, minute, close))
        rec.bus.publish(bar(XYZ, 1, "50"))
        await service.on_stop()

    asyncio.run(scenario())

    changes = [(e.instrument_id, e.previous, e.regime) for e in rec.of(RegimeChanged)]
    assert changes == [("ABC.SIM", "UNKNOWN", "TRENDING"), ("ABC.SIM", "TRENDING", "RANGING")]
    assert service.regime(ABC.id) is Regime.RANGING
    assert service.regime(XYZ.id) is Regime.UNKNOWN
    assert service.regime(Equity("NEW.SIM").id) is Regime.UNKNOWN
    sma = service.indicator(ABC.id, "sma")
    assert sma is not None
    assert sma.value == pytest.approx((15 + 14 + 16) / 3)  # the last three closes
    assert service.instruments == [ABC.id, XYZ.id]
    metrics = service.metrics()
    assert (metrics["bars"], metrics["instruments"], metrics["regime_changes"]) == (12, 2, 2)
    assert (metrics["instruments_ranging"], metrics["instruments_unknown"]) == (1, 1)


def test_only_bars_of_the_configured_spec_and_instruments_are_read() -> None:
    rec = Recorder()
    service = service_on(rec, instruments=[ABC.id])

    async def scenario() -> None:
        await service.on_start()
        rec.bus.publish(bar(ABC, 1, "10"))
        rec.bus.publish(bar(ABC, 5, "99", spec="5-MINUTE"))
        rec.bus.publish(bar(XYZ, 1, "50"))

    asyncio.run(scenario())
    assert service.instruments == [ABC.id]
    assert service.bars == 1
    sma = service.indicator(ABC.id, "sma")
    assert sma is not None
    assert sma.count == 1
    assert service.indicator(XYZ.id, "sma") is None


def test_a_strategy_reading_indicators_on_a_bar_sees_that_bar_included() -> None:
    rec = Recorder()
    service = service_on(rec)
    seen: list[float] = []

    def strategy_on_bar(b: Bar) -> None:  # a strategy's handler runs at priority 0
        sma = service.indicator(b.instrument_id, "sma")
        assert sma is not None
        seen.append(sma.value)

    rec.bus.subscribe(Bar, strategy_on_bar)

    async def scenario() -> None:
        await service.on_start()
        for minute, close in enumerate(["10", "11", "12", "16"], start=1):
            rec.bus.publish(bar(ABC, minute, close))

    asyncio.run(scenario())
    assert seen[2:] == [pytest.approx(11.0), pytest.approx(13.0)]


def test_a_stopped_service_reads_no_bars_and_a_restart_keeps_what_it_knew() -> None:
    rec = Recorder()
    service = service_on(rec)

    async def scenario() -> None:
        await service.on_start()
        rec.bus.publish(bar(ABC, 1, "10"))
        await service.on_stop()
        rec.bus.publish(bar(ABC, 2, "11"))
        await service.on_start()
        rec.bus.publish(bar(ABC, 3, "12"))

    asyncio.run(scenario())
    sma = service.indicator(ABC.id, "sma")
    assert sma is not None
    assert sma.count == 2


def test_bad_settings_and_unknown_indicators_are_refused_by_name() -> None:
    with pytest.raises(ValueRangeError, match="trend_threshold"):
        RegimeSettings(trend_threshold=1.5)
    rec = Recorder()
    service = service_on(rec)
    with pytest.raises(TradeloopError, match="no indicator 'ema' is configured \\(indicators: sma\\)"):
        service.indicator(ABC.id, "ema")
