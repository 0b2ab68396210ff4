"""Portfolio: positions, account, P&L, exposure and drawdown."""

from tradeloop.portfolio.portfolio import PRIORITY_PORTFOLIO, Portfolio

__all__ = ["PRIORITY_PORTFOLIO", "Portfolio"]
