"""write_report: the four files, CSV round trips, escaping, the charts, determinism."""

from __future__ import annotations

import json
import re
from decimal import Decimal
from pathlib import Path

import pytest

from tradeloop.analysis import (
    TRADE_COLUMNS,
    EquityPoint,
    RunInfo,
    TradeRecord,
    compute_statistics,
    read_equity_csv,
    read_trades_csv,
    write_report,
)
from tradeloop.core.errors import DataError

NS = 1_000_000_000
HOUR = 3_600 * NS
T0 = 1_704_067_200 * NS  # 2024-01-01T00:00:00Z
HOSTILE = '<script>alert("x")</script>'


def make_equity(n: int = 500) -> list[EquityPoint]:
    # A saw-tooth over about three weeks with one deep dip.
    points = [EquityPoint(T0 + i * HOUR, Decimal(10_000 + (i % 24) * 5 - (i // 24))) for i in range(n)]
    if n > 200:
        points[200] = EquityPoint(T0 + 200 * HOUR, Decimal("8123.45"))
    return points


def make_trades(n: int = 5) -> list[TradeRecord]:
    return [
        TradeRecord(
            position_id=f"P-{i}",
            instrument_id="BTCUSD.SIM" if i % 2 else "ETH,USD & co.SIM",
            strategy_id=HOSTILE if i == 0 else "S-1",
            side="LONG" if i % 2 else "SHORT",
            quantity=Decimal("0.015"),
            entry_ts_ns=T0 + i * HOUR,
            exit_ts_ns=T0 + i * HOUR + 90 * NS + 1,
            avg_entry_px=Decimal("42000.5"),
            avg_exit_px=Decimal("42010.125"),
            realized_pnl=Decimal(i * 7 - 10).scaleb(-2),
            commissions=Decimal("0.05"),
            currency="USD",
        )
        for i in range(n)
    ]


def make_info(strategy: str = HOSTILE) -> RunInfo:
    return RunInfo(
        run_id="run-0001",
        strategy=strategy,
        instruments=["BTCUSD.SIM", "ETHUSD.SIM"],
        start_ns=T0,
        end_ns=T0 + 500 * HOUR,
        starting_balance=Decimal("10000"),
        currency="USD",
        config_summary={"fast": "10", "note": "<b>bold</b> & 'quoted'"},
        event_log_hash="9f2c",
        messages={"Bar": 1000, "OrderFilled": 12},
        wall_seconds=1.25,
    )


def write(folder: Path, **kwargs: int) -> tuple[Path, str]:
    equity, trades, info = make_equity(), make_trades(), make_info()
    stats = compute_statistics(equity, trades, info.starting_balance)
    paths = write_report(folder, info, stats, equity, trades, **kwargs)
    return paths.report_html, paths.report_html.read_text(encoding="utf-8")


def test_report_creates_the_missing_folder_and_all_four_files(tmp_path: Path) -> None:
    equity, trades, info = make_equity(), make_trades(), make_info()
    stats = compute_statistics(equity, trades, info.starting_balance)
    folder = tmp_path / "runs" / "run-0001"

    paths = write_report(folder, info, stats, equity, trades)

    assert paths.folder == folder
    assert sorted(p.name for p in folder.iterdir()) == [
        "equity.csv",
        "report.html",
        "statistics.json",
        "trades.csv",
    ]
    for path in (paths.trades_csv, paths.equity_csv, paths.statistics_json, paths.report_html):
        assert path.parent == folder
        assert path.stat().st_size > 0


def test_trades_and_equity_csv_read_back_equal_to_what_was_written(tmp_path: Path) -> None:
    equity, trades, info = make_equity(), make_trades(), make_info()
    stats = compute_statistics(equity, trades, info.starting_balance)
    paths = write_report(tmp_path, info, stats, equity, trades)

    assert read_trades_csv(paths.trades_csv) == trades
    assert read_equity_csv(paths.equity_csv) == equity
    header = paths.trades_csv.read_text(encoding="utf-8").splitlines()[0]
    assert header == ",".join(TRADE_COLUMNS)


def test_statistics_json_holds_run_info_and_exact_statistics(tmp_path: Path) -> None:
    equity, trades, info = make_equity(), make_trades(), make_info()
    stats = compute_statistics(equity, trades, info.starting_balance)
    paths = write_report(tmp_path, info, stats, equity, trades)

    document = json.loads(paths.statistics_json.read_text(encoding="utf-8"))

    assert document["statistics"] == json.loads(json.dumps(stats.as_dict()))
    assert document["statistics"]["max_drawdown"] == str(stats.max_drawdown)
    assert document["run"]["strategy"] == HOSTILE
    assert document["run"]["starting_balance"] == "10000"
    assert document["run"]["start_utc"] == "2024-01-01T00:00:00Z"
    assert document["run"]["messages"] == {"Bar": 1000, "OrderFilled": 12}


def test_html_escapes_a_hostile_strategy_name_and_config_values(tmp_path: Path) -> None:
    _, html = write(tmp_path)

    assert "<script" not in html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in html
    assert "<b>bold</b>" not in html
    assert "&lt;b&gt;bold&lt;/b&gt; &amp; &#x27;quoted&#x27;" in html
    assert "ETH,USD &amp; co.SIM" in html


def test_html_is_self_contained_with_two_svg_charts_and_dated_ticks(tmp_path: Path) -> None:
    _, html = write(tmp_path)

    assert html.startswith("<!DOCTYPE html>")
    assert html.count("<svg ") == 2
    assert "Equity (USD)" in html
    assert "Drawdown from running peak" in html
    assert "<polygon" in html  # the underwater area
    assert re.search(r">2024-01-\d\d<", html)  # time-axis labels carry dates
    assert re.search(r">-?\d+(\.\d+)?%<", html)  # drawdown axis in percent
    assert not re.search(r"\b(src|href)=", html)  # nothing to fetch: opens offline
    assert "http" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "")


def test_html_lists_every_trade_when_under_the_cap(tmp_path: Path) -> None:
    _, html = write(tmp_path)
    assert html.count('<tr><td class="num">') == 5
    assert "Showing the first" not in html


def test_html_trade_table_is_capped_with_a_note_when_trades_exceed_the_cap(tmp_path: Path) -> None:
    _, html = write(tmp_path, max_trade_rows=3)
    assert html.count('<tr><td class="num">') == 3
    assert "Showing the first 3 of 5 trades; all of them are in trades.csv." in html
    assert "P-2" in html
    assert "P-3" not in html


def test_equity_chart_is_downsampled_to_the_point_budget(tmp_path: Path) -> None:
    _, html = write(tmp_path, max_chart_points=40)
    polylines = re.findall(r'<polyline points="([^"]*)"', html)
    assert len(polylines) == 2
    assert all(len(p.split(" ")) <= 40 for p in polylines)
    assert "500 equity samples drawn as" in html


def test_two_writes_of_the_same_run_are_byte_identical(tmp_path: Path) -> None:
    write(tmp_path / "a")
    write(tmp_path / "b")
    names = sorted(p.name for p in (tmp_path / "a").iterdir())
    assert names == sorted(p.name for p in (tmp_path / "b").iterdir())
    for name in names:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name


def test_rewriting_a_folder_replaces_the_report_and_leaves_no_temporary_files(tmp_path: Path) -> None:
    write(tmp_path)
    equity, info = make_equity(10), make_info(strategy="second")
    write_report(tmp_path, info, compute_statistics(equity, [], info.starting_balance), equity, [])
    html = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert "Backtest report: second" in html
    assert "No closed trades." in html
    assert not list(tmp_path.glob("*.tmp"))
    assert read_trades_csv(tmp_path / "trades.csv") == []


def test_report_of_an_empty_run_still_renders_both_charts(tmp_path: Path) -> None:
    info = make_info(strategy="idle")
    write_report(tmp_path, info, compute_statistics([], [], info.starting_balance), [], [])
    html = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert html.count("<svg ") == 2
    assert html.count(">No data<") == 2


def test_report_rejects_an_equity_curve_out_of_time_order(tmp_path: Path) -> None:
    equity = [EquityPoint(T0 + HOUR, Decimal(1)), EquityPoint(T0, Decimal(1))]
    info = make_info()
    stats = compute_statistics([], [], info.starting_balance)
    with pytest.raises(DataError, match="equity point 1"):
        write_report(tmp_path / "out", info, stats, equity, [])


def test_reading_a_trades_csv_with_a_bad_cell_names_file_line_and_column(tmp_path: Path) -> None:
    equity, trades, info = make_equity(), make_trades(), make_info()
    paths = write_report(
        tmp_path, info, compute_statistics(equity, trades, info.starting_balance), equity, trades
    )
    lines = paths.trades_csv.read_text(encoding="utf-8").splitlines()
    lines[3] = lines[3].replace("0.015", "zero point one", 1)
    paths.trades_csv.write_text("\n".join(lines) + "\n", encoding="utf-8")

    with pytest.raises(DataError, match=r"trades\.csv: line 4: column 'quantity': 'zero point one'"):
        read_trades_csv(paths.trades_csv)


def test_reading_an_equity_csv_without_the_equity_column_names_it(tmp_path: Path) -> None:
    path = tmp_path / "equity.csv"
    path.write_text("ts_ns,time_utc\n1,x\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"lacks column.*equity"):
        read_equity_csv(path)


def test_reading_a_csv_row_that_breaks_a_record_rule_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "equity.csv"
    path.write_text("ts_ns,time_utc,equity\n1,x,5\n2,y,NaN\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"line 3: column 'equity': 'NaN' is not finite"):
        read_equity_csv(path)
