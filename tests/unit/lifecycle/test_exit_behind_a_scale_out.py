"""A more urgent full exit must not be hidden behind a scale-out the monitor may not publish."""

from __future__ import annotations

from tradeloop.lifecycle import ExitReason
from tradeloop.venues.simulated import FaultConfig

from .scenarios import ABC, FAST, exits, quotes, run


def test_a_volatility_exit_supersedes_a_running_low_exit_even_when_a_scale_out_level_is_reached() -> None:
    method = {
        "monitor": FAST,
        "exits": {
            "stop_loss_pct": None,
            "max_holding_seconds": 5,  # LOW: starts a slow conservative-limit exit at ~6 s
            "volatility": {"window": 5, "baseline_window": 30, "ratio": 2},  # MEDIUM, whole position
            "profit_target": {"target_pct": 50, "scale_out": [{"pnl_pct": 5, "close_pct": 25}]},
        },
    }
    calm = [100 + (0.01 if i % 2 else 0) for i in range(40)]
    wild = [107, 113, 106, 114, 106, 113, 107, 114] * 2  # a spike, every price >= 5 % up
    _, seen = run(quotes(ABC, calm + wild), method, faults=FaultConfig(never_fill_limit_orders=True))
    reasons = [t.reason for t in exits(seen)]
    assert reasons[0] is ExitReason.MAX_HOLDING
    # The volatility spike is more urgent than the running MAX_HOLDING exit: it must be published.
    assert ExitReason.VOLATILITY in reasons, reasons


def test_control_without_the_scale_out_level_the_volatility_exit_is_published() -> None:
    method = {
        "monitor": FAST,
        "exits": {
            "stop_loss_pct": None,
            "max_holding_seconds": 5,
            "volatility": {"window": 5, "baseline_window": 30, "ratio": 2},
            "profit_target": {"target_pct": 50},
        },
    }
    calm = [100 + (0.01 if i % 2 else 0) for i in range(40)]
    wild = [107, 113, 106, 114, 106, 113, 107, 114] * 2
    _, seen = run(quotes(ABC, calm + wild), method, faults=FaultConfig(never_fill_limit_orders=True))
    reasons = [t.reason for t in exits(seen)]
    assert reasons[:2] == [ExitReason.MAX_HOLDING, ExitReason.VOLATILITY], reasons
