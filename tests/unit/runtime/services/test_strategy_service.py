"""The strategy service: registers, starts and stops real strategies; isolates a faulty one."""

from __future__ import annotations

import asyncio

import pytest

from tradeloop.core.component import ComponentState
from tradeloop.core.errors import TradeloopError
from tradeloop.core.message import HandlerFailed
from tradeloop.model.data import Bar, BarSpec
from tradeloop.model.events import ComponentStateChanged
from tradeloop.model.instruments import Equity
from tradeloop.runtime.services import ServiceStartError, ServiceState, StrategyService
from tradeloop.strategy import Strategy, StrategyConfig
from tradeloop.testkit import make_bar

from .kit import Desk, Recorder

ABC = Equity("ABC.SIM")
MINUTE = BarSpec.parse("1-MINUTE")


class BarCounter(Strategy):
    def __init__(self, strategy_id: str, *, broken: bool = False, instrument: str = "ABC.SIM") -> None:
        super().__init__(StrategyConfig(strategy_id=strategy_id))
        self.broken = broken
        self.instrument_name = instrument
        self.bars: list[Bar] = []

    def on_start(self) -> None:
        if self.broken:
            raise ZeroDivisionError("bad warm-up")
        self.subscribe_bars(self.instrument_name, MINUTE)

    def on_bar(self, bar: Bar) -> None:
        self.bars.append(bar)


def rig() -> tuple[Recorder, Desk]:
    rec = Recorder()
    desk = Desk(rec, (ABC,))
    desk.router.declare(Bar, ABC.id, MINUTE)
    return rec, desk


def bar(minute: int) -> Bar:
    return make_bar(ABC, "10", "11", "9", "10.5", ts_ns=minute * 60 * 10**9)


def test_strategies_start_with_the_service_trade_while_it_runs_and_stop_with_it() -> None:
    rec, desk = rig()
    first, second = BarCounter("S-1"), BarCounter("S-2")
    service = StrategyService(desk.context, [first, second])
    orch = rec.orchestrator()
    orch.add(service)

    async def scenario() -> None:
        await orch.start()
        assert [s.state for s in service.strategies] == [ComponentState.RUNNING] * 2
        rec.bus.publish(bar(1))
        await orch.stop()
        rec.bus.publish(bar(2))

    asyncio.run(scenario())

    assert [len(first.bars), len(second.bars)] == [1, 1]  # the bar after stop reached nobody
    assert [s.state for s in service.strategies] == [ComponentState.STOPPED] * 2
    changes = [(e.component, e.state) for e in rec.of(ComponentStateChanged)]
    assert changes == [
        ("S-1", "STARTING"),
        ("S-1", "RUNNING"),
        ("S-2", "STARTING"),
        ("S-2", "RUNNING"),
        ("S-2", "STOPPING"),  # stopped in reverse
        ("S-2", "STOPPED"),
        ("S-1", "STOPPING"),
        ("S-1", "STOPPED"),
    ]
    assert service.metrics() == {"strategies": 2, "running": 0, "faulted": 0, "start_failures": 0}


def test_a_strategy_that_raises_on_start_is_isolated_and_a_restart_resets_and_starts_it() -> None:
    rec, desk = rig()
    good, bad = BarCounter("S-1"), BarCounter("S-2", broken=True)
    service = StrategyService(desk.context, [good, bad])
    orch = rec.orchestrator()
    orch.add(service)

    async def scenario() -> None:
        await orch.start()
        assert (good.state, bad.state) == (ComponentState.RUNNING, ComponentState.FAULTED)
        await orch.check_health()
        assert service.state is ServiceState.DEGRADED
        assert orch.health()["services"]["strategies"]["detail"] == "health: S-2 is FAULTED"
        assert service.metrics()["faulted"] == 1
        bad.broken = False  # the fix is deployed
        assert await orch.restart("strategies", "operator restart")
        assert (good.state, bad.state) == (ComponentState.RUNNING, ComponentState.RUNNING)
        await orch.check_health()
        assert service.state is ServiceState.RUNNING
        rec.bus.publish(bar(1))
        await orch.stop()

    asyncio.run(scenario())
    (failure,) = rec.of(HandlerFailed)
    assert (failure.handler, failure.error) == ("S-2.on_start", "ZeroDivisionError: bad warm-up")
    assert (len(good.bars), len(bad.bars)) == (1, 1)
    assert service.start_failures == 1


def test_a_strategy_asking_for_data_the_node_lacks_fails_the_service_without_retries() -> None:
    rec, desk = rig()
    service = StrategyService(desk.context, [BarCounter("S-1", instrument="XYZ.SIM")])
    orch = rec.orchestrator()
    orch.add(service)

    with pytest.raises(
        ServiceStartError, match="strategy S-1 cannot start: bars requested for unknown instrument"
    ):
        asyncio.run(orch.start())
    assert orch.metrics()["restarts"] == {"strategies": 0}


def test_strategies_added_while_running_start_at_once_and_removed_ones_stop() -> None:
    rec, desk = rig()
    service = StrategyService(desk.context)
    orch = rec.orchestrator()
    orch.add(service)
    late = BarCounter("S-9")

    async def scenario() -> None:
        await orch.start()
        service.add(late)
        assert late.state is ComponentState.RUNNING
        rec.bus.publish(bar(1))
        assert service.remove("S-9") is late
        rec.bus.publish(bar(2))
        await orch.stop()

    asyncio.run(scenario())
    assert late.state is ComponentState.STOPPED
    assert len(late.bars) == 1
    assert service.strategies == ()
    with pytest.raises(KeyError, match="no strategy 'S-9'"):
        service.strategy("S-9")


def test_two_strategies_with_one_id_are_refused() -> None:
    _, desk = rig()
    service = StrategyService(desk.context, [BarCounter("S-1")])
    with pytest.raises(TradeloopError, match="two strategies share the id S-1"):
        service.add(BarCounter("S-1"))
