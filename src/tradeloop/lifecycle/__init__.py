"""The position lifecycle: entry on an edge, monitoring, prioritised exits and their execution."""

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
from tradeloop.lifecycle.methods import LifecycleConfig, MethodConfig

__all__ = [
    "EXIT_PRIORITY",
    "EdgeDetected",
    "EntryAbandoned",
    "EntryRejected",
    "ExitCompleted",
    "ExitEscalated",
    "ExitFailed",
    "ExitPriority",
    "ExitReason",
    "ExitTriggered",
    "LifecycleConfig",
    "MethodConfig",
    "PriceRequested",
    "TrailingStopMoved",
]
