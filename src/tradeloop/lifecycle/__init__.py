"""The position lifecycle: entry on an edge, monitoring, prioritised exits and their execution."""

from tradeloop.lifecycle.book import (
    PRIORITY_PRICE_CACHE,
    PriceCache,
)
from tradeloop.lifecycle.entry import (
    PRIORITY_ENTRY,
    EntryFlow,
    EntryStatus,
)
from tradeloop.lifecycle.events import (
    EXIT_PRIORITY,
    EdgeDetected,
    EntryAbandoned,
    EntryRejected,
    ExitCompleted,
    ExitEscalated,
    ExitFailed,
    ExitPriority,
    ExitReason,
    ExitTriggered,
    PriceRequested,
    TrailingStopMoved,
)
from tradeloop.lifecycle.exit_executor import (
    PRIORITY_EXIT_EXECUTOR,
    ActiveExit,
    ExitExecutor,
)
from tradeloop.lifecycle.exit_pricing import (
    clamp_to_band,
    initial_limit_price,
    next_walk_price,
)
from tradeloop.lifecycle.exits import (
    ExitEvaluator,
    ExitSignal,
    MarketSnapshot,
    WatchedPosition,
)
from tradeloop.lifecycle.methods import (
    EntrySettings,
    ExecutionSettings,
    ExitRules,
    LifecycleConfig,
    MarketCloseRule,
    MethodConfig,
    MonitorSettings,
    PriorityExecution,
    ProfitTarget,
    ScaleOutLevel,
    SizingSettings,
    TrailingStopRule,
    VolatilityRule,
)
from tradeloop.lifecycle.monitor import (
    DEFAULT_METHOD,
    PRIORITY_MONITOR,
    PositionMonitor,
    WatchStatus,
)
from tradeloop.lifecycle.sessions import (
    SessionClose,
)
from tradeloop.lifecycle.trailing import (
    TrailingStop,
)
from tradeloop.lifecycle.volatility import (
    VolatilityTracker,
)

__all__ = [
    "ActiveExit",
    "DEFAULT_METHOD",
    "EXIT_PRIORITY",
    "EdgeDetected",
    "EntryAbandoned",
    "EntryFlow",
    "EntryRejected",
    "EntrySettings",
    "EntryStatus",
    "ExecutionSettings",
    "ExitCompleted",
    "ExitEscalated",
    "ExitEvaluator",
    "ExitExecutor",
    "ExitFailed",
    "ExitPriority",
    "ExitReason",
    "ExitRules",
    "ExitSignal",
    "ExitTriggered",
    "LifecycleConfig",
    "MarketCloseRule",
    "MarketSnapshot",
    "MethodConfig",
    "MonitorSettings",
    "PRIORITY_ENTRY",
    "PRIORITY_EXIT_EXECUTOR",
    "PRIORITY_MONITOR",
    "PRIORITY_PRICE_CACHE",
    "PositionMonitor",
    "PriceCache",
    "PriceRequested",
    "PriorityExecution",
    "ProfitTarget",
    "ScaleOutLevel",
    "SessionClose",
    "SizingSettings",
    "TrailingStop",
    "TrailingStopMoved",
    "TrailingStopRule",
    "VolatilityRule",
    "VolatilityTracker",
    "WatchStatus",
    "WatchedPosition",
    "clamp_to_band",
    "initial_limit_price",
    "next_walk_price",
]
