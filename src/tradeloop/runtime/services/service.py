"""The service base class and its health report.

A service is a long-lived part of a live node (a market-data feed, the strategies, the cycle
scheduler). The :class:`~tradeloop.runtime.services.orchestrator.Orchestrator` starts services
in dependency order, supervises their background task, checks their health and restarts them;
a service only implements its hooks:

* ``on_start`` / ``on_stop`` - acquire and release (subscribe, connect). ``on_stop`` is also
  called before a restart, so it must cope with a half-started service.
* ``run`` - optional background work (consume a feed, tick a timer). It runs as its own task
  once ``on_start`` has completed; an exception it raises is a crash, which the orchestrator
  answers with a restart. Returning normally means the work is done (a replayed feed that
  ended): no restart.
* ``health`` - a quick check; its report moves the service to DEGRADED and back, and a
  ``failed`` report restarts it.
* ``metrics`` - numbers for the node's metrics call (counts, gauges), cheap to compute.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum

from tradeloop.core.errors import TradeloopError
from tradeloop.runtime.services.lifecycle import ServiceLifecycle, ServiceState

__all__ = ["HealthReport", "HealthStatus", "Service"]


class HealthStatus(StrEnum):
    OK = "ok"
    DEGRADED = "degraded"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class HealthReport:
    """The answer of a health check: a status and, when not ok, what is wrong."""

    status: HealthStatus
    detail: str = ""

    @classmethod
    def ok(cls, detail: str = "") -> HealthReport:
        return cls(HealthStatus.OK, detail)

    @classmethod
    def degraded(cls, detail: str) -> HealthReport:
        return cls(HealthStatus.DEGRADED, detail)

    @classmethod
    def failed(cls, detail: str) -> HealthReport:
        return cls(HealthStatus.FAILED, detail)


class Service:
    """Base class of the services an orchestrator runs.

    Parameters
    ----------
    name:
        Unique within an orchestrator; other services name it in ``depends_on``.
    depends_on:
        Names of the services that must be running before this one starts (and stop after it).

    Raises
    ------
    TradeloopError
        If the name is empty or the service depends on itself.
    """

    def __init__(self, name: str, *, depends_on: Iterable[str] = ()) -> None:
        if not name or name != name.strip():
            raise TradeloopError(f"a service needs a name without surrounding spaces, got {name!r}")
        deps = tuple(dict.fromkeys(depends_on))
        if name in deps:
            raise TradeloopError(f"service {name} cannot depend on itself")
        self.name = name
        self.depends_on: tuple[str, ...] = deps
        self.lifecycle = ServiceLifecycle(name)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name}, {self.state.value})"

    @property
    def state(self) -> ServiceState:
        return self.lifecycle.state

    @property
    def has_task(self) -> bool:
        """Whether the service has background work (it overrides :meth:`run`)."""
        return type(self).run is not Service.run

    async def on_start(self) -> None:
        """Hook: acquire resources. Default does nothing."""

    async def on_stop(self) -> None:
        """Hook: release what ``on_start`` acquired (may follow a failed start). Default does nothing."""

    async def run(self) -> None:
        """Background work, run as a task while the service is up. Default: none."""

    async def health(self) -> HealthReport:
        """A quick check of the service. Default: ok."""
        return HealthReport.ok()

    def metrics(self) -> Mapping[str, float | int]:
        """Counters and gauges of the service. Default: none."""
        return {}
