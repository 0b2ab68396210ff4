"""Daily returns resampled from an equity curve, and the risk-adjusted ratios built on them.

Resampling rule (UTC calendar days):

* A day's *close* is the equity of the last point whose timestamp falls in that UTC day
  (``ts_ns // 86_400 s``). Days with no point inside the curve's span carry the previous
  close forward (a weekend or a quiet day is a zero return).
* The first return runs from the curve's first point to the close of its day; each later
  return runs from one day's close to the next. A curve spanning ``k`` UTC days therefore
  gives ``k`` returns; Sharpe and Sortino need at least two days and are ``None`` otherwise.
* Every calendar day counts, so ratios are annualised with ``sqrt(365)``. For a market that
  is closed on weekends the zero-return days shrink the daily mean and variance alike, so the
  annualised figure matches a trading-day ``sqrt(252)`` computation closely.

Sharpe uses a zero risk-free rate and the sample standard deviation (``n - 1``). Sortino
divides the mean by the downside deviation ``sqrt(sum(min(r, 0)**2) / n)`` (target 0).
Both are ``None`` when their denominator is zero (below ``1e-12``), and when a close at or below zero makes a
return undefined.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from tradeloop.analysis.records import EquityPoint

__all__ = [
    "DAYS_PER_YEAR",
    "NANOS_PER_DAY",
    "RiskRatios",
    "daily_closes",
    "daily_returns",
    "risk_ratios",
]

NANOS_PER_DAY = 86_400 * 1_000_000_000
DAYS_PER_YEAR = 365
_ZERO = 1e-12


@dataclass(frozen=True, slots=True)
class RiskRatios:
    """Annualised Sharpe and Sortino ratios and the number of daily returns behind them."""

    sharpe: float | None
    sortino: float | None
    days: int


def daily_closes(points: Sequence[EquityPoint]) -> list[tuple[int, float]]:
    """``(utc_day, close)`` for every UTC day from the first point's day to the last's.

    ``utc_day`` counts days since 1970-01-01; missing days repeat the previous close.
    ``points`` must be in time order.
    """
    closes: list[tuple[int, float]] = []
    for point in points:
        day = point.ts_ns // NANOS_PER_DAY
        equity = float(point.equity)
        if closes:
            last_day, last_close = closes[-1]
            if day == last_day:
                closes[-1] = (day, equity)
                continue
            closes.extend((gap, last_close) for gap in range(last_day + 1, day))
        closes.append((day, equity))
    return closes


def daily_returns(points: Sequence[EquityPoint]) -> list[float] | None:
    """Simple daily returns of ``points`` (see the module rule); ``None`` if one is undefined."""
    if not points:
        return []
    previous = float(points[0].equity)
    returns: list[float] = []
    for _, close in daily_closes(points):
        if previous <= 0.0:
            return None
        returns.append(close / previous - 1.0)
        previous = close
    return returns


def risk_ratios(points: Sequence[EquityPoint]) -> RiskRatios:
    """Annualised Sharpe and Sortino of the daily returns of ``points`` (time-ordered)."""
    returns = daily_returns(points)
    if returns is None:
        return RiskRatios(None, None, len(daily_closes(points)))
    n = len(returns)
    if n < 2:
        return RiskRatios(None, None, n)
    mean = math.fsum(returns) / n
    variance = math.fsum((r - mean) ** 2 for r in returns) / (n - 1)
    downside = math.fsum(min(r, 0.0) ** 2 for r in returns) / n
    std = math.sqrt(variance)
    downside_dev = math.sqrt(downside)
    scale = math.sqrt(DAYS_PER_YEAR)
    # Below _ZERO a deviation is float noise (e.g. a constant growth rate), not risk.
    sharpe = round(mean / std * scale, 6) if std > _ZERO else None
    sortino = round(mean / downside_dev * scale, 6) if downside_dev > _ZERO else None
    return RiskRatios(sharpe, sortino, n)
