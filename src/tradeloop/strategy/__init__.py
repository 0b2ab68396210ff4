"""Strategies: the base class, its config and the sample strategies."""

from tradeloop.strategy.config import StrategyConfig
from tradeloop.strategy.strategy import DataSubscriber, Strategy, StrategyContext

__all__ = ["DataSubscriber", "Strategy", "StrategyConfig", "StrategyContext"]
