"""Shared pieces of the service tests: a bus that records, a wait helper, scripted services,
and the real trading components (portfolio, execution, risk, data router) on that bus."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from tradeloop.core.bus import MessageBus
from tradeloop.core.ids import AccountId
from tradeloop.core.message import Command, Event
from tradeloop.execution import ExecutionEngine
from tradeloop.model.account import Account
from tradeloop.model.instruments import Instrument
from tradeloop.model.objects import Money
from tradeloop.portfolio import Portfolio
from tradeloop.risk import RiskEngine
from tradeloop.runtime import DataRouter
from tradeloop.runtime.services import (
    Backoff,
    HealthReport,
    Orchestrator,
    Service,
    ServiceStateChanged,
)
from tradeloop.strategy import StrategyContext
from tradeloop.testkit import TestClock, id_factory

M = TypeVar("M")

FAST = Backoff(initial_s=0.01, max_s=0.04, factor=2.0)


class Recorder:
    """A bus (auto-drain, like a backtest's) and every event and command it carried."""

    def __init__(self, start_ns: int = 1_000_000_000) -> None:
        self.clock = TestClock(start_ns)
        self.ids = id_factory(7)
        self.bus = MessageBus(self.clock, self.ids)
        self.seen: list[Any] = []
        self.bus.subscribe(Event, self.seen.append, priority=-1)
        self.bus.subscribe(Command, self.seen.append, priority=-1)

    def of(self, kind: type[M]) -> list[M]:
        return [m for m in self.seen if isinstance(m, kind)]

    def transitions(self, service: str) -> list[tuple[str, str]]:
        return [(e.previous, e.state) for e in self.of(ServiceStateChanged) if e.service == service]

    def orchestrator(self, **options: Any) -> Orchestrator:
        settings: dict[str, Any] = {
            "health_interval_s": 60.0,  # tests run checks by hand unless they set it
            "restart_backoff": FAST,
            "max_restarts": 3,
            "restart_window_s": 60.0,
            "stop_timeout_s": 1.0,
        }
        settings.update(options)
        return Orchestrator(self.bus, self.clock, self.ids, **settings)


async def until(condition: Callable[[], bool], timeout: float = 2.0) -> None:
    """Wait (polling the loop) until ``condition()`` holds; fail the test after ``timeout``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        await asyncio.sleep(0.002)


class Scripted(Service):
    """A service that records its hooks in a shared journal and does what a test tells it."""

    def __init__(
        self,
        name: str,
        journal: list[str],
        *,
        depends_on: tuple[str, ...] = (),
        fail_starts: int = 0,
        start_error: Exception | None = None,
    ) -> None:
        super().__init__(name, depends_on=depends_on)
        self.journal = journal
        self.fail_starts = fail_starts
        self.start_error = start_error or RuntimeError(f"{name} cannot connect")
        self.report = HealthReport.ok()
        self.start_times: list[float] = []
        self.counter = 0

    async def on_start(self) -> None:
        self.start_times.append(asyncio.get_running_loop().time())
        self.journal.append(f"start {self.name}")
        if self.fail_starts:
            self.fail_starts -= 1
            raise self.start_error

    async def on_stop(self) -> None:
        self.journal.append(f"stop {self.name}")

    async def health(self) -> HealthReport:
        return self.report

    def metrics(self) -> Mapping[str, float | int]:
        return {"counter": self.counter}


class Crashing(Scripted):
    """A service whose background task raises after ``crash_after_s`` (every run)."""

    def __init__(self, name: str, journal: list[str], *, crash_after_s: float = 0.0, **kw: Any) -> None:
        super().__init__(name, journal, **kw)
        self.crash_after_s = crash_after_s
        self.crash = True
        self.runs = 0

    async def run(self) -> None:
        self.runs += 1
        await asyncio.sleep(self.crash_after_s)
        if self.crash:
            raise ConnectionError(f"{self.name} lost its connection")
        await asyncio.Event().wait()  # healthy: work until cancelled


class Desk:
    """The real trading components a strategy or risk service needs, on a recorder's bus."""

    def __init__(self, rec: Recorder, instruments: tuple[Instrument, ...]) -> None:
        self.instruments = {i.id: i for i in instruments}
        self.portfolio = Portfolio(
            rec.bus,
            rec.clock,
            rec.ids,
            Account(AccountId("SIM-001"), Money.from_str("100000", "USD")),
            instruments,
        )
        self.execution = ExecutionEngine(rec.bus, rec.clock, rec.ids)
        self.risk = RiskEngine(rec.bus, rec.clock, rec.ids, self.portfolio, self.execution)
        self.router = DataRouter(rec.bus, self.instruments)
        self.context = StrategyContext(
            bus=rec.bus,
            clock=rec.clock,
            ids=rec.ids,
            portfolio=self.portfolio,
            execution=self.execution,
            instruments=self.instruments,
            data=self.router,
        )
