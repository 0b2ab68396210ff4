"""The metrics and health endpoint of a node: ``GET /metrics`` and ``GET /health``.

:class:`MetricsServer` is a small aiohttp application that runs on the node's own event
loop. That matters: a scrape reads the bus counters and calls the snapshot source on the
loop's thread, between two reactor steps, so it sees a consistent state without locks.

``/health`` returns the JSON of the ``health`` callable. The status code follows its
``"status"`` field: 200 for a healthy status (``"ok"`` and ``"degraded"`` by default: a
degraded node still runs and must not be restarted by an orchestrator's liveness probe), 503
for any other status (``"failed"``, ``"stopping"``, ...) or when the callable raises, and 500
when it returns something that is not a mapping with a string ``"status"`` (a bug in the
caller, reported as such).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Collection, Mapping
from types import TracebackType
from typing import Any

from aiohttp import web

from tradeloop.observe.metrics import NodeMetrics

__all__ = ["HEALTHY_STATUSES", "HealthCheck", "MetricsServer"]

_log = logging.getLogger("tradeloop.observe.http")

HealthCheck = Callable[[], Mapping[str, Any]]
"""Returns the node's health, e.g. ``{"status": "ok", "services": {...}}``."""

HEALTHY_STATUSES: frozenset[str] = frozenset({"ok", "degraded"})
"""Health statuses served with 200 by default."""


def _json(payload: Mapping[str, Any], status: int) -> web.Response:
    # default=str: health payloads carry enums and ids; a status page must not fail on them.
    return web.Response(
        text=json.dumps(payload, default=str, sort_keys=True),
        status=status,
        content_type="application/json",
    )


class MetricsServer:
    """Serve a node's metrics and health over HTTP.

    Parameters
    ----------
    metrics:
        The node's metrics.
    host:
        Interface to bind (loopback by default; a scraper on another host needs ``0.0.0.0``).
    port:
        TCP port; 0 picks a free one (:meth:`start` returns it).
    health:
        Health callable; without one ``/health`` answers ``{"status": "ok"}`` while the
        process serves.
    healthy_statuses:
        The ``"status"`` values answered with 200.

    Raises
    ------
    ValueError
        If ``port`` is outside 0..65535 or ``healthy_statuses`` is empty.
    """

    def __init__(
        self,
        metrics: NodeMetrics,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        health: HealthCheck | None = None,
        healthy_statuses: Collection[str] = HEALTHY_STATUSES,
    ) -> None:
        if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65_535:
            raise ValueError(f"port must be an int in 0..65535, got {port!r}")
        if isinstance(healthy_statuses, str) or not healthy_statuses:
            raise ValueError(
                f"healthy_statuses must be a non-empty collection of strings, got {healthy_statuses!r}"
            )
        self._metrics = metrics
        self._host = host
        self._port = port
        self._health = health
        self._healthy = frozenset(healthy_statuses)
        self._runner: web.AppRunner | None = None
        self._bound: int | None = None

    @property
    def port(self) -> int | None:
        """The bound port while serving, else ``None``."""
        return self._bound

    @property
    def url(self) -> str | None:
        """Base URL while serving (``http://host:port``), else ``None``."""
        return None if self._bound is None else f"http://{self._host}:{self._bound}"

    async def start(self) -> int:
        """Bind and serve; return the bound port.

        Raises
        ------
        RuntimeError
            If the server is already running.
        OSError
            If the address cannot be bound (the port is taken).
        """
        if self._runner is not None:
            raise RuntimeError(f"the metrics server is already serving on port {self._bound}")
        app = web.Application()
        app.router.add_get("/metrics", self._serve_metrics)
        app.router.add_get("/health", self._serve_health)
        runner = web.AppRunner(app, access_log=None)  # scrapes every few seconds are noise
        await runner.setup()
        try:
            await web.TCPSite(runner, self._host, self._port).start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        self._bound = int(runner.addresses[0][1])
        return self._bound

    async def stop(self) -> None:
        """Stop serving; a second call (or a call before :meth:`start`) does nothing."""
        runner, self._runner, self._bound = self._runner, None, None
        if runner is not None:
            await runner.cleanup()

    async def __aenter__(self) -> MetricsServer:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    async def _serve_metrics(self, _: web.Request) -> web.Response:
        return web.Response(body=self._metrics.render(), headers={"Content-Type": self._metrics.content_type})

    async def _serve_health(self, _: web.Request) -> web.Response:
        if self._health is None:
            return _json({"status": "ok"}, 200)
        try:
            report = self._health()
        except Exception as exc:  # noqa: BLE001 - a failing check is an unhealthy node, not a 500
            _log.error("health check failed: %r", exc, exc_info=exc)
            return _json({"status": "failed", "error": f"{type(exc).__name__}: {exc}"}, 503)
        status = report.get("status") if isinstance(report, Mapping) else None
        if not isinstance(status, str):
            error = (
                f"health check returned {type(report).__name__}, not a mapping"
                if not isinstance(report, Mapping)
                else f"health check result has no string 'status' (got {status!r})"
            )
            _log.error(error)
            return _json({"status": "failed", "error": error}, 500)
        return _json(report, 200 if status in self._healthy else 503)
