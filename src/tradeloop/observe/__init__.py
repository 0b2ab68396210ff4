"""Observe: structured logs, Prometheus metrics and the metrics/health HTTP endpoint.

Layer: imports :mod:`tradeloop.core` and :mod:`tradeloop.model` only; the runtime wires it
to a node (see :class:`~tradeloop.observe.metrics.NodeMetrics`).
"""

from tradeloop.observe.http import HEALTHY_STATUSES, HealthCheck, MetricsServer
from tradeloop.observe.latency import LatencyHistogram
from tradeloop.observe.logging import (
    LogFormat,
    bind_correlation,
    configure_logging,
    correlation,
    current_correlation,
    get_logger,
    reset_logging,
    set_levels,
)
from tradeloop.observe.metrics import (
    HANDLER_LATENCY_BUCKETS,
    METRIC_NAMES,
    TICK_TO_ORDER_BUCKETS,
    NodeMetrics,
    NodeSnapshot,
    SnapshotSource,
)

__all__ = [
    "LatencyHistogram",
    "HANDLER_LATENCY_BUCKETS",
    "HEALTHY_STATUSES",
    "METRIC_NAMES",
    "TICK_TO_ORDER_BUCKETS",
    "HealthCheck",
    "LogFormat",
    "MetricsServer",
    "NodeMetrics",
    "NodeSnapshot",
    "SnapshotSource",
    "bind_correlation",
    "configure_logging",
    "correlation",
    "current_correlation",
    "get_logger",
    "reset_logging",
    "set_levels",
]
