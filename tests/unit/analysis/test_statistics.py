"""compute_statistics on small hand-built runs whose answers are worked out here."""

from __future__ import annotations

import itertools
import json
import math
import statistics as pystats
from decimal import Decimal, localcontext

import pytest

from tradeloop.analysis import EquityPoint, Statistics, TradeRecord, compute_statistics
from tradeloop.core.errors import DataError

NS = 1_000_000_000
HOUR = 3_600 * NS
DAY = 24 * HOUR
T0 = 1_704_067_200 * NS  # 2024-01-01T00:00:00Z


def curve(*pairs: tuple[int, str]) -> list[EquityPoint]:
    return [EquityPoint(ts, Decimal(value)) for ts, value in pairs]


def trade(pnl: str, *, hours: int = 1, side: str = "LONG", n: int = 0, currency: str = "USD") -> TradeRecord:
    return TradeRecord(
        position_id=f"P-{n}",
        instrument_id="AAPL.XNAS",
        strategy_id="S-1",
        side=side,
        quantity=Decimal("10"),
        entry_ts_ns=T0 + n * HOUR,
        exit_ts_ns=T0 + n * HOUR + hours * HOUR,
        avg_entry_px=Decimal("100.00"),
        avg_exit_px=Decimal("101.00"),
        realized_pnl=Decimal(pnl),
        commissions=Decimal("1.00"),
        currency=currency,
    )


EQUITY = curve(
    (T0, "1000"),
    (T0 + 1 * HOUR, "1100"),  # peak
    (T0 + 2 * HOUR, "1050"),
    (T0 + 3 * HOUR, "990"),  # trough: 1100 - 990 = 110 = 10% of the peak
    (T0 + 4 * HOUR, "1100"),  # recovered after 3 hours
    (T0 + 5 * HOUR, "1200"),
    (T0 + 6 * HOUR, "1140"),  # 60 below, never recovered: 1 hour under water
)
TRADES = [
    trade("100.00", hours=1, n=0),
    trade("-50.00", hours=2, n=1, side="SHORT"),
    trade("30.01", hours=3, n=2),
    trade("-20.00", hours=4, n=3),
    trade("0.00", hours=5, n=4, side="SHORT"),
]


@pytest.fixture
def stats() -> Statistics:
    return compute_statistics(EQUITY, TRADES, Decimal("1000"))


def test_money_fields_are_exact_sums_when_trades_mix_winners_losers_and_breakeven(stats: Statistics) -> None:
    assert stats.final_equity == Decimal("1140")
    assert stats.net_pnl == Decimal("140")
    assert stats.total_return == pytest.approx(0.14)
    assert stats.gross_profit == Decimal("130.01")
    assert stats.gross_loss == Decimal("-70.00")
    assert stats.realized_pnl == Decimal("60.01")
    assert stats.total_commissions == Decimal("5.00")
    assert stats.largest_win == Decimal("100.00")
    assert stats.largest_loss == Decimal("-50.00")


def test_trade_counts_and_win_rate_when_one_trade_breaks_even(stats: Statistics) -> None:
    assert (stats.total_trades, stats.winners, stats.losers) == (5, 2, 2)
    assert (stats.long_trades, stats.short_trades) == (3, 2)
    assert stats.win_rate == pytest.approx(2 / 5)


def test_averages_round_half_even_to_the_pnl_places_when_division_is_inexact(stats: Statistics) -> None:
    # 130.01 / 2 = 65.005 -> 65.00 (half-even); 60.01 / 5 = 12.002 -> 12.00.
    assert str(stats.average_win) == "65.00"
    assert str(stats.average_loss) == "-35.00"
    assert str(stats.expectancy) == "12.00"


def test_profit_factor_is_gross_profit_over_absolute_gross_loss(stats: Statistics) -> None:
    assert stats.profit_factor == pytest.approx(round(130.01 / 70, 6), abs=1e-9)


def test_max_drawdown_names_its_peak_and_trough_when_a_later_drop_is_smaller(stats: Statistics) -> None:
    assert stats.max_drawdown == Decimal("110")
    assert stats.max_drawdown_pct == pytest.approx(0.1)
    assert stats.max_drawdown_peak_ns == T0 + HOUR
    assert stats.max_drawdown_trough_ns == T0 + 3 * HOUR
    assert stats.max_drawdown_duration_ns == 3 * HOUR


def test_average_holding_time_is_mean_of_exit_minus_entry(stats: Statistics) -> None:
    assert stats.average_holding_ns == 3 * HOUR  # (1 + 2 + 3 + 4 + 5) / 5 hours


def test_sharpe_and_sortino_are_none_when_the_curve_spans_one_utc_day(stats: Statistics) -> None:
    assert stats.return_days == 1
    assert stats.sharpe_ratio is None
    assert stats.sortino_ratio is None


def test_sharpe_and_sortino_match_an_independent_daily_computation_when_curve_spans_days() -> None:
    equity = curve(
        (T0, "1000"),  # opening value
        (T0 + 18 * HOUR, "1010"),  # day 0 close
        (T0 + DAY + 18 * HOUR, "1005"),  # day 1 close
        (T0 + 2 * DAY + 12 * HOUR, "1030"),
        (T0 + 2 * DAY + 20 * HOUR, "1020"),  # day 2 close (last point of the day wins)
        # day 3 has no sample: its close is carried, a zero return
        (T0 + 4 * DAY + 10 * HOUR, "1040"),  # day 4 close
    )
    closes = [1000.0, 1010.0, 1005.0, 1020.0, 1020.0, 1040.0]
    returns = [b / a - 1 for a, b in itertools.pairwise(closes)]
    sharpe = pystats.mean(returns) / pystats.stdev(returns) * math.sqrt(365)
    downside = math.sqrt(sum(min(r, 0.0) ** 2 for r in returns) / len(returns))
    sortino = pystats.mean(returns) / downside * math.sqrt(365)

    stats = compute_statistics(equity, [], Decimal("1000"))

    assert stats.return_days == 5
    assert stats.sharpe_ratio == pytest.approx(sharpe, abs=1e-6)
    assert stats.sortino_ratio == pytest.approx(sortino, abs=1e-6)


def test_sortino_is_none_when_no_day_loses_money() -> None:
    equity = curve((T0, "100"), (T0 + DAY, "101"), (T0 + 2 * DAY, "103"))
    stats = compute_statistics(equity, [], Decimal("100"))
    assert stats.sharpe_ratio is not None
    assert stats.sortino_ratio is None


def test_sharpe_is_none_when_returns_do_not_vary() -> None:
    equity = curve((T0, "100"), (T0 + DAY, "100"), (T0 + 2 * DAY, "100"))
    stats = compute_statistics(equity, [], Decimal("100"))
    assert stats.sharpe_ratio is None
    assert stats.sortino_ratio is None


def test_ratios_are_none_when_equity_reaches_zero_before_a_return() -> None:
    equity = curve((T0, "100"), (T0 + DAY, "0"), (T0 + 2 * DAY, "5"))
    stats = compute_statistics(equity, [], Decimal("100"))
    assert stats.sharpe_ratio is None
    assert stats.sortino_ratio is None


def test_empty_run_reports_the_starting_balance_and_no_ratios() -> None:
    stats = compute_statistics([], [], Decimal("5000.00"))
    assert stats.final_equity == Decimal("5000.00")
    assert stats.net_pnl == 0
    assert stats.total_return == 0.0
    assert stats.total_trades == 0
    assert stats.win_rate is None
    assert stats.profit_factor is None
    assert stats.expectancy is None
    assert stats.average_win is None
    assert stats.average_loss is None
    assert stats.average_holding_ns is None
    assert stats.max_drawdown == 0
    assert stats.max_drawdown_pct == 0.0
    assert stats.max_drawdown_peak_ns is None
    assert stats.max_drawdown_duration_ns == 0
    assert stats.return_days == 0
    assert stats.sharpe_ratio is None


def test_one_equity_point_has_no_drawdown_and_no_ratios() -> None:
    stats = compute_statistics(curve((T0, "990")), [], Decimal("1000"))
    assert stats.final_equity == Decimal("990")
    assert stats.total_return == pytest.approx(-0.01)
    assert stats.max_drawdown == 0
    assert stats.max_drawdown_trough_ns is None
    assert stats.return_days == 1
    assert stats.sharpe_ratio is None


def test_profit_factor_is_none_when_every_trade_wins() -> None:
    stats = compute_statistics([], [trade("5", n=0), trade("7", n=1)], Decimal("100"))
    assert stats.win_rate == 1.0
    assert stats.profit_factor is None
    assert stats.average_loss is None
    assert stats.largest_loss is None
    assert stats.average_win == Decimal("6")


def test_profit_factor_is_zero_when_every_trade_loses() -> None:
    stats = compute_statistics([], [trade("-5", n=0), trade("-7", n=1)], Decimal("100"))
    assert stats.win_rate == 0.0
    assert stats.profit_factor == 0.0
    assert stats.largest_win is None


def test_total_return_is_none_when_starting_balance_is_zero() -> None:
    stats = compute_statistics(curve((T0, "10")), [], Decimal("0"))
    assert stats.total_return is None
    assert stats.net_pnl == Decimal("10")


def test_drawdown_starts_from_the_latest_touch_of_the_peak() -> None:
    equity = curve((T0, "100"), (T0 + HOUR, "90"), (T0 + 2 * HOUR, "100"), (T0 + 3 * HOUR, "80"))
    stats = compute_statistics(equity, [], Decimal("100"))
    assert stats.max_drawdown == Decimal("20")
    assert stats.max_drawdown_peak_ns == T0 + 2 * HOUR
    assert stats.max_drawdown_trough_ns == T0 + 3 * HOUR
    assert stats.max_drawdown_duration_ns == 2 * HOUR  # 100 -> 90 -> 100 beats the open 1 h


def test_deepest_percentage_and_largest_amount_are_each_reported_when_episodes_differ() -> None:
    equity = curve(
        (T0, "100"),
        (T0 + HOUR, "80"),  # -20 money, -20%
        (T0 + 2 * HOUR, "1000"),
        (T0 + 3 * HOUR, "900"),  # -100 money, -10%
    )
    stats = compute_statistics(equity, [], Decimal("100"))
    assert stats.max_drawdown == Decimal("100")
    assert stats.max_drawdown_peak_ns == T0 + 2 * HOUR
    assert stats.max_drawdown_trough_ns == T0 + 3 * HOUR
    assert stats.max_drawdown_pct == pytest.approx(0.2)


def test_drawdown_percentage_is_none_when_the_peak_is_not_positive() -> None:
    stats = compute_statistics(curve((T0, "-10"), (T0 + HOUR, "-25")), [], Decimal("100"))
    assert stats.max_drawdown == Decimal("15")
    assert stats.max_drawdown_pct is None


def test_results_do_not_depend_on_the_callers_decimal_context() -> None:
    big = curve((T0, "123456789012345678901234567890.01"), (T0 + HOUR, "123456789012345678901234567880.02"))
    expected = compute_statistics(big, TRADES, Decimal("123456789012345678901234567890.01"))
    with localcontext() as ctx:
        ctx.prec = 3
        again = compute_statistics(big, TRADES, Decimal("123456789012345678901234567890.01"))
    assert again == expected
    assert expected.max_drawdown == Decimal("9.99")


def test_mixed_trade_currencies_raise_naming_the_trade() -> None:
    trades = [trade("1", n=0), trade("2", n=1, currency="EUR")]
    with pytest.raises(DataError, match=r"trade 1 \('P-1'\) is in EUR"):
        compute_statistics([], trades, Decimal("100"))


def test_equity_going_back_in_time_raises_naming_the_point() -> None:
    equity = curve((T0, "1"), (T0 + HOUR, "2"), (T0, "3"))
    with pytest.raises(DataError, match="equity point 2"):
        compute_statistics(equity, [], Decimal("1"))


def test_non_decimal_starting_balance_is_rejected() -> None:
    with pytest.raises(DataError, match="starting_balance"):
        compute_statistics([], [], 100.0)  # type: ignore[arg-type]


def test_as_dict_is_json_with_exact_money_strings(stats: Statistics) -> None:
    data = json.loads(json.dumps(stats.as_dict()))
    assert data["gross_profit"] == "130.01"
    assert data["max_drawdown"] == "110"
    assert data["max_drawdown_peak_ns"] == T0 + HOUR
    assert data["sharpe_ratio"] is None
    assert data["total_trades"] == 5
    assert set(data) == set(Statistics.__dataclass_fields__)


def test_as_rows_formats_money_percentages_and_durations_for_a_table(stats: Statistics) -> None:
    rows = dict(stats.as_rows())
    assert rows["Final equity"] == "1,140"
    assert rows["Win rate"] == "40.00%"
    assert rows["Max drawdown % (deepest)"] == "10.00%"
    assert rows["Max drawdown peak"] == "2024-01-01T01:00:00Z"
    assert rows["Longest drawdown"] == "03:00:00"
    assert rows["Profit factor"] == "1.857"
    assert rows["Sharpe ratio (daily, annualised)"] == "n/a"
    assert rows["Average holding time"] == "03:00:00"
    assert all(isinstance(label, str) and isinstance(value, str) for label, value in stats.as_rows())
