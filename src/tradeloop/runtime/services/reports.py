"""What the orchestrator reports: the shapes of its metrics and health answers.

Plain dictionaries (``TypedDict``), so a ``/metrics`` or ``/health`` endpoint can serialise
them as they are, and typed, so a Prometheus exporter reads them without guessing.
"""

from __future__ import annotations

from typing import TypedDict

__all__ = ["BusMetrics", "NodeHealth", "NodeMetrics", "OrchestratorMetrics", "ServiceHealth"]


class OrchestratorMetrics(TypedDict):
    uptime_s: float
    services: int
    running: int
    degraded: int
    failed: int
    restarts: int
    crashes: int
    health_checks: int


class BusMetrics(TypedDict):
    published: dict[str, int]
    handler_errors: int
    conflated: int
    dropped: int
    high_overflows: int
    queued: dict[str, int]


class NodeMetrics(TypedDict):
    """Everything :meth:`Orchestrator.metrics` returns in one call."""

    orchestrator: OrchestratorMetrics
    bus: BusMetrics
    services: dict[str, dict[str, float | int]]
    """Each service's own metrics, by service name."""
    states: dict[str, str]
    restarts: dict[str, int]
    errors: dict[str, str]
    """Services whose ``metrics()`` raised, with the error (their entry in ``services`` is empty)."""


class ServiceHealth(TypedDict):
    state: str
    health: str
    detail: str
    restarts: int
    last_error: str


class NodeHealth(TypedDict):
    """What :meth:`Orchestrator.health` returns: the node's status and each service's."""

    status: str
    """``ok``, ``degraded`` (something degraded or restarting), ``failed`` (a service is
    FAILED), ``starting`` or ``stopped``."""
    uptime_s: float
    services: dict[str, ServiceHealth]
