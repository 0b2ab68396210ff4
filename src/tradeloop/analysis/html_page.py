"""The single-file HTML report: run info, statistics, equity and drawdown charts, trades.

The page has no scripts and loads nothing: styles sit in one ``<style>`` block and the charts
are inline SVG, so it opens offline and can be mailed as one file. Every string that comes
from the run (strategy name, ids, config values...) is HTML-escaped where it is placed.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from html import escape

from tradeloop.analysis.downsample import DEFAULT_MAX_POINTS, downsample_indices
from tradeloop.analysis.drawdown import underwater
from tradeloop.analysis.formatting import format_duration, format_money, iso_utc
from tradeloop.analysis.records import EquityPoint, RunInfo, TradeRecord
from tradeloop.analysis.statistics import Statistics
from tradeloop.analysis.svg import ChartStyle, time_series_svg
from tradeloop.core.errors import ValueRangeError

__all__ = ["DEFAULT_MAX_TRADE_ROWS", "render_report_html"]

DEFAULT_MAX_TRADE_ROWS = 1_000

_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0; color: #222;
  background: #fff; }
main { max-width: 1000px; margin: 0 auto; padding: 24px; }
h1 { font-size: 24px; margin: 0 0 4px; }
h2 { font-size: 18px; margin: 28px 0 8px; border-bottom: 1px solid #ddd; padding-bottom: 4px; }
h3 { font-size: 14px; margin: 16px 0 6px; }
.sub, .note { color: #666; font-size: 13px; }
table { border-collapse: collapse; font-size: 13px; }
th, td { padding: 3px 10px; border-bottom: 1px solid #eee; text-align: left; vertical-align: top; }
th { background: #f4f4f4; font-weight: 600; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
table.kv td:first-child { color: #555; }
.pos { color: #17703a; }
.neg { color: #b3261e; }
.trades-wrap { overflow-x: auto; }
svg.chart { max-width: 100%; height: auto; display: block; }
code { font-size: 12px; word-break: break-all; }
""".strip()


def render_report_html(
    info: RunInfo,
    stats: Statistics,
    equity: Sequence[EquityPoint],
    trades: Sequence[TradeRecord],
    *,
    max_trade_rows: int = DEFAULT_MAX_TRADE_ROWS,
    max_chart_points: int = DEFAULT_MAX_POINTS,
) -> str:
    """The report page as a string. ``equity`` must be in time order (not checked here)."""
    if max_trade_rows < 0:
        raise ValueRangeError(f"max_trade_rows must be >= 0, got {max_trade_rows}")
    title = f"Backtest report: {info.strategy}"
    parts = [
        "<!DOCTYPE html>\n",
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n',
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n',
        f"<title>{escape(title)} ({escape(info.run_id)})</title>\n",
        f"<style>\n{_CSS}\n</style>\n</head>\n<body>\n<main>\n",
        f"<h1>{escape(title)}</h1>\n",
        f'<p class="sub">Run <code>{escape(info.run_id)}</code>, '
        f"{escape(iso_utc(info.start_ns))} to {escape(iso_utc(info.end_ns))}</p>\n",
        _run_section(info),
        '<h2 id="statistics">Statistics</h2>\n',
        _kv_table(stats.as_rows(), numeric=True),
        _charts_section(info, equity, max_chart_points),
        _trades_section(trades, max_trade_rows),
        "</main>\n</body>\n</html>\n",
    ]
    return "".join(parts)


def _run_section(info: RunInfo) -> str:
    rows = [
        ("Run id", info.run_id),
        ("Strategy", info.strategy),
        ("Instruments", ", ".join(info.instruments) or "none"),
        ("Start (UTC)", iso_utc(info.start_ns)),
        ("End (UTC)", iso_utc(info.end_ns)),
        ("Duration", format_duration(info.end_ns - info.start_ns)),
        ("Starting balance", f"{format_money(info.starting_balance)} {info.currency}"),
        ("Currency", info.currency),
        ("Event log hash", info.event_log_hash or "n/a"),
        ("Wall time", f"{info.wall_seconds:.3f} s"),
    ]
    out = ['<h2 id="run">Run</h2>\n', _kv_table(rows)]
    if info.config_summary:
        out += ["<h3>Configuration</h3>\n", _kv_table(info.config_summary.items())]
    if info.messages:
        out += [
            "<h3>Messages processed</h3>\n",
            _kv_table(((kind, f"{count:,}") for kind, count in info.messages.items()), numeric=True),
        ]
    return "".join(out)


def _kv_table(rows: Iterable[tuple[str, str]], *, numeric: bool = False) -> str:
    cell = '<td class="num">' if numeric else "<td>"
    body = "".join(f"<tr><td>{escape(label)}</td>{cell}{escape(value)}</td></tr>\n" for label, value in rows)
    return f'<table class="kv">\n{body}</table>\n'


def _charts_section(info: RunInfo, equity: Sequence[EquityPoint], max_points: int) -> str:
    ts = [p.ts_ns for p in equity]
    values = [float(p.equity) for p in equity]
    under = [u * 100.0 for u in underwater(values)]
    keep_equity = downsample_indices(ts, values, max_points)
    keep_under = downsample_indices(ts, under, max_points)
    equity_svg = time_series_svg(
        [ts[i] for i in keep_equity],
        [values[i] for i in keep_equity],
        title=f"Equity ({info.currency})",
        reference=float(info.starting_balance),
    )
    under_svg = time_series_svg(
        [ts[i] for i in keep_under],
        [under[i] for i in keep_under],
        title="Drawdown from running peak (underwater)",
        unit_suffix="%",
        area=True,
        style=ChartStyle(stroke="#b3261e"),
    )
    note = ""
    if len(keep_equity) < len(equity):
        note = (
            f'<p class="note">{len(equity):,} equity samples drawn as {len(keep_equity):,} points '
            "(each time bucket keeps its lowest and highest sample).</p>\n"
        )
    return (
        '<h2 id="equity">Equity</h2>\n'
        f"{equity_svg}\n"
        '<p class="note">Dashed line: starting balance.</p>\n'
        '<h2 id="drawdown">Drawdown</h2>\n'
        f"{under_svg}\n{note}"
    )


_NUM = ' class="num"'
_TRADE_HEADERS = (
    ("#", True),
    ("Position", False),
    ("Instrument", False),
    ("Strategy", False),
    ("Side", False),
    ("Quantity", True),
    ("Entry (UTC)", False),
    ("Exit (UTC)", False),
    ("Held", True),
    ("Entry px", True),
    ("Exit px", True),
    ("Realized P&L", True),
    ("Commissions", True),
    ("Currency", False),
)


def _trades_section(trades: Sequence[TradeRecord], max_rows: int) -> str:
    out = ['<h2 id="trades">Trades</h2>\n']
    if not trades:
        out.append('<p class="note">No closed trades.</p>\n')
        return "".join(out)
    if len(trades) > max_rows:
        out.append(
            f'<p class="note">Showing the first {max_rows:,} of {len(trades):,} trades; '
            "all of them are in trades.csv.</p>\n"
        )
    head = "".join(f"<th{_NUM if numeric else ''}>{escape(name)}</th>" for name, numeric in _TRADE_HEADERS)
    out.append(f'<div class="trades-wrap"><table class="trades">\n<tr>{head}</tr>\n')
    for number, t in enumerate(trades[:max_rows], start=1):
        tone = "pos" if t.realized_pnl > 0 else "neg" if t.realized_pnl < 0 else ""
        cells = (
            _td(f"{number:,}", numeric=True),
            _td(t.position_id),
            _td(t.instrument_id),
            _td(t.strategy_id),
            _td(t.side),
            _td(format_money(t.quantity), numeric=True),
            _td(iso_utc(t.entry_ts_ns)),
            _td(iso_utc(t.exit_ts_ns)),
            _td(format_duration(t.exit_ts_ns - t.entry_ts_ns), numeric=True),
            _td(format_money(t.avg_entry_px), numeric=True),
            _td(format_money(t.avg_exit_px), numeric=True),
            _td(format_money(t.realized_pnl), numeric=True, tone=tone),
            _td(format_money(t.commissions), numeric=True),
            _td(t.currency),
        )
        out.append(f"<tr>{''.join(cells)}</tr>\n")
    out.append("</table></div>\n")
    return "".join(out)


def _td(text: str, *, numeric: bool = False, tone: str = "") -> str:
    classes = " ".join(c for c in ("num" if numeric else "", tone) if c)
    attr = f' class="{classes}"' if classes else ""
    return f"<td{attr}>{escape(text)}</td>"
