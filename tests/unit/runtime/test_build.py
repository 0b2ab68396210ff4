"""From a BacktestConfig to a run: strategy loading, CSV / Parquet / synthetic data, outputs."""

from __future__ import annotations

import itertools
import sys
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tradeloop.core.errors import ConfigError, DataError, TradeloopError
from tradeloop.data.aggregation import aggregate_trades_to_bars
from tradeloop.data.loaders import load_trade_ticks
from tradeloop.model.data import BarSpec
from tradeloop.model.events import OrderFilled
from tradeloop.model.instruments import Equity
from tradeloop.runtime import BacktestConfig, build_engine, load_strategy, run_backtest
from tradeloop.runtime.config import StrategyEntry
from tradeloop.store import content_hash
from tradeloop.strategy import StrategyConfig
from tradeloop.strategy.samples import MovingAverageCrossover

SAMPLE_CLASS = "tradeloop.strategy.samples:MovingAverageCrossover"
_module_numbers = itertools.count(1)


def entry(class_path: str, **config: Any) -> StrategyEntry:
    return StrategyEntry.model_validate({"class": class_path, "config": config})


@pytest.fixture
def user_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[str], str]]:
    """Write a strategy module into an importable folder; returns its module name."""
    folder = tmp_path / "user_code"
    folder.mkdir()
    monkeypatch.syspath_prepend(str(folder))
    names: list[str] = []

    def make(source: str) -> str:
        name = f"user_strategies_{next(_module_numbers)}"
        (folder / f"{name}.py").write_text(source, encoding="utf-8")
        names.append(name)
        return name

    yield make
    for name in names:
        sys.modules.pop(name, None)


# -- load_strategy ---------------------------------------------------------------------------


def test_a_sample_strategy_loads_with_its_validated_config() -> None:
    strategy = load_strategy(entry(SAMPLE_CLASS, instrument_id="ES.CME", fast=5, slow=20, strategy_id="x"))
    assert isinstance(strategy, MovingAverageCrossover)
    assert (strategy.cfg.fast, strategy.cfg.slow, strategy.id) == (5, 20, "x")


def test_a_dotted_path_without_a_colon_also_names_the_class() -> None:
    strategy = load_strategy(
        entry("tradeloop.strategy.samples.MovingAverageCrossover", instrument_id="ES.CME")
    )
    assert isinstance(strategy, MovingAverageCrossover)


def test_a_module_that_cannot_be_imported_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"strategies: cannot import 'no_such_package_xyz\.mod'"):
        load_strategy(entry("no_such_package_xyz.mod:Thing"))


@pytest.mark.parametrize(
    "class_path",
    [
        "tradeloop.model.objects:Price",
        "tradeloop.strategy.samples:NoSuchStrategy",
        "tradeloop.strategy:__all__",
    ],
)
def test_something_that_is_not_a_strategy_class_is_a_config_error(class_path: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_strategy(entry(class_path))
    assert str(info.value) == f"strategies: {class_path!r} is not a Strategy subclass"


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"instrument_id": "ES.CME", "fast": "x"}, "fast: Input should be a valid integer"),
        ({"instrument_id": "ES.CME", "fastt": 5}, "fastt: unknown key (check the spelling)"),
        ({"fast": 5}, "instrument_id: Field required"),
        ({"instrument_id": "ES.CME", "fast": 30, "slow": 10}, "fast period (30) must be shorter"),
        ({"instrument_id": "ES.CME", "strategy_id": "alpha\rbeta"}, "strategy_id must be printable text"),
        ({"instrument_id": "ES.CME", "strategy_id": " x"}, "without edge spaces"),
    ],
)
def test_an_invalid_strategy_config_names_the_class_and_the_key(config: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_strategy(entry(SAMPLE_CLASS, **config))
    text = str(info.value)
    assert text.startswith("strategies (MovingAverageCrossover).config: ")
    assert message in text


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"k": "inf"}, "k: Input should be a finite number"),
        ({"min_quantity": 10, "max_quantity": 5}, "min_quantity 10 is above max_quantity 5"),
        ({"rsi_oversold": 70, "rsi_overbought": 30}, "rsi_oversold 70.0 must be below rsi_overbought 30.0"),
    ],
)
def test_mean_reversion_settings_are_checked_together(config: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match="strategies \\(MeanReversion\\)\\.config: ") as info:
        load_strategy(entry("tradeloop.strategy.samples:MeanReversion", instrument_id="ES.CME", **config))
    assert message in str(info.value)


def test_a_user_strategy_with_its_own_config_class_loads(user_module: Callable[[str], str]) -> None:
    name = user_module(
        "from tradeloop.strategy import Strategy, StrategyConfig\n"
        "class MyConfig(StrategyConfig):\n"
        "    threshold: int = 3\n"
        "class Mine(Strategy):\n"
        "    def __init__(self, config: MyConfig) -> None:\n"
        "        super().__init__(config)\n"
        "        self.threshold = config.threshold\n"
    )

    strategy = load_strategy(entry(f"{name}:Mine", threshold=9))

    assert type(strategy).__name__ == "Mine"
    assert strategy.threshold == 9  # type: ignore[attr-defined]
    assert strategy.id == "Mine-001"


def test_a_strategy_using_the_base_config_loads(user_module: Callable[[str], str]) -> None:
    name = user_module("from tradeloop.strategy import Strategy\nclass Plain(Strategy):\n    pass\n")

    strategy = load_strategy(entry(f"{name}:Plain", strategy_id="plain-1"))

    assert strategy.id == "plain-1"
    assert type(strategy.config) is StrategyConfig
    with pytest.raises(ConfigError, match=r"strategies \(Plain\)\.config: extra: unknown key"):
        load_strategy(entry(f"{name}:Plain", extra=1))


def test_a_strategy_whose_config_is_not_a_strategy_config_is_refused(
    user_module: Callable[[str], str],
) -> None:
    name = user_module(
        "from tradeloop.strategy import Strategy\n"
        "class Odd(Strategy):\n"
        "    def __init__(self, config: dict) -> None:\n"
        "        super().__init__()\n"
    )
    with pytest.raises(ConfigError, match="must take a StrategyConfig subclass as its config"):
        load_strategy(entry(f"{name}:Odd"))


@pytest.mark.parametrize(
    ("source", "message"),
    [
        (
            "raise RuntimeError('no licence key')\n",
            r"importing '\w+' failed: RuntimeError: no licence key \(.*\.py:1\)",
        ),
        ("def broken(:\n", r"importing '\w+' failed: SyntaxError: .*\.py:1\)"),
        (
            "from tradeloop.strategy import Strategy\n"
            "class S(Strategy):\n"
            "    def __init__(self, config: 'Missing') -> None:\n"
            "        super().__init__(config)\n",
            r"S\.__init__ has annotations that do not resolve: NameError: .*Missing",
        ),
        (
            "from tradeloop.strategy import Strategy\n"
            "class S(Strategy):\n"
            "    def __init__(self, config=None) -> None:\n"
            "        raise ValueError('fast must be below slow')\n",
            r"S could not be built: ValueError: fast must be below slow \(.*\.py:4\)",
        ),
    ],
)
def test_a_strategy_module_or_constructor_that_fails_is_a_config_error_naming_where(
    user_module: Callable[[str], str], source: str, message: str
) -> None:
    name = user_module(source)
    with pytest.raises(ConfigError, match=message):
        load_strategy(entry(f"{name}:S"))


# -- data sources ----------------------------------------------------------------------------


def write_trades_csv(path: Path, n: int, *, start_s: int = 1_704_153_600) -> None:
    """``n`` trades one second apart on a deterministic zig-zag around 100.00."""
    lines = ["timestamp,price,size"]
    for i in range(n):
        cents = 10_000 + (i * 37) % 101 - 50 + (i // 60) % 7
        lines.append(f"{start_s + i + 1},{cents // 100}.{cents % 100:02d},{1 + i % 5}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def base_config(data: dict[str, Any], tmp_path: Path, **extra: Any) -> BacktestConfig:
    raw: dict[str, Any] = {
        "run": {"name": "unit", "seed": 3, "output_dir": str(tmp_path / "out")},
        "data": data,
        "venue": {"starting_balance": 100_000, "account_type": "CASH"},
        "strategies": [
            {
                "class": SAMPLE_CLASS,
                "config": {"instrument_id": "TEST.SIM", "fast": 3, "slow": 8, "quantity": 10},
            }
        ],
        "report": {"enabled": False},
    }
    raw.update(extra)
    return BacktestConfig.model_validate(raw)


TEST_INSTRUMENT = {"id": "TEST.SIM", "type": "equity"}


def test_a_csv_of_trades_is_loaded_and_aggregated_into_the_strategy_bars(tmp_path: Path) -> None:
    csv = tmp_path / "trades.csv"
    write_trades_csv(csv, 3_000)
    cfg = base_config(
        {
            "source": "csv",
            "kind": "trades",
            "path": str(csv),
            "instrument": TEST_INSTRUMENT,
            "timestamp_unit": "s",
        },
        tmp_path,
    )

    outcome = run_backtest(cfg, output_dir=tmp_path / "run")

    result = outcome.result
    ticks = load_trade_ticks(csv, Equity("TEST.SIM"), epoch_unit="s").data
    expected_bars = aggregate_trades_to_bars(ticks, Equity("TEST.SIM"), BarSpec.parse("1-MINUTE"))[:-1]
    assert result.data_count == 3_000
    assert result.messages["Bar"] == len(expected_bars) == 50
    assert result.fills > 0
    assert result.instruments == ["TEST.SIM"]
    assert outcome.report is None
    log = outcome.output_dir / "events.sqlite"
    assert result.event_log_path == log
    assert content_hash(log) == result.event_log_hash


def test_a_run_whose_outputs_would_overwrite_its_input_data_is_refused(tmp_path: Path) -> None:
    csv = tmp_path / "trades.csv"  # the name of the report's trades file
    write_trades_csv(csv, 300)
    before = csv.read_bytes()
    data = {"source": "csv", "kind": "trades", "path": str(csv), "instrument": TEST_INSTRUMENT}
    cfg = base_config({**data, "timestamp_unit": "s"}, tmp_path)

    with pytest.raises(
        ConfigError, match=r"run\.output_dir: the run would write .*trades\.csv over its input"
    ):
        run_backtest(cfg, output_dir=tmp_path)
    assert csv.read_bytes() == before
    assert not (tmp_path / "events.sqlite").exists()


def test_a_parquet_file_of_bars_feeds_the_strategy_directly(tmp_path: Path) -> None:
    path = tmp_path / "bars.parquet"
    n = 400
    start = 1_704_153_600_000_000_000
    closes = [Decimal(100) + Decimal((i * 13) % 41 - 20) / 10 for i in range(n)]
    opens = [Decimal(100), *closes[:-1]]
    table = pa.table(
        {
            "timestamp": pa.array(
                [start + (i + 1) * 60_000_000_000 for i in range(n)], pa.timestamp("ns", "UTC")
            ),
            "open": pa.array([float(x) for x in opens]),
            "high": pa.array(
                [float(max(o, c) + Decimal("0.05")) for o, c in zip(opens, closes, strict=True)]
            ),
            "low": pa.array([float(min(o, c) - Decimal("0.05")) for o, c in zip(opens, closes, strict=True)]),
            "close": pa.array([float(x) for x in closes]),
            "volume": pa.array([1_000] * n, pa.int64()),
        }
    )
    pq.write_table(table, path)
    cfg = base_config(
        {"source": "parquet", "kind": "bars", "path": str(path), "instrument": TEST_INSTRUMENT}, tmp_path
    )

    engine = build_engine(cfg, event_log=None)
    result = engine.run()

    assert result.data_count == n
    assert result.messages["Bar"] == n  # the file's bars, none aggregated
    assert result.fills > 0
    assert result.end_ns == start + n * 60_000_000_000


def test_synthetic_bars_from_the_config_are_reproducible(tmp_path: Path) -> None:
    data = {
        "source": "synthetic",
        "kind": "bars",
        "instrument": TEST_INSTRUMENT,
        "synthetic": {"count": 2_000, "seed": 11, "start_price": 100},
    }
    first = run_backtest(base_config(data, tmp_path), output_dir=tmp_path / "a").result
    second = run_backtest(base_config(data, tmp_path), output_dir=tmp_path / "b").result

    assert first.data_count == 2_000
    assert first.event_log_hash == second.event_log_hash
    assert first.final_equity == second.final_equity


def test_a_malformed_csv_row_is_a_data_error_naming_the_file_and_row(tmp_path: Path) -> None:
    csv = tmp_path / "trades.csv"
    write_trades_csv(csv, 10)
    lines = csv.read_text(encoding="utf-8").splitlines()
    lines[4] = lines[4].rsplit(",", 1)[0]  # data row 4 loses its size field
    csv.write_text("\n".join(lines) + "\n", encoding="utf-8")
    cfg = base_config(
        {
            "source": "csv",
            "kind": "trades",
            "path": str(csv),
            "instrument": TEST_INSTRUMENT,
            "timestamp_unit": "s",
        },
        tmp_path,
    )

    with pytest.raises(DataError) as info:
        build_engine(cfg, event_log=None)

    assert str(info.value).startswith(f"{csv}: data row 4: malformed")


def test_skipping_bad_rows_is_a_config_choice(tmp_path: Path) -> None:
    csv = tmp_path / "trades.csv"
    write_trades_csv(csv, 200)
    lines = csv.read_text(encoding="utf-8").splitlines()
    lines[10] = lines[10].replace(",", ",abc,", 1).rsplit(",", 1)[0]  # price 'abc'
    csv.write_text("\n".join(lines) + "\n", encoding="utf-8")
    data = {
        "source": "csv",
        "kind": "trades",
        "path": str(csv),
        "instrument": TEST_INSTRUMENT,
        "timestamp_unit": "s",
        "on_error": "skip",
    }

    engine = build_engine(base_config(data, tmp_path), event_log=None)

    assert engine.run().data_count == 199


def test_an_instrument_the_factory_refuses_is_a_config_error_naming_the_key(tmp_path: Path) -> None:
    data = {"source": "synthetic", "instrument": {"id": "TEST.SIM", "type": "equity", "tick": "0.0000000001"}}
    with pytest.raises(ConfigError, match=r"^data\.instrument: "):
        build_engine(base_config(data, tmp_path), event_log=None)


def test_a_failed_rerun_keeps_the_previous_runs_event_log(tmp_path: Path) -> None:
    from tradeloop.config import load_config as _load
    from tradeloop.runtime import BacktestConfig as _Cfg
    from tradeloop.runtime import run_backtest as _run

    config_file = tmp_path / "run.yaml"
    config_file.write_text(
        "data:\n  source: synthetic\n  instrument: {id: SYN.SIM}\n  synthetic: {count: 300, seed: 2}\n"
        "strategies:\n  - class: tradeloop.strategy.samples:MovingAverageCrossover\n"
        "    config: {instrument_id: SYN.SIM, fast: 5, slow: 20, quantity: 1}\n"
    )
    out = tmp_path / "out"
    first = _run(_load(_Cfg, config_file), output_dir=out)
    assert first.result.event_log_path == out / "events.sqlite"
    digest = first.result.event_log_hash
    broken = _load(_Cfg, config_file, overrides=["strategies.0.config.fast=40"])  # fast > slow
    with pytest.raises(ConfigError):
        _run(broken, output_dir=out)
    assert content_hash(out / "events.sqlite") == digest

    # A run that fails after its new log was opened (the strategy asks for an instrument the
    # data lacks, at start) still leaves the previous log and no partial file behind.
    midway = _load(_Cfg, config_file, overrides=["strategies.0.config.instrument_id=OTHER.SIM"])
    with pytest.raises(TradeloopError, match=r"unknown instrument OTHER\.SIM"):
        _run(midway, output_dir=out)
    assert content_hash(out / "events.sqlite") == digest
    assert not [p for p in out.iterdir() if p.name.endswith(".partial")]


def test_a_rerun_into_the_same_folder_leaves_no_output_of_the_earlier_run(tmp_path: Path) -> None:
    data = {
        "source": "synthetic",
        "instrument": TEST_INSTRUMENT,
        "synthetic": {"count": 500, "seed": 11, "start_price": 100},
    }
    folder = tmp_path / "run"
    run_backtest(base_config(data, tmp_path, report={"enabled": True}), output_dir=folder)
    assert (folder / "events.sqlite").exists()
    assert (folder / "report.html").exists()

    run_backtest(base_config(data, tmp_path, log={"enabled": False}), output_dir=folder)

    assert sorted(p.name for p in folder.iterdir()) == []  # neither the old log nor the old report


def test_a_strategy_log_line_written_while_handling_a_fill_carries_the_fills_correlation_id(
    user_module: Callable[[str], str], tmp_path: Path
) -> None:
    import io
    import json

    from tradeloop.observe import configure_logging, reset_logging

    name = user_module(
        "from tradeloop.model import OrderFilled\n"
        "from tradeloop.strategy.samples import MovingAverageCrossover\n"
        "class LoggingCrossover(MovingAverageCrossover):\n"
        "    def on_order_filled(self, event: OrderFilled) -> None:\n"
        "        self.log.info('filled %s @ %s', event.last_qty, event.last_px)\n"
    )
    data = {"source": "synthetic", "instrument": TEST_INSTRUMENT, "synthetic": {"count": 400, "seed": 9}}
    cfg = base_config(data, tmp_path, log={"enabled": False})
    cfg = cfg.model_copy(
        update={
            "strategies": [cfg.strategies[0].model_copy(update={"class_path": f"{name}:LoggingCrossover"})]
        }
    )
    stream = io.StringIO()
    configure_logging(fmt="json", level="INFO", stream=stream)
    fills: list[OrderFilled] = []
    try:
        engine = build_engine(cfg, event_log=None)
        engine.bus.subscribe(OrderFilled, fills.append)
        engine.run()
    finally:
        reset_logging()
    lines = [json.loads(line) for line in stream.getvalue().splitlines() if '"filled ' in line]
    assert len(lines) == len(fills) > 0
    assert [line.get("correlation_id") for line in lines] == [f.correlation_id for f in fills]
