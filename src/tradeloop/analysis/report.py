"""The report folder of a run: ``trades.csv``, ``equity.csv``, ``statistics.json``, ``report.html``.

Output is deterministic: the same inputs give byte-identical files (no clock is read, dict
order is the caller's, numbers are formatted without locale). Each file is written to a
temporary name beside its target and then renamed, so a crash mid-write never leaves a
truncated report that looks complete.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from tradeloop.analysis.downsample import DEFAULT_MAX_POINTS
from tradeloop.analysis.drawdown import check_time_order
from tradeloop.analysis.exact import plain
from tradeloop.analysis.formatting import iso_utc
from tradeloop.analysis.html_page import DEFAULT_MAX_TRADE_ROWS, render_report_html
from tradeloop.analysis.records import EquityPoint, RunInfo, TradeRecord
from tradeloop.analysis.statistics import Statistics
from tradeloop.analysis.tables import write_equity_csv, write_trades_csv

__all__ = ["ReportPaths", "run_info_dict", "write_report"]

JsonObject = dict[str, object]


@dataclass(frozen=True, slots=True)
class ReportPaths:
    """Where :func:`write_report` put each file."""

    folder: Path
    trades_csv: Path
    equity_csv: Path
    statistics_json: Path
    report_html: Path

    @classmethod
    def in_folder(cls, folder: Path) -> ReportPaths:
        """Where a report written into ``folder`` goes."""
        return cls(
            folder=folder,
            trades_csv=folder / "trades.csv",
            equity_csv=folder / "equity.csv",
            statistics_json=folder / "statistics.json",
            report_html=folder / "report.html",
        )

    def files(self) -> tuple[Path, ...]:
        return (self.trades_csv, self.equity_csv, self.statistics_json, self.report_html)


def write_report(
    folder: Path,
    info: RunInfo,
    stats: Statistics,
    equity: Sequence[EquityPoint],
    trades: Sequence[TradeRecord],
    *,
    max_trade_rows: int = DEFAULT_MAX_TRADE_ROWS,
    max_chart_points: int = DEFAULT_MAX_POINTS,
) -> ReportPaths:
    """Write the report files of one run into ``folder`` (created if missing).

    Parameters
    ----------
    folder
        Target directory; existing report files in it are replaced.
    info, stats
        The run's description and its :func:`~tradeloop.analysis.compute_statistics` result.
    equity
        The full equity curve in time order (all of it goes to ``equity.csv``; the chart is
        downsampled to at most ``max_chart_points``).
    trades
        Closed round trips (all go to ``trades.csv``; the HTML table shows the first
        ``max_trade_rows``).

    Raises
    ------
    DataError
        The equity curve is not in time order.
    """
    check_time_order(equity)
    folder.mkdir(parents=True, exist_ok=True)
    paths = ReportPaths.in_folder(folder)
    _atomic(paths.trades_csv, lambda tmp: write_trades_csv(tmp, trades))
    _atomic(paths.equity_csv, lambda tmp: write_equity_csv(tmp, equity))
    document = {"run": run_info_dict(info), "statistics": stats.as_dict()}
    text = json.dumps(document, indent=2, ensure_ascii=False, allow_nan=False) + "\n"
    _atomic(paths.statistics_json, lambda tmp: _write_text(tmp, text))
    page = render_report_html(
        info,
        stats,
        equity,
        trades,
        max_trade_rows=max_trade_rows,
        max_chart_points=max_chart_points,
    )
    _atomic(paths.report_html, lambda tmp: _write_text(tmp, page))
    return paths


def run_info_dict(info: RunInfo) -> JsonObject:
    """JSON-ready form of ``info``: money as exact strings, times as ns and ISO UTC text."""
    return {
        "run_id": info.run_id,
        "strategy": info.strategy,
        "instruments": list(info.instruments),
        "start_ns": info.start_ns,
        "start_utc": iso_utc(info.start_ns),
        "end_ns": info.end_ns,
        "end_utc": iso_utc(info.end_ns),
        "starting_balance": plain(info.starting_balance),
        "currency": info.currency,
        "config_summary": dict(info.config_summary),
        "event_log_hash": info.event_log_hash,
        "messages": dict(info.messages),
        "wall_seconds": info.wall_seconds,
    }


def _write_text(path: Path, text: str) -> None:
    path.write_text(text, encoding="utf-8", newline="\n")


def _atomic(target: Path, write: Callable[[Path], None]) -> None:
    tmp = target.with_name(target.name + ".tmp")
    try:
        write(tmp)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
