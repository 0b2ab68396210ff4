"""A review of the paper node's runtime: how it stops, what it leaves behind, what it flushes,
and what the load test reports. Each test pins a bug the review found (now fixed).
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from tradeloop.cli.main import app
from tradeloop.core.clock import NANOS_PER_SECOND, LiveClock, TimeEvent
from tradeloop.core.errors import TradeloopError
from tradeloop.core.message import Data, Event
from tradeloop.model.data import Bar
from tradeloop.model.enums import OrderSide
from tradeloop.model.events import OrderCanceled
from tradeloop.model.instruments import Equity
from tradeloop.model.objects import Money
from tradeloop.risk.config import RiskConfig
from tradeloop.runtime.build import LoadedData, load_data
from tradeloop.runtime.config import PaperConfig
from tradeloop.runtime.kernel import Kernel
from tradeloop.runtime.loadtest import run_loadtest
from tradeloop.runtime.paper import PaperNode, PaperResult
from tradeloop.runtime.services import MarketDataService
from tradeloop.strategy.config import StrategyConfig
from tradeloop.strategy.strategy import Strategy
from tradeloop.testkit.store_files import stored_seqs
from tradeloop.venues.simulated import AccountType, SimulatedVenueConfig

CROSSOVER = {
    "class": "tradeloop.strategy.samples:MovingAverageCrossover",
    "config": {"instrument_id": "ABC.SIM", "fast": 5, "slow": 20, "quantity": 10},
}


def node_config(
    *,
    strategy: dict[str, Any] | None = None,
    risk: dict[str, Any] | None = None,
    log: dict[str, Any] | None = None,
    **node: Any,
) -> PaperConfig:
    """200 synthetic one-minute bars of ABC.SIM; at ``speed`` 1 the node idles a minute between bars."""
    return PaperConfig.model_validate(
        {
            "run": {"name": "paper-review", "seed": 1},
            "data": {
                "source": "synthetic",
                "instrument": {"id": "ABC.SIM", "type": "equity"},
                "synthetic": {"count": 200, "seed": 3, "start_price": 100},
            },
            "venue": {"starting_balance": 1_000_000, "account_type": "MARGIN"},
            "strategies": [strategy or CROSSOVER],
            "risk": {"max_order_quantity": 100, **(risk or {})},
            "log": {"enabled": False, **(log or {})},
            "node": {
                "metrics_port": None,
                "health_interval_seconds": 0.2,
                "watch_config": False,
                **node,
            },
            "logging": {"level": "WARNING"},
        }
    )


def run_node(node: PaperNode) -> PaperResult:
    return asyncio.run(node.run(install_signal_handlers=False))


def up(node: PaperNode) -> bool:
    """Whether every service of the node has started."""
    orchestrator = node.orchestrator
    return orchestrator is not None and orchestrator.health()["status"] in ("ok", "degraded")


def feed_service(node: PaperNode) -> MarketDataService:
    assert node.orchestrator is not None
    feed = node.orchestrator.service("market-data")
    assert isinstance(feed, MarketDataService)
    return feed


def published(node: PaperNode) -> int:
    assert node.kernel is not None
    return sum(node.kernel.bus.stats().published.values())


async def until(condition: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for a condition")
        await asyncio.sleep(0.01)


def endless_feed(config: PaperConfig) -> tuple[LoadedData, Callable[[], AsyncIterator[Data]]]:
    """A live feed that never ends: the last bar again every millisecond."""
    loaded = load_data(config.data)
    last = loaded.data[-1]

    async def feed() -> AsyncIterator[Data]:
        while True:
            yield last
            await asyncio.sleep(0.001)

    return LoadedData(loaded.instrument, loaded.data, {}), feed


# -- stopping ----------------------------------------------------------------------------------


def test_a_stop_request_ends_a_replay_asleep_until_its_next_bar_at_once() -> None:
    node = PaperNode(node_config(speed=1.0, shutdown_timeout_seconds=1.0))

    async def scenario() -> tuple[PaperResult, float]:
        task = asyncio.create_task(node.run(install_signal_handlers=False))
        await until(lambda: up(node) and feed_service(node).delivered >= 1, 10)
        started = time.monotonic()
        node.request_stop("test done")
        result = await task
        return result, time.monotonic() - started

    result, took = asyncio.run(scenario())
    assert result.stopped_by == "test done"
    assert took < 0.5


def test_a_stop_request_ends_the_intake_of_a_feed_that_never_ends() -> None:
    config = node_config(speed=1.0, shutdown_timeout_seconds=1.0)
    loaded, feed = endless_feed(config)
    node = PaperNode(config, loaded=loaded, feed=feed)

    async def scenario() -> tuple[PaperResult, int, float]:
        task = asyncio.create_task(node.run(install_signal_handlers=False))
        await until(lambda: up(node) and feed_service(node).delivered >= 20, 10)
        started = time.monotonic()
        node.request_stop("test done")
        at_stop = feed_service(node).delivered
        result = await task
        return result, at_stop, time.monotonic() - started

    result, at_stop, took = asyncio.run(scenario())
    assert result.delivered == at_stop  # nothing came in once the stop was asked for
    assert took < 0.5


def test_a_cancelled_run_stops_its_services_and_nothing_publishes_after_it() -> None:
    config = node_config(speed=1.0)
    loaded, feed = endless_feed(config)
    node = PaperNode(config, loaded=loaded, feed=feed)

    async def scenario() -> tuple[bool, int]:
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(node.run(install_signal_handlers=False), 0.5)
        assert node.orchestrator is not None
        before = published(node)
        await asyncio.sleep(0.2)
        return node.orchestrator.is_running, published(node) - before

    still_running, published_after = asyncio.run(scenario())
    assert not still_running
    assert published_after == 0


def ignore(event: TimeEvent) -> None:
    """A timer callback that does nothing."""


def test_cancel_timers_clears_every_timer_a_kernel_set_on_a_live_clock() -> None:
    instrument = Equity("ABC.SIM")

    async def scenario() -> tuple[list[str], list[str]]:
        kernel = Kernel(
            LiveClock(),
            risk=RiskConfig.model_validate({"breakers": {"risk_breach": {"check_interval_seconds": 1}}}),
        )
        kernel.add_instrument(instrument)
        kernel.add_venue(
            "SIM",
            SimulatedVenueConfig(
                starting_balances=Money.from_str("1000000", "USD"), account_type=AccountType.MARGIN
            ),
        )
        kernel.build()
        kernel.clock.set_time_alert("review.alert", kernel.clock.timestamp_ns() + NANOS_PER_SECOND, ignore)
        set_before = kernel.clock.timer_names
        cancelled = kernel.cancel_timers()
        assert cancelled == set_before
        return set_before, kernel.clock.timer_names

    set_before, left = asyncio.run(scenario())
    assert "review.alert" in set_before
    assert len(set_before) >= 2  # the breakers' periodic check as well
    assert left == []


def test_no_timer_of_the_node_is_left_on_the_loop_after_run_returns() -> None:
    config = node_config(speed=100_000.0, risk={"breakers": {"risk_breach": {"check_interval_seconds": 60}}})
    node = PaperNode(config)

    async def scenario() -> list[str]:
        await node.run(install_signal_handlers=False)
        assert node.kernel is not None
        return node.kernel.clock.timer_names

    assert asyncio.run(scenario()) == []


def test_a_paper_node_runs_once_and_says_so_when_run_again() -> None:
    node = PaperNode(node_config(speed=10_000_000.0))
    first = run_node(node)
    assert first.delivered == 200
    with pytest.raises(TradeloopError, match="once"):
        run_node(node)


# -- background tasks and the event log ----------------------------------------------------------


class Unrecordable(Event, frozen=True, kw_only=True, gc=False):
    """An event the event log cannot encode (its payload is an arbitrary object)."""

    TYPE_NAME = "ReviewUnrecordable"
    payload: object


def test_a_failed_background_task_stops_the_node_and_still_releases_its_port(tmp_path: Path) -> None:
    config = node_config(
        speed=1.0, metrics_port=0, shutdown_timeout_seconds=0.5, log={"enabled": True, "batch_size": 1}
    )
    node = PaperNode(config, event_log=tmp_path / "events.sqlite")

    async def scenario() -> tuple[bool, bool]:
        task = asyncio.create_task(node.run(install_signal_handlers=False))
        await until(lambda: up(node) and node.metrics_port is not None, 10)
        assert node.kernel is not None
        now = node.kernel.clock.timestamp_ns()
        node.kernel.bus.publish(
            Unrecordable(id="x-1", correlation_id="x-1", ts_event=now, ts_init=now, payload=object())
        )
        done, _ = await asyncio.wait({task}, timeout=5.0)  # the store commits once a second
        stopped_by_itself = bool(done)
        if not stopped_by_itself:
            node.request_stop("test gave up waiting")
        await asyncio.wait({task})
        if not task.cancelled():
            task.exception()  # retrieved: the run may end by raising the task's error
        port_released = node.metrics_port is None
        if node.server is not None:
            await node.server.stop()  # the test's own cleanup: no socket may outlive it
        return stopped_by_itself, port_released

    stopped_by_itself, port_released = asyncio.run(scenario())
    assert stopped_by_itself
    assert port_released


def count_rows(path: Path) -> int:
    return len(stored_seqs(path))


def test_the_event_store_reaches_the_disk_within_seconds_while_the_node_is_quiet(tmp_path: Path) -> None:
    config = node_config(speed=1.0, shutdown_timeout_seconds=0.5, log={"enabled": True})
    path = tmp_path / "events.sqlite"
    node = PaperNode(config, event_log=path)

    async def scenario() -> int:
        task = asyncio.create_task(node.run(install_signal_handlers=False))
        await until(lambda: up(node) and feed_service(node).delivered >= 1, 10)
        await asyncio.sleep(1.2)  # housekeeping's once-a-second round has run
        rows = count_rows(path)
        node.request_stop("test done")
        await task
        return rows

    assert asyncio.run(scenario()) > 0


def test_a_second_stop_request_from_code_does_not_kill_the_process() -> None:
    code = textwrap.dedent(
        """
        from tradeloop.runtime.config import PaperConfig
        from tradeloop.runtime.paper import PaperNode

        config = PaperConfig.model_validate(
            {"strategies": [{"class": "tradeloop.strategy.samples:MovingAverageCrossover",
                             "config": {"instrument_id": "ES.SIM"}}]}
        )
        node = PaperNode(config)
        node.request_stop("operator")
        node.request_stop("operator again")
        print("still here")
        """
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "still here" in proc.stdout


# -- working orders at shutdown ----------------------------------------------------------------


class RequotingConfig(StrategyConfig):
    instrument_id: str = "ABC.SIM"


class RequotingStrategy(Strategy):
    """Keeps one buy order resting far below the market; a canceled one is replaced at once
    (as a market maker's quoting loop does)."""

    def __init__(self, config: RequotingConfig) -> None:
        super().__init__(config)
        self.cfg = config

    def on_start(self) -> None:
        self.subscribe_bars(self.cfg.instrument_id)

    def on_bar(self, bar: Bar) -> None:
        if not self.open_orders(bar.instrument_id):
            self._quote()

    def on_order_canceled(self, event: OrderCanceled) -> None:
        self._quote()

    def _quote(self) -> None:
        instrument = self.instrument(self.cfg.instrument_id)
        self.submit_order(
            self.order_factory.limit(
                instrument.id, OrderSide.BUY, instrument.make_qty(1), instrument.make_price("1.00")
            )
        )


def test_shutdown_cancels_working_orders_even_of_a_strategy_that_replaces_canceled_ones() -> None:
    requoting = {"class": f"{__name__}:RequotingStrategy", "config": {}}
    node = PaperNode(node_config(strategy=requoting, speed=10_000_000.0, shutdown_timeout_seconds=0.5))
    result = run_node(node)
    assert result.stopped_by == "end of data"
    assert result.orders >= 1
    assert result.open_orders_at_stop == 0


# -- the load test -------------------------------------------------------------------------------


def test_a_load_test_the_node_keeps_up_with_reports_the_target_rate() -> None:
    # Start-up and shutdown of the node are not part of the feed's span.
    report = run_loadtest(2_000, 0.3, order_every=50)
    assert report.delivered == 600
    assert report.orders == 12
    assert report.achieved_rate == pytest.approx(2_000, rel=0.01)
    assert report.duration_s == pytest.approx(0.3, rel=0.05)
    assert report.handler_errors == 0


def test_a_load_test_too_short_for_one_quote_is_refused() -> None:
    with pytest.raises(TradeloopError, match="makes no quote"):
        run_loadtest(0.5, 1.0)


def test_the_loadtest_command_refuses_a_run_without_quotes_with_exit_code_2() -> None:
    result = CliRunner().invoke(app, ["loadtest", "--rate", "0.5", "--duration", "1"])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert result.stderr.splitlines() == [
        "error: loadtest: rate 0.5/s for 1 s makes no quote; raise the rate or the duration"
    ]
