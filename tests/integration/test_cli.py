"""The ``tradeloop`` command line, driven through typer's CliRunner.

Every failure a user can cause (a missing or invalid file, an unknown key, a bad ``--set``,
malformed data) must end with exit code 2 and one clear line on stderr, never a traceback.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner, Result

from tradeloop import __version__
from tradeloop.cli.main import app
from tradeloop.runtime import BacktestConfig
from tradeloop.store import content_hash

CONFIG = """\
run:
  name: cli-synthetic
  seed: 5
  output_dir: {output}
data:
  source: {source}
  kind: {kind}
  instrument: {{id: TEST.SIM, type: equity}}
  synthetic: {{count: 2000, seed: 2}}
  timestamp_unit: s
  path: {path}
venue:
  starting_balance: 100000
  account_type: CASH
strategies:
  - class: tradeloop.strategy.samples:MovingAverageCrossover
    config: {{instrument_id: TEST.SIM, fast: 5, slow: 20, quantity: 10}}
report:
  enabled: {report}
"""


def write_config(
    folder: Path,
    *,
    source: str = "synthetic",
    kind: str = "bars",
    path: str = "null",
    report: bool = False,
    extra: str = "",
) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    config = folder / "backtest.yaml"
    text = CONFIG.format(
        output=folder / "out", source=source, kind=kind, path=path, report=str(report).lower()
    )
    config.write_text(text + extra, encoding="utf-8")
    return config


def invoke(*args: str) -> Result:
    return CliRunner().invoke(app, list(args))


def assert_clean_failure(result: Result, *fragments: str) -> str:
    """Exit code 2, nothing on stdout, and one ``error:`` line naming every fragment."""
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    (line,) = lines
    assert line.startswith("error: ")
    for fragment in fragments:
        assert fragment in line
    return line


def test_help_lists_the_commands() -> None:
    result = invoke("--help")
    assert result.exit_code == 0
    for command in ("backtest", "sample-config", "schema", "log-hash", "version"):
        assert re.search(rf"\b{command}\b", result.output), command


def test_version_prints_the_package_version() -> None:
    result = invoke("version")
    assert result.exit_code == 0
    assert result.stdout.strip() == __version__


# -- backtest --------------------------------------------------------------------------------


def test_a_synthetic_backtest_runs_and_prints_the_event_log_hash(tmp_path: Path) -> None:
    config = write_config(tmp_path, report=True)
    out = tmp_path / "run"

    result = invoke("backtest", str(config), "--output", str(out))

    assert result.exit_code == 0, result.output
    assert "tradeloop backtest: cli-synthetic" in result.stdout
    assert "market data messages" in result.stdout
    assert "2,000" in result.stdout
    digest = content_hash(out / "events.sqlite")
    assert f"event log hash: {digest}" in result.stdout
    assert (out / "report.html").is_file()

    again = invoke("log-hash", str(out / "events.sqlite"))
    assert again.exit_code == 0
    assert again.stdout.strip() == digest


def test_set_overrides_the_config_and_no_log_skips_the_event_log(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    out = tmp_path / "run"

    result = invoke("backtest", str(config), "-q", "-o", str(out), "--set", "run.name=renamed", "--no-log")

    assert result.exit_code == 0, result.output
    assert "tradeloop backtest: renamed" in result.stdout
    assert "event log hash" not in result.stdout
    assert not (out / "events.sqlite").exists()


def test_the_same_config_twice_prints_the_same_hash(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    hashes = []
    for name in ("a", "b"):
        result = invoke("backtest", str(config), "-q", "-o", str(tmp_path / name))
        assert result.exit_code == 0, result.output
        match = re.search(r"event log hash: ([0-9a-f]{64})", result.stdout)
        assert match is not None
        hashes.append(match.group(1))
    assert hashes[0] == hashes[1]


# -- failures --------------------------------------------------------------------------------


def test_a_missing_config_file_is_one_clear_line(tmp_path: Path) -> None:
    missing = tmp_path / "a folder with a fairly long name to exceed eighty columns" / "missing.yaml"
    result = invoke("backtest", str(missing))
    assert_clean_failure(result, f"{missing}: config file not found")


def test_a_path_with_brackets_is_printed_as_it_is(tmp_path: Path) -> None:
    missing = tmp_path / "runs[red]" / "[x]" / "missing.yaml"
    result = invoke("backtest", str(missing))
    assert_clean_failure(result, f"{missing}: config file not found")


def test_invalid_yaml_names_the_file_and_line(tmp_path: Path) -> None:
    config = tmp_path / "broken.yaml"
    config.write_text("run:\n  name: x\n  seed: [1, 2\nvenue: {}\n", encoding="utf-8")

    result = invoke("backtest", str(config))

    assert_clean_failure(result, str(config), "invalid YAML (line 4")


def test_an_unknown_key_is_named(tmp_path: Path) -> None:
    config = write_config(tmp_path, extra="risk:\n  max_dayly_loss: 10\n")
    result = invoke("backtest", str(config), "-q")
    assert_clean_failure(result, str(config), "risk.max_dayly_loss: unknown key")


@pytest.mark.parametrize(
    ("override", "fragment"),
    [
        ("venue.starting_balance", "--set 'venue.starting_balance': expected key.path=value"),
        ("strategies.4.config.fast=3", "strategies.4: no list item 4"),
        ("venue.latency_ms=soon", "venue.latency_ms: Input should be a valid decimal"),
    ],
)
def test_a_bad_set_is_one_clear_line(tmp_path: Path, override: str, fragment: str) -> None:
    config = write_config(tmp_path)
    result = invoke("backtest", str(config), "-q", "--set", override)
    assert_clean_failure(result, fragment)


def test_a_malformed_csv_names_the_file_and_row(tmp_path: Path) -> None:
    csv = tmp_path / "trades.csv"
    rows = ["timestamp,price,size"] + [f"{1_704_153_600 + i},{100 + i % 3}.25,{1 + i % 4}" for i in range(50)]
    rows[7] = "1704153607,100.25"  # data row 7: a field short
    csv.write_text("\n".join(rows) + "\n", encoding="utf-8")
    config = write_config(tmp_path, source="csv", kind="trades", path=str(csv))

    result = invoke("backtest", str(config), "-q")

    assert_clean_failure(result, f"{csv}: data row 7: malformed")


def test_an_unimportable_strategy_is_one_clear_line(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    result = invoke("backtest", str(config), "-q", "--set", "strategies.0.class=no_such_pkg.mod:Nope")
    assert_clean_failure(result, "strategies: cannot import 'no_such_pkg.mod'")


def test_a_bad_strategy_setting_names_the_entry_by_its_index(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    result = invoke("backtest", str(config), "-q", "--set", "strategies.0.config.fsat=3")
    assert_clean_failure(result, "strategies.0 (MovingAverageCrossover).config: fsat: unknown key")


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        (
            "strategies.0.config.quantity=0.5",
            "MovingAverageCrossover-001: config.quantity: 0.5 has more than 0",
        ),
        ("venue.slippage_ticks=100000000000000000000", "venue.slippage_ticks: Input should be less than"),
        ("data.synthetic.start_price=0.0000000001", "data.synthetic.start_price: Decimal input should have"),
    ],
)
def test_a_setting_out_of_range_is_named_before_the_run_starts(
    tmp_path: Path, setting: str, message: str
) -> None:
    result = invoke("backtest", str(write_config(tmp_path)), "-q", "--set", setting)
    assert_clean_failure(result, message)


def test_an_error_message_prints_user_text_as_written(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    result = invoke("backtest", str(config), "-q", "--set", "strategies.0.class=:X:")
    assert ":X:" in result.stderr  # not turned into an emoji
    assert result.exit_code == 2


# -- other commands --------------------------------------------------------------------------


def test_sample_config_prints_a_valid_backtest_config() -> None:
    result = invoke("sample-config")

    assert result.exit_code == 0
    cfg = BacktestConfig.model_validate(yaml.safe_load(result.stdout))
    assert cfg.data.source == "sample"
    assert result.stdout.splitlines()[0].startswith("# tradeloop sample backtest")


def test_schema_prints_the_json_schema() -> None:
    result = invoke("schema")

    assert result.exit_code == 0
    schema = json.loads(result.stdout)
    assert schema == BacktestConfig.model_json_schema(by_alias=True)


def test_log_hash_of_a_missing_file_is_one_clear_line(tmp_path: Path) -> None:
    missing = tmp_path / "events.sqlite"
    result = invoke("log-hash", str(missing))
    assert_clean_failure(result, f"no event log at {missing}")


def test_an_unwritable_output_folder_is_a_clean_error_not_a_traceback(tmp_path: Path) -> None:
    blocker = tmp_path / "file-not-folder"
    blocker.write_text("x")
    config = tmp_path / "c.yaml"
    config.write_text(
        "data:\n  source: synthetic\n  instrument: {id: SYN.SIM}\n  synthetic: {count: 50}\n"
        "strategies:\n  - class: tradeloop.strategy.samples:MovingAverageCrossover\n"
        "    config: {instrument_id: SYN.SIM}\n"
    )
    result = CliRunner().invoke(app, ["backtest", str(config), "-q", "-o", str(blocker / "out")])
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    assert "error:" in result.output


def test_rows_skipped_on_request_are_counted_in_the_results(tmp_path: Path) -> None:
    csv = tmp_path / "trades.csv"
    lines = ["timestamp,price,size"] + [
        f"2024-01-02T00:{i // 60:02d}:{i % 60:02d}Z,{100 + (i % 7) * 0.25:.2f},1" for i in range(200)
    ]
    lines[50] = "2024-01-02T00:00:49Z,NaN,1"
    lines[90] = "2024-01-02T00:01:29Z,-5.00,1"
    csv.write_text("\n".join(lines) + "\n")
    config = tmp_path / "c.yaml"
    config.write_text(
        f"data:\n  source: csv\n  kind: trades\n  path: {csv}\n  on_error: skip\n"
        "  instrument: {id: CSV.SIM, tick: '0.25'}\n"
        "strategies:\n  - class: tradeloop.strategy.samples:MovingAverageCrossover\n"
        "    config: {instrument_id: CSV.SIM, fast: 2, slow: 3, quantity: 1}\n"
    )
    result = CliRunner().invoke(app, ["backtest", str(config), "-q", "--no-log", "-o", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    line = next(ln for ln in result.output.splitlines() if "data rows skipped" in ln)
    assert "1 missing" in line or "1 nan" in line.lower()
    assert "198" in result.output.replace(",", "")  # market data messages
