"""Load test: synthetic market data at a fixed rate through a paper node.

:func:`run_loadtest` generates quotes for one instrument at ``rate`` per second of wall time
for ``duration`` seconds and feeds them, paced, through a :class:`~tradeloop.runtime.paper.PaperNode`
(the simulated venue, the portfolio, a risk engine with limits, and :class:`LoadTestStrategy`,
which sends an order every ``order_every`` quotes). It reports the achieved event rate, the
tick-to-order latency (wall time from a quote's delivery to the order it caused, through venue,
bus, portfolio, strategy, risk and execution), handler errors, conflated and dropped messages,
and the growth of the process's resident memory.

Pacing: every millisecond the feed hands over all quotes due by then; a node that cannot keep
up falls behind, which shows as an achieved rate below the target. The achieved rate is taken
over the feed's own span - from its first quote to the delivery of its last, and never shorter
than the schedule (``count / rate``) - so the node's start-up and shutdown do not count against
it, and a node that keeps up reports the target rate.
"""

from __future__ import annotations

import asyncio
import gc
import math
import random
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

import psutil
from pydantic import Field

from tradeloop.core.clock import NANOS_PER_SECOND
from tradeloop.core.errors import TradeloopError
from tradeloop.core.message import Data
from tradeloop.model.data import QuoteTick
from tradeloop.model.enums import OrderSide
from tradeloop.model.instruments import Equity
from tradeloop.model.objects import Price, Quantity
from tradeloop.runtime.build import LoadedData
from tradeloop.runtime.config import PaperConfig
from tradeloop.runtime.paper import PaperNode
from tradeloop.strategy.config import StrategyConfig
from tradeloop.strategy.strategy import Strategy

__all__ = ["LoadTestConfig", "LoadTestReport", "LoadTestStrategy", "run_loadtest"]

INSTRUMENT = Equity("LOAD.SIM")

_STEP_S = 0.001
"""The feed's pacing step: every step it hands over all quotes due by then."""


class LoadTestConfig(StrategyConfig):
    instrument_id: str = str(INSTRUMENT.id)
    order_every: int = Field(100, ge=1)
    """Send an order every this many quotes."""


class LoadTestStrategy(Strategy):
    """Alternates small market buys and sells every ``order_every`` quotes (stays near flat)."""

    def __init__(self, config: LoadTestConfig) -> None:
        super().__init__(config)
        self.cfg = config
        self._seen = 0
        self._buy = True
        self._qty: Quantity | None = None

    def on_start(self) -> None:
        self._qty = self.instrument(self.cfg.instrument_id).make_qty(1)
        self.subscribe_quote_ticks(self.cfg.instrument_id)

    def on_quote_tick(self, tick: QuoteTick) -> None:
        self._seen += 1
        if self._seen % self.cfg.order_every:
            return
        assert self._qty is not None
        side = OrderSide.BUY if self._buy else OrderSide.SELL
        self._buy = not self._buy
        self.submit_order(self.order_factory.market(tick.instrument_id, side, self._qty))


@dataclass(frozen=True, slots=True)
class LoadTestReport:
    """What a load test measured.

    ``duration_s`` is the feed's span (first quote to the delivery of the last, at least the
    schedule's ``count / rate``), and ``achieved_rate`` is ``delivered`` over it.
    """

    target_rate: float
    duration_s: float
    delivered: int
    achieved_rate: float
    orders: int
    tick_to_order_p50_us: float
    tick_to_order_p95_us: float
    tick_to_order_p99_us: float
    tick_to_order_max_us: float
    handler_errors: int
    conflated: int
    dropped: int
    rss_start_mb: float
    rss_end_mb: float
    alerts: int

    @property
    def memory_growth_mb(self) -> float:
        return self.rss_end_mb - self.rss_start_mb

    def rows(self) -> list[tuple[str, str]]:
        return [
            ("target rate", f"{self.target_rate:,.0f} events/s"),
            ("duration", f"{self.duration_s:.1f} s"),
            ("delivered", f"{self.delivered:,}"),
            ("achieved rate", f"{self.achieved_rate:,.0f} events/s"),
            ("orders", f"{self.orders:,}"),
            ("tick-to-order p50", f"{self.tick_to_order_p50_us:,.1f} us"),
            ("tick-to-order p95", f"{self.tick_to_order_p95_us:,.1f} us"),
            ("tick-to-order p99", f"{self.tick_to_order_p99_us:,.1f} us"),
            ("tick-to-order max", f"{self.tick_to_order_max_us:,.1f} us"),
            ("handler errors", str(self.handler_errors)),
            ("conflated", f"{self.conflated:,}"),
            ("dropped", f"{self.dropped:,}"),
            (
                "memory",
                f"{self.rss_start_mb:,.1f} -> {self.rss_end_mb:,.1f} MB ({self.memory_growth_mb:+.1f} MB)",
            ),
            ("alerts", str(self.alerts)),
        ]


def _config(order_every: int) -> PaperConfig:
    return PaperConfig.model_validate(
        {
            "run": {"name": "loadtest", "seed": 1},
            "data": {"source": "synthetic", "instrument": {"id": str(INSTRUMENT.id)}},
            "venue": {"starting_balance": 10_000_000, "account_type": "MARGIN"},
            "strategies": [
                {
                    "class": "tradeloop.runtime.loadtest:LoadTestStrategy",
                    "config": {"order_every": order_every},
                }
            ],
            "risk": {"max_order_quantity": 10, "max_position_quantity": 1_000},
            "log": {"enabled": False},
            "report": {"enabled": False},
            "node": {"metrics_port": None, "watch_config": False, "health_interval_seconds": 1.0},
            "logging": {"level": "WARNING"},
        }
    )


@dataclass(slots=True)
class _FeedSpan:
    """When the feed handed over its first quote, and when its last one had been delivered
    (``perf_counter`` seconds)."""

    started: float | None = None
    finished: float | None = None


async def _quotes(rate: float, total: int, seed: int, span: _FeedSpan) -> AsyncIterator[Data]:
    """``total`` quotes at ``rate`` per wall second, stamped with the wall clock, paced per
    millisecond; ``span`` records when the feed started and when its last quote was delivered."""
    rng = random.Random(seed)
    iid = INSTRUMENT.id
    tick = INSTRUMENT.price_increment.raw
    mid = 100 * NANOS_PER_SECOND
    size = Quantity.from_int(100)
    start = time.perf_counter()
    if span.started is None:
        span.started = start
    wall0 = time.time_ns()
    last_due = (total - 1) / rate
    sent = 0
    while sent < total:
        elapsed = time.perf_counter() - start
        due = min(total, int(elapsed * rate) + 1)
        while sent < due:
            mid += tick * rng.choice((-1, 0, 0, 1))
            ts = wall0 + int(sent / rate * NANOS_PER_SECOND)
            yield QuoteTick(
                ts_event=ts,
                ts_init=ts,
                instrument_id=iid,
                bid_price=Price(mid - tick, 2),
                ask_price=Price(mid + tick, 2),
                bid_size=size,
                ask_size=size,
            )
            sent += 1
        if sent < total:
            # Paced by the millisecond, but the last quote is handed over when it is due, not up
            # to a step later: the span measured is the node's, not the pacing's.
            left = last_due - (time.perf_counter() - start)
            await asyncio.sleep(min(_STEP_S, max(0.0, left)))
    # The consumer asks for the next quote only once it has delivered the last one.
    span.finished = time.perf_counter()


def run_loadtest(rate: float, duration_s: float, *, order_every: int = 100, seed: int = 7) -> LoadTestReport:
    """Drive ``rate`` quotes per second for ``duration_s`` seconds through a paper node.

    Raises
    ------
    TradeloopError
        If ``rate`` or ``duration_s`` is not a finite positive number, or together they make
        less than one quote.
    """
    if not (rate > 0 and math.isfinite(rate)):
        raise TradeloopError(f"loadtest: rate must be a positive number, got {rate}")
    if not (duration_s > 0 and math.isfinite(duration_s)):
        raise TradeloopError(f"loadtest: duration must be a positive number of seconds, got {duration_s}")
    total = int(rate * duration_s)
    if total < 1:
        raise TradeloopError(
            f"loadtest: rate {rate:g}/s for {duration_s:g} s makes no quote; raise the rate or the duration"
        )
    cfg = _config(order_every)
    seed_quote = QuoteTick(
        ts_event=time.time_ns(),
        ts_init=time.time_ns(),
        instrument_id=INSTRUMENT.id,
        bid_price=Price.from_str("99.99"),
        ask_price=Price.from_str("100.01"),
        bid_size=Quantity.from_int(100),
        ask_size=Quantity.from_int(100),
    )
    span = _FeedSpan()
    node = PaperNode(
        cfg,
        loaded=LoadedData(INSTRUMENT, [seed_quote], {}),
        feed=lambda: _quotes(rate, total, seed, span),
    )
    process = psutil.Process()
    gc.collect()
    rss_start = process.memory_info().rss
    result = asyncio.run(node.run(install_signal_handlers=False))
    if span.started is None or span.finished is None:
        raise TradeloopError(f"loadtest: the feed did not run to its end ({result.stopped_by})")
    # The schedule of ``total`` quotes lasts total / rate seconds: a node that keeps up finishes
    # within it (the last quote is due 1 / rate before its end), a slower one after it.
    wall = max(span.finished - span.started, total / rate)
    gc.collect()
    rss_end = process.memory_info().rss
    assert node.kernel is not None
    stats = node.kernel.bus.stats()
    latency = node.tick_to_order
    return LoadTestReport(
        target_rate=rate,
        duration_s=wall,
        delivered=result.delivered,
        achieved_rate=result.delivered / wall,
        orders=result.orders,
        tick_to_order_p50_us=latency.percentile_ns(50) / 1_000,
        tick_to_order_p95_us=latency.percentile_ns(95) / 1_000,
        tick_to_order_p99_us=latency.percentile_ns(99) / 1_000,
        tick_to_order_max_us=latency.max_seen_ns / 1_000,
        handler_errors=stats.handler_errors,
        conflated=stats.conflated,
        dropped=stats.dropped,
        rss_start_mb=rss_start / 2**20,
        rss_end_mb=rss_end / 2**20,
        alerts=len(result.alerts),
    )
