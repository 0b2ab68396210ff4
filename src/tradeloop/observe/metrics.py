"""Prometheus metrics of a node, read at scrape time so the hot path pays nothing.

Each :class:`NodeMetrics` owns its :class:`~prometheus_client.CollectorRegistry` (never the
process-wide default), so two nodes, or two tests, in one process never collide.

Where the numbers come from:

* **Bus** - :meth:`NodeMetrics.watch_bus`: the counters the bus keeps anyway
  (:meth:`~tradeloop.core.bus.MessageBus.stats`) are read when Prometheus scrapes. Nothing is
  added to the dispatch path.
* **Business and risk** - :meth:`NodeMetrics.set_snapshot_source`: a callable the runtime
  registers returns a :class:`NodeSnapshot` (orders, positions, P&L, exposure, limits,
  breakers) at scrape time. If it raises, the scrape still succeeds without those series and
  ``tradeloop_snapshot_errors_total`` counts the failure.
* **Handler latency** - :meth:`NodeMetrics.time_handlers` sets the bus's opt-in handler timer
  (sampled: one call in ``sample_every`` per handler).
* **Tick-to-order latency** - :meth:`NodeMetrics.observe_tick_to_order`, called by whoever
  sees an order leave for the venue.
* **Process** - ``psutil`` at scrape time.

Metrics (``lane`` is ``critical``, ``high``, ``normal`` or ``low``):

=============================================  =========  ===================================================
name                                           type       meaning
=============================================  =========  ===================================================
``tradeloop_bus_events_total``                 counter    messages dispatched or sent, by ``type``, ``lane``
``tradeloop_bus_queue_depth``                  gauge      messages waiting, by ``lane``
``tradeloop_bus_conflated_total``              counter    market data replaced by newer (``lane="normal"``)
``tradeloop_bus_dropped_total``                counter    oldest messages dropped at capacity (``lane="low"``)
``tradeloop_bus_high_overflows_total``         counter    HIGH messages queued past capacity by a handler
``tradeloop_bus_handler_errors_total``         counter    handler (and callback) errors the bus isolated
``tradeloop_handler_latency_seconds``          histogram  sampled handler duration, by ``handler`` (qualname)
``tradeloop_tick_to_order_seconds``            histogram  market data in to order out, 10 µs .. 100 ms buckets
``tradeloop_orders``                           gauge      orders, by ``status``
``tradeloop_fills_total``                      counter    fills
``tradeloop_open_positions``                   gauge      open positions
``tradeloop_pnl``                              gauge      P&L in the account currency, by ``kind``
                                                          (``realized``, ``unrealized``, ``daily``)
``tradeloop_exposure``                         gauge      exposure in the account currency, by ``kind``
                                                          (``gross``, ``net``)
``tradeloop_drawdown_ratio``                   gauge      drawdown from the equity peak (0.05 = 5 %)
``tradeloop_risk_limit_utilisation_ratio``     gauge      used / allowed, by ``limit`` (1 = at the limit)
``tradeloop_circuit_breaker_tripped``          gauge      1 while a breaker is tripped, else 0, by ``breaker``
``tradeloop_stop_losses_triggered_total``      counter    stop losses triggered
``tradeloop_snapshot_errors_total``            counter    scrapes whose snapshot source raised
``tradeloop_process_resident_memory_bytes``    gauge      resident set size of the process
``tradeloop_process_cpu_seconds_total``        counter    user plus system CPU time of the process
=============================================  =========  ===================================================

Counter series are exposed with their ``_total`` suffix; histograms as ``_bucket``, ``_sum``
and ``_count``. Money appears here as floats: Prometheus has no other number type, and these
are read-outs at the edge, never the ledger.

Scrapes read the bus without a lock: serve them from the node's own event loop (as
:class:`~tradeloop.observe.http.MetricsServer` does), where the reactor is not running.
"""

from __future__ import annotations

import contextlib
import logging
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Final

import psutil
from prometheus_client import CollectorRegistry, Histogram
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4, generate_latest
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric

from tradeloop.core.bus import BusStats, Handler, MessageBus
from tradeloop.core.message import Message, message_type

__all__ = [
    "HANDLER_LATENCY_BUCKETS",
    "METRIC_NAMES",
    "TICK_TO_ORDER_BUCKETS",
    "NodeMetrics",
    "NodeSnapshot",
    "SnapshotSource",
]

_log = logging.getLogger("tradeloop.observe")

BUS_EVENTS: Final = "tradeloop_bus_events"
BUS_QUEUE_DEPTH: Final = "tradeloop_bus_queue_depth"
BUS_CONFLATED: Final = "tradeloop_bus_conflated"
BUS_DROPPED: Final = "tradeloop_bus_dropped"
BUS_HIGH_OVERFLOWS: Final = "tradeloop_bus_high_overflows"
BUS_HANDLER_ERRORS: Final = "tradeloop_bus_handler_errors"
HANDLER_LATENCY: Final = "tradeloop_handler_latency_seconds"
TICK_TO_ORDER: Final = "tradeloop_tick_to_order_seconds"
ORDERS: Final = "tradeloop_orders"
FILLS: Final = "tradeloop_fills"
OPEN_POSITIONS: Final = "tradeloop_open_positions"
PNL: Final = "tradeloop_pnl"
EXPOSURE: Final = "tradeloop_exposure"
DRAWDOWN: Final = "tradeloop_drawdown_ratio"
LIMIT_UTILISATION: Final = "tradeloop_risk_limit_utilisation_ratio"
BREAKER_TRIPPED: Final = "tradeloop_circuit_breaker_tripped"
STOP_LOSSES: Final = "tradeloop_stop_losses_triggered"
SNAPSHOT_ERRORS: Final = "tradeloop_snapshot_errors"
PROCESS_RSS: Final = "tradeloop_process_resident_memory_bytes"
PROCESS_CPU: Final = "tradeloop_process_cpu_seconds"

METRIC_NAMES: Final[frozenset[str]] = frozenset(
    {
        BUS_EVENTS,
        BUS_QUEUE_DEPTH,
        BUS_CONFLATED,
        BUS_DROPPED,
        BUS_HIGH_OVERFLOWS,
        BUS_HANDLER_ERRORS,
        HANDLER_LATENCY,
        TICK_TO_ORDER,
        ORDERS,
        FILLS,
        OPEN_POSITIONS,
        PNL,
        EXPOSURE,
        DRAWDOWN,
        LIMIT_UTILISATION,
        BREAKER_TRIPPED,
        STOP_LOSSES,
        SNAPSHOT_ERRORS,
        PROCESS_RSS,
        PROCESS_CPU,
    }
)
"""Every metric family a :class:`NodeMetrics` registers (counters without ``_total``)."""

HANDLER_LATENCY_BUCKETS: Final[tuple[float, ...]] = (
    1e-6, 2.5e-6, 5e-6, 1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3, 5e-3, 1e-2, 2.5e-2, 1e-1,
)  # fmt: skip
"""Handler durations, 1 µs to 100 ms (a hot-path handler takes a few µs)."""

TICK_TO_ORDER_BUCKETS: Final[tuple[float, ...]] = (
    1e-5, 2e-5, 5e-5, 1e-4, 2e-4, 5e-4, 1e-3, 2e-3, 5e-3, 1e-2, 2e-2, 5e-2, 1e-1,
)  # fmt: skip
"""Tick-to-order latency, 10 µs to 100 ms (targets: p99 under 200 µs and under 1 ms)."""

_LANE_LABELS: Final = {0: "critical", 1: "high", 2: "normal", 3: "low"}
_NS_PER_SECOND: Final = 1e9


def _count(value: object, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"NodeSnapshot.{what} must be a non-negative int, got {value!r}")
    return value


def _number(value: object, what: str, *, minimum: float | None = None) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"NodeSnapshot.{what} must be a finite number, got {value!r}")
    if minimum is not None and value < minimum:
        raise ValueError(f"NodeSnapshot.{what} must be at least {minimum}, got {value!r}")
    return float(value)


def _labelled(mapping: object, what: str) -> Mapping[Any, Any]:
    if not isinstance(mapping, Mapping):
        raise ValueError(f"NodeSnapshot.{what} must be a mapping, got {type(mapping).__name__}")
    for key in mapping:
        if not isinstance(key, str) or not key:
            raise ValueError(f"NodeSnapshot.{what} keys must be non-empty strings, got {key!r}")
    return mapping


@dataclass(frozen=True, slots=True)
class NodeSnapshot:
    """The business and risk state of a node at one moment, as the metrics show it.

    Built by the runtime's snapshot source on every scrape, from plain reads of the
    portfolio, the execution engine and the risk engine. Amounts are in the account currency
    (converted from the exact raws at this edge).

    Parameters
    ----------
    orders_by_status:
        Number of orders per status name (``"ACCEPTED"``, ``"FILLED"``, ...).
    fills:
        Fills since the node started (monotonic).
    open_positions:
        Positions open now.
    realized_pnl, unrealized_pnl, daily_pnl:
        P&L: closed lots since start, open positions at the latest prices, and the day's.
    gross_exposure, net_exposure:
        Sum of absolute position values, and of signed ones.
    drawdown:
        Fall from the equity peak as a fraction of the peak (0.05 = 5 %; 0 at a new high).
    limit_utilisation:
        Per risk limit, how much of it is used (0 = none, 1 = at the limit, above 1 = past).
    breakers:
        Per circuit breaker, whether it is tripped now.
    stop_losses:
        Stop losses triggered since the node started (monotonic).

    Raises
    ------
    ValueError
        Naming the field that is negative, not finite, or of the wrong type.
    """

    orders_by_status: Mapping[str, int] = field(default_factory=dict)
    fills: int = 0
    open_positions: int = 0
    realized_pnl: float = 0.0
    unrealized_pnl: float = 0.0
    daily_pnl: float = 0.0
    gross_exposure: float = 0.0
    net_exposure: float = 0.0
    drawdown: float = 0.0
    limit_utilisation: Mapping[str, float] = field(default_factory=dict)
    breakers: Mapping[str, bool] = field(default_factory=dict)
    stop_losses: int = 0

    def __post_init__(self) -> None:
        orders = _labelled(self.orders_by_status, "orders_by_status")
        for status, n in orders.items():
            _count(n, f"orders_by_status[{status!r}]")
        _count(self.fills, "fills")
        _count(self.open_positions, "open_positions")
        _count(self.stop_losses, "stop_losses")
        for name in ("realized_pnl", "unrealized_pnl", "daily_pnl", "net_exposure"):
            _number(getattr(self, name), name)
        _number(self.gross_exposure, "gross_exposure", minimum=0.0)
        _number(self.drawdown, "drawdown", minimum=0.0)
        limits = _labelled(self.limit_utilisation, "limit_utilisation")
        for limit, used in limits.items():
            _number(used, f"limit_utilisation[{limit!r}]", minimum=0.0)
        breakers = _labelled(self.breakers, "breakers")
        for breaker, tripped in breakers.items():
            if not isinstance(tripped, bool):
                raise ValueError(f"NodeSnapshot.breakers[{breaker!r}] must be a bool, got {tripped!r}")
        # Read-only copies: the snapshot must not change under a scrape.
        object.__setattr__(self, "orders_by_status", MappingProxyType(dict(orders)))
        object.__setattr__(self, "limit_utilisation", MappingProxyType(dict(limits)))
        object.__setattr__(self, "breakers", MappingProxyType(dict(breakers)))


SnapshotSource = Callable[[], NodeSnapshot]
"""Returns the node's current :class:`NodeSnapshot`; called on every scrape."""


class _BusCollector:
    """Turns :meth:`MessageBus.stats` into metric families when the registry is collected."""

    def __init__(self) -> None:
        self.bus: MessageBus | None = None
        self._lanes: dict[str, str] = {}  # type name -> lane label, cached

    def _lane(self, type_name: str) -> str:
        lane = self._lanes.get(type_name)
        if lane is None:
            try:
                lane = _LANE_LABELS[int(message_type(type_name).LANE)]
            except KeyError:  # every Message subclass registers its name; kept for safety
                lane = "unknown"
            self._lanes[type_name] = lane
        return lane

    def _families(self, stats: BusStats | None) -> list[Metric]:
        events = CounterMetricFamily(
            BUS_EVENTS, "Messages dispatched or sent, by type and lane.", labels=["type", "lane"]
        )
        depth = GaugeMetricFamily(BUS_QUEUE_DEPTH, "Messages waiting, by lane.", labels=["lane"])
        conflated = CounterMetricFamily(
            BUS_CONFLATED, "Market data replaced by newer data, by lane.", labels=["lane"]
        )
        dropped = CounterMetricFamily(
            BUS_DROPPED, "Oldest messages dropped at capacity, by lane.", labels=["lane"]
        )
        overflows = CounterMetricFamily(
            BUS_HIGH_OVERFLOWS, "HIGH-lane messages queued past capacity by a handler."
        )
        errors = CounterMetricFamily(BUS_HANDLER_ERRORS, "Handler errors the bus isolated.")
        if stats is not None:
            for type_name, n in stats.published.items():
                events.add_metric([type_name, self._lane(type_name)], n)
            for lane_name, n in stats.queued.items():
                depth.add_metric([lane_name.lower()], n)
            # Only NORMAL conflates and only LOW drops (bus lane policies).
            conflated.add_metric(["normal"], stats.conflated)
            dropped.add_metric(["low"], stats.dropped)
            overflows.add_metric([], stats.high_overflows)
            errors.add_metric([], stats.handler_errors)
        return [events, depth, conflated, dropped, overflows, errors]

    def describe(self) -> Iterable[Metric]:
        return self._families(None)

    def collect(self) -> Iterable[Metric]:
        bus = self.bus
        return [] if bus is None else self._families(bus.stats())


class _SnapshotCollector:
    """Calls the registered snapshot source when the registry is collected."""

    def __init__(self) -> None:
        self.source: SnapshotSource | None = None
        self.errors = 0

    @staticmethod
    def _families(snap: NodeSnapshot | None) -> list[Metric]:
        orders = GaugeMetricFamily(ORDERS, "Orders, by status.", labels=["status"])
        fills = CounterMetricFamily(FILLS, "Fills since the node started.")
        positions = GaugeMetricFamily(OPEN_POSITIONS, "Open positions.")
        pnl = GaugeMetricFamily(PNL, "P&L in the account currency, by kind.", labels=["kind"])
        exposure = GaugeMetricFamily(EXPOSURE, "Exposure in the account currency, by kind.", labels=["kind"])
        drawdown = GaugeMetricFamily(DRAWDOWN, "Drawdown from the equity peak, as a fraction of the peak.")
        limits = GaugeMetricFamily(
            LIMIT_UTILISATION, "Risk-limit utilisation (1 = at the limit).", labels=["limit"]
        )
        breakers = GaugeMetricFamily(
            BREAKER_TRIPPED, "1 while a circuit breaker is tripped.", labels=["breaker"]
        )
        stops = CounterMetricFamily(STOP_LOSSES, "Stop losses triggered since the node started.")
        if snap is not None:
            for status, n in snap.orders_by_status.items():
                orders.add_metric([status], n)
            fills.add_metric([], snap.fills)
            positions.add_metric([], snap.open_positions)
            pnl.add_metric(["realized"], snap.realized_pnl)
            pnl.add_metric(["unrealized"], snap.unrealized_pnl)
            pnl.add_metric(["daily"], snap.daily_pnl)
            exposure.add_metric(["gross"], snap.gross_exposure)
            exposure.add_metric(["net"], snap.net_exposure)
            drawdown.add_metric([], snap.drawdown)
            for limit, used in snap.limit_utilisation.items():
                limits.add_metric([limit], used)
            for breaker, tripped in snap.breakers.items():
                breakers.add_metric([breaker], 1.0 if tripped else 0.0)
            stops.add_metric([], snap.stop_losses)
        return [orders, fills, positions, pnl, exposure, drawdown, limits, breakers, stops]

    def _errors(self) -> CounterMetricFamily:
        return CounterMetricFamily(
            SNAPSHOT_ERRORS, "Scrapes whose snapshot source raised.", value=self.errors
        )

    def describe(self) -> Iterable[Metric]:
        return [*self._families(None), self._errors()]

    def collect(self) -> Iterable[Metric]:
        source = self.source
        if source is None:
            return [self._errors()]
        try:
            snap = source()
            if not isinstance(snap, NodeSnapshot):
                raise TypeError(f"the snapshot source returned {type(snap).__name__}, not a NodeSnapshot")
        except Exception as exc:  # noqa: BLE001 - a broken source must not break the scrape
            self.errors += 1
            _log.error("metrics snapshot source failed: %r", exc, exc_info=exc)
            return [self._errors()]
        return [*self._families(snap), self._errors()]


class _ProcessCollector:
    """Memory and CPU of this process, read with psutil at scrape time."""

    def __init__(self) -> None:
        self._process = psutil.Process()

    @staticmethod
    def _families() -> tuple[GaugeMetricFamily, CounterMetricFamily]:
        return (
            GaugeMetricFamily(PROCESS_RSS, "Resident set size of the process in bytes."),
            CounterMetricFamily(PROCESS_CPU, "User plus system CPU time of the process in seconds."),
        )

    def describe(self) -> Iterable[Metric]:
        return self._families()

    def collect(self) -> Iterable[Metric]:
        rss, cpu = self._families()
        with self._process.oneshot():
            rss.add_metric([], self._process.memory_info().rss)
            times = self._process.cpu_times()
        cpu.add_metric([], times.user + times.system)
        return [rss, cpu]


class NodeMetrics:
    """The Prometheus metrics of one node, in a registry of its own.

    Parameters
    ----------
    registry:
        Registry to register into (a fresh one by default). Never pass the process-wide
        ``prometheus_client.REGISTRY`` for more than one node: names would collide.

    Examples
    --------
    Wiring in a runtime (the bus and the snapshot function are the node's)::

        metrics = NodeMetrics()
        metrics.watch_bus(bus)
        metrics.time_handlers(bus, sample_every=64)
        metrics.set_snapshot_source(node.metrics_snapshot)
        server = MetricsServer(metrics, port=9108, health=node.health)
    """

    content_type: Final = CONTENT_TYPE_PLAIN_0_0_4
    """Content type of :meth:`render` (Prometheus text format 0.0.4)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        self._bus = _BusCollector()
        self._snapshots = _SnapshotCollector()
        self.registry.register(self._bus)
        self.registry.register(self._snapshots)
        self.registry.register(_ProcessCollector())
        self._handler_latency = Histogram(
            HANDLER_LATENCY,
            "Sampled duration of bus handlers, by handler qualname.",
            labelnames=["handler"],
            buckets=HANDLER_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self._tick_to_order = Histogram(
            TICK_TO_ORDER,
            "Latency from a market-data event to the order it caused leaving for the venue.",
            buckets=TICK_TO_ORDER_BUCKETS,
            registry=self.registry,
        )
        self._handler_series: dict[Handler, Any] = {}  # handler -> its labelled histogram

    # -- sources ---------------------------------------------------------------------------

    def watch_bus(self, bus: MessageBus) -> None:
        """Expose the counters of ``bus`` (replacing a bus watched before)."""
        if not isinstance(bus, MessageBus):
            raise TypeError(f"watch_bus needs a MessageBus, got {type(bus).__name__}")
        self._bus.bus = bus

    def set_snapshot_source(self, fn: SnapshotSource | None) -> None:
        """Call ``fn`` on every scrape for the business and risk metrics (``None`` removes it)."""
        if fn is not None and not callable(fn):
            raise TypeError(f"the snapshot source must be callable, got {type(fn).__name__}")
        self._snapshots.source = fn

    @property
    def snapshot_errors(self) -> int:
        """How many scrapes found the snapshot source failing."""
        return self._snapshots.errors

    # -- latencies -------------------------------------------------------------------------

    def time_handlers(self, bus: MessageBus, *, sample_every: int = 64) -> None:
        """Feed the handler-latency histogram from ``bus``'s handler timer.

        One call in ``sample_every`` of each handler is timed (timing itself costs about a
        microsecond per sample; ``bus.set_handler_timer(None)`` turns it off).
        """
        bus.set_handler_timer(self._observe_handler, sample_every=sample_every)

    def _observe_handler(self, handler: Handler, _: Message, duration_ns: int) -> None:
        try:
            series = self._handler_series.get(handler)
        except TypeError:  # unhashable callable: label it every time
            series = None
        if series is None:
            series = self._handler_latency.labels(
                getattr(handler, "__qualname__", type(handler).__qualname__)
            )
            with contextlib.suppress(TypeError):  # unhashable: not cached
                self._handler_series[handler] = series
        series.observe(duration_ns / _NS_PER_SECOND)

    def observe_tick_to_order(self, seconds: float) -> None:
        """Record one tick-to-order latency in seconds.

        Raises
        ------
        ValueError
            If ``seconds`` is negative or not finite.
        """
        if isinstance(seconds, bool) or not isinstance(seconds, int | float) or not 0 <= seconds < math.inf:
            raise ValueError(
                f"tick-to-order latency must be a finite number of seconds >= 0, got {seconds!r}"
            )
        self._tick_to_order.observe(seconds)

    def observe_tick_to_order_ns(self, nanoseconds: int) -> None:
        """Record one tick-to-order latency in integer nanoseconds (clock differences)."""
        if isinstance(nanoseconds, bool) or not isinstance(nanoseconds, int) or nanoseconds < 0:
            raise ValueError(f"tick-to-order latency must be a non-negative int of ns, got {nanoseconds!r}")
        self._tick_to_order.observe(nanoseconds / _NS_PER_SECOND)

    # -- exposition ------------------------------------------------------------------------

    def render(self) -> bytes:
        """Every metric in the Prometheus text exposition format (see :attr:`content_type`)."""
        return generate_latest(self.registry)
