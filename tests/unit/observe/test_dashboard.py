"""The Grafana dashboard in deploy/grafana cannot drift from the metrics the code serves."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from tradeloop.observe import METRIC_NAMES, NodeMetrics, NodeSnapshot

from .scrape import Scrape, SignalRaised, make_bus

DASHBOARD = Path(__file__).resolve().parents[3] / "deploy" / "grafana" / "tradeloop-dashboard.json"
METRIC = re.compile(r"\btradeloop_[a-z0-9_]+\b")
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}


@pytest.fixture(scope="module")
def dashboard() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    return loaded


def panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    return [p for p in dashboard["panels"] if p["type"] != "row"]


def expressions(dashboard: dict[str, Any]) -> list[str]:
    return [target["expr"] for panel in panels(dashboard) for target in panel["targets"]]


def served_names() -> set[str]:
    """Every sample name a fully wired NodeMetrics serves."""
    bus = make_bus()
    bus.subscribe(SignalRaised, lambda m: None)
    metrics = NodeMetrics()
    metrics.watch_bus(bus)
    metrics.time_handlers(bus, sample_every=1)
    metrics.set_snapshot_source(
        lambda: NodeSnapshot(
            orders_by_status={"FILLED": 1}, limit_utilisation={"l": 0.2}, breakers={"b": False}
        )
    )
    bus.emit(SignalRaised)
    metrics.observe_tick_to_order(0.0001)
    return Scrape(metrics.render()).names


def test_every_metric_a_panel_queries_is_served_by_node_metrics(dashboard: dict[str, Any]) -> None:
    served = served_names()
    referenced = {name for expr in expressions(dashboard) for name in METRIC.findall(expr)}
    assert referenced, "the dashboard queries no tradeloop metric"
    assert referenced - served == set()


def test_every_metric_family_is_shown_on_the_dashboard(dashboard: dict[str, Any]) -> None:
    text = "\n".join(expressions(dashboard))
    missing = {name for name in METRIC_NAMES if not re.search(rf"\b{name}(_total|_bucket)?\b", text)}
    assert missing == set()


def test_the_dashboard_has_the_four_sections(dashboard: dict[str, Any]) -> None:
    rows = [p["title"] for p in dashboard["panels"] if p["type"] == "row"]
    assert rows == ["System health", "Performance", "Business", "Risk"]


def test_every_panel_and_query_uses_the_datasource_variable(dashboard: dict[str, Any]) -> None:
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    assert variables["instance"]["datasource"] == DATASOURCE
    for panel in panels(dashboard):
        assert panel["datasource"] == DATASOURCE, panel["title"]
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["datasource"] == DATASOURCE, panel["title"]
            assert 'instance=~"$instance"' in target["expr"], panel["title"]


def test_latency_panels_use_quantiles_over_histogram_buckets(dashboard: dict[str, Any]) -> None:
    quantiles = [e for e in expressions(dashboard) if "histogram_quantile" in e]
    assert {m for e in quantiles for m in METRIC.findall(e)} == {
        "tradeloop_handler_latency_seconds_bucket",
        "tradeloop_tick_to_order_seconds_bucket",
    }
    assert all("le" in e and "rate(" in e for e in quantiles)
    assert any(e.startswith("histogram_quantile(0.99,") for e in quantiles)
    assert any(e.startswith("histogram_quantile(0.5,") for e in quantiles)
    assert any(e.startswith("histogram_quantile(0.95,") for e in quantiles)


def test_counters_are_shown_as_rates_or_increases(dashboard: dict[str, Any]) -> None:
    for expr in expressions(dashboard):
        for name in METRIC.findall(expr):
            if name.endswith("_total"):
                assert re.search(rf"(rate|increase)\({name}\{{", expr), expr


def test_the_layout_is_valid_grafana(dashboard: dict[str, Any]) -> None:
    assert dashboard["schemaVersion"] >= 39
    assert dashboard["uid"] == "tradeloop-node"
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    for panel in dashboard["panels"]:
        grid = panel["gridPos"]
        assert grid["x"] >= 0, panel["title"]
        assert 0 < grid["w"] <= 24 - grid["x"], panel["title"]
        assert grid["h"] > 0, panel["title"]
        assert grid["y"] >= 0, panel["title"]
    cells: dict[tuple[int, int], str] = {}
    for panel in dashboard["panels"]:
        grid = panel["gridPos"]
        for x in range(grid["x"], grid["x"] + grid["w"]):
            for y in range(grid["y"], grid["y"] + grid["h"]):
                assert (x, y) not in cells, f"{panel['title']!r} overlaps {cells[(x, y)]!r}"
                cells[(x, y)] = panel["title"]
    refs = [[t["refId"] for t in p["targets"]] for p in panels(dashboard)]
    assert all(len(r) == len(set(r)) for r in refs)
