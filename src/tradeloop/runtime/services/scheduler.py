"""A periodic trading cycle for strategies that scan rather than react.

Every ``interval_s`` one cycle runs its steps in order::

    portfolio -> risk -> scan -> analysis (one task per market, at most ``concurrency`` at
    once) -> filter -> execute -> broadcast

Each step is an async callable of :class:`CycleSteps`; only ``scan`` and ``analyse`` are
required. The data flows along: ``scan`` returns the markets, ``analyse`` turns one market
into an opportunity (or ``None``: nothing there), ``risk_filter`` keeps the opportunities risk
allows, ``execute`` acts on the best of them and returns how many it acted on, ``broadcast``
gets the :class:`CycleResult`.

Each step's latency is measured with ``perf_counter_ns`` and kept over a window (last, p50,
p95); every cycle publishes :class:`~tradeloop.runtime.services.events.CycleCompleted` with the
latency of each step that ran. A step that raises ends its cycle there: the error is in the
``CycleCompleted`` and reported through the bus as ``HandlerFailed`` (counted and logged with
the cycle's correlation id), and the next cycle runs as usual. The analysis of one market that
raises or times out is isolated instead: it is counted, and the other markets are analysed.

Cycles never overlap: a tick that comes while a cycle is still running is skipped and counted
(``ticks_skipped``), so a slow cycle delays the next one rather than piling up behind it.
The interval is wall-clock time on the event loop's monotonic clock. The service reads
DEGRADED while its latest cycle failed or took longer than the interval.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Final, Generic, TypeVar

from tradeloop.core.bus import MessageBus
from tradeloop.core.clock import Clock
from tradeloop.core.errors import TradeloopError
from tradeloop.core.ids import IdFactory
from tradeloop.runtime.services.events import CycleCompleted
from tradeloop.runtime.services.service import HealthReport, Service

__all__ = ["CYCLE_STEPS", "CycleResult", "CycleScheduler", "CycleSteps", "StepLatency"]

_log = logging.getLogger("tradeloop.services.cycle")

M = TypeVar("M")
A = TypeVar("A")
_R = TypeVar("_R")

CYCLE_STEPS: Final = ("portfolio", "risk", "scan", "analysis", "filter", "execute", "broadcast")
"""Step names, in the order a cycle runs them (the keys of ``step_latency_ns``)."""


@dataclass(frozen=True, slots=True)
class CycleResult(Generic[A]):
    """What one cycle found and did, handed to the broadcast step."""

    cycle: int
    correlation_id: str
    markets: int
    opportunities: tuple[A, ...]
    candidates: tuple[A, ...]
    executed: int


@dataclass(frozen=True, slots=True)
class CycleSteps(Generic[M, A]):
    """The pluggable steps of a cycle. ``M``: a market to analyse; ``A``: an opportunity.

    Attributes
    ----------
    scan:
        The markets to analyse this cycle.
    analyse:
        One market's opportunity, or ``None``. Runs concurrently for many markets.
    update_portfolio:
        Refresh balances and positions first (optional).
    adjust_risk:
        Adapt risk settings to the portfolio (optional).
    risk_filter:
        The opportunities risk allows, best first (optional: all pass, in analysis order).
    execute:
        Act on the best candidates; returns how many it acted on (optional).
    broadcast:
        Tell the world what the cycle did (optional).
    """

    scan: Callable[[], Awaitable[Sequence[M]]]
    analyse: Callable[[M], Awaitable[A | None]]
    update_portfolio: Callable[[], Awaitable[None]] | None = None
    adjust_risk: Callable[[], Awaitable[None]] | None = None
    risk_filter: Callable[[Sequence[A]], Awaitable[Sequence[A]]] | None = None
    execute: Callable[[Sequence[A]], Awaitable[int]] | None = None
    broadcast: Callable[[CycleResult[A]], Awaitable[None]] | None = None


@dataclass(frozen=True, slots=True)
class StepLatency:
    """Latency of one step over the window, in nanoseconds (percentiles by nearest rank)."""

    count: int
    last_ns: int
    p50_ns: int
    p95_ns: int


def _percentile(ordered: Sequence[int], q: float) -> int:
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def _positive(label: str, value: float) -> None:
    ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or value <= 0:
        raise TradeloopError(f"CycleScheduler: {label} must be a finite number > 0, got {value!r}")


class _StepFailed(Exception):
    def __init__(self, step: str, error: Exception) -> None:
        super().__init__(step)
        self.step = step
        self.error = error


class CycleScheduler(Service, Generic[M, A]):
    """Runs :class:`CycleSteps` every ``interval_s`` as a service (its ``run`` is the ticker).

    Parameters
    ----------
    steps:
        The cycle's steps.
    bus:
        Where ``CycleCompleted`` and step failures are published.
    clock:
        Timestamps of the published events.
    ids:
        Mints event ids and each cycle's correlation id.
    interval_s:
        Seconds between cycle starts (the first cycle starts at once).
    concurrency:
        Markets analysed at the same time, at most.
    analysis_timeout_s:
        How long the analysis of one market may take (``None``: no limit).
    latency_window:
        Cycles whose latencies the percentiles are computed over.
    name, depends_on:
        As for every :class:`~tradeloop.runtime.services.service.Service`.

    Raises
    ------
    TradeloopError
        If ``interval_s`` or ``analysis_timeout_s`` is not a finite positive number, or
        ``concurrency`` or ``latency_window`` is not an int of at least 1.
    """

    def __init__(
        self,
        steps: CycleSteps[M, A],
        bus: MessageBus,
        clock: Clock,
        ids: IdFactory,
        *,
        interval_s: float = 10.0,
        concurrency: int = 8,
        analysis_timeout_s: float | None = None,
        latency_window: int = 100,
        name: str = "cycle-scheduler",
        depends_on: Iterable[str] = (),
    ) -> None:
        super().__init__(name, depends_on=depends_on)
        _positive("interval_s", interval_s)
        if analysis_timeout_s is not None:
            _positive("analysis_timeout_s", analysis_timeout_s)
        for label, count in (("concurrency", concurrency), ("latency_window", latency_window)):
            if isinstance(count, bool) or not isinstance(count, int) or count < 1:
                raise TradeloopError(f"CycleScheduler: {label} must be an int >= 1, got {count!r}")
        self._steps = steps
        self._bus = bus
        self._clock = clock
        self._ids = ids
        self._interval_s = float(interval_s)
        self._concurrency = concurrency
        self._analysis_timeout_s = analysis_timeout_s
        self._window = latency_window
        self._latencies: dict[str, deque[int]] = {}
        self._inflight: asyncio.Task[CycleCompleted] | None = None
        self._busy = False
        self._correlation: str | None = None
        self.cycles = 0
        """Cycles run (completed or failed)."""
        self.cycles_failed = 0
        self.ticks_skipped = 0
        """Ticks that came while a cycle was still running."""
        self.analysis_errors = 0
        self.executed = 0
        self.last: CycleCompleted | None = None

    @property
    def interval_s(self) -> float:
        return self._interval_s

    @property
    def correlation_id(self) -> str | None:
        """The correlation id of the cycle running now (steps stamp their commands with it)."""
        return self._correlation

    @property
    def is_cycle_running(self) -> bool:
        return self._busy

    def latency(self, step: str) -> StepLatency | None:
        """Latency of ``step`` (a name of :data:`CYCLE_STEPS` or ``"cycle"``), ``None`` if never run."""
        if step not in CYCLE_STEPS and step != "cycle":
            raise KeyError(f"unknown cycle step {step!r} (steps: {', '.join(CYCLE_STEPS)}, cycle)")
        window = self._latencies.get(step)
        if not window:
            return None
        ordered = sorted(window)
        return StepLatency(len(window), window[-1], _percentile(ordered, 0.5), _percentile(ordered, 0.95))

    def latencies(self) -> dict[str, StepLatency]:
        """Latency of every step that ran, and of the whole cycle (``"cycle"``)."""
        found = {step: self.latency(step) for step in (*CYCLE_STEPS, "cycle")}
        return {step: lat for step, lat in found.items() if lat is not None}

    # -- the ticker ------------------------------------------------------------------------

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        next_at = loop.time()
        try:
            while True:
                previous = self._inflight
                if previous is not None and previous.done():
                    self._inflight = None
                    previous.result()  # a scheduler bug (not a step's error) crashes the service
                if self._busy or self._inflight is not None:
                    self.ticks_skipped += 1
                    _log.warning("%s: cycle %d still running, tick skipped", self.name, self.cycles)
                else:
                    self._inflight = asyncio.create_task(self.run_cycle(), name=f"{self.name}.cycle")
                next_at += self._interval_s
                now = loop.time()
                if now >= next_at + self._interval_s:
                    # The loop itself fell behind (it was blocked): those ticks were missed too.
                    missed = int((now - next_at) // self._interval_s)
                    self.ticks_skipped += missed
                    next_at += missed * self._interval_s
                await asyncio.sleep(max(0.0, next_at - now))
        finally:
            await self._cancel_inflight()

    async def on_stop(self) -> None:
        await self._cancel_inflight()

    async def _cancel_inflight(self) -> None:
        task, self._inflight = self._inflight, None
        if task is not None and not task.done():
            task.cancel()
            await asyncio.wait({task})

    # -- one cycle -------------------------------------------------------------------------

    async def run_cycle(self) -> CycleCompleted:
        """Run one cycle now and return (and publish) its ``CycleCompleted``.

        Raises
        ------
        TradeloopError
            If a cycle is already running (cycles never overlap).
        """
        if self._busy:
            raise TradeloopError(f"{self.name}: a cycle is already running")
        self._busy = True
        self.cycles += 1
        cycle = self.cycles
        correlation = self._correlation = self._ids.new_id()
        latencies: dict[str, int] = {}
        counts = [0, 0, 0, 0, 0]  # markets, opportunities, candidates, executed, analysis errors
        started = time.perf_counter_ns()
        failed: _StepFailed | None = None
        try:
            await self._steps_of(cycle, correlation, latencies, counts)
        except _StepFailed as exc:
            failed = exc
        finally:
            self._busy = False
            self._correlation = None
        total = time.perf_counter_ns() - started
        self._keep("cycle", total)
        markets, opportunities, candidates, executed, errors = counts
        self.analysis_errors += errors
        self.executed += executed
        now = self._clock.timestamp_ns()
        event = CycleCompleted(
            id=self._ids.new_id(),
            correlation_id=correlation,
            ts_event=now,
            ts_init=now,
            cycle=cycle,
            ok=failed is None,
            step_latency_ns=latencies,
            total_ns=total,
            markets=markets,
            opportunities=opportunities,
            candidates=candidates,
            executed=executed,
            analysis_errors=errors,
            failed_step=failed.step if failed is not None else None,
            error=f"{type(failed.error).__name__}: {failed.error}" if failed is not None else None,
        )
        self.last = event
        if failed is not None:
            self.cycles_failed += 1
            self._bus.report_failure(
                f"{self.name}.{failed.step}", f"cycle {cycle}", failed.error, correlation_id=correlation
            )
        self._bus.publish(event)
        return event

    async def _steps_of(
        self, cycle: int, correlation: str, latencies: dict[str, int], counts: list[int]
    ) -> None:
        steps = self._steps
        if steps.update_portfolio is not None:
            await self._timed("portfolio", steps.update_portfolio(), latencies)
        if steps.adjust_risk is not None:
            await self._timed("risk", steps.adjust_risk(), latencies)
        markets = await self._timed("scan", steps.scan(), latencies)
        counts[0] = len(markets)
        opportunities, errors = await self._timed("analysis", self._analyse_all(markets), latencies)
        counts[1] = len(opportunities)
        counts[4] = errors
        candidates: Sequence[A] = opportunities
        if steps.risk_filter is not None:
            candidates = await self._timed("filter", steps.risk_filter(opportunities), latencies)
        counts[2] = len(candidates)
        executed = 0
        if steps.execute is not None:
            executed = await self._timed("execute", steps.execute(candidates), latencies)
            if isinstance(executed, bool) or not isinstance(executed, int) or executed < 0:
                raise _StepFailed(
                    "execute", TradeloopError(f"execute must return a count >= 0, got {executed!r}")
                )
        counts[3] = executed
        if steps.broadcast is not None:
            result = CycleResult(
                cycle, correlation, len(markets), tuple(opportunities), tuple(candidates), executed
            )
            await self._timed("broadcast", steps.broadcast(result), latencies)

    async def _timed(self, step: str, work: Awaitable[_R], latencies: dict[str, int]) -> _R:
        started = time.perf_counter_ns()
        try:
            result = await work
        except Exception as exc:
            latencies[step] = time.perf_counter_ns() - started
            self._keep(step, latencies[step])
            raise _StepFailed(step, exc) from exc
        latencies[step] = elapsed = time.perf_counter_ns() - started
        self._keep(step, elapsed)
        return result

    async def _analyse_all(self, markets: Sequence[M]) -> tuple[list[A], int]:
        gate = asyncio.Semaphore(self._concurrency)
        analyse = self._steps.analyse
        timeout = self._analysis_timeout_s

        async def one(market: M) -> A | None:
            async with gate:
                if timeout is None:
                    return await analyse(market)
                return await asyncio.wait_for(analyse(market), timeout)

        results = await asyncio.gather(*(one(m) for m in markets), return_exceptions=True)
        found: list[A] = []
        errors = 0
        for market, result in zip(markets, results, strict=True):
            if isinstance(result, Exception):
                errors += 1
                _log.warning("%s: analysis of %r failed: %r", self.name, market, result)
            elif isinstance(result, BaseException):
                raise result
            elif result is not None:
                found.append(result)
        return found, errors

    def _keep(self, step: str, elapsed_ns: int) -> None:
        window = self._latencies.get(step)
        if window is None:
            window = self._latencies[step] = deque(maxlen=self._window)
        window.append(elapsed_ns)

    # -- health and metrics ----------------------------------------------------------------

    async def health(self) -> HealthReport:
        last = self.last
        if last is not None and not last.ok:
            return HealthReport.degraded(
                f"cycle {last.cycle} failed at step {last.failed_step}: {last.error}"
            )
        if last is not None and last.total_ns > self._interval_s * 1e9:
            return HealthReport.degraded(
                f"cycle {last.cycle} took {last.total_ns / 1e9:.3g} s, longer than the "
                f"{self._interval_s:g} s interval ({self.ticks_skipped} ticks skipped so far)"
            )
        return HealthReport.ok()

    def metrics(self) -> Mapping[str, float | int]:
        found: dict[str, float | int] = {
            "cycles": self.cycles,
            "cycles_failed": self.cycles_failed,
            "ticks_skipped": self.ticks_skipped,
            "analysis_errors": self.analysis_errors,
            "executed": self.executed,
        }
        for step, lat in self.latencies().items():
            found[f"{step}_last_ns"] = lat.last_ns
            found[f"{step}_p50_ns"] = lat.p50_ns
            found[f"{step}_p95_ns"] = lat.p95_ns
        return found
