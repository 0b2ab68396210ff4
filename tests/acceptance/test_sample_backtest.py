"""The main job, end to end: the shipped ES sample through the whole loop.

Golden numbers pin the outcome of the sample config; a rerun must give the identical event
log; and the ledger must equal a Decimal recomputation from the fills the log recorded.
"""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tradeloop.cli.main import app
from tradeloop.config import load_config
from tradeloop.model import OrderFilled, OrderSide
from tradeloop.runtime import BacktestConfig, RunOutcome, run_backtest
from tradeloop.store import content_hash, read_event_log

SAMPLE = Path(__file__).resolve().parents[2] / "examples" / "es_crossover.yaml"

GOLDEN_MESSAGES = {
    "AccountStateChanged": 100,
    "Alert": 1,  # a quiet 127 s with a position open: position_stale
    "Bar": 2263,
    "ComponentStateChanged": 4,
    "ExitCompleted": 11,
    "ExitEscalated": 11,
    "ExitTriggered": 11,
    "OrderAccepted": 100,
    "OrderFilled": 100,
    "OrderSubmitted": 100,
    "PositionClosed": 50,
    "PositionOpened": 50,
    "PriceRequested": 648,
    "PriceSnapshot": 648,
    "SubmitOrder": 100,
    "TradeTick": 500_000,
    "TrailingStopMoved": 62,
}


@pytest.fixture(scope="module")
def sample_config() -> BacktestConfig:
    return load_config(BacktestConfig, SAMPLE)


@pytest.fixture(scope="module")
def first_run(sample_config: BacktestConfig, tmp_path_factory: pytest.TempPathFactory) -> RunOutcome:
    return run_backtest(sample_config, output_dir=tmp_path_factory.mktemp("run1"))


def test_sample_crossover_on_es_trades_matches_its_golden_numbers(first_run: RunOutcome) -> None:
    result = first_run.result
    assert result.data_count == 500_000
    assert result.orders == 100
    assert result.fills == 100
    assert len(result.trades) == 50
    assert str(result.final_equity) == "998138.80 USD"
    assert str(result.realized_pnl) == "-1861.20 USD"
    assert str(result.commissions) == "411.20 USD"
    assert result.messages == GOLDEN_MESSAGES
    assert result.bus.handler_errors == 0
    stats = result.statistics.as_dict()
    assert (stats["winners"], stats["losers"]) == (12, 38)
    assert (stats["gross_profit"], stats["gross_loss"]) == ("1101.23", "-2962.43")
    assert stats["max_drawdown"] == "2016.07"


def test_rerunning_the_sample_gives_a_byte_identical_event_log(
    sample_config: BacktestConfig, first_run: RunOutcome, tmp_path: Path
) -> None:
    second = run_backtest(sample_config, output_dir=tmp_path)
    first_log = first_run.result.event_log_path
    second_log = second.result.event_log_path
    assert first_log is not None
    assert second_log is not None
    assert first_run.result.event_log_hash == second.result.event_log_hash
    assert content_hash(first_log) == first_run.result.event_log_hash
    assert first_log.read_bytes() == second_log.read_bytes()
    for name in ("trades.csv", "equity.csv"):  # statistics.json also holds the wall time
        assert (first_run.output_dir / name).read_bytes() == (second.output_dir / name).read_bytes()


def test_ledger_equals_a_decimal_recomputation_from_the_logged_fills(first_run: RunOutcome) -> None:
    log = first_run.result.event_log_path
    assert log is not None
    cash = Decimal("1000000")
    fees = Decimal(0)
    position = 0
    for record in read_event_log(log, types={"OrderFilled"}):
        fill = record.message
        assert isinstance(fill, OrderFilled)
        qty = fill.last_qty.as_decimal()
        notional = fill.last_px.as_decimal() * qty * 50
        fee = (notional * Decimal("0.000025")).quantize(Decimal("0.01"), rounding=ROUND_HALF_EVEN)
        assert fill.commission.as_decimal() == fee
        cash += -notional if fill.order_side is OrderSide.BUY else notional
        cash -= fee
        fees += fee
        position += int(qty) if fill.order_side is OrderSide.BUY else -int(qty)
    assert position == 0  # flat at the end, so equity is cash
    assert first_run.result.final_equity.as_decimal() == cash
    assert first_run.result.commissions.as_decimal() == fees
    trades_pnl = sum((t.realized_pnl for t in first_run.result.trades), Decimal(0))
    assert trades_pnl == cash - Decimal("1000000")


def test_report_folder_holds_trades_equity_statistics_html_and_the_event_log(first_run: RunOutcome) -> None:
    names = {p.name for p in first_run.output_dir.iterdir()}
    assert {"trades.csv", "equity.csv", "statistics.json", "report.html", "events.sqlite"} <= names
    html = (first_run.output_dir / "report.html").read_text(encoding="utf-8")
    assert html.count("<svg") >= 2


def test_cli_backtest_prints_results_and_the_event_log_hash(tmp_path: Path) -> None:
    runner = CliRunner()
    out = tmp_path / "cli-run"
    result = runner.invoke(app, ["backtest", str(SAMPLE), "--quiet", "--output", str(out)])
    assert result.exit_code == 0, result.output
    assert "final equity" in result.output
    assert "998138.80 USD" in result.output
    digest = content_hash(out / "events.sqlite")
    assert f"event log hash: {digest}" in result.output


def test_mean_reversion_sample_trades_both_sides_with_kelly_sizing(tmp_path: Path) -> None:
    config = load_config(
        BacktestConfig, SAMPLE.with_name("es_mean_reversion.yaml"), overrides=["log.enabled=false"]
    )
    result = run_backtest(config, output_dir=tmp_path).result
    assert (result.orders, result.fills, len(result.trades)) == (42, 42, 21)
    assert str(result.final_equity) == "1000176.12 USD"
    assert str(result.commissions) == "86.38 USD"
    sides = [t.side for t in result.trades]
    assert (sides.count("LONG"), sides.count("SHORT")) == (9, 12)
    assert {t.quantity for t in result.trades} == {Decimal(1)}  # half Kelly sizes one contract
    assert result.bus.handler_errors == 0
