"""Services of a live node and the orchestrator that runs them.

:class:`Orchestrator` starts :class:`Service` objects in dependency order, checks their
health, restarts the ones that crash (with backoff, FAILED after too many) and aggregates
their metrics; :class:`CycleScheduler` runs a periodic scan-and-trade cycle. The concrete
services: :class:`MarketDataService`, :class:`IndicatorService`, :class:`StrategyService`,
:class:`TradeExecutionService`.
"""

from tradeloop.runtime.services.backoff import Backoff
from tradeloop.runtime.services.events import CycleCompleted, ServiceStateChanged
from tradeloop.runtime.services.execution import OPERATOR_SOURCE, TradeExecutionService
from tradeloop.runtime.services.indicators import PRIORITY_INDICATORS, IndicatorService, RegimeSettings
from tradeloop.runtime.services.lifecycle import (
    SERVICE_TRANSITIONS,
    ServiceLifecycle,
    ServiceState,
    ServiceTransitionListener,
    ServiceTrigger,
)
from tradeloop.runtime.services.market_data import MarketDataService
from tradeloop.runtime.services.orchestrator import Orchestrator, ServiceStartError
from tradeloop.runtime.services.reports import (
    BusMetrics,
    NodeHealth,
    NodeMetrics,
    OrchestratorMetrics,
    ServiceHealth,
)
from tradeloop.runtime.services.scheduler import (
    CYCLE_STEPS,
    CycleResult,
    CycleScheduler,
    CycleSteps,
    StepLatency,
)
from tradeloop.runtime.services.service import HealthReport, HealthStatus, Service
from tradeloop.runtime.services.strategies import StrategyService

__all__ = [
    "CYCLE_STEPS",
    "OPERATOR_SOURCE",
    "PRIORITY_INDICATORS",
    "SERVICE_TRANSITIONS",
    "Backoff",
    "BusMetrics",
    "CycleCompleted",
    "CycleResult",
    "CycleScheduler",
    "CycleSteps",
    "HealthReport",
    "HealthStatus",
    "IndicatorService",
    "MarketDataService",
    "NodeHealth",
    "NodeMetrics",
    "Orchestrator",
    "OrchestratorMetrics",
    "RegimeSettings",
    "Service",
    "ServiceHealth",
    "ServiceLifecycle",
    "ServiceStartError",
    "ServiceState",
    "ServiceStateChanged",
    "ServiceTransitionListener",
    "ServiceTrigger",
    "StepLatency",
    "StrategyService",
    "TradeExecutionService",
]
