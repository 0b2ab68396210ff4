"""The cycle scheduler: step order and latencies, bounded analysis, error isolation, no overlap."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field

import pytest

from tradeloop.core.errors import TradeloopError
from tradeloop.core.message import HandlerFailed
from tradeloop.runtime.services import (
    CYCLE_STEPS,
    CycleCompleted,
    CycleResult,
    CycleScheduler,
    CycleSteps,
    HealthStatus,
)

from .kit import Recorder, until

MS = 1_000_000


@dataclass
class Desk:
    """A scanning strategy's steps: markets are symbols, an opportunity is (edge, symbol)."""

    markets: list[str] = field(default_factory=lambda: [f"M{i}" for i in range(12)])
    scan_delay: float = 0.0
    analyse_delay: float = 0.0
    fail_in: str | None = None
    journal: list[str] = field(default_factory=list)
    executed: list[tuple[float, str]] = field(default_factory=list)
    broadcasts: list[CycleResult[tuple[float, str]]] = field(default_factory=list)
    active_analyses: int = 0
    peak_analyses: int = 0
    active_scans: int = 0
    peak_scans: int = 0

    def _step(self, name: str) -> None:
        self.journal.append(name)
        if self.fail_in == name:
            raise RuntimeError(f"{name} broke")

    async def update_portfolio(self) -> None:
        self._step("portfolio")

    async def adjust_risk(self) -> None:
        self._step("risk")

    async def scan(self) -> Sequence[str]:
        self._step("scan")
        self.active_scans += 1
        self.peak_scans = max(self.peak_scans, self.active_scans)
        try:
            await asyncio.sleep(self.scan_delay)
        finally:
            self.active_scans -= 1
        return self.markets

    async def analyse(self, market: str) -> tuple[float, str] | None:
        self.active_analyses += 1
        self.peak_analyses = max(self.peak_analyses, self.active_analyses)
        try:
            await asyncio.sleep(self.analyse_delay)
        finally:
            self.active_analyses -= 1
        number = int(market[1:])
        return (number / 10, market) if number % 3 == 0 else None  # every third market has an edge

    async def risk_filter(self, found: Sequence[tuple[float, str]]) -> Sequence[tuple[float, str]]:
        self._step("filter")
        return sorted((f for f in found if f[0] < 1.0), reverse=True)  # risk caps the edge it believes

    async def execute(self, candidates: Sequence[tuple[float, str]]) -> int:
        self._step("execute")
        self.executed.extend(candidates[:1])  # the best only
        return len(candidates[:1])

    async def broadcast(self, result: CycleResult[tuple[float, str]]) -> None:
        self._step("broadcast")
        self.broadcasts.append(result)

    def steps(self) -> CycleSteps[str, tuple[float, str]]:
        return CycleSteps(
            scan=self.scan,
            analyse=self.analyse,
            update_portfolio=self.update_portfolio,
            adjust_risk=self.adjust_risk,
            risk_filter=self.risk_filter,
            execute=self.execute,
            broadcast=self.broadcast,
        )


def scheduler(rec: Recorder, desk: Desk, **options: object) -> CycleScheduler[str, tuple[float, str]]:
    return CycleScheduler(desk.steps(), rec.bus, rec.clock, rec.ids, **options)  # type: ignore[arg-type]


def test_a_cycle_runs_every_step_in_order_and_reports_each_latency() -> None:
    rec = Recorder()
    desk = Desk(scan_delay=0.02)
    cycles = scheduler(rec, desk)

    event = asyncio.run(cycles.run_cycle())

    assert desk.journal == ["portfolio", "risk", "scan", "filter", "execute", "broadcast"]
    assert event.ok
    assert (event.failed_step, event.error) == (None, None)
    assert list(event.step_latency_ns) == list(CYCLE_STEPS)
    assert event.step_latency_ns["scan"] >= 20 * MS
    assert event.total_ns >= sum(event.step_latency_ns.values())
    # M0, M3, M6, M9 have edges 0.0, 0.3, 0.6, 0.9; all under the cap; the best is M9
    assert (event.markets, event.opportunities, event.candidates, event.executed) == (12, 4, 4, 1)
    assert desk.executed == [(0.9, "M9")]
    (result,) = desk.broadcasts
    assert (result.cycle, result.executed, result.candidates[0]) == (1, 1, (0.9, "M9"))
    assert result.correlation_id == event.correlation_id
    assert rec.of(CycleCompleted) == [event]


def test_only_the_required_steps_are_needed_and_only_steps_that_ran_are_timed() -> None:
    rec = Recorder()
    desk = Desk()
    cycles: CycleScheduler[str, tuple[float, str]] = CycleScheduler(
        CycleSteps(scan=desk.scan, analyse=desk.analyse), rec.bus, rec.clock, rec.ids
    )
    event = asyncio.run(cycles.run_cycle())
    assert list(event.step_latency_ns) == ["scan", "analysis"]
    assert (event.opportunities, event.candidates, event.executed) == (4, 4, 0)


def test_latency_percentiles_over_the_window_show_the_slow_cycle_at_p95_not_p50() -> None:
    rec = Recorder()
    desk = Desk(markets=["M1"])
    cycles = scheduler(rec, desk, latency_window=10)

    async def scenario() -> None:
        for n in range(12):  # the first two fall out of the window of ten
            desk.scan_delay = 0.03 if n == 6 else 0.0
            await cycles.run_cycle()

    asyncio.run(scenario())
    scan = cycles.latency("scan")
    assert scan is not None
    assert scan.count == 10
    assert scan.p95_ns >= 30 * MS > scan.p50_ns
    assert scan.last_ns < 30 * MS
    assert cycles.latencies()["cycle"].p95_ns >= 30 * MS
    metrics = cycles.metrics()
    assert metrics["cycles"] == 12
    assert metrics["scan_p95_ns"] == scan.p95_ns
    with pytest.raises(KeyError, match="unknown cycle step 'scanning'"):
        cycles.latency("scanning")


def test_markets_are_analysed_concurrently_but_never_more_than_the_bound() -> None:
    rec = Recorder()
    desk = Desk(markets=[f"M{i}" for i in range(20)], analyse_delay=0.01)
    cycles = scheduler(rec, desk, concurrency=3)

    event = asyncio.run(cycles.run_cycle())

    assert desk.peak_analyses == 3
    assert event.step_latency_ns["analysis"] >= 7 * 10 * MS  # ceil(20 / 3) rounds of 10 ms
    assert event.opportunities == 7


def test_a_step_that_raises_ends_its_cycle_is_reported_and_the_next_cycle_runs() -> None:
    rec = Recorder()
    desk = Desk(fail_in="filter")
    cycles = scheduler(rec, desk)

    async def scenario() -> tuple[CycleCompleted, CycleCompleted]:
        first = await cycles.run_cycle()
        desk.fail_in = None
        return first, await cycles.run_cycle()

    failed, ok = asyncio.run(scenario())

    assert not failed.ok
    assert (failed.failed_step, failed.error) == ("filter", "RuntimeError: filter broke")
    assert list(failed.step_latency_ns) == ["portfolio", "risk", "scan", "analysis", "filter"]
    assert desk.journal[: desk.journal.index("filter") + 1].count("execute") == 0
    (report,) = rec.of(HandlerFailed)
    assert (report.handler, report.message_type, report.error) == (
        "cycle-scheduler.filter",
        "cycle 1",
        "RuntimeError: filter broke",
    )
    assert report.correlation_id == failed.correlation_id
    assert ok.ok
    assert ok.cycle == 2
    assert (cycles.cycles, cycles.cycles_failed) == (2, 1)


def test_execute_must_report_a_count() -> None:
    rec = Recorder()
    desk = Desk()

    async def sloppy(candidates: Sequence[tuple[float, str]]) -> int:
        return "done"  # type: ignore[return-value]

    steps = CycleSteps(scan=desk.scan, analyse=desk.analyse, execute=sloppy)
    cycles: CycleScheduler[str, tuple[float, str]] = CycleScheduler(steps, rec.bus, rec.clock, rec.ids)
    event = asyncio.run(cycles.run_cycle())
    assert event.failed_step == "execute"
    assert event.error == "TradeloopError: execute must return a count >= 0, got 'done'"


def test_one_market_whose_analysis_raises_or_hangs_does_not_blind_the_cycle_to_the_others() -> None:
    rec = Recorder()
    desk = Desk(markets=["M0", "M3", "BAD", "SLOW", "M6"])

    async def analyse(market: str) -> tuple[float, str] | None:
        if market == "BAD":
            raise ValueError("no order book")
        if market == "SLOW":
            await asyncio.sleep(10)
        return await desk.analyse(market)

    steps = CycleSteps(scan=desk.scan, analyse=analyse, execute=desk.execute)
    cycles: CycleScheduler[str, tuple[float, str]] = CycleScheduler(
        steps, rec.bus, rec.clock, rec.ids, analysis_timeout_s=0.02
    )
    event = asyncio.run(cycles.run_cycle())

    assert event.ok
    assert (event.markets, event.opportunities, event.analysis_errors) == (5, 3, 2)
    assert cycles.metrics()["analysis_errors"] == 2


def test_cycles_never_overlap_a_slow_cycle_skips_ticks_and_reads_degraded() -> None:
    rec = Recorder()
    desk = Desk(markets=["M3"], scan_delay=0.035)
    cycles = scheduler(rec, desk, interval_s=0.01)
    orch = rec.orchestrator()
    orch.add(cycles)

    async def scenario() -> None:
        await orch.start()
        await until(lambda: cycles.cycles >= 2 and cycles.ticks_skipped >= 4)
        await orch.check_health()
        assert cycles.state.value == "DEGRADED"
        assert "longer than the 0.01 s interval" in orch.health()["services"]["cycle-scheduler"]["detail"]
        with pytest.raises(TradeloopError, match="already running"):
            await cycles.run_cycle()
        await orch.stop()

    asyncio.run(scenario())
    assert desk.peak_scans == 1
    assert cycles.metrics()["ticks_skipped"] == cycles.ticks_skipped


def test_a_fast_cycle_runs_on_every_tick_and_stopping_cancels_the_cycle_in_flight() -> None:
    rec = Recorder()
    desk = Desk(markets=["M3"])
    cycles = scheduler(rec, desk, interval_s=0.04)
    orch = rec.orchestrator()
    orch.add(cycles)

    async def scenario() -> None:
        await orch.start()
        await until(lambda: cycles.cycles >= 3)
        assert cycles.ticks_skipped == 0
        assert (await cycles.health()).status is HealthStatus.OK
        desk.scan_delay = 10.0
        await until(lambda: cycles.is_cycle_running)
        await orch.stop(timeout=0.5)

    asyncio.run(scenario())
    assert not cycles.is_cycle_running
    assert cycles.state.value == "STOPPED"


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"interval_s": 0}, "interval_s"),
        ({"interval_s": float("inf")}, "interval_s"),
        ({"concurrency": 0}, "concurrency"),
        ({"latency_window": 1.5}, "latency_window"),
        ({"analysis_timeout_s": -1}, "analysis_timeout_s"),
    ],
)
def test_bad_scheduler_settings_are_refused_with_their_name(options: dict[str, object], message: str) -> None:
    with pytest.raises(TradeloopError, match=message):
        scheduler(Recorder(), Desk(), **options)
