"""tradeloop: an event-driven trading engine. One loop for backtest, paper and live."""

__version__ = "0.1.0"

__all__ = ["__version__"]
