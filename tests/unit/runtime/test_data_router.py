"""DataRouter: serves bar subscriptions from bars the run has, or aggregates them from ticks."""

from __future__ import annotations

import pytest

from tradeloop.core.bus import MessageBus
from tradeloop.core.clock import NANOS_PER_SECOND
from tradeloop.core.errors import TradeloopError
from tradeloop.model.data import Bar, BarSpec, QuoteTick, TradeTick
from tradeloop.model.instruments import Equity
from tradeloop.model.objects import Price, Quantity
from tradeloop.runtime import DataRouter
from tradeloop.testkit import TestClock, id_factory, make_quote, make_trade

SEC = NANOS_PER_SECOND
ABC = Equity("ABC.SIM")
XYZ = Equity("XYZ.SIM")
MINUTE = BarSpec.parse("1-MINUTE")


class Rig:
    def __init__(self) -> None:
        self.bus = MessageBus(TestClock(), id_factory(1))
        self.router = DataRouter(self.bus, {ABC.id: ABC, XYZ.id: XYZ})
        self.bars: list[Bar] = []
        self.bus.subscribe(Bar, self.bars.append)

    def trade(self, seconds: int, price: str, size: int = 1) -> None:
        self.bus.publish(make_trade(ABC, price, size, ts_ns=seconds * SEC))


def test_bars_are_aggregated_from_trade_ticks_when_the_run_has_no_such_bars() -> None:
    rig = Rig()
    rig.router.declare(TradeTick, ABC.id)
    rig.router.subscribe_bars(ABC.id, MINUTE)

    for seconds, price, size in [
        (10, "10.00", 1),
        (50, "10.50", 2),
        (55, "9.90", 3),
        (70, "10.10", 4),
        (130, "11", 1),
    ]:
        rig.trade(seconds, price, size)

    first, second = rig.bars  # the bar of [120 s, 180 s) is still open
    assert (first.ts_event, first.spec, first.instrument_id) == (60 * SEC, MINUTE, ABC.id)
    assert (first.open, first.high, first.low, first.close) == tuple(
        Price.from_str(p) for p in ("10.00", "10.50", "9.90", "9.90")
    )
    assert first.volume == Quantity.from_int(6)
    assert (second.ts_event, second.close, second.volume) == (
        120 * SEC,
        Price.from_str("10.10"),
        Quantity.from_int(4),
    )


def test_bars_are_aggregated_from_quote_mids_when_the_run_has_only_quotes() -> None:
    rig = Rig()
    rig.router.declare(QuoteTick, ABC.id)
    rig.router.subscribe_bars(ABC.id, MINUTE)

    rig.bus.publish(make_quote(ABC, "10.00", "10.01", ts_ns=10 * SEC))
    rig.bus.publish(make_quote(ABC, "10.02", "10.04", ts_ns=61 * SEC))

    (bar,) = rig.bars
    assert bar.close == Price.from_str("10.005")  # the exact mid, one decimal finer than the tick
    assert bar.volume == Quantity.from_int(0)


def test_bars_the_run_already_has_are_not_aggregated_again() -> None:
    rig = Rig()
    rig.router.declare(TradeTick, ABC.id)
    rig.router.declare(Bar, ABC.id, MINUTE)
    rig.router.subscribe_bars(ABC.id, MINUTE)

    rig.trade(10, "10.00")
    rig.trade(70, "10.00")

    assert rig.bars == []


def test_subscribing_twice_and_to_a_second_spec_makes_one_aggregator_per_spec() -> None:
    rig = Rig()
    rig.router.declare(TradeTick, ABC.id)
    rig.router.subscribe_bars(ABC.id, MINUTE)
    rig.router.subscribe_bars(ABC.id, MINUTE)
    rig.router.subscribe_bars(ABC.id, BarSpec.parse("2-MINUTE"))

    for seconds in (10, 70, 130):
        rig.trade(seconds, "10.00")

    assert [(b.spec.step, b.ts_event // SEC) for b in rig.bars] == [(1, 60), (1, 120), (2, 120)]


def test_ticks_of_other_instruments_do_not_reach_an_aggregator() -> None:
    rig = Rig()
    rig.router.declare(TradeTick, ABC.id)
    rig.router.declare(TradeTick, XYZ.id)
    rig.router.subscribe_bars(ABC.id, MINUTE)

    rig.bus.publish(make_trade(XYZ, "50.00", ts_ns=10 * SEC))
    rig.bus.publish(make_trade(XYZ, "50.00", ts_ns=70 * SEC))

    assert rig.bars == []


def test_bars_without_data_to_serve_them_are_refused_naming_what_the_run_has() -> None:
    rig = Rig()
    rig.router.declare(Bar, ABC.id, BarSpec.parse("5-MINUTE"))
    rig.router.declare(TradeTick, XYZ.id)

    with pytest.raises(TradeloopError) as info:
        rig.router.subscribe_bars(ABC.id, MINUTE)

    assert str(info.value) == (
        "no data to serve 1-MINUTE bars of ABC.SIM: the run has Bar ABC.SIM 5-MINUTE, TradeTick XYZ.SIM"
    )


def test_bars_of_an_unknown_instrument_are_refused() -> None:
    rig = Rig()
    with pytest.raises(TradeloopError, match=r"bars requested for unknown instrument NOPE\.SIM"):
        rig.router.subscribe_bars(ABC.id.replace("ABC", "NOPE"), MINUTE)  # type: ignore[arg-type]


def test_tick_subscriptions_need_ticks_of_that_kind_in_the_run() -> None:
    rig = Rig()
    rig.router.declare(TradeTick, ABC.id)
    rig.router.subscribe_trade_ticks(ABC.id)

    with pytest.raises(TradeloopError, match=r"the run has no quote ticks of ABC\.SIM"):
        rig.router.subscribe_quote_ticks(ABC.id)
    with pytest.raises(TradeloopError, match=r"the run has no trade ticks of XYZ\.SIM"):
        rig.router.subscribe_trade_ticks(XYZ.id)
