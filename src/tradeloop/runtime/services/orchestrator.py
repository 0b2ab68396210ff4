"""The orchestrator: starts services in dependency order, supervises, restarts, reports.

Start and stop
    :meth:`Orchestrator.start` orders the services topologically (a missing dependency or a
    cycle is an error naming it, raised before anything starts) and starts them one at a time,
    each only once the services it depends on are RUNNING. :meth:`Orchestrator.stop` stops them
    in reverse: dependents first.

Crashes and restarts
    A service's background task (``run``) that raises, a health check that reports
    ``failed``, or an ``on_start`` that raises is a crash. The service goes back to
    INITIALIZING and is restarted after an exponential backoff (:class:`Backoff`); the n-th
    restart within ``restart_window_s`` waits ``min(max_s, initial_s * factor ** (n - 1))``.
    A crash when ``max_restarts`` restarts already happened within the window ends in FAILED
    and an :class:`~tradeloop.model.events.Alert` (CRITICAL). A
    :class:`~tradeloop.core.errors.ConfigError` from ``on_start`` fails at once: retrying a
    bad configuration cannot help. :meth:`Orchestrator.restart` re-arms a FAILED service.

Dependents of a service that is down
    While a service is down (restarting, FAILED), every service that depends on it, directly
    or through others, is DEGRADED with the reason naming it, and RECOVERs when it is back.
    They are not stopped: a strategy whose market data is restarting must still see its fills
    and manage its exits, and whether to trade at all is the risk engine's decision (a node
    that wants entries blocked while a feed is down subscribes to
    :class:`~tradeloop.runtime.services.events.ServiceStateChanged` and blocks through the
    risk engine's authorisation).

Health
    Every ``health_interval_s`` each RUNNING or DEGRADED service is checked (concurrently, each
    within ``health_timeout_s``). ``degraded`` moves it to DEGRADED, ``ok`` back to RUNNING
    (unless a dependency still holds it there), ``failed`` restarts it. A check that raises or
    times out reads ``degraded``: a broken check does not prove the service is broken.

Time
    Backoffs, windows, intervals and uptime are wall-clock durations on the event loop's
    monotonic clock: they are about the process, and a replay clock that runs 60 times faster
    must not make restarts 60 times quicker. Event timestamps come from the node's clock.

Every transition is published as ``ServiceStateChanged`` (LOW lane); FAILED also as ``Alert``.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections import deque
from dataclasses import dataclass, field

from tradeloop.core.bus import MessageBus
from tradeloop.core.clock import Clock
from tradeloop.core.errors import ConfigError, TradeloopError
from tradeloop.core.ids import IdFactory
from tradeloop.model.events import Alert, AlertSeverity
from tradeloop.runtime.services.backoff import Backoff
from tradeloop.runtime.services.events import ServiceStateChanged
from tradeloop.runtime.services.lifecycle import ServiceState, ServiceTrigger
from tradeloop.runtime.services.reports import (
    BusMetrics,
    NodeHealth,
    NodeMetrics,
    OrchestratorMetrics,
    ServiceHealth,
)
from tradeloop.runtime.services.service import HealthReport, HealthStatus, Service

__all__ = ["Orchestrator", "ServiceStartError"]

_log = logging.getLogger("tradeloop.services")

_S = ServiceState
_T = ServiceTrigger
_UP = frozenset({_S.RUNNING, _S.DEGRADED})
_DOWN = frozenset({_S.INITIALIZING, _S.FAILED, _S.STOPPING, _S.STOPPED})


class ServiceStartError(TradeloopError):
    """A service could not be started (it ended FAILED); the orchestrator stopped the others."""


def _finite(owner: str, name: str, value: float, low: float) -> float:
    ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or value < low:
        raise TradeloopError(f"{owner}: {name} must be a finite number >= {low:g}, got {value!r}")
    return float(value)


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


@dataclass(eq=False, slots=True)
class _Entry:
    service: Service
    deps: frozenset[str] = frozenset()  # transitive dependencies
    task: asyncio.Task[None] | None = None
    recovery: asyncio.Task[bool] | None = None
    window: deque[float] = field(default_factory=deque)  # loop times of recent restarts
    restarts: int = 0
    crashes: int = 0
    attempted: bool = False  # a start was attempted (so stop has something to undo)
    cleaned: bool = True  # on_stop ran since the last successful on_start
    finished: bool = False  # run() returned normally
    health: HealthReport | None = None
    health_cause: str | None = None
    dep_cause: str | None = None
    last_error: str = ""


class Orchestrator:
    """Runs services: dependency order, supervision, health checks, restarts, metrics.

    Parameters
    ----------
    bus:
        Where ``ServiceStateChanged`` and ``Alert`` are published; its stats are part of
        :meth:`metrics`.
    clock:
        Timestamps of the published events.
    ids:
        Mints the ids of the published events.
    health_interval_s:
        Seconds between health-check rounds.
    health_timeout_s:
        How long one check may take (default: ``health_interval_s``).
    restart_backoff:
        Delay before each restart within the window.
    max_restarts:
        Restarts allowed within ``restart_window_s``; the next crash is FAILED (0: never
        restart).
    restart_window_s:
        Seconds a restart counts against ``max_restarts``.
    start_timeout_s:
        How long one ``on_start`` may take; one that overruns is cancelled and counts as a
        failed start (retried under the restart policy).
    stop_timeout_s:
        How long a service's task and ``on_stop`` may take when it is stopped for a restart,
        and the default per-service timeout of :meth:`stop`.

    Raises
    ------
    TradeloopError
        If a duration is not a finite positive number or ``max_restarts`` is negative.
    """

    def __init__(
        self,
        bus: MessageBus,
        clock: Clock,
        ids: IdFactory,
        *,
        health_interval_s: float = 5.0,
        health_timeout_s: float | None = None,
        restart_backoff: Backoff | None = None,
        max_restarts: int = 5,
        restart_window_s: float = 300.0,
        start_timeout_s: float = 30.0,
        stop_timeout_s: float = 10.0,
    ) -> None:
        tiny = math.ulp(0.0)
        self._health_interval_s = _finite("Orchestrator", "health_interval_s", health_interval_s, tiny)
        self._health_timeout_s = (
            self._health_interval_s
            if health_timeout_s is None
            else _finite("Orchestrator", "health_timeout_s", health_timeout_s, tiny)
        )
        self._restart_window_s = _finite("Orchestrator", "restart_window_s", restart_window_s, tiny)
        self._start_timeout_s = _finite("Orchestrator", "start_timeout_s", start_timeout_s, tiny)
        self._stop_timeout_s = _finite("Orchestrator", "stop_timeout_s", stop_timeout_s, tiny)
        if isinstance(max_restarts, bool) or not isinstance(max_restarts, int) or max_restarts < 0:
            raise TradeloopError(f"Orchestrator: max_restarts must be an int >= 0, got {max_restarts!r}")
        self._max_restarts = max_restarts
        self._backoff = restart_backoff or Backoff()
        self._bus = bus
        self._clock = clock
        self._ids = ids
        self._entries: dict[str, _Entry] = {}
        self._order: list[str] = []
        self._running = False
        self._starting = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._started_at = 0.0
        self._health_task: asyncio.Task[None] | None = None
        self._restarts = 0
        self._crashes = 0
        self._health_checks = 0

    # -- setup -----------------------------------------------------------------------------

    def add(self, service: Service) -> None:
        """Add a service (before :meth:`start`).

        Raises
        ------
        TradeloopError
            If the orchestrator is running or a service of that name was already added.
        """
        if self._running:
            raise TradeloopError(f"add service {service.name} before the orchestrator starts")
        if service.name in self._entries:
            raise TradeloopError(f"a service named {service.name} was already added")
        if service.state is not _S.INITIALIZING:
            raise TradeloopError(f"service {service.name} was already started ({service.state.value})")
        service.lifecycle.set_listener(self._on_transition)
        self._entries[service.name] = _Entry(service)

    def _entry(self, name: str) -> _Entry:
        entry = self._entries.get(name)
        if entry is None:
            raise KeyError(f"no service {name!r} (services: {', '.join(self._entries) or 'none'})")
        return entry

    def service(self, name: str) -> Service:
        """The service called ``name`` (``KeyError`` naming the known ones if none)."""
        return self._entry(name).service

    @property
    def services(self) -> tuple[Service, ...]:
        """The services in the order they were added."""
        return tuple(e.service for e in self._entries.values())

    @property
    def is_running(self) -> bool:
        return self._running

    def start_order(self) -> list[str]:
        """Service names in start order: every service after the services it depends on.

        Ties keep the order the services were added in.

        Raises
        ------
        TradeloopError
            If a service depends on one that was not added, or the dependencies form a cycle
            (the message spells the cycle out).
        """
        for name, entry in self._entries.items():
            missing = [d for d in entry.service.depends_on if d not in self._entries]
            if missing:
                raise TradeloopError(
                    f"service {name} depends on {', '.join(missing)}, which "
                    f"{'is' if len(missing) == 1 else 'are'} not added "
                    f"(services: {', '.join(self._entries)})"
                )
        order: list[str] = []
        state: dict[str, int] = {}  # 1: on the current path, 2: placed

        def visit(name: str, path: list[str]) -> None:
            mark = state.get(name)
            if mark == 2:
                return
            if mark == 1:
                cycle = [*path[path.index(name) :], name]
                raise TradeloopError(f"service dependencies form a cycle: {' -> '.join(cycle)}")
            state[name] = 1
            path.append(name)
            for dep in self._entries[name].service.depends_on:
                visit(dep, path)
            path.pop()
            state[name] = 2
            order.append(name)

        for name in self._entries:
            visit(name, [])
        return order

    # -- start and stop ----------------------------------------------------------------------

    async def start(self) -> None:
        """Start every service in dependency order, then the health checks.

        A service whose ``on_start`` fails is retried under the restart policy before the next
        one starts.

        Raises
        ------
        TradeloopError
            Before anything starts, if a dependency is missing or cyclic, or the orchestrator
            is already running.
        ServiceStartError
            If a service ended FAILED; the services already started are stopped again.
        """
        if self._running:
            raise TradeloopError("the orchestrator is already running")
        order = self.start_order()
        for name in order:
            entry = self._entries[name]
            deps: set[str] = set()
            stack = list(entry.service.depends_on)
            while stack:
                dep = stack.pop()
                if dep not in deps:
                    deps.add(dep)
                    stack.extend(self._entries[dep].service.depends_on)
            entry.deps = frozenset(deps)
            entry.window.clear()
        self._order = order
        self._running = True
        self._starting = True
        self._loop = asyncio.get_running_loop()
        self._started_at = self._loop.time()
        try:
            for name in order:
                entry = self._entries[name]
                if not await self._start_entry(entry):
                    reason = entry.last_error or entry.service.state.value
                    await self.stop()
                    raise ServiceStartError(f"service {name} could not be started: {reason}")
        finally:
            self._starting = False
        self._health_task = asyncio.create_task(self._health_loop(), name="orchestrator.health")

    async def stop(self, timeout: float | None = None) -> bool:
        """Stop every service, dependents first; return whether all stopped cleanly.

        Each service's task is cancelled and its ``on_stop`` awaited, together within
        ``timeout`` seconds (default ``stop_timeout_s``), so the whole stop takes at most the
        number of services times ``timeout``. A service that overruns or whose ``on_stop``
        raises ends FAILED (with an alert) and the next one is still stopped. Stopping a
        stopped orchestrator does nothing.
        """
        budget = self._stop_timeout_s if timeout is None else _finite("stop", "timeout", timeout, 0.0)
        if not self._running:
            return True
        self._running = False
        tasks = [t for t in (self._health_task, *(e.recovery for e in self._entries.values())) if t]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks)
        self._health_task = None
        clean = True
        for name in reversed(self._order):
            entry = self._entries[name]
            entry.recovery = None
            lifecycle = entry.service.lifecycle
            if not entry.attempted or not lifecycle.can(_T.STOP):
                continue
            lifecycle.fire(_T.STOP, "orchestrator stopping")
            problem = await self._halt(entry, budget)
            if problem is None:
                lifecycle.fire(_T.STOPPED, "stopped")
            else:
                clean = False
                entry.last_error = problem
                self._fail(entry, problem)
        return clean

    async def restart(self, name: str, reason: str = "restart requested") -> bool:
        """Restart a service now; a FAILED one is re-armed (its restart window is cleared).

        The first attempt is made at once; should ``on_start`` fail, the restart policy applies
        as after a crash. Returns whether the service came back up.

        Raises
        ------
        TradeloopError
            If the orchestrator is not running or the service is already restarting.
        """
        entry = self._entry(name)
        if not self._running:
            raise TradeloopError(f"cannot restart {name}: the orchestrator is not running")
        if entry.recovery is not None and not entry.recovery.done():
            raise TradeloopError(f"service {name} is already restarting")
        entry.window.clear()
        task = asyncio.create_task(
            self._recover(entry, reason, forced=True), name=f"orchestrator.restart.{name}"
        )
        entry.recovery = task
        return await task

    async def _start_entry(self, entry: _Entry) -> bool:
        service = entry.service
        if service.state is _S.STOPPED:
            service.lifecycle.fire(_T.START, "start")
        elif service.state is _S.FAILED:
            service.lifecycle.fire(_T.RESTART, "start")
        entry.attempted = True
        entry.cleaned = False
        try:
            await self._call_start(service)
        except ConfigError as exc:
            await self._cleanup(entry, "start")
            entry.last_error = f"start failed: {_describe(exc)}"
            self._fail(entry, f"{entry.last_error} (a configuration error is not retried)")
            return False
        except Exception as exc:  # noqa: BLE001 - a failed start is a crash, retried
            self._crashed(entry, exc)
            return await self._recover(entry, f"start failed: {_describe(exc)}")
        self._up(entry, "started")
        return True

    # -- supervision -----------------------------------------------------------------------

    def _up(self, entry: _Entry, reason: str) -> None:
        """``on_start`` completed: RUNNING, the task started, dependents re-evaluated."""
        entry.cleaned = False
        entry.finished = False
        entry.health = None
        entry.health_cause = None
        entry.service.lifecycle.fire(_T.STARTED, reason)
        if entry.service.has_task:
            task = asyncio.create_task(entry.service.run(), name=f"service.{entry.service.name}")
            entry.task = task
            task.add_done_callback(lambda t: self._task_done(entry, t))
        self._sync()

    def _crashed(self, entry: _Entry, exc: BaseException) -> None:
        entry.crashes += 1
        self._crashes += 1
        entry.last_error = _describe(exc)
        _log.error("service %s crashed: %r", entry.service.name, exc, exc_info=exc)

    def _task_done(self, entry: _Entry, task: asyncio.Task[None]) -> None:
        if task is not entry.task:
            return  # a task the orchestrator already replaced or cancelled
        entry.task = None
        if task.cancelled():
            return
        exc = task.exception()
        if exc is None:
            entry.finished = True
            _log.info("service %s finished its work", entry.service.name)
            return
        if not self._running or entry.service.state not in _UP:
            return
        self._crashed(entry, exc)
        self._begin_recovery(entry, f"crashed: {_describe(exc)}")

    def _begin_recovery(self, entry: _Entry, reason: str) -> None:
        if entry.recovery is not None and not entry.recovery.done():
            return
        task = asyncio.create_task(
            self._recover(entry, reason), name=f"orchestrator.recover.{entry.service.name}"
        )
        entry.recovery = task
        task.add_done_callback(self._recovery_done)

    def _recovery_done(self, task: asyncio.Task[bool]) -> None:
        exc = None if task.cancelled() else task.exception()
        if isinstance(exc, Exception):
            # A bug of the orchestrator itself: never let it vanish into an unread task.
            self._bus.report_failure("Orchestrator._recover", "restart", exc)

    async def _recover(self, entry: _Entry, reason: str, *, forced: bool = False) -> bool:
        """Restart ``entry`` with backoff until it is up (True) or FAILED (False).

        ``forced`` (an operator's restart): the first attempt is made at once, whatever the
        restart window says.
        """
        service = entry.service
        loop = asyncio.get_running_loop()
        while self._running:
            now = loop.time()
            window = entry.window
            while window and window[0] <= now - self._restart_window_s:
                window.popleft()
            if len(window) >= self._max_restarts and not forced:
                await self._cleanup(entry, "failure")
                self._fail(
                    entry,
                    f"{reason}; gave up after {len(window)} restart{'s' if len(window) != 1 else ''} "
                    f"in the last {self._restart_window_s:g} s (max_restarts {self._max_restarts})",
                )
                return False
            window.append(now)
            entry.restarts += 1
            self._restarts += 1
            if forced:
                delay = 0.0
                service.lifecycle.fire(_T.RESTART, f"{reason}; restarting now")
                forced = False
            else:
                delay = self._backoff.delay(len(window))
                service.lifecycle.fire(
                    _T.RESTART, f"{reason}; restart {len(window)} of {self._max_restarts} in {delay:g} s"
                )
            self._sync()
            await self._cleanup(entry, "restart")
            await asyncio.sleep(delay)
            if not self._running:
                return False
            entry.cleaned = False
            try:
                await self._call_start(service)
            except ConfigError as exc:
                await self._cleanup(entry, "start")
                entry.last_error = f"start failed: {_describe(exc)}"
                self._fail(entry, f"{entry.last_error} (a configuration error is not retried)")
                return False
            except Exception as exc:  # noqa: BLE001 - a failed start is another crash
                self._crashed(entry, exc)
                reason = f"start failed: {_describe(exc)}"
                continue
            self._up(entry, f"restarted ({reason})")
            return True
        return False

    async def _call_start(self, service: Service) -> None:
        try:
            await asyncio.wait_for(service.on_start(), self._start_timeout_s)
        except TimeoutError:
            raise TradeloopError(f"on_start did not finish within {self._start_timeout_s:g} s") from None

    async def _halt(self, entry: _Entry, timeout: float) -> str | None:
        """Cancel the task and run ``on_stop`` within ``timeout``; the problem, or None."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        task, entry.task = entry.task, None
        if task is not None and not task.done():
            task.cancel()
            await asyncio.wait({task}, timeout=timeout)
            if not task.done():
                return f"its task did not end within {timeout:g} s of being cancelled"
        if entry.cleaned:
            return None
        entry.cleaned = True
        try:
            await asyncio.wait_for(entry.service.on_stop(), max(0.0, deadline - loop.time()))
        except TimeoutError:
            return f"on_stop did not finish within {timeout:g} s"
        except Exception as exc:  # noqa: BLE001 - reported as the service's failure
            return f"on_stop failed: {_describe(exc)}"
        return None

    async def _cleanup(self, entry: _Entry, why: str) -> None:
        """Stop what is left of a crashed service; a problem is reported, not fatal."""
        problem = await self._halt(entry, self._stop_timeout_s)
        if problem is not None:
            self._bus.report_failure(
                f"{entry.service.name}.on_stop",
                why,
                TradeloopError(f"service {entry.service.name}: {problem}"),
            )

    def _fail(self, entry: _Entry, reason: str) -> None:
        lifecycle = entry.service.lifecycle
        if lifecycle.can(_T.FAIL):
            lifecycle.fire(_T.FAIL, reason)
        self._sync()

    def _sync(self) -> None:
        """Degrade or recover every up service from its health and its dependencies."""
        if not self._running:
            return
        down = {name: e.service.state for name, e in self._entries.items() if e.service.state in _DOWN}
        for name in self._order:
            entry = self._entries[name]
            deps = [
                f"dependency {d} is {down[d].value}" for d in self._order if d in entry.deps and d in down
            ]
            entry.dep_cause = "; ".join(deps) or None
            causes = [c for c in (entry.health_cause, entry.dep_cause) if c]
            state = entry.service.state
            if state is _S.RUNNING and causes:
                entry.service.lifecycle.fire(_T.DEGRADE, "; ".join(causes))
            elif state is _S.DEGRADED and not causes:
                entry.service.lifecycle.fire(_T.RECOVER, "healthy again")

    # -- health ----------------------------------------------------------------------------

    async def _health_loop(self) -> None:
        while True:
            await asyncio.sleep(self._health_interval_s)
            try:
                await self.check_health()
            except Exception as exc:  # noqa: BLE001 - the checks must outlive one bad round
                self._bus.report_failure("Orchestrator.check_health", "health", exc)

    async def check_health(self) -> None:
        """Run one round of health checks now (the orchestrator also runs them periodically)."""
        entries = [e for e in self._entries.values() if e.service.state in _UP]
        reports = await asyncio.gather(*(self._check(e) for e in entries))
        for entry, report in zip(entries, reports, strict=True):
            self._health_checks += 1
            entry.health = report
            if entry.service.state not in _UP or (entry.recovery is not None and not entry.recovery.done()):
                continue  # it crashed meanwhile; the restart is under way
            if report.status is HealthStatus.FAILED:
                entry.crashes += 1
                self._crashes += 1
                entry.last_error = f"health check failed: {report.detail}"
                self._begin_recovery(entry, entry.last_error)
                continue
            entry.health_cause = (
                f"health: {report.detail or 'degraded'}" if report.status is HealthStatus.DEGRADED else None
            )
        self._sync()

    async def _check(self, entry: _Entry) -> HealthReport:
        try:
            return await asyncio.wait_for(entry.service.health(), self._health_timeout_s)
        except TimeoutError:
            return HealthReport.degraded(f"health check timed out after {self._health_timeout_s:g} s")
        except Exception as exc:  # noqa: BLE001 - a broken check reads degraded
            return HealthReport.degraded(f"health check raised {_describe(exc)}")

    # -- events ----------------------------------------------------------------------------

    def _on_transition(self, name: str, old: ServiceState, new: ServiceState, reason: str) -> None:
        log = _log.error if new is _S.FAILED else _log.info
        log("service %s: %s -> %s (%s)", name, old.value, new.value, reason)
        now = self._clock.timestamp_ns()
        ids = self._ids
        corr = ids.new_id()
        self._bus.publish(
            ServiceStateChanged(
                id=ids.new_id(),
                correlation_id=corr,
                ts_event=now,
                ts_init=now,
                service=name,
                previous=old.value,
                state=new.value,
                reason=reason,
            )
        )
        if new is _S.FAILED:
            self._bus.publish(
                Alert(
                    id=ids.new_id(),
                    correlation_id=corr,
                    ts_event=now,
                    ts_init=now,
                    severity=AlertSeverity.CRITICAL,
                    source="orchestrator",
                    kind="service_failed",
                    message=f"service {name} failed: {reason}",
                )
            )

    # -- reads -----------------------------------------------------------------------------

    def _uptime(self) -> float:
        if not self._running or self._loop is None:
            return 0.0
        return self._loop.time() - self._started_at

    def metrics(self) -> NodeMetrics:
        """Every service's metrics, the bus counters and the orchestrator's own, in one call."""
        states = {name: e.service.state for name, e in self._entries.items()}
        services: dict[str, dict[str, float | int]] = {}
        errors: dict[str, str] = {}
        for name, entry in self._entries.items():
            try:
                services[name] = dict(entry.service.metrics())
            except Exception as exc:  # noqa: BLE001 - one service must not blank the endpoint
                services[name] = {}
                errors[name] = _describe(exc)
        stats = self._bus.stats()
        return NodeMetrics(
            orchestrator=OrchestratorMetrics(
                uptime_s=self._uptime(),
                services=len(self._entries),
                running=sum(1 for s in states.values() if s is _S.RUNNING),
                degraded=sum(1 for s in states.values() if s is _S.DEGRADED),
                failed=sum(1 for s in states.values() if s is _S.FAILED),
                restarts=self._restarts,
                crashes=self._crashes,
                health_checks=self._health_checks,
            ),
            bus=BusMetrics(
                published=stats.published,
                handler_errors=stats.handler_errors,
                conflated=stats.conflated,
                dropped=stats.dropped,
                high_overflows=stats.high_overflows,
                queued=stats.queued,
            ),
            services=services,
            states={name: s.value for name, s in states.items()},
            restarts={name: e.restarts for name, e in self._entries.items()},
            errors=errors,
        )

    def health(self) -> NodeHealth:
        """The node's overall status and each service's, for a ``/health`` endpoint."""
        services: dict[str, ServiceHealth] = {}
        for name, entry in self._entries.items():
            state = entry.service.state
            report = entry.health
            if state is _S.DEGRADED:
                detail = "; ".join(c for c in (entry.health_cause, entry.dep_cause) if c)
            elif state is _S.FAILED:
                detail = entry.last_error
            else:
                detail = report.detail if report is not None else ""
            services[name] = ServiceHealth(
                state=state.value,
                health=report.status.value if report is not None else "unknown",
                detail=detail,
                restarts=entry.restarts,
                last_error=entry.last_error,
            )
        states = {e.service.state for e in self._entries.values()}
        if not self._running:
            status = "stopped"
        elif self._starting:
            status = "starting"
        elif _S.FAILED in states:
            status = "failed"
        elif states - {_S.RUNNING}:
            status = "degraded"
        else:
            status = "ok"
        return NodeHealth(status=status, uptime_s=self._uptime(), services=services)

    def task_finished(self, name: str) -> bool:
        """Whether the service's ``run`` returned normally (its work is done)."""
        return self._entry(name).finished
