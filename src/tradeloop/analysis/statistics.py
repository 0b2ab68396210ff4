"""Performance statistics of a finished run, from its equity curve and its round trips.

Money (equity, P&L, commissions, averages of P&L) stays ``Decimal``: sums are exact, and
averages are rounded half-to-even to the decimal places of the trades' P&L. Ratios and
fractions are floats rounded to six decimals, enough for any display and stable in JSON.

Definitions:

* A *winner* has ``realized_pnl > 0``, a *loser* ``< 0``; a break-even trade counts as a
  trade but as neither. ``gross_loss`` is the (zero or negative) sum of the losers.
* ``profit_factor = gross_profit / |gross_loss|``; ``None`` when there is no losing trade
  (including when there are no trades), ``0.0`` when there are losers but no winners.
* ``expectancy`` is the mean realized P&L per trade.
* Drawdown: see :mod:`tradeloop.analysis.drawdown`. ``max_drawdown`` (money) and its peak
  and trough timestamps describe the largest drop in money; ``max_drawdown_pct`` is the
  deepest drop relative to its running peak, which may be a different episode. Sharpe and Sortino: see
  :mod:`tradeloop.analysis.returns` (daily UTC returns, annualised with ``sqrt(365)``).
* ``net_pnl`` is final equity minus the starting balance, so it includes what is still open
  at the end; ``realized_pnl`` is the sum over closed trades.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from decimal import Decimal, localcontext

from tradeloop.analysis.drawdown import max_drawdown
from tradeloop.analysis.exact import EXACT, decimal_places, plain
from tradeloop.analysis.formatting import (
    format_duration,
    format_money,
    format_percent,
    format_ratio,
    iso_utc,
)
from tradeloop.analysis.records import EquityPoint, TradeRecord
from tradeloop.analysis.returns import risk_ratios
from tradeloop.core.errors import DataError

__all__ = ["Statistics", "compute_statistics"]

JsonValue = str | int | float | None


@dataclass(frozen=True, slots=True)
class Statistics:
    """Summary statistics of one run (see the module docstring for every definition)."""

    starting_balance: Decimal
    final_equity: Decimal
    net_pnl: Decimal
    total_return: float | None
    realized_pnl: Decimal
    total_commissions: Decimal
    gross_profit: Decimal
    gross_loss: Decimal
    total_trades: int
    long_trades: int
    short_trades: int
    winners: int
    losers: int
    win_rate: float | None
    average_win: Decimal | None
    average_loss: Decimal | None
    profit_factor: float | None
    expectancy: Decimal | None
    largest_win: Decimal | None
    largest_loss: Decimal | None
    max_drawdown: Decimal
    max_drawdown_pct: float | None
    max_drawdown_peak_ns: int | None
    max_drawdown_trough_ns: int | None
    max_drawdown_duration_ns: int
    sharpe_ratio: float | None
    sortino_ratio: float | None
    return_days: int
    average_holding_ns: int | None

    def as_rows(self) -> list[tuple[str, str]]:
        """``(label, value)`` pairs for a printed table, in a fixed order."""

        def money(value: Decimal | None) -> str:
            return "n/a" if value is None else format_money(value)

        def when(ts_ns: int | None) -> str:
            return "n/a" if ts_ns is None else iso_utc(ts_ns)

        return [
            ("Starting balance", money(self.starting_balance)),
            ("Final equity", money(self.final_equity)),
            ("Net P&L", money(self.net_pnl)),
            ("Total return", format_percent(self.total_return)),
            ("Realized P&L (closed trades)", money(self.realized_pnl)),
            ("Total commissions", money(self.total_commissions)),
            ("Gross profit", money(self.gross_profit)),
            ("Gross loss", money(self.gross_loss)),
            ("Trades", str(self.total_trades)),
            ("Long / short trades", f"{self.long_trades} / {self.short_trades}"),
            ("Winners", str(self.winners)),
            ("Losers", str(self.losers)),
            ("Win rate", format_percent(self.win_rate)),
            ("Average win", money(self.average_win)),
            ("Average loss", money(self.average_loss)),
            ("Profit factor", format_ratio(self.profit_factor)),
            ("Expectancy per trade", money(self.expectancy)),
            ("Largest win", money(self.largest_win)),
            ("Largest loss", money(self.largest_loss)),
            ("Max drawdown", money(self.max_drawdown)),
            ("Max drawdown % (deepest)", format_percent(self.max_drawdown_pct)),
            ("Max drawdown peak", when(self.max_drawdown_peak_ns)),
            ("Max drawdown trough", when(self.max_drawdown_trough_ns)),
            ("Longest drawdown", format_duration(self.max_drawdown_duration_ns)),
            ("Sharpe ratio (daily, annualised)", format_ratio(self.sharpe_ratio)),
            ("Sortino ratio (daily, annualised)", format_ratio(self.sortino_ratio)),
            ("Daily returns", str(self.return_days)),
            (
                "Average holding time",
                "n/a" if self.average_holding_ns is None else format_duration(self.average_holding_ns),
            ),
        ]

    def as_dict(self) -> dict[str, JsonValue]:
        """JSON-ready mapping of every field: money as exact decimal strings, ns as ints."""
        out: dict[str, JsonValue] = {}
        for field in fields(self):
            value = getattr(self, field.name)
            out[field.name] = plain(value) if isinstance(value, Decimal) else value
        return out


def compute_statistics(
    equity: Sequence[EquityPoint],
    trades: Sequence[TradeRecord],
    starting_balance: Decimal,
) -> Statistics:
    """Statistics of a run from its time-ordered equity curve and its closed trades.

    Parameters
    ----------
    equity
        Equity samples in time order (equal timestamps allowed). With none, the final
        equity is the starting balance.
    trades
        Closed round trips, all in one currency (the account's).
    starting_balance
        Account equity before the first sample; the base of the total return.

    Raises
    ------
    DataError
        The curve goes back in time, the trades mix currencies, or the starting balance is
        not a finite ``Decimal``.
    """
    if not isinstance(starting_balance, Decimal) or not starting_balance.is_finite():
        raise DataError(f"starting_balance must be a finite Decimal, got {starting_balance!r}")
    _check_one_currency(trades)
    drawdown = max_drawdown(equity)  # also checks the time order
    ratios = risk_ratios(equity)
    with localcontext(EXACT):
        final_equity = equity[-1].equity if equity else starting_balance
        net_pnl = final_equity - starting_balance
        total_return = _fraction(net_pnl, starting_balance) if starting_balance > 0 else None
        wins = [t.realized_pnl for t in trades if t.realized_pnl > 0]
        losses = [t.realized_pnl for t in trades if t.realized_pnl < 0]
        gross_profit = sum(wins, Decimal(0))
        gross_loss = sum(losses, Decimal(0))
        realized = sum((t.realized_pnl for t in trades), Decimal(0))
        commissions = sum((t.commissions for t in trades), Decimal(0))
        places = max((decimal_places(t.realized_pnl) for t in trades), default=0)
        count = len(trades)
        holding = sum(t.exit_ts_ns - t.entry_ts_ns for t in trades)
        return Statistics(
            starting_balance=starting_balance,
            final_equity=final_equity,
            net_pnl=net_pnl,
            total_return=total_return,
            realized_pnl=realized,
            total_commissions=commissions,
            gross_profit=gross_profit,
            gross_loss=gross_loss,
            total_trades=count,
            long_trades=sum(1 for t in trades if t.side == "LONG"),
            short_trades=sum(1 for t in trades if t.side == "SHORT"),
            winners=len(wins),
            losers=len(losses),
            win_rate=round(len(wins) / count, 6) if count else None,
            average_win=_mean(gross_profit, len(wins), places),
            average_loss=_mean(gross_loss, len(losses), places),
            profit_factor=_fraction(gross_profit, -gross_loss) if losses else None,
            expectancy=_mean(realized, count, places),
            largest_win=max(wins) if wins else None,
            largest_loss=min(losses) if losses else None,
            max_drawdown=drawdown.amount,
            max_drawdown_pct=drawdown.fraction,
            max_drawdown_peak_ns=drawdown.peak_ns,
            max_drawdown_trough_ns=drawdown.trough_ns,
            max_drawdown_duration_ns=drawdown.longest_ns,
            sharpe_ratio=ratios.sharpe,
            sortino_ratio=ratios.sortino,
            return_days=ratios.days,
            average_holding_ns=holding // count if count else None,
        )


def _check_one_currency(trades: Sequence[TradeRecord]) -> None:
    if not trades:
        return
    currency = trades[0].currency
    for index, trade in enumerate(trades):
        if trade.currency != currency:
            raise DataError(
                f"trade {index} ({trade.position_id!r}) is in {trade.currency}, trade 0 in "
                f"{currency}: convert P&L to the account currency before computing statistics"
            )


def _fraction(numerator: Decimal, denominator: Decimal) -> float:
    return round(float(numerator / denominator), 6)


def _mean(total: Decimal, count: int, places: int) -> Decimal | None:
    if not count:
        return None
    return (total / count).quantize(Decimal(1).scaleb(-places))
