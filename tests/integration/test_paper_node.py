"""The paper node end to end: parity with the backtest, hot reload, metrics, restarts, SIGTERM."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml

from tradeloop.config import ConfigRejected, ConfigReloaded, load_config
from tradeloop.core.message import Data
from tradeloop.runtime import build_engine
from tradeloop.runtime.build import SAMPLE_CONFIG, LoadedData, load_data
from tradeloop.runtime.config import BacktestConfig, PaperConfig
from tradeloop.runtime.paper import PaperNode
from tradeloop.runtime.services import ServiceState, ServiceStateChanged
from tradeloop.store import SqliteEventStore

DATA_DRIVEN = [
    "venue.latency_ms=0",
    "log.enabled=false",
    "report.enabled=false",
    "strategies.0.config.method=null",
    "lifecycle.methods={}",
]
SYNTHETIC = {
    "source": "synthetic",
    "instrument": {"id": "ABC.SIM", "type": "equity"},
    "synthetic": {"count": 20_000, "seed": 3, "start_price": 100},
}


def synthetic_config(**node: Any) -> dict[str, Any]:
    """A crossover on synthetic one-minute bars (20,000 minutes of data)."""
    return {
        "run": {"name": "paper-test", "seed": 1},
        "data": SYNTHETIC,
        "venue": {"starting_balance": 1_000_000, "account_type": "MARGIN"},
        "strategies": [
            {
                "class": "tradeloop.strategy.samples:MovingAverageCrossover",
                "config": {"instrument_id": "ABC.SIM", "fast": 5, "slow": 20, "quantity": 10},
            }
        ],
        "risk": {"max_order_quantity": 100},
        "log": {"enabled": False},
        "node": {"metrics_port": None, "health_interval_seconds": 0.2, **node},
        "logging": {"level": "WARNING"},
    }


def run_node(node: PaperNode) -> Any:
    return asyncio.run(node.run(install_signal_handlers=False))


def test_a_data_driven_strategy_trades_the_same_in_paper_as_in_a_backtest() -> None:
    base = yaml.safe_load(SAMPLE_CONFIG)
    backtest_cfg = load_config(BacktestConfig, base=base, overrides=DATA_DRIVEN)
    loaded = load_data(backtest_cfg.data)
    backtest = build_engine(backtest_cfg, event_log=None, loaded=loaded).run()

    paper_cfg = load_config(
        PaperConfig,
        base=base,
        overrides=[*DATA_DRIVEN, "node.speed=10000000", "node.metrics_port=null", "logging.level=WARNING"],
    )
    paper = run_node(PaperNode(paper_cfg, loaded=loaded))

    assert paper.stopped_by == "end of data"
    assert paper.delivered == backtest.data_count == 500_000
    assert (paper.orders, paper.fills) == (backtest.orders, backtest.fills) == (100, 100)
    assert paper.final_equity == backtest.final_equity
    assert paper.realized_pnl == backtest.realized_pnl


def test_hot_reload_applies_a_valid_change_and_rejects_an_invalid_one(tmp_path: Path) -> None:
    path = tmp_path / "node.yaml"
    data = synthetic_config(speed=20_000)  # 20,000 minutes in about a minute: time to edit
    path.write_text(yaml.safe_dump(data))
    cfg = load_config(PaperConfig, path)
    node = PaperNode(cfg, config_path=path)
    seen: list[ConfigReloaded | ConfigRejected] = []

    async def scenario() -> Any:
        task = asyncio.create_task(node.run(install_signal_handlers=False))
        await until(lambda: node.reloader is not None, 10)
        assert node.kernel is not None
        node.kernel.bus.subscribe(ConfigReloaded, seen.append)
        node.kernel.bus.subscribe(ConfigRejected, seen.append)
        await asyncio.sleep(0.3)  # the watcher is set up
        data["risk"]["max_order_quantity"] = 50
        path.write_text(yaml.safe_dump(data))
        await until(lambda: any(isinstance(m, ConfigReloaded) for m in seen), 15)
        data["risk"]["max_order_quantity"] = -5  # invalid: limits are positive
        path.write_text(yaml.safe_dump(data))
        await until(lambda: any(isinstance(m, ConfigRejected) for m in seen), 15)
        node.request_stop("test done")
        return await task

    result = asyncio.run(scenario())
    reloaded = [m for m in seen if isinstance(m, ConfigReloaded)]
    rejected = [m for m in seen if isinstance(m, ConfigRejected)]
    assert reloaded[0].changed == ("risk.max_order_quantity",)
    assert any("max_order_quantity" in line for line in rejected[0].errors)
    assert node.kernel is not None
    assert node.kernel.risk is not None
    assert node.kernel.risk.config.max_order_quantity == 50  # the valid change, still in force
    assert result.stopped_by == "test done"


def test_the_metrics_endpoint_serves_the_node_metrics_while_it_runs() -> None:
    cfg = PaperConfig.model_validate(synthetic_config(speed=50_000, metrics_port=0))
    node = PaperNode(cfg)

    async def scenario() -> tuple[str, dict[str, Any]]:
        task = asyncio.create_task(node.run(install_signal_handlers=False))
        await until(lambda: node.metrics_port is not None and node.orchestrator is not None, 10)
        await asyncio.sleep(0.5)
        async with aiohttp.ClientSession() as session:
            async with session.get(f"http://127.0.0.1:{node.metrics_port}/metrics") as response:
                text = await response.text()
            async with session.get(f"http://127.0.0.1:{node.metrics_port}/health") as response:
                health = await response.json()
        node.request_stop("test done")
        await task
        return text, health

    text, health = asyncio.run(scenario())
    for name in (
        "tradeloop_bus_events_total",
        "tradeloop_bus_queue_depth",
        "tradeloop_bus_conflated_total",
        "tradeloop_bus_dropped_total",
        "tradeloop_handler_latency_seconds_bucket",
        "tradeloop_orders",
        "tradeloop_fills_total",
        "tradeloop_open_positions",
        "tradeloop_pnl",
        "tradeloop_exposure",
        "tradeloop_risk_limit_utilisation_ratio",
        "tradeloop_circuit_breaker_tripped",
        "tradeloop_stop_losses_triggered_total",
        "tradeloop_drawdown_ratio",
        "tradeloop_tick_to_order_seconds_bucket",
        "tradeloop_process_resident_memory_bytes",
    ):
        assert name in text, name
    assert 'tradeloop_bus_events_total{lane="normal",type="Bar"}' in text
    assert "tradeloop_tick_to_order_seconds_count 0.0" not in text  # orders were timed
    assert 'tradeloop_risk_limit_utilisation_ratio{limit="max_position_quantity"}' not in text  # off
    assert health["status"] == "ok"
    assert set(health["services"]) == {"execution", "indicators", "strategies", "market-data"}


def test_a_crashing_feed_is_restarted_and_resumes_where_it_stopped() -> None:
    cfg = PaperConfig.model_validate(synthetic_config(speed=10_000_000))
    loaded = load_data(cfg.data)
    attempts: list[int] = []
    position = {"next": 0}

    async def flaky() -> AsyncIterator[Data]:
        attempts.append(position["next"])
        while position["next"] < len(loaded.data):
            item = loaded.data[position["next"]]
            if len(attempts) == 1 and position["next"] == 5_000:
                raise ConnectionError("feed dropped")
            position["next"] += 1
            yield item

    node = PaperNode(cfg, loaded=LoadedData(loaded.instrument, loaded.data, {}), feed=flaky)
    states: list[ServiceStateChanged] = []

    async def scenario() -> Any:
        task = asyncio.create_task(node.run(install_signal_handlers=False))
        await until(lambda: node.kernel is not None, 10)
        assert node.kernel is not None
        node.kernel.bus.subscribe(ServiceStateChanged, states.append)
        return await task

    result = asyncio.run(scenario())
    assert attempts == [0, 5_000]
    assert result.delivered == len(loaded.data)
    feed_states = [s.state for s in states if s.service == "market-data"]
    assert ServiceState.INITIALIZING in feed_states  # restarted
    assert ServiceState.FAILED not in feed_states


def test_sigterm_stops_the_node_gracefully_with_a_clean_store(tmp_path: Path) -> None:
    data = synthetic_config(speed=20_000)
    data["log"] = {"enabled": True}
    data["run"]["output_dir"] = str(tmp_path)
    path = tmp_path / "node.yaml"
    path.write_text(yaml.safe_dump(data))
    exe = Path(sys.executable).with_name("tradeloop")
    proc = subprocess.Popen(
        [str(exe), "paper", str(path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    log = tmp_path / "paper-test" / "store.sqlite"
    deadline = time.monotonic() + 30
    while not log.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(2.0)  # trading under way
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "signal SIGTERM" in out
    with SqliteEventStore(log) as store:
        report = store.verify()
        records = list(store.read())
    assert report.ok, report
    assert records
    assert report.good == len(records) == records[-1].seq  # no gap, nothing torn
    types = {r.type_name for r in records}
    assert {"Bar", "ComponentStateChanged", "ServiceStateChanged"} <= types


def test_a_session_that_fails_to_start_leaves_the_previous_store_as_it_was(tmp_path: Path) -> None:
    data = synthetic_config(speed=10_000_000)
    data["data"]["synthetic"]["count"] = 2_000
    data["log"] = {"enabled": True}
    data["run"]["output_dir"] = str(tmp_path)
    store = tmp_path / "paper-test" / "store.sqlite"
    run_node(PaperNode(PaperConfig.model_validate(data)))
    before = store.read_bytes()

    data["strategies"][0]["config"]["instrument_id"] = "ZZZ.SIM"  # no such instrument
    with pytest.raises(Exception, match="could not be started"):
        run_node(PaperNode(PaperConfig.model_validate(data)))
    assert store.read_bytes() == before
    assert sorted(p.name for p in store.parent.iterdir()) == ["store.sqlite"]

    data["strategies"][0]["config"]["instrument_id"] = "ABC.SIM"
    data["data"]["synthetic"]["count"] = 1_000
    run_node(PaperNode(PaperConfig.model_validate(data)))  # a good session replaces it
    assert store.read_bytes() != before
    assert sorted(p.name for p in store.parent.iterdir()) == ["store.sqlite"]


async def until(condition: Any, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for a condition")
        await asyncio.sleep(0.02)


if os.name != "posix":  # pragma: no cover - signals
    pytest.skip("POSIX signals", allow_module_level=True)


def test_hot_reload_applies_strategy_and_method_settings_and_refuses_a_new_strategy_class(
    tmp_path: Path,
) -> None:
    path = tmp_path / "node.yaml"
    data = synthetic_config(speed=20_000)
    data["strategies"][0]["config"]["method"] = "trend"
    data["lifecycle"] = {"methods": {"trend": {"exits": {"stop_loss_pct": 10}}}}
    path.write_text(yaml.safe_dump(data))
    node = PaperNode(load_config(PaperConfig, path), config_path=path)
    seen: list[ConfigReloaded | ConfigRejected] = []

    async def scenario() -> None:
        task = asyncio.create_task(node.run(install_signal_handlers=False))
        await until(lambda: node.reloader is not None, 10)
        assert node.kernel is not None
        node.kernel.bus.subscribe(ConfigReloaded, seen.append)
        node.kernel.bus.subscribe(ConfigRejected, seen.append)
        await asyncio.sleep(0.3)
        data["strategies"][0]["config"]["quantity"] = 20
        data["lifecycle"]["methods"]["trend"]["exits"]["stop_loss_pct"] = 5
        path.write_text(yaml.safe_dump(data))
        await until(lambda: any(isinstance(m, ConfigReloaded) for m in seen), 15)
        data["strategies"][0]["class"] = "tradeloop.strategy.samples:MeanReversion"
        path.write_text(yaml.safe_dump(data))
        await until(lambda: any(isinstance(m, ConfigRejected) for m in seen), 15)
        node.request_stop("test done")
        await task

    asyncio.run(scenario())
    (reloaded,) = [m for m in seen if isinstance(m, ConfigReloaded)]
    assert set(reloaded.changed) == {
        "strategies.0.config.quantity",
        "lifecycle.methods.trend.exits.stop_loss_pct",
    }
    assert node.kernel is not None
    strategy = node.kernel.strategies[0]
    assert strategy.config.quantity == 20  # type: ignore[attr-defined]
    assert node.kernel.monitor is not None
    assert node.kernel.monitor.methods["trend"].exits.stop_loss_pct == 5
    (rejected,) = [m for m in seen if isinstance(m, ConfigRejected)]
    assert any("restart" in line for line in rejected.errors)
