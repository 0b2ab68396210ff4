"""Runtime: wires the components together and runs them (backtest today)."""

from tradeloop.runtime.backtest import BacktestEngine, BacktestResult
from tradeloop.runtime.build import SAMPLE_CONFIG, RunOutcome, build_engine, load_strategy, run_backtest
from tradeloop.runtime.config import BacktestConfig
from tradeloop.runtime.data_router import DataRouter

__all__ = [
    "SAMPLE_CONFIG",
    "BacktestConfig",
    "BacktestEngine",
    "BacktestResult",
    "DataRouter",
    "RunOutcome",
    "build_engine",
    "load_strategy",
    "run_backtest",
]
