"""Analysis of a finished run: statistics, CSV/JSON outputs and a self-contained HTML report.

The engine builds :class:`EquityPoint`, :class:`TradeRecord` and :class:`RunInfo` records,
calls :func:`compute_statistics`, then :func:`write_report`. Everything here depends only on
``core``, ``model`` and the standard library.
"""

from tradeloop.analysis.downsample import DEFAULT_MAX_POINTS, downsample, downsample_indices
from tradeloop.analysis.drawdown import Drawdown, check_time_order, max_drawdown, underwater
from tradeloop.analysis.html_page import DEFAULT_MAX_TRADE_ROWS, render_report_html
from tradeloop.analysis.records import EquityPoint, RunInfo, TradeRecord
from tradeloop.analysis.report import ReportPaths, run_info_dict, write_report
from tradeloop.analysis.returns import (
    DAYS_PER_YEAR,
    NANOS_PER_DAY,
    RiskRatios,
    daily_closes,
    daily_returns,
    risk_ratios,
)
from tradeloop.analysis.statistics import Statistics, compute_statistics
from tradeloop.analysis.svg import ChartStyle, time_series_svg
from tradeloop.analysis.tables import (
    EQUITY_COLUMNS,
    TRADE_COLUMNS,
    read_equity_csv,
    read_trades_csv,
    write_equity_csv,
    write_trades_csv,
)

__all__ = [
    # records
    "EquityPoint",
    "RunInfo",
    "TradeRecord",
    # statistics
    "Statistics",
    "compute_statistics",
    "Drawdown",
    "max_drawdown",
    "underwater",
    "check_time_order",
    "RiskRatios",
    "risk_ratios",
    "daily_closes",
    "daily_returns",
    "DAYS_PER_YEAR",
    "NANOS_PER_DAY",
    # report
    "ReportPaths",
    "write_report",
    "run_info_dict",
    "render_report_html",
    "DEFAULT_MAX_TRADE_ROWS",
    "EQUITY_COLUMNS",
    "TRADE_COLUMNS",
    "read_equity_csv",
    "read_trades_csv",
    "write_equity_csv",
    "write_trades_csv",
    # charts
    "ChartStyle",
    "time_series_svg",
    "DEFAULT_MAX_POINTS",
    "downsample",
    "downsample_indices",
]
