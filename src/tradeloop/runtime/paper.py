"""The paper-trading node: the backtest's components on the live clock, under an orchestrator.

``PaperNode(config).run()`` builds the same :class:`~tradeloop.runtime.kernel.Kernel` a
backtest builds (strategies, risk, execution, portfolio, lifecycle, simulated venue) on a
:class:`~tradeloop.core.clock.LiveClock`, and runs it on asyncio:

- **market data**: the configured data (the shipped sample by default) replayed as a live
  feed would deliver it: the clock starts at the first timestamp and runs ``node.speed`` times
  faster than the wall clock; each message is delivered when the clock reaches it (its venue
  matches it first, then the bus publishes it, as in the backtest). The feed is a service: if
  it crashes it is restarted and resumes where it stopped;
- **services** (:mod:`tradeloop.runtime.services`): trade execution (authorisation), the
  strategies and the market data, started in dependency order, health-checked, restarted with
  backoff, stopped in reverse;
- **the event store**: every message captured before its handlers run, into the
  ``EventStore`` configured under ``node.store`` (SQLite by default, PostgreSQL at scale),
  committed per its durability policy and at least once a second;
- **observability**: structured logs, and ``/metrics`` and ``/health`` on ``node.metrics_port``;
- **hot reload**: edits of the config file are validated and applied live (risk limits, log
  levels) or rejected with the running config kept (:mod:`tradeloop.runtime.reload`).

Remote venue and crash recovery
-------------------------------
With ``node.venue.mode: remote`` the market data and the execution come from a venue server
(:mod:`tradeloop.venues.simulated.server`) on ``node.venue.socket``, in lock-step, through the
:class:`~tradeloop.runtime.recovery.VenueLink` that the recoverable node uses too: the market
data service's stream is the server's items, the execution client is a
:class:`~tradeloop.runtime.recovery.RemoteVenueClient`, and each item is processed and
committed to the SQLite store before it is acknowledged. At start the node recovers from that
store (a node killed at any instant resumes exactly where it was): it re-runs the stored items
with nothing sent to the venue, checks every re-derived message byte for byte against the
store, reconciles with the venue and resumes. The clock is then a
:class:`~tradeloop.core.clock.SimulatedClock` set from the items' times, not a fast live
clock: a live clock would let wall time (how fast the process ran, when it was killed) decide
when timers fire relative to the items, and a rebuild would diverge from the stored log. The
store holds the messages of the venue's work (items, answers, the session's end); what the
services publish on their own schedule (state changes, health, wall-clock alerts) is not
replayable and is not stored in this mode. Working orders are kept at shutdown: they live at
the venue, and a restarted node finds them again.

Handlers stay synchronous: I/O (the feed's waiting, the store's writes, HTTP) runs in tasks and
comes back as messages. Shutdown (``SIGINT``/``SIGTERM``, :meth:`PaperNode.request_stop`, the
end of the data, or a background task that failed): stop intake, stop the services (the feed
first, then the strategies), drain the bus, cancel or keep working orders (``node.on_shutdown``),
cancel the clock's timers, flush and close the store. A second signal exits at once.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tradeloop.config.snapshots import SnapshotStore
from tradeloop.core.clock import NANOS_PER_SECOND, LiveClock, SimulatedClock
from tradeloop.core.errors import ConfigError, TradeloopError
from tradeloop.core.message import Data
from tradeloop.lifecycle.monitor import DEFAULT_METHOD
from tradeloop.model.commands import CancelAllOrders, SubmitOrder
from tradeloop.model.events import Alert, AlertSeverity
from tradeloop.model.objects import Money
from tradeloop.observe.http import MetricsServer
from tradeloop.observe.latency import LatencyHistogram
from tradeloop.observe.logging import configure_logging, set_levels
from tradeloop.observe.metrics import NodeMetrics, NodeSnapshot
from tradeloop.risk.breakers import BREAKERS
from tradeloop.runtime.build import LoadedData, configure_kernel, load_data, strategy_config
from tradeloop.runtime.config import PaperConfig
from tradeloop.runtime.kernel import Kernel
from tradeloop.runtime.recording import StoreRecorder, open_store
from tradeloop.runtime.recovery import RecoveryReport, VenueItem, VenueLink
from tradeloop.runtime.reload import CallbackApplier, ConfigReloader, RiskApplier
from tradeloop.runtime.services import (
    IndicatorService,
    MarketDataService,
    Orchestrator,
    StrategyService,
    TradeExecutionService,
)
from tradeloop.strategy.config import StrategyConfig
from tradeloop.strategy.strategy import Strategy

__all__ = ["IMMUTABLE_KEYS", "PaperNode", "PaperResult"]

_log = logging.getLogger("tradeloop.paper")

IMMUTABLE_KEYS = {
    "venue": "the venue cannot change while orders may be working; restart the node",
    "data": "the market data source cannot change live; restart the node",
    "run": "the run's identity and output folder are fixed for its life",
    "node": "node settings (speed, ports, shutdown) apply at start; restart the node",
    "logging.format": "the log format is set at start; restart the node to change it",
    "risk.breakers.risk_breach.check_interval_seconds": (
        "the risk breach check's timer is set at start; restart the node to change its interval"
    ),
}
"""Config sections that cannot change while the node runs, with the reason a change is refused."""

_OVERLOAD_LAG_NS = NANOS_PER_SECOND // 2
"""Wall-clock lag of the feed behind its schedule that counts as overload."""
_OVERLOAD_SECONDS = 5.0
"""How long the lag must last before an overload alert."""


@dataclass(slots=True)
class PaperResult:
    """What a finished paper session did."""

    delivered: int
    orders: int
    fills: int
    final_equity: Money
    realized_pnl: Money
    event_log_path: Path | None
    stopped_by: str
    open_orders_at_stop: int
    alerts: list[str] = field(default_factory=list)


class PaperNode:
    """A paper-trading node.

    Parameters
    ----------
    config:
        The node's validated config.
    config_path:
        The file it was loaded from (watched for hot reload when ``node.watch_config``).
    overrides:
        The ``--set`` overrides it was loaded with (applied again on every reload).
    loaded:
        Market data already loaded (default: what ``config.data`` names).
    event_log:
        The SQLite event store's file (default: ``node.store.path``, else
        ``<run.output_dir>/<run.name>/store.sqlite``); a session replaces an older file.
        Nothing is recorded with ``log.enabled: false``.
    feed:
        A market-data feed to use instead of replaying the data: a factory of async iterators
        (called again when the market-data service restarts after a crash). The data still
        declares what strategies may subscribe to.
    """

    def __init__(
        self,
        config: PaperConfig,
        *,
        config_path: Path | None = None,
        overrides: Sequence[str] = (),
        loaded: LoadedData | None = None,
        event_log: Path | None = None,
        feed: Callable[[], AsyncIterator[Data]] | None = None,
    ) -> None:
        self.config = config
        self._feed = feed
        self._path = config_path
        self._overrides = tuple(overrides)
        self._loaded = loaded
        self._log_path = event_log
        self.kernel: Kernel | None = None
        self.orchestrator: Orchestrator | None = None
        self.metrics: NodeMetrics | None = None
        self.server: MetricsServer | None = None
        self.reloader: ConfigReloader[PaperConfig] | None = None
        self._stop = asyncio.Event()
        self._stopped_by = "end of data"
        self._previous_store: list[tuple[Path, Path]] = []  # (moved aside, original) until started
        self._signals = 0
        self._delivered = 0
        self._lag_since: float | None = None
        self._alerts: list[str] = []
        self._position = 0  # the next data item the feed delivers (survives a feed restart)
        self._intake_open = True
        self._ran = False
        self._failure: tuple[str, BaseException] | None = None
        self._lag_alerted = False
        self._last_losses = 0
        self._lossy_seconds = 0
        self._tick_started: int | None = None
        self.tick_to_order = LatencyHistogram()
        """Wall time from each market-data delivery to each order it caused (fixed memory)."""
        self.link: VenueLink | None = None
        """The link to the venue server (``node.venue.mode: remote``)."""
        self.recovery: RecoveryReport | None = None
        """What the start's recovery did (remote mode, once the feed has started)."""
        self._pending: VenueItem | None = None

    # -- control -------------------------------------------------------------------------------

    def request_stop(self, reason: str = "stop requested") -> None:
        """Begin a graceful shutdown (what SIGINT and SIGTERM do): intake stops at once, then the
        services stop, working orders are settled and the store is closed. Later calls do
        nothing (the first reason is kept)."""
        if self._stop.is_set():
            return
        self._intake_open = False
        self._stopped_by = reason
        self._stop.set()

    def _on_signal(self, sig: signal.Signals) -> None:
        """SIGINT/SIGTERM: the first stops gracefully, a second exits at once (128 + its number)."""
        self._signals += 1
        if self._signals > 1:
            os._exit(128 + sig.value)  # a second signal: out at once, as promised
        self.request_stop(f"signal {sig.name}")

    @property
    def metrics_port(self) -> int | None:
        return None if self.server is None else self.server.port

    # -- the run --------------------------------------------------------------------------------

    async def run(self, *, install_signal_handlers: bool = True) -> PaperResult:
        if self._ran:
            raise TradeloopError("a PaperNode runs once; build a new node to run again")
        self._ran = True
        cfg = self.config
        configure_logging(fmt=cfg.logging.format, level=cfg.logging.level, levels=cfg.logging.levels)
        loaded = self._loaded if self._loaded is not None else load_data(cfg.data)
        data = loaded.data
        if not data:
            raise TradeloopError("data: the source holds no market data")
        remote = cfg.node.venue.mode == "remote"
        # Remote: the venue's item times drive the clock, so a rebuild is exact (module docstring).
        clock = (
            SimulatedClock(start_ns=data[0].ts_init)
            if remote
            else LiveClock(start_ns=data[0].ts_init, speed=cfg.node.speed)
        )
        kernel = Kernel(
            clock,
            seed=cfg.run.seed,
            risk=cfg.risk,
            lifecycle=cfg.lifecycle,
            equity_sample_ns=cfg.report.equity_sample_seconds * NANOS_PER_SECOND,
        )
        self.kernel = kernel
        configure_kernel(kernel, cfg, loaded.instrument)
        kernel.declare_data(data)
        kernel.build(register_strategies=False)
        kernel.bus.subscribe(Alert, self._on_alert)
        kernel.bus.subscribe(SubmitOrder, self._on_submit, priority=10_000)
        loop = asyncio.get_running_loop()
        log: StoreRecorder | None = None
        handled: list[signal.Signals] = []
        tasks: list[asyncio.Task[None]] = []
        waiters: list[asyncio.Task[Any]] = []
        open_orders = 0
        try:
            if remote:
                assert isinstance(clock, SimulatedClock)
                self.link = self._open_link(kernel, clock, str(loaded.instrument.venue))
            else:
                log = self._open_log()
            if install_signal_handlers:
                for sig in (signal.SIGINT, signal.SIGTERM):
                    loop.add_signal_handler(sig, self._on_signal, sig)
                    handled.append(sig)
            await self._start_observability(kernel)
            orchestrator = self._orchestrator(kernel, data)
            await orchestrator.start()
            self._drop_previous_store()  # the new session is under way: the old one goes
            tasks.append(self._background(kernel, self._housekeeping(kernel, log), "housekeeping"))
            if remote and cfg.node.watch_config and self._path is not None:
                # A live change is not yet part of the store a recovery re-runs, so a rebuild
                # after a crash would diverge: in remote mode the config stays as started.
                _log.warning(
                    "hot reload is off with node.venue.mode 'remote' (changes would not survive recovery)"
                )
            elif self._path is not None and cfg.node.watch_config:
                self.reloader = self._reloader(kernel)
                tasks.append(self._background(kernel, self.reloader.watch(stop=self._stop), "config watcher"))
            feed = orchestrator.service("market-data")
            assert isinstance(feed, MarketDataService)
            waiters = [asyncio.create_task(feed.wait_exhausted()), asyncio.create_task(self._stop.wait())]
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
            open_orders = await self._shutdown(kernel, orchestrator)
        finally:
            # Also when the run raised or was cancelled: nothing of the node may outlive it, and
            # nothing may publish once the log is closed.
            self._intake_open = False
            self._stop.set()
            for task in (*waiters, *tasks):
                task.cancel()
            await asyncio.gather(*waiters, *tasks, return_exceptions=True)  # failures: _background
            if self.orchestrator is not None and self.orchestrator.is_running:
                await self.orchestrator.stop(timeout=cfg.node.shutdown_timeout_seconds)
            kernel.cancel_timers()
            kernel.bus.drain()
            for sig in handled:
                loop.remove_signal_handler(sig)
            if self.server is not None:
                await self.server.stop()
            if self.link is not None:
                self.link.close()  # what it holds is committed item by item
            if log is not None:
                log.close()  # last: it may raise (a writer that died)
            self._restore_previous_store()  # only if the session never started
        if self._failure is not None:
            name, exc = self._failure
            raise TradeloopError(f"paper node: its {name} failed: {type(exc).__name__}: {exc}") from exc
        portfolio = kernel.portfolio
        assert portfolio is not None
        return PaperResult(
            delivered=self._delivered,
            orders=kernel.bus.count(SubmitOrder),  # all of them (closed ones may be purged)
            fills=portfolio.fills,
            final_equity=portfolio.equity(),
            realized_pnl=portfolio.money(portfolio.realized_pnl_raw()),
            event_log_path=(
                self.link.store_path if self.link is not None else None if log is None else log.path
            ),
            stopped_by=self._stopped_by,
            open_orders_at_stop=open_orders,
            alerts=list(self._alerts),
        )

    def _background(self, kernel: Kernel, work: Coroutine[Any, Any, None], name: str) -> asyncio.Task[None]:
        """Run ``work`` as a task whose failure is reported and stops the node (never unseen)."""
        task = asyncio.create_task(work, name=f"paper.{name}")

        def finished(task: asyncio.Task[None]) -> None:
            if task.cancelled():
                return
            exc = task.exception()
            if exc is None or self._failure is not None:
                return
            self._failure = (name, exc)
            error = exc if isinstance(exc, Exception) else TradeloopError(repr(exc))
            kernel.bus.report_failure(f"PaperNode.{name}", "task", error)
            self.request_stop(f"{name} failed: {type(exc).__name__}: {exc}")

        task.add_done_callback(finished)
        return task

    def _open_log(self) -> StoreRecorder | None:
        """The node's event store (behind the ``EventStore`` port), recording every message."""
        cfg = self.config
        if not cfg.log.enabled:
            return None
        settings = cfg.node.store
        path = self._log_path or settings.path or cfg.run.output_dir / cfg.run.name / "store.sqlite"
        if settings.backend == "sqlite":
            settings = settings.model_copy(update={"path": path})
            # A session starts a new store (until crash recovery continues one): the same seed
            # mints the same ids, which an old store would take as duplicates. The old one is
            # moved aside, and put back if this session fails to start (a bad config loses
            # nothing); it is deleted once the session is under way.
            self._move_previous_store(path)
        store = open_store(settings, path)
        if store.last_seq():
            store.close()
            raise TradeloopError(
                "node.store: the PostgreSQL store already holds a session; use a new schema_name"
            )
        recorder = StoreRecorder(store, path=path if settings.backend == "sqlite" else None)
        assert self.kernel is not None
        self.kernel.bus.add_recorder(recorder.record)
        return recorder

    @staticmethod
    def _store_files(path: Path) -> list[Path]:
        return [path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")]

    def _move_previous_store(self, path: Path) -> None:
        aside = path.with_name(path.name + ".previous")
        for old, new in zip(self._store_files(path), self._store_files(aside), strict=True):
            new.unlink(missing_ok=True)  # a leftover of a run that could not put it back
            if old.exists():
                old.replace(new)
                self._previous_store.append((new, old))

    def _drop_previous_store(self) -> None:
        for aside, _ in self._previous_store:
            aside.unlink(missing_ok=True)
        self._previous_store.clear()

    def _restore_previous_store(self) -> None:
        if not self._previous_store:
            return
        path = self._previous_store[0][1]
        for stale in self._store_files(path):
            stale.unlink(missing_ok=True)  # the failed session's few records
        for aside, original in self._previous_store:
            aside.replace(original)
        self._previous_store.clear()

    def _open_link(self, kernel: Kernel, clock: SimulatedClock, venue: str) -> VenueLink:
        """Remote mode: the link to the venue server, over the node's SQLite store (kept: it is
        what the node recovers from)."""
        cfg = self.config
        if not cfg.log.enabled:
            raise ConfigError("node.venue.mode 'remote' recovers from the event store; set log.enabled: true")
        if cfg.node.store.backend != "sqlite":
            raise ConfigError("node.venue.mode 'remote' needs node.store.backend 'sqlite'")
        socket_path = cfg.node.venue.socket
        assert socket_path is not None  # the config validator guarantees it
        path = self._log_path or cfg.node.store.path or cfg.run.output_dir / cfg.run.name / "store.sqlite"
        path.parent.mkdir(parents=True, exist_ok=True)
        # The strategies are started (unrecorded) by their service before the feed recovers.
        return VenueLink(
            kernel, clock, venue, path, socket_path, stop_strategies_at_end=False, node_name="paper-node"
        )

    async def _remote_feed(self, link: VenueLink) -> AsyncIterator[Data]:
        """The venue server's items as the feed: recover once, then item by item; each is
        acknowledged only after :meth:`_deliver` processed and committed it."""
        if self.recovery is None:
            try:
                self.recovery = link.recover()
            except Exception as exc:  # noqa: BLE001 - any failure to recover stops the node, reported
                self._fail_link(exc)
                return
        while self._intake_open and self._failure is None:
            try:
                item = link.next_item()
            except Exception as exc:  # noqa: BLE001 - a lost venue stops the node, reported
                self._fail_link(exc)
                return
            if item is None:
                return
            self._pending = item
            yield item.data
            await asyncio.sleep(0)  # let the node's other tasks run between items

    def _fail_link(self, exc: Exception) -> None:
        """A failure of the link is fatal: a half-processed item cannot be retried in place."""
        self._intake_open = False
        if self._failure is None:
            self._failure = ("venue link", exc)
        self.request_stop(f"venue link failed: {type(exc).__name__}: {exc}")

    def _orchestrator(self, kernel: Kernel, data: Sequence[Data]) -> Orchestrator:
        assert kernel.risk is not None
        orchestrator = Orchestrator(
            kernel.bus,
            kernel.clock,
            kernel.ids,
            health_interval_s=self.config.node.health_interval_seconds,
        )
        orchestrator.add(TradeExecutionService(kernel.risk, kernel.bus))
        # Regime of each instrument from the bars strategies subscribe to (RegimeChanged).
        orchestrator.add(
            IndicatorService(kernel.bus, kernel.clock, kernel.ids, spec=self.config.data.bar_spec)
        )
        orchestrator.add(
            StrategyService(kernel.context(), kernel.strategies, depends_on=("execution", "indicators"))
        )
        orchestrator.add(
            MarketDataService(
                self._deliver,
                stream=self._stream(kernel, data),
                depends_on=("strategies", "execution"),
            )
        )
        self.orchestrator = orchestrator
        return orchestrator

    def _stream(self, kernel: Kernel, data: Sequence[Data]) -> Callable[[], AsyncIterator[Data]]:
        link = self.link
        if link is not None:
            return lambda: self._remote_feed(link)
        if self._feed is not None:
            return self._feed
        return lambda: self._replay(kernel, data)

    def _deliver(self, item: Data) -> None:
        if not self._intake_open:
            return  # stopping: whatever a feed still hands over stays out
        assert self.kernel is not None
        self._tick_started = time.perf_counter_ns()
        try:
            if self.link is None:
                self.kernel.deliver(item)
            else:
                pending, self._pending = self._pending, None
                if pending is None or pending.data is not item:
                    raise TradeloopError("paper node: remote market data arrived without its venue item")
                try:
                    self.link.store_item(pending)  # committed before the feed acknowledges it
                except Exception as exc:  # noqa: BLE001 - never retry a half-processed item
                    self._fail_link(exc)
                    return
        finally:
            self._tick_started = None
        self._delivered += 1

    def _on_submit(self, command: SubmitOrder) -> None:
        """Tick-to-order latency: from a market-data message's delivery to an order it caused."""
        started = self._tick_started
        if started is not None:
            elapsed = time.perf_counter_ns() - started
            self.tick_to_order.record(elapsed)
            if self.metrics is not None:
                self.metrics.observe_tick_to_order_ns(elapsed)

    async def _replay(self, kernel: Kernel, data: Sequence[Data]) -> AsyncIterator[Data]:
        """The recorded data as a live feed: each item when the clock reaches its time."""
        clock = kernel.clock
        assert isinstance(clock, LiveClock)
        while self._intake_open and self._position < len(data):
            item = data[self._position]
            delay = clock.delay_seconds(item.ts_init)
            if delay > 0:
                self._lag_since = None
                self._lag_alerted = False
                await asyncio.sleep(delay)
                if not self._intake_open:
                    break
            else:
                self._watch_lag(kernel, clock.timestamp_ns() - item.ts_init)
            self._position += 1
            yield item

    def _watch_lag(self, kernel: Kernel, behind_ns: int) -> None:
        """Raise an overload alert when the feed stays behind its schedule."""
        assert isinstance(kernel.clock, LiveClock)
        wall_behind = behind_ns / kernel.clock.speed
        if wall_behind < _OVERLOAD_LAG_NS:
            self._lag_since = None
            self._lag_alerted = False
            return
        if self._lag_alerted:
            return  # once per episode: the feed has not caught up since
        now = time.monotonic()
        if self._lag_since is None:
            self._lag_since = now
        elif now - self._lag_since >= _OVERLOAD_SECONDS:
            self._lag_alerted = True
            conflated = kernel.bus.conflated
            kernel.bus.emit(
                Alert,
                severity=AlertSeverity.WARNING,
                source="paper_node",
                kind="overload",
                message=(
                    f"market data is {wall_behind / NANOS_PER_SECOND:.2f} s behind the clock for "
                    f"{_OVERLOAD_SECONDS:.0f} s (conflated so far: {conflated})"
                ),
            )

    async def _housekeeping(self, kernel: Kernel, log: StoreRecorder | None) -> None:
        """Deliver venue commands whose latency passed, and hand log batches to the writer."""
        retain = self.config.node.retain_closed
        next_purge = time.monotonic() + 1.0
        while not self._stop.is_set():
            kernel.deliver_due_commands()
            if log is not None:
                log.maybe_flush()
            if time.monotonic() >= next_purge:
                if log is not None:
                    log.flush()  # a quiet node's messages reach the disk within a second too
                kernel.purge_closed(retain)
                self._watch_bus_overload(kernel)
                next_purge = time.monotonic() + 1.0
            await asyncio.sleep(0.005)

    def _watch_bus_overload(self, kernel: Kernel) -> None:
        """Once a second: lanes that conflate, drop or overflow every second for five seconds
        in a row are a sustained overload; say so once per episode."""
        bus = kernel.bus
        losses = bus.conflated + bus.dropped + bus.high_overflows
        if losses > self._last_losses:
            self._lossy_seconds += 1
            if self._lossy_seconds == int(_OVERLOAD_SECONDS):
                bus.emit(
                    Alert,
                    severity=AlertSeverity.WARNING,
                    source="paper_node",
                    kind="overload",
                    message=(
                        f"the bus has conflated, dropped or overflowed messages every second for "
                        f"{_OVERLOAD_SECONDS:.0f} s (conflated {bus.conflated}, dropped {bus.dropped}, "
                        f"HIGH overflows {bus.high_overflows})"
                    ),
                )
        else:
            self._lossy_seconds = 0
        self._last_losses = losses

    async def _start_observability(self, kernel: Kernel) -> None:
        metrics = NodeMetrics()
        metrics.watch_bus(kernel.bus)
        metrics.time_handlers(kernel.bus, sample_every=64)
        metrics.set_snapshot_source(lambda: self._snapshot(kernel))
        self.metrics = metrics
        node = self.config.node
        if node.metrics_port is not None:
            server = MetricsServer(
                metrics, host=node.metrics_host, port=node.metrics_port, health=self._health
            )
            await server.start()
            self.server = server

    def _health(self) -> dict[str, object]:
        if self.orchestrator is None:
            return {"status": "starting"}
        return dict(self.orchestrator.health())

    def _snapshot(self, kernel: Kernel) -> NodeSnapshot:
        portfolio, risk, breakers = kernel.portfolio, kernel.risk, kernel.breakers
        assert portfolio is not None
        assert risk is not None
        assert breakers is not None
        orders = kernel.execution.order_counts()  # purged closed orders still count
        scale = float(NANOS_PER_SECOND)
        equity_peak = portfolio.peak_equity_raw
        stop_losses = 0 if kernel.monitor is None else kernel.monitor.exits_by_reason().get("STOP_LOSS", 0)
        return NodeSnapshot(
            orders_by_status=orders,
            fills=portfolio.fills,
            open_positions=len(portfolio.positions_open()),
            realized_pnl=portfolio.realized_pnl_raw() / scale,
            unrealized_pnl=portfolio.unrealized_pnl_raw() / scale,
            daily_pnl=portfolio.daily_pnl_raw() / scale,
            gross_exposure=portfolio.gross_exposure_raw() / scale,
            net_exposure=portfolio.net_exposure_raw() / scale,
            drawdown=portfolio.drawdown_raw / equity_peak if equity_peak > 0 else 0.0,
            limit_utilisation=risk.limit_utilisation(),
            breakers={name: breakers.is_tripped(name) for name in BREAKERS},
            stop_losses=stop_losses,
        )

    def _reloader(self, kernel: Kernel) -> ConfigReloader[PaperConfig]:
        assert self._path is not None
        assert kernel.risk is not None
        reloader = ConfigReloader(
            self._path,
            PaperConfig,
            bus=kernel.bus,
            clock=kernel.clock,
            ids=kernel.ids,
            snapshots=SnapshotStore.for_config(self._path),
            immutable=IMMUTABLE_KEYS,
            overrides=self._overrides,
            current=self.config,
        )
        reloader.register("risk", RiskApplier(kernel.risk))
        reloader.register("strategies", StrategiesApplier(kernel.strategies))
        reloader.register(
            "lifecycle", CallbackApplier(_lifecycle_commit(kernel), prepare=_lifecycle_prepare(kernel))
        )
        reloader.register("logging", CallbackApplier(_apply_log_levels))
        return reloader

    async def _shutdown(self, kernel: Kernel, orchestrator: Orchestrator) -> int:
        """Stop intake, stop the services, drain, settle working orders as configured."""
        node = self.config.node
        self._intake_open = False  # stop intake: _deliver drops whatever a feed still hands over
        # The services stop first, dependents first: the feed's task is cancelled at once (a
        # replay asleep until its next item, a live feed that never ends), and the strategies
        # stop before their orders are cancelled, so none answers a cancel with a new order.
        await orchestrator.stop(timeout=node.shutdown_timeout_seconds)
        kernel.bus.drain()
        open_orders = kernel.execution.open_orders()
        # Remote: working orders live at the venue, which outlives the node (module docstring).
        if node.on_shutdown == "cancel" and open_orders and self.link is None:
            seen: set[tuple[str, str]] = set()
            for order in open_orders:
                key = (order.strategy_id, order.instrument_id)
                if key in seen:
                    continue
                seen.add(key)
                kernel.bus.emit(
                    CancelAllOrders, strategy_id=order.strategy_id, instrument_id=order.instrument_id
                )
            deadline = time.monotonic() + node.shutdown_timeout_seconds
            while kernel.execution.open_orders() and time.monotonic() < deadline:
                kernel.deliver_due_commands()
                kernel.bus.drain()
                await asyncio.sleep(0.005)
        remaining = len(kernel.execution.open_orders())
        kernel.bus.drain()
        return remaining

    def _on_alert(self, alert: Alert) -> None:
        self._alerts.append(f"{alert.severity.value} {alert.kind}: {alert.message}")


def _apply_log_levels(old: PaperConfig, new: PaperConfig) -> None:
    set_levels({"tradeloop": new.logging.level, **new.logging.levels})


class StrategiesApplier:
    """Applies new strategy settings live: the same strategies (count and classes), each
    taking its new config through :meth:`~tradeloop.strategy.strategy.Strategy.update_config`."""

    def __init__(self, strategies: Sequence[Strategy]) -> None:
        self._strategies = list(strategies)
        self._staged: list[tuple[Strategy, StrategyConfig, StrategyConfig]] = []

    def prepare(self, old: PaperConfig, new: PaperConfig) -> None:
        if [e.class_path for e in new.strategies] != [e.class_path for e in old.strategies]:
            raise ConfigError("strategies: adding, removing or replacing a strategy needs a restart")
        staged = []
        for i, (before, after, strategy) in enumerate(
            zip(old.strategies, new.strategies, self._strategies, strict=True)
        ):
            if before == after:
                continue
            if not strategy.takes_live_config():
                raise ConfigError(
                    f"strategies.{i}: {type(strategy).__name__} cannot change its settings live; "
                    "restart the node"
                )
            staged.append((strategy, strategy_config(after, i), strategy.config))
        self._staged = staged

    def commit(self, old: PaperConfig, new: PaperConfig) -> None:
        done: list[tuple[Strategy, StrategyConfig]] = []
        try:
            for strategy, config, previous in self._staged:
                strategy.update_config(config)
                done.append((strategy, previous))
        except BaseException:
            for strategy, previous in reversed(done):  # all or nothing
                strategy.update_config(previous)
            raise

    def rollback(self, old: PaperConfig, new: PaperConfig) -> None:
        for strategy, _, previous in reversed(self._staged):
            strategy.update_config(previous)


def _lifecycle_prepare(kernel: Kernel) -> Callable[[PaperConfig, PaperConfig], None]:
    def prepare(old: PaperConfig, new: PaperConfig) -> None:
        monitor = kernel.monitor
        if monitor is None:
            if new.lifecycle.methods:
                raise ConfigError(
                    "lifecycle.methods: the node started without methods; restart it to add some"
                )
            return
        in_use = {status.method for status in monitor.status()} | {
            s.config.method for s in kernel.strategies if s.config.method is not None
        }
        missing = sorted(in_use - set(new.lifecycle.methods) - {DEFAULT_METHOD})
        if missing:
            raise ConfigError(f"lifecycle.methods: {', '.join(missing)} in use; cannot remove live")

    return prepare


def _lifecycle_commit(kernel: Kernel) -> Callable[[PaperConfig, PaperConfig], None]:
    def commit(old: PaperConfig, new: PaperConfig) -> None:
        kernel.update_lifecycle(new.lifecycle)

    return commit
