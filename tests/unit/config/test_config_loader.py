"""Loading configuration: YAML file < TRADELOOP_ environment < --set overrides, clear errors."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from pydantic import BaseModel, ConfigDict

from tradeloop.config import (
    apply_env_overrides,
    apply_overrides,
    load_config,
    load_yaml,
    parse_override,
)
from tradeloop.core.errors import ConfigError
from tradeloop.runtime import BacktestConfig

STRATEGY = """\
strategies:
  - class: tradeloop.strategy.samples:MovingAverageCrossover
    config:
      instrument_id: ES.CME
      fast: 10
      slow: 30
"""


class Inner(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    level: int = 0
    names: list[str] = []


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    name: str = "default"
    ratio: Decimal = Decimal(1)
    enabled: bool = False
    inner: Inner = Inner()
    items: list[Inner] = []


def write(tmp_path: Path, text: str, name: str = "config.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


# -- the YAML file ---------------------------------------------------------------------------


def test_a_missing_file_names_the_path(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    with pytest.raises(ConfigError, match="config file not found") as info:
        load_yaml(missing)
    assert str(info.value) == f"{missing}: config file not found"


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("run:\n  name: x\n  seed: 1\n venue: 2\n", "(line 4, column 2)"),
        ("run:\n  name: [a, b\nvenue: {}\n", "(line 3, column 6)"),
        ("a: 1\n\tb: 2\n", "(line 2, column 1)"),
    ],
)
def test_invalid_yaml_names_the_file_line_and_column(tmp_path: Path, text: str, where: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_yaml(path)
    message = str(info.value)
    assert message.startswith(f"{path}: invalid YAML {where}: ")
    assert "\n" not in message


@pytest.mark.parametrize(("text", "kind"), [("- 1\n- 2\n", "list"), ("just text\n", "str"), ("42\n", "int")])
def test_a_top_level_that_is_not_a_mapping_is_refused(tmp_path: Path, text: str, kind: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError, match=f"the top level must be a mapping of keys, got {kind}$"):
        load_yaml(path)


def test_a_utf16_file_with_its_byte_order_mark_loads(tmp_path: Path) -> None:
    path = tmp_path / "windows.yaml"
    path.write_bytes("name: caf\u00e9\n".encode("utf-16"))  # what PowerShell's ">" writes
    assert load_yaml(path) == {"name": "caf\u00e9"}


def test_a_file_that_is_not_utf8_names_the_line_and_says_what_to_do(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes("name: ok\ncity: caf\u00e9\n".encode("latin-1"))
    with pytest.raises(
        ConfigError, match=r"latin1\.yaml: not a UTF-8 text file \(byte 19, line 2\); save it"
    ):
        load_yaml(path)


def test_an_empty_file_is_an_empty_mapping(tmp_path: Path) -> None:
    assert load_yaml(write(tmp_path, "# only a comment\n")) == {}
    assert load_config(Settings, write(tmp_path, "", "empty.yaml")) == Settings()


# -- validation errors -----------------------------------------------------------------------


def test_an_unknown_key_is_named_by_its_dotted_path(tmp_path: Path) -> None:
    path = write(tmp_path, STRATEGY + "venue:\n  startng_balance: 5\n")
    with pytest.raises(ConfigError) as info:
        load_config(BacktestConfig, path)
    assert str(info.value) == f"{path}: venue.startng_balance: unknown key (check the spelling)"


def test_a_wrong_type_names_the_dotted_key_and_every_bad_key_is_listed(tmp_path: Path) -> None:
    path = write(tmp_path, STRATEGY + "venue:\n  latency_ms: fast\nrun:\n  seed: x\n")
    with pytest.raises(ConfigError) as info:
        load_config(BacktestConfig, path)
    lines = str(info.value).splitlines()
    assert sorted(lines) == [
        f"{path}: run.seed: Input should be a valid integer, unable to parse string as an integer",
        f"{path}: venue.latency_ms: Input should be a valid decimal",
    ]


def test_errors_inside_lists_name_the_item_index(tmp_path: Path) -> None:
    path = write(tmp_path, "items:\n  - level: 1\n  - level: high\n")
    with pytest.raises(ConfigError, match=r"items\.1\.level: Input should be a valid integer"):
        load_config(Settings, path)


def test_without_a_file_the_source_is_called_defaults() -> None:
    with pytest.raises(ConfigError) as info:
        load_config(BacktestConfig, None, environ={})
    assert str(info.value) == "defaults: strategies: Field required"


# -- environment overrides -------------------------------------------------------------------


def test_environment_variables_set_nested_keys_with_double_underscores(tmp_path: Path) -> None:
    environ = {
        "TRADELOOP_INNER__LEVEL": "3",
        "TRADELOOP_ENABLED": "true",
        "TRADELOOP_RATIO": "0.25",
        "TRADELOOP_INNER__NAMES": "[a, b]",
        "OTHER_NAME": "ignored",
        "TRADELOOP_": "ignored too",
    }
    settings = load_config(Settings, write(tmp_path, "name: file\n"), environ=environ)

    assert settings == Settings(
        name="file", ratio=Decimal("0.25"), enabled=True, inner=Inner(level=3, names=["a", "b"])
    )


def test_a_variable_without_nesting_that_names_no_key_is_another_tools_and_is_left_alone(
    tmp_path: Path,
) -> None:
    # The project's own tools read TRADELOOP_SOAK_SECONDS, TRADELOOP_TEST_PG_DSN and the like.
    environ = {
        "TRADELOOP_SOAK_SECONDS": "60",
        "TRADELOOP_TEST_PG_DSN": "postgresql://x",
        "TRADELOOP_NAME": "env",
    }
    assert load_config(Settings, write(tmp_path, "name: file\n"), environ=environ).name == "env"
    # A nested one is always meant as config, so a misspelt section is still reported.
    with pytest.raises(ConfigError, match="environment TRADELOOP_INNR__LEVEL: innr: unknown key"):
        load_config(Settings, write(tmp_path, "name: file\n"), environ={"TRADELOOP_INNR__LEVEL": "1"})


def test_an_environment_variable_reaches_a_mixed_case_key_that_is_there() -> None:
    data = {"methods": {"Trend": {"stop": 1}}}
    apply_env_overrides(data, {"TRADELOOP_METHODS__TREND__STOP": "2"})
    assert data == {"methods": {"Trend": {"stop": 2}}}
    both = {"methods": {"Trend": {}, "trend": {}}}
    with pytest.raises(ConfigError, match="TREND matches several keys: Trend, trend"):
        apply_env_overrides(both, {"TRADELOOP_METHODS__TREND__STOP": "2"})


def test_the_process_environment_is_read_by_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRADELOOP_NAME", "from-env")
    assert load_config(Settings, write(tmp_path, "name: file\n")).name == "from-env"


def test_an_environment_variable_can_address_a_list_item() -> None:
    data = {"items": [{"level": 1}, {"level": 2}]}
    apply_env_overrides(data, {"TRADELOOP_ITEMS__1__LEVEL": "9"})
    assert data == {"items": [{"level": 1}, {"level": 9}]}


def test_an_environment_variable_with_an_empty_segment_is_refused() -> None:
    with pytest.raises(ConfigError, match="environment TRADELOOP_INNER____LEVEL: empty key segment"):
        apply_env_overrides({}, {"TRADELOOP_INNER____LEVEL": "1"})


def test_an_environment_error_reports_the_variable() -> None:
    with pytest.raises(ConfigError, match=r"environment TRADELOOP_ITEMS__5__LEVEL: items\.5: no list item 5"):
        apply_env_overrides({"items": [{}]}, {"TRADELOOP_ITEMS__5__LEVEL": "1"})


# -- --set overrides -------------------------------------------------------------------------


def test_set_overrides_parse_yaml_scalars_and_create_missing_mappings() -> None:
    data = apply_overrides(
        {"name": "x"},
        ["inner.level=7", "enabled=yes", "ratio=0.5", "inner.names=[p, q]", "name=a=b", "empty="],
    )
    assert data == {
        "name": "a=b",
        "inner": {"level": 7, "names": ["p", "q"]},
        "enabled": True,
        "ratio": 0.5,
        "empty": "",
    }


def test_set_can_address_list_items_by_index(tmp_path: Path) -> None:
    cfg = load_config(
        BacktestConfig,
        write(tmp_path, STRATEGY),
        overrides=["strategies.0.config.fast=5", "strategies.0.config.quantity=3"],
        environ={},
    )
    assert cfg.strategies[0].config == {"instrument_id": "ES.CME", "fast": 5, "slow": 30, "quantity": 3}


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("strategies.3.config.fast=5", r"--set strategies\.3\.config\.fast=5: strategies\.3: no list item 3"),
        ("strategies.first.class=x", r"strategies\.first: no list item first"),
        ("run.seed.value=1", r"run\.seed is not a mapping, cannot set value"),
    ],
)
def test_a_set_path_that_does_not_exist_is_refused(tmp_path: Path, override: str, message: str) -> None:
    path = write(tmp_path, STRATEGY + "run:\n  seed: 1\n")
    with pytest.raises(ConfigError, match=message):
        load_config(BacktestConfig, path, overrides=[override], environ={})


@pytest.mark.parametrize("text", ["noequals", "=5", " =5", "a..b=1", ".a=1", "a.=1"])
def test_invalid_override_syntax_is_refused(text: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_override(text)
    assert str(info.value) == f"--set {text!r}: expected key.path=value"


def test_a_set_value_is_validated_like_the_file(tmp_path: Path) -> None:
    with pytest.raises(
        ConfigError,
        match=r"--set venue.leverage=-2: venue\.leverage: Input should be greater than or equal to 1",
    ):
        load_config(BacktestConfig, write(tmp_path, STRATEGY), overrides=["venue.leverage=-2"], environ={})


# -- precedence ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("environ", "overrides", "seed"),
    [
        ({}, [], 1),
        ({"TRADELOOP_RUN__SEED": "2"}, [], 2),
        ({"TRADELOOP_RUN__SEED": "2"}, ["run.seed=3"], 3),
        ({}, ["run.seed=3", "run.seed=4"], 4),  # later --set wins
    ],
)
def test_precedence_is_file_then_environment_then_set(
    tmp_path: Path, environ: dict[str, str], overrides: list[str], seed: int
) -> None:
    path = write(tmp_path, STRATEGY + "run:\n  seed: 1\n  name: from-file\n")
    cfg = load_config(BacktestConfig, path, overrides=overrides, environ=environ)
    assert cfg.run.seed == seed
    assert cfg.run.name == "from-file"  # untouched keys keep the file's value


def test_a_base_mapping_sits_below_the_file(tmp_path: Path) -> None:
    settings = load_config(
        Settings, write(tmp_path, "name: file\n"), base={"name": "base", "enabled": True}, environ={}
    )
    assert (settings.name, settings.enabled) == ("file", True)


def test_a_base_mapping_merges_with_the_file_key_by_key(tmp_path: Path) -> None:
    settings = load_config(
        Settings, write(tmp_path, "inner: {names: [x]}\n"), base={"inner": {"level": 7}}, environ={}
    )
    assert settings.inner == Inner(level=7, names=["x"])


def test_yaml_merge_keys_work_and_a_merged_key_may_be_overridden(tmp_path: Path) -> None:
    text = "defaults: &d {level: 3, names: [a]}\ninner:\n  <<: *d\n  level: 5\n"
    assert load_yaml(write(tmp_path, text))["inner"] == {"level": 5, "names": ["a"]}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("? [a, b]\n: 1\n", "a key must be a plain name"),
        ("run: &a [*a]\n", "a YAML anchor refers to itself"),
        ("{1: a, true: b}\n", r"duplicate key True \(the same key as 1\)"),
    ],
)
def test_odd_yaml_is_a_clear_error_not_a_traceback(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_yaml(write(tmp_path, text))


def test_a_list_index_must_be_ascii_digits() -> None:
    with pytest.raises(ConfigError, match="items\\.\u00b2: no list item"):
        apply_overrides({"items": [{}]}, ["items.\u00b2.level=3"])


def test_a_bad_value_from_the_environment_names_the_variable_not_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, STRATEGY + "run:\n  seed: 1\n")
    with pytest.raises(ConfigError) as info:
        load_config(BacktestConfig, path, environ={"TRADELOOP_RUN__SEED": "x"})
    assert "TRADELOOP_RUN__SEED" in str(info.value)


def test_an_override_of_one_anchored_entry_leaves_the_others_and_the_base_alone(tmp_path: Path) -> None:
    path = tmp_path / "anchors.yaml"
    path.write_text(
        "shared: &shared {instrument_id: ES.CME, fast: 10, slow: 30}\n"
        "strategies:\n"
        "  - {class: tradeloop.strategy.samples:MovingAverageCrossover, config: *shared}\n"
        "  - {class: tradeloop.strategy.samples:MovingAverageCrossover, config: *shared}\n"
    )
    data = load_yaml(path)
    apply_overrides(data, ["strategies.0.config.fast=5"])
    assert [s["config"]["fast"] for s in data["strategies"]] == [5, 10]

    valid = tmp_path / "valid.yaml"
    valid.write_text(
        "strategies:\n  - class: tradeloop.strategy.samples:MovingAverageCrossover\n"
        "    config: {instrument_id: ES.CME}\n"
    )
    base = {"run": {"seed": 1}}
    first = load_config(BacktestConfig, valid, overrides=["run.seed=9"], base=base)
    second = load_config(BacktestConfig, valid, base=base)
    assert (first.run.seed, second.run.seed) == (9, 1)
    assert base == {"run": {"seed": 1}}


def test_a_key_given_twice_is_refused_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "twice.yaml"
    path.write_text("run:\n  seed: 1\nrun:\n  name: again\n")
    with pytest.raises(ConfigError, match=r"duplicate key 'run' \(line 3\)"):
        load_yaml(path)
