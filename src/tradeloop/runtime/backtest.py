"""The backtest engine: the whole loop on a simulated clock.

For each market-data message, in ``ts_init`` order (stable across streams):

1. the clock moves to the message's time, firing due timers in order;
2. each simulated venue delivers in-flight commands that have arrived, then matches resting
   orders against the message - the venue sees a price before anyone else, as in life;
3. the message is published on the bus, which runs to completion: portfolio marks, bar
   aggregation, strategies, then every command and event they cause (risk, execution, venue
   answers, fills, positions) in lane and handler-priority order.

Everything a run does is a function of its data, configuration and seed: ids come from a
seeded factory and time from the simulated clock, so the event log of a rerun is identical
(its content hash is in the result).
"""

from __future__ import annotations

import contextlib
import heapq
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from tradeloop.analysis.records import EquityPoint, TradeRecord
from tradeloop.analysis.statistics import Statistics, compute_statistics
from tradeloop.core.bus import BusStats
from tradeloop.core.clock import NANOS_PER_SECOND, SimulatedClock
from tradeloop.core.component import ComponentState
from tradeloop.core.errors import TradeloopError
from tradeloop.core.ids import InstrumentId, Venue
from tradeloop.core.message import Data
from tradeloop.lifecycle.exits import ExitEvaluator
from tradeloop.lifecycle.methods import LifecycleConfig, MethodConfig
from tradeloop.model.data import Bar, QuoteTick, TradeTick
from tradeloop.model.objects import Money, raw_to_decimal
from tradeloop.risk.config import RiskConfig
from tradeloop.runtime.kernel import Kernel
from tradeloop.store.event_log import SqliteEventLog
from tradeloop.venues.simulated import SimulatedExchange

__all__ = ["BacktestEngine", "BacktestResult"]

ProgressCallback = Callable[[int, int], None]
"""Called with (messages processed, messages total) every few thousand messages."""


@dataclass(slots=True)
class BacktestResult:
    """What a finished run produced."""

    run_id: str
    start_ns: int
    end_ns: int
    data_count: int
    wall_seconds: float
    starting_balance: Money
    final_equity: Money
    realized_pnl: Money
    commissions: Money
    orders: int
    fills: int
    trades: list[TradeRecord]
    equity: list[EquityPoint]
    statistics: Statistics
    bus: BusStats
    event_log_path: Path | None
    event_log_hash: str | None
    strategies: list[str] = field(default_factory=list)
    instruments: list[str] = field(default_factory=list)

    @property
    def messages(self) -> dict[str, int]:
        return self.bus.published

    @property
    def message_total(self) -> int:
        return sum(self.bus.published.values())


class BacktestEngine(Kernel):
    """A :class:`~tradeloop.runtime.kernel.Kernel` on a simulated clock, driven by recorded data.

    Parameters
    ----------
    seed:
        Seeds the id factory: the same seed gives the same ids and event log.
    risk:
        Risk limits; ``None`` means no limits.
    event_log:
        Path of the run's SQLite event log (must not exist); ``None`` keeps no log.
    event_log_batch:
        Messages per written batch (and the size at which the run hands a batch over).
    event_log_writer:
        ``"process"`` (default) writes the log in a child process on another core;
        ``"inline"`` writes it in this thread.
    equity_sample_ns:
        Minimum spacing of equity-curve points (every fill is sampled too).
    history_size:
        Latest messages the bus keeps in ``bus.history`` (0 keeps none).
    run_id:
        Name of the run in results and reports.
    lifecycle, exit_evaluator:
        The position lifecycle's methods and exit evaluator factory (see :class:`Kernel`).
    """

    def __init__(
        self,
        *,
        seed: int = 0,
        risk: RiskConfig | None = None,
        event_log: Path | str | None = None,
        event_log_batch: int = 20_000,
        event_log_writer: Literal["process", "inline"] = "process",
        equity_sample_ns: int = 60 * NANOS_PER_SECOND,
        history_size: int = 1_000,
        run_id: str = "backtest",
        lifecycle: LifecycleConfig | None = None,
        exit_evaluator: Callable[[MethodConfig], ExitEvaluator] = ExitEvaluator,
    ) -> None:
        self.clock: SimulatedClock = SimulatedClock()
        super().__init__(
            self.clock,
            seed=seed,
            risk=risk,
            equity_sample_ns=equity_sample_ns,
            history_size=history_size,
            lifecycle=lifecycle,
            exit_evaluator=exit_evaluator,
        )
        self.run_id = run_id
        self._log_path = Path(event_log) if event_log is not None else None
        if self._log_path is not None and self._log_path.exists():
            raise TradeloopError(f"event log {self._log_path} already exists; a run writes a new log")
        self._log_batch = event_log_batch
        self._log_writer: Literal["process", "inline"] = event_log_writer
        self._log: SqliteEventLog | None = None  # opened by run(), closed when it ends
        self._streams: list[Sequence[Data]] = []
        self._ran = False

    # -- setup -----------------------------------------------------------------------------

    def add_data(self, data: Sequence[Data]) -> None:
        """Add one stream of market data, in non-decreasing ``ts_init`` order."""
        self.declare_data(data)
        self._streams.append(data)

    def _merged(self) -> Iterator[Data]:
        if len(self._streams) == 1:
            return iter(self._streams[0])
        return heapq.merge(*self._streams, key=lambda d: d.ts_init)

    def run(self, *, progress: ProgressCallback | None = None) -> BacktestResult:
        """Run every message to the end and return the result. A run happens once."""
        if self._ran:
            raise TradeloopError("this engine has already run; build a new one")
        if not self._streams:
            raise TradeloopError("add data before running")
        if not self.strategies:
            raise TradeloopError("add a strategy before running")
        self._ran = True
        started = time.perf_counter()
        total = sum(len(s) for s in self._streams)
        first_ts = min(s[0].ts_init for s in self._streams)
        self.clock.set_time(first_ts)
        if self._log_path is not None:
            self._log = SqliteEventLog(self._log_path, batch_size=self._log_batch, writer=self._log_writer)
            self.bus.add_recorder(self._log.append)  # flushed by the run loop (maybe_flush)
        try:
            self.build()
            for strategy in self.strategies:
                try:
                    strategy.start()
                except TradeloopError:
                    raise  # a configuration error (say, data the run does not have): stop here
                except Exception as exc:  # noqa: BLE001 - a strategy's own bug leaves the others running
                    self.bus.report_failure(f"{strategy.id}.on_start", "start", exc)
            self._loop(total, progress)
            for strategy in self.strategies:
                if strategy.state is ComponentState.RUNNING:
                    try:
                        strategy.stop()
                    except Exception as exc:  # noqa: BLE001 - one strategy's bug: the others stop, the run ends
                        self.bus.report_failure(f"{strategy.id}.on_stop", "stop", exc)
            self.bus.drain()
        except BaseException:
            if self._log is not None:
                with contextlib.suppress(TradeloopError):  # the run's own error is the one to see
                    self._log.close()
            raise
        digest = self._log.close() if self._log is not None else None
        return self._result(started, first_ts, total, digest)

    def _loop(self, total: int, progress: ProgressCallback | None) -> None:
        clock = self.clock
        set_time = clock.set_time
        advance = clock.advance_time
        publish = self.bus.publish
        # The venue of each instrument, and its matcher per data type: found once, not per message.
        matchers: dict[tuple[type, InstrumentId], tuple[SimulatedExchange, Callable[[Any], None]]] = {}
        for iid, inst in self.instruments.items():
            exchange = self.venues.get(Venue(inst.venue))
            if exchange is not None:
                matchers[(Bar, iid)] = (exchange, exchange.process_bar)
                matchers[(TradeTick, iid)] = (exchange, exchange.process_trade_tick)
                matchers[(QuoteTick, iid)] = (exchange, exchange.process_quote_tick)
        last_cls: type | None = None
        last_iid: InstrumentId | None = None
        venue: SimulatedExchange | None = None
        match: Callable[[Any], None] | None = None
        step = 1 << 12
        count = 0
        log = self._log
        for data in self._merged():
            ts = data.ts_init
            if ts >= clock.next_due_ns:
                advance(ts)
            else:
                set_time(ts)
            cls = type(data)
            iid = data.instrument_id  # type: ignore[attr-defined]
            if cls is not last_cls or iid != last_iid:
                last_cls, last_iid = cls, iid
                venue, match = matchers.get((cls, iid), (None, None))
            if venue is not None and match is not None:
                if ts >= venue.next_due_ns:
                    venue.advance_time(ts)
                match(data)
            publish(data)
            count += 1
            if not count % step:
                if log is not None:
                    log.maybe_flush()
                if progress is not None:
                    progress(count, total)
        if progress is not None and count % step:  # the end, unless the loop just reported it
            progress(count, total)

    def _result(self, started: float, first_ts: int, total: int, digest: str | None) -> BacktestResult:
        portfolio = self.portfolio
        assert portfolio is not None
        currency = portfolio.currency
        places = portfolio.account.cash.precision
        end_ns = self.clock.timestamp_ns()
        equity = [EquityPoint(ts, raw_to_decimal(raw, places)) for ts, raw in portfolio.equity_curve]
        if not equity or equity[-1].ts_ns != end_ns:
            equity.append(EquityPoint(end_ns, raw_to_decimal(portfolio.equity_raw, places)))
        trades = [
            TradeRecord(
                position_id=p.id,
                instrument_id=p.instrument.id,
                strategy_id=p.strategy_id,
                side="LONG" if p.entry_side is not None and p.entry_side.value == "BUY" else "SHORT",
                quantity=p.peak_quantity.as_decimal(),
                entry_ts_ns=p.ts_opened,
                exit_ts_ns=p.ts_closed if p.ts_closed is not None else end_ns,
                avg_entry_px=p.avg_entry_px,
                avg_exit_px=p.avg_exit_px,
                realized_pnl=raw_to_decimal(p.realized_pnl_raw, places),
                commissions=raw_to_decimal(p.commissions_raw, places),
                currency=currency,
            )
            for p in portfolio.positions_closed()
        ]
        starting = Money(portfolio.account.starting_raw, currency)
        stats = compute_statistics(equity, trades, starting.as_decimal())
        return BacktestResult(
            run_id=self.run_id,
            start_ns=first_ts,
            end_ns=end_ns,
            data_count=total,
            wall_seconds=time.perf_counter() - started,
            starting_balance=starting,
            final_equity=portfolio.equity(),
            realized_pnl=portfolio.money(portfolio.realized_pnl_raw()),
            commissions=portfolio.account.commissions,
            orders=len(self.execution.orders()),
            fills=portfolio.fills,
            trades=trades,
            equity=equity,
            statistics=stats,
            bus=self.bus.stats(),
            event_log_path=self._log.path if self._log is not None else None,
            event_log_hash=digest,
            strategies=[s.id for s in self.strategies],
            instruments=sorted(self.instruments),
        )
