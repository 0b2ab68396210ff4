"""The trade execution service: authorisation answers, operator blocks, health while blocked."""

from __future__ import annotations

import asyncio

from tradeloop.core.ids import InstrumentId
from tradeloop.model.instruments import Equity
from tradeloop.risk import TradingAuthorized, TradingBlocked, TradingState, TradingStateChanged
from tradeloop.runtime.services import HealthStatus, ServiceState, TradeExecutionService

from .kit import Desk, Recorder

ABC = Equity("ABC.SIM")
XYZ = Equity("XYZ.SIM")


def rig() -> tuple[Recorder, Desk, TradeExecutionService]:
    rec = Recorder()
    desk = Desk(rec, (ABC, XYZ))
    return rec, desk, TradeExecutionService(desk.risk, rec.bus)


def test_a_breaker_block_on_one_instrument_degrades_health_until_it_is_lifted() -> None:
    rec, desk, service = rig()
    orch = rec.orchestrator()
    orch.add(service)

    async def scenario() -> None:
        await orch.start()
        assert service.authorised(ABC.id)
        desk.risk.authorisation.block(ABC.id, "breaker:venue_errors", "5 venue errors in 60 s")
        assert not service.authorised(ABC.id)
        assert service.authorised(XYZ.id)
        assert service.why_not(ABC.id) == "ABC.SIM blocked (breaker:venue_errors: 5 venue errors in 60 s)"
        assert service.why_not(XYZ.id) is None
        await orch.check_health()
        assert service.state is ServiceState.DEGRADED
        assert orch.health()["services"]["execution"]["detail"] == (
            "health: ABC.SIM blocked by breaker:venue_errors: 5 venue errors in 60 s"
        )
        desk.risk.authorisation.lift(ABC.id, "breaker:venue_errors", "error rate cleared")
        await orch.check_health()
        assert service.state is ServiceState.RUNNING
        await orch.stop()

    asyncio.run(scenario())
    assert len(rec.of(TradingBlocked)) == 1  # the risk engine's event, not re-published here
    assert len(rec.of(TradingAuthorized)) == 1
    metrics = service.metrics()
    assert (metrics["blocks"], metrics["authorisations"], metrics["blocks_in_force"]) == (1, 1, 0)
    assert service.last_block == "ABC.SIM: breaker:venue_errors: 5 venue errors in 60 s"


def test_an_operator_block_on_every_instrument_is_published_once_through_the_risk_engine() -> None:
    rec, _, service = rig()

    async def scenario() -> None:
        await service.on_start()
        assert service.block(None, "exchange maintenance")
        assert not service.block(None, "exchange maintenance")  # already in force: no second event
        assert not service.authorised(ABC.id)
        assert not service.authorised(InstrumentId("ANY.SIM"))
        health = await service.health()
        assert health.status is HealthStatus.DEGRADED
        assert health.detail == "every instrument blocked by operator: exchange maintenance"
        assert service.authorise(None, "maintenance over")
        assert not service.authorise(None, "maintenance over")
        assert service.authorised(ABC.id)
        await service.on_stop()

    asyncio.run(scenario())
    (blocked,) = rec.of(TradingBlocked)
    assert (blocked.instrument_id, blocked.source, blocked.reason) == (
        None,
        "operator",
        "exchange maintenance",
    )
    (authorised,) = rec.of(TradingAuthorized)
    assert authorised.blocked_by == ()
    assert service.metrics()["blocks"] == 1


def test_a_halted_trading_state_refuses_every_instrument_and_is_counted() -> None:
    rec, desk, service = rig()

    async def scenario() -> None:
        await service.on_start()
        desk.risk.set_trading_state(TradingState.HALTED, "kill switch")
        assert not service.authorised(ABC.id)
        assert service.why_not(ABC.id) == "trading state HALTED: kill switch"
        assert (await service.health()).detail == "trading state HALTED (kill switch)"
        assert service.metrics()["trading_state"] == 2
        desk.risk.set_trading_state(TradingState.ACTIVE, "reset by operator")
        assert service.authorised(ABC.id)
        assert (await service.health()).status is HealthStatus.OK
        await service.on_stop()
        desk.risk.set_trading_state(TradingState.REDUCING, "after stop: not counted")

    asyncio.run(scenario())
    assert len(rec.of(TradingStateChanged)) == 3
    assert service.state_changes == 2
    assert service.metrics()["trading_state"] == 1
