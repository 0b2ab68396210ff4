"""BacktestConfig: the typed, frozen node config, its cross-field rules and its JSON schema."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from tradeloop.config import format_validation_error
from tradeloop.runtime import SAMPLE_CONFIG, BacktestConfig

STRATEGIES = [
    {"class": "tradeloop.strategy.samples:MovingAverageCrossover", "config": {"instrument_id": "ES.CME"}}
]


def errors_of(raw: dict[str, Any]) -> list[str]:
    with pytest.raises(ValidationError) as info:
        BacktestConfig.model_validate(raw)
    return format_validation_error(info.value, "cfg").splitlines()


def test_defaults_fill_everything_but_the_strategies() -> None:
    cfg = BacktestConfig.model_validate({"strategies": STRATEGIES})
    assert cfg.data.source == "sample"
    assert cfg.venue.starting_balance == Decimal(1_000_000)
    assert cfg.run.output_dir == Path("output")
    assert cfg.strategies[0].class_path == "tradeloop.strategy.samples:MovingAverageCrossover"
    assert errors_of({}) == ["cfg: strategies: Field required"]
    assert errors_of({"strategies": []}) == [
        "cfg: strategies: List should have at least 1 item after validation, not 0"
    ]


def test_the_config_is_frozen() -> None:
    cfg = BacktestConfig.model_validate({"strategies": STRATEGIES})
    with pytest.raises(ValidationError, match="frozen"):
        cfg.run.seed = 5  # type: ignore[misc]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"source": "csv"}, "data.path is required for source 'csv'"),
        ({"source": "parquet", "path": "x.parquet"}, "data.instrument is required for source 'parquet'"),
        ({"source": "synthetic"}, "data.instrument is required for source 'synthetic'"),
        ({"bar_spec": "1-FORTNIGHT"}, "invalid bar spec '1-FORTNIGHT'"),
        ({"source": "ftp"}, "Input should be 'sample', 'csv', 'parquet' or 'synthetic'"),
    ],
)
def test_data_settings_are_checked_together(data: dict[str, Any], message: str) -> None:
    (line,) = errors_of({"strategies": STRATEGIES, "data": data})
    assert line.startswith("cfg: data")
    assert message in line


@pytest.mark.parametrize(
    ("instrument", "key", "message"),
    [
        ({"id": "NOVENUE"}, "data.instrument.id", "expected 'SYMBOL.VENUE'"),
        ({"id": "A.SIM", "currency": "XXX"}, "data.instrument.currency", "unknown currency 'XXX'"),
        ({"id": "A.SIM", "multiplier": 0}, "data.instrument.multiplier", "greater than or equal to 1"),
        ({"id": "A.SIM", "type": "bond"}, "data.instrument.type", "Input should be"),
        ({"id": "ES.CME", "type": "future", "lot": 2}, "data.instrument", "lot applies to equity"),
        ({"id": "A.SIM", "multiplier": 5}, "data.instrument", "multiplier applies to future only"),
    ],
)
def test_instrument_settings_name_the_bad_key(instrument: dict[str, Any], key: str, message: str) -> None:
    (line,) = errors_of({"strategies": STRATEGIES, "data": {"source": "synthetic", "instrument": instrument}})
    assert line.startswith(f"cfg: {key}: ")
    assert message in line


def test_a_strategy_class_must_name_a_module_and_a_class() -> None:
    (line,) = errors_of({"strategies": [{"class": "JustAName"}]})
    assert line.startswith("cfg: strategies.0.class: ")
    assert "expected 'package.module:ClassName', got 'JustAName'" in line


def test_venue_limits_are_checked() -> None:
    lines = errors_of({"strategies": STRATEGIES, "venue": {"starting_balance": 0, "account_type": "FUTURES"}})
    assert sorted(line.split(":")[1].strip() for line in lines) == [
        "venue.account_type",
        "venue.starting_balance",
    ]


def test_seeds_must_be_non_negative_and_the_synthetic_drift_sane() -> None:
    lines = errors_of(
        {
            "strategies": STRATEGIES,
            "run": {"seed": -1},
            "venue": {"seed": -2},
            "data": {"source": "synthetic", "synthetic": {"seed": -5, "drift": 5}},
        }
    )
    assert sorted(line.split(":")[1].strip() for line in lines) == [
        "data.synthetic.drift",
        "data.synthetic.seed",
        "run.seed",
        "venue.seed",
    ]
    assert errors_of({"strategies": STRATEGIES, "data": {"synthetic": {"drift": float("nan")}}}) == [
        "cfg: data.synthetic.drift: Input should be a finite number"
    ]


def test_unquoted_yaml_times_are_read_as_the_times_they_are() -> None:
    text = (
        "data:\n  synthetic: {start: 2024-03-04T05:06:07Z}\n"
        "  instrument: {id: ES.CME, type: future, expiry: 2024-06-21T13:30:00Z}\n"
    )
    cfg = BacktestConfig.model_validate({"strategies": STRATEGIES, **yaml.safe_load(text)})
    assert cfg.data.synthetic.start == "2024-03-04T05:06:07Z"
    assert cfg.data.instrument is not None
    assert cfg.data.instrument.expiry == "2024-06-21T13:30:00Z"


def test_the_sample_config_is_a_valid_config() -> None:
    cfg = BacktestConfig.model_validate(yaml.safe_load(SAMPLE_CONFIG))
    assert cfg.run.name == "es-crossover"
    assert cfg.strategies[0].config["instrument_id"] == "ES.CME"


def test_the_json_schema_uses_the_yaml_spelling_of_keys() -> None:
    schema = BacktestConfig.model_json_schema(by_alias=True)
    assert set(schema["properties"]) == {
        "run",
        "data",
        "venue",
        "strategies",
        "risk",
        "lifecycle",
        "log",
        "report",
    }
    assert schema["required"] == ["strategies"]
    entry = schema["$defs"]["StrategyEntry"]
    assert "class" in entry["properties"]
    assert "class_path" not in entry["properties"]
