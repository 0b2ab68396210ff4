"""MetricsServer: /metrics and /health over real HTTP on a free port."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import aiohttp
import pytest

from tradeloop.observe import METRIC_NAMES, MetricsServer, NodeMetrics, NodeSnapshot
from tradeloop.testkit import eurusd, make_quote

from .scrape import DashboardPinged, KillSwitchPressed, Scrape, SignalRaised, make_bus


def consume(_: object) -> None:
    pass


async def get(server: MetricsServer, path: str) -> tuple[int, str, str]:
    async with aiohttp.ClientSession() as session, session.get(f"{server.url}{path}") as response:
        return response.status, response.headers["Content-Type"], await response.text()


def serve(
    metrics: NodeMetrics,
    scenario: Callable[[MetricsServer], Awaitable[Any]],
    **options: Any,
) -> Any:
    async def main() -> Any:
        async with MetricsServer(metrics, **options) as server:
            return await scenario(server)

    return asyncio.run(main())


def test_metrics_endpoint_serves_the_listed_metrics_of_a_real_bus() -> None:
    bus = make_bus()
    for t in (KillSwitchPressed, SignalRaised, DashboardPinged):
        bus.subscribe(t, consume)
    metrics = NodeMetrics()
    metrics.watch_bus(bus)
    metrics.time_handlers(bus, sample_every=1)
    metrics.set_snapshot_source(
        lambda: NodeSnapshot(
            orders_by_status={"FILLED": 4, "CANCELED": 1},
            fills=4,
            open_positions=2,
            realized_pnl=10.0,
            gross_exposure=5_000.0,
            drawdown=0.02,
            limit_utilisation={"max_gross_exposure": 0.5},
            breakers={"risk_breach": True},
            stop_losses=1,
        )
    )
    fx = eurusd()
    for n in range(4):
        bus.emit(SignalRaised, n=n)
        bus.publish(make_quote(fx, "1.1000", "1.1001", 1000, 1000, ts_ns=n + 1))
    bus.emit(KillSwitchPressed)
    bus.emit(DashboardPinged)
    metrics.observe_tick_to_order(0.000_180)

    async def scrape_twice(server: MetricsServer) -> tuple[tuple[int, str, str], tuple[int, str, str]]:
        first = await get(server, "/metrics")
        bus.emit(SignalRaised)  # a scrape reads the bus as it is now
        return first, await get(server, "/metrics")

    (status, content_type, body), (_, _, later) = serve(metrics, scrape_twice)
    scrape = Scrape(body)

    assert status == 200
    assert content_type == "text/plain; version=0.0.4; charset=utf-8"
    assert scrape.families == METRIC_NAMES
    assert scrape.value("tradeloop_bus_events_total", type="SignalRaised", lane="high") == 4
    assert scrape.value("tradeloop_bus_events_total", type="QuoteTick", lane="normal") == 4
    assert scrape.value("tradeloop_bus_events_total", type="KillSwitchPressed", lane="critical") == 1
    assert scrape.value("tradeloop_bus_events_total", type="DashboardPinged", lane="low") == 1
    assert scrape.value("tradeloop_handler_latency_seconds_count", handler="consume") == 6
    assert scrape.value("tradeloop_tick_to_order_seconds_bucket", le="0.0002") == 1
    assert scrape.value("tradeloop_orders", status="FILLED") == 4
    assert scrape.value("tradeloop_circuit_breaker_tripped", breaker="risk_breach") == 1
    assert scrape.value("tradeloop_risk_limit_utilisation_ratio", limit="max_gross_exposure") == 0.5
    assert scrape.value("tradeloop_open_positions") == 2
    assert Scrape(later).value("tradeloop_bus_events_total", type="SignalRaised", lane="high") == 5


@pytest.mark.parametrize(
    ("report", "status"),
    [
        ({"status": "ok", "services": {"market_data": "RUNNING"}}, 200),
        ({"status": "degraded", "services": {"market_data": "DEGRADED"}}, 200),
        ({"status": "failed", "services": {"market_data": "FAILED"}}, 503),
        ({"status": "stopping"}, 503),
    ],
)
def test_health_answers_200_for_a_healthy_status_and_503_otherwise(
    report: Mapping[str, Any], status: int
) -> None:
    got_status, content_type, body = serve(NodeMetrics(), lambda s: get(s, "/health"), health=lambda: report)
    assert got_status == status
    assert content_type == "application/json; charset=utf-8"
    assert json.loads(body) == report


def test_health_without_a_check_is_ok_while_the_process_serves() -> None:
    status, _, body = serve(NodeMetrics(), lambda s: get(s, "/health"))
    assert (status, json.loads(body)) == (200, {"status": "ok"})


def test_a_health_check_that_raises_is_an_unhealthy_node() -> None:
    def check() -> Mapping[str, Any]:
        raise ConnectionError("store unreachable")

    status, _, body = serve(NodeMetrics(), lambda s: get(s, "/health"), health=check)
    assert status == 503
    assert json.loads(body) == {"status": "failed", "error": "ConnectionError: store unreachable"}


@pytest.mark.parametrize(
    ("report", "error"),
    [
        (["ok"], "health check returned list, not a mapping"),
        ({"state": "ok"}, "health check result has no string 'status' (got None)"),
    ],
)
def test_a_health_check_returning_the_wrong_shape_is_a_server_error(report: Any, error: str) -> None:
    status, _, body = serve(NodeMetrics(), lambda s: get(s, "/health"), health=lambda: report)
    assert status == 500
    assert json.loads(body) == {"status": "failed", "error": error}


def test_health_payloads_with_non_json_values_are_served_as_text() -> None:
    report = {"status": "ok", "since_ns": 1_700_000_000_000_000_000, "venues": {"SIM"}}
    status, _, body = serve(NodeMetrics(), lambda s: get(s, "/health"), health=lambda: report)
    assert status == 200
    assert json.loads(body) == {"status": "ok", "since_ns": 1_700_000_000_000_000_000, "venues": "{'SIM'}"}


def test_the_healthy_statuses_can_be_narrowed() -> None:
    status, _, _ = serve(
        NodeMetrics(),
        lambda s: get(s, "/health"),
        health=lambda: {"status": "degraded"},
        healthy_statuses={"ok"},
    )
    assert status == 503


def test_start_returns_the_bound_port_and_stop_is_idempotent() -> None:
    async def main() -> None:
        server = MetricsServer(NodeMetrics())
        await server.stop()  # before start: nothing to do
        port = await server.start()
        assert port > 0
        assert server.port == port
        assert server.url == f"http://127.0.0.1:{port}"
        with pytest.raises(RuntimeError, match=f"already serving on port {port}"):
            await server.start()
        await server.stop()
        await server.stop()
        assert server.port is None
        with pytest.raises(aiohttp.ClientConnectionError):
            async with aiohttp.ClientSession() as session, session.get(f"http://127.0.0.1:{port}/health"):
                pass

    asyncio.run(main())


def test_a_taken_port_fails_start_and_leaves_the_server_stopped() -> None:
    async def main() -> None:
        async with MetricsServer(NodeMetrics()) as first:
            assert first.port is not None
            second = MetricsServer(NodeMetrics(), port=first.port)
            with pytest.raises(OSError, match=r"(?i)address already in use"):
                await second.start()
            assert second.port is None
            await second.stop()

    asyncio.run(main())


@pytest.mark.parametrize("port", [-1, 70_000, 80.0])
def test_a_port_outside_the_tcp_range_is_refused(port: Any) -> None:
    with pytest.raises(ValueError, match=r"port must be an int in 0\.\.65535"):
        MetricsServer(NodeMetrics(), port=port)


def test_an_empty_set_of_healthy_statuses_is_refused() -> None:
    with pytest.raises(ValueError, match="healthy_statuses must be a non-empty collection"):
        MetricsServer(NodeMetrics(), healthy_statuses=())
