"""The config layer's part of hot reload: key diffs, the snapshot store and the two events."""

from __future__ import annotations

import importlib
from decimal import Decimal
from pathlib import Path
from typing import Any

import msgspec
import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

import tradeloop.config
from tradeloop.config import (
    MISSING,
    Change,
    ConfigRejected,
    ConfigReloaded,
    SnapshotStore,
    changed_keys,
    config_data,
    default_snapshot_dir,
    diff,
    format_ts,
    is_under,
    load_config,
    load_yaml,
    value_at,
    write_text_atomic,
)
from tradeloop.core.errors import ConfigError, ValueRangeError
from tradeloop.core.message import message_type
from tradeloop.runtime import BacktestConfig

STRATEGY = {"class": "tradeloop.strategy.samples:MovingAverageCrossover", "config": {"fast": 10}}


def node(**sections: Any) -> BacktestConfig:
    return BacktestConfig.model_validate({"strategies": [STRATEGY], **sections})


# -- diff ------------------------------------------------------------------------------------


def test_changes_are_named_by_dotted_paths_in_the_order_of_the_config() -> None:
    old = node(risk={"max_order_quantity": 100})
    new = node(
        risk={"max_order_quantity": 50, "max_order_quantity_by_instrument": {"AAPL.XNAS": 5}},
        strategies=[{**STRATEGY, "config": {"fast": 12}}],
        venue={"latency_ms": 3},
    )
    assert diff(old, new) == [
        Change("venue.latency_ms", Decimal(0), Decimal(3)),
        Change("strategies.0.config.fast", 10, 12),
        Change("risk.max_order_quantity", Decimal(100), Decimal(50)),
        Change("risk.max_order_quantity_by_instrument.AAPL.XNAS", MISSING, Decimal(5)),
    ]


def test_a_field_with_an_alias_is_named_as_written_in_yaml() -> None:
    other = {**STRATEGY, "class": "tradeloop.strategy.samples:Other"}
    assert changed_keys(node(), node(strategies=[other])) == ("strategies.0.class",)


def test_list_items_added_or_removed_are_named_by_index() -> None:
    two = node(strategies=[STRATEGY, STRATEGY])
    assert diff(node(), two) == [Change("strategies.1", MISSING, two.strategies[1])]
    assert diff(two, node()) == [Change("strategies.1", two.strategies[1], MISSING)]


def test_equal_values_are_no_change_but_a_change_of_kind_is() -> None:
    assert changed_keys(node(risk={"max_order_quantity": "1.0"}), node(risk={"max_order_quantity": 1})) == ()
    assert changed_keys(node(), node()) == ()
    assert changed_keys({"a": 1, "b": [1, 2]}, {"a": True, "b": [1, 2]}) == ("a",)
    assert changed_keys({"a": None}, {"a": {"b": 1}}) == ("a",)
    assert changed_keys({"a": {"x": 1}}, {}) == ("a",)
    assert changed_keys(1, 2) == ("",)


def test_a_model_and_its_yaml_data_diff_the_same_way() -> None:
    old = node(risk={"max_daily_loss": "500.5"})
    new = node(risk={"max_daily_loss": "400"}, lifecycle={"methods": {"swing": {}}})
    assert changed_keys(config_data(old), config_data(new)) == changed_keys(old, new)


json_data = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=3),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=2), inner, max_size=3),
    max_leaves=12,
)


def same(a: Any, b: Any) -> bool:
    """Equal values of equal kinds all the way down (mapping order aside): the oracle."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


@given(json_data, json_data)
def test_there_is_no_change_exactly_when_the_data_are_the_same(old: Any, new: Any) -> None:
    assert (changed_keys(old, new) == ()) == same(old, new)
    assert (changed_keys(old, dict(reversed(old.items())) if isinstance(old, dict) else old)) == ()


@given(json_data)
def test_a_value_never_differs_from_itself(data: Any) -> None:
    assert diff(data, data) == []


def test_is_under_matches_whole_parts_only() -> None:
    assert is_under("risk.max_daily_loss", "risk")
    assert is_under("risk", "risk")
    assert not is_under("riskier", "risk")
    assert not is_under("risk", "risk.max_daily_loss")
    assert is_under("anything", "")


def test_value_at_follows_fields_aliases_dotted_keys_and_indexes() -> None:
    cfg = node(risk={"max_order_quantity_by_instrument": {"AAPL.XNAS": 5}})
    assert value_at(cfg, "risk.max_order_quantity_by_instrument.AAPL.XNAS") == Decimal(5)
    assert value_at(cfg, "strategies.0.class") == STRATEGY["class"]
    assert value_at(cfg, "strategies.0.class_path") == STRATEGY["class"]
    assert value_at(cfg, "strategies.0.config.fast") == 10
    assert value_at(cfg, "") is cfg
    with pytest.raises(KeyError, match=r"risk\.max_qty: no key 'max_qty' in risk"):
        value_at(cfg, "risk.max_qty")
    with pytest.raises(KeyError, match=r"strategies\.3: no key '3' in strategies"):
        value_at(cfg, "strategies.3")


# -- snapshots -------------------------------------------------------------------------------


def test_the_default_folder_sits_beside_the_config_file() -> None:
    assert default_snapshot_dir(Path("/srv/node/paper.yaml")) == Path("/srv/node/.tradeloop-snapshots/paper")
    assert SnapshotStore.for_config("conf/live.yml").folder == Path("conf/.tradeloop-snapshots/live")


def test_snapshots_are_numbered_and_read_back_in_order(tmp_path: Path) -> None:
    store = SnapshotStore(tmp_path / "snaps")
    assert store.ids() == []
    assert store.latest() is None
    first = store.save(node(), ts_ns=1_000_000_000_123, source=tmp_path / "paper.yaml")
    second = store.save(node(risk={"max_daily_loss": 300}), ts_ns=2_000_000_000_000)

    assert (first.id, second.id) == (1, 2)
    assert first.path == tmp_path / "snaps" / "000001.yaml"
    assert first.taken == "1970-01-01T00:16:40.000000123Z"
    assert first.source == str(tmp_path / "paper.yaml")
    assert store.ids() == [1, 2]
    assert store.latest() == second
    assert store.get(1) == first
    assert [s.id for s in store.all()] == [1, 2]
    assert SnapshotStore(tmp_path / "snaps").save({"a": 1}, ts_ns=0).id == 3  # numbering survives a restart
    store.discard(3)
    assert store.ids() == [1, 2]


def test_a_snapshot_never_holds_a_password_and_a_rollback_never_writes_one_into_the_file(
    tmp_path: Path,
) -> None:
    store = SnapshotStore(tmp_path / "snaps")
    secret = "postgresql://trader:hunter2@db:5432/tl"  # from TRADELOOP_NODE__STORE__DSN, say
    saved = store.save({"node": {"store": {"dsn": secret}}, "risk": {"max_daily_loss": 5}}, ts_ns=0)
    assert "hunter2" not in saved.path.read_text(encoding="utf-8")
    assert saved.config["node"]["store"]["dsn"] == "postgresql://trader:***@db:5432/tl"

    target = tmp_path / "node.yaml"
    target.write_text("risk: {max_daily_loss: 9}\n", encoding="utf-8")  # the DSN is not in the file
    store.restore(saved.id, target)
    assert "dsn" not in load_yaml(target)["node"]["store"]  # left to the environment again
    assert load_yaml(target)["risk"] == {"max_daily_loss": 5}

    target.write_text("node: {store: {dsn: 'postgresql://app:pw@db/tl'}}\n", encoding="utf-8")
    store.restore(saved.id, target)
    assert load_yaml(target)["node"]["store"]["dsn"] == "postgresql://app:pw@db/tl"  # the file's own


def test_a_snapshot_holds_the_config_exactly(tmp_path: Path) -> None:
    cfg = node(
        risk={"max_daily_loss": "1234567.123456789", "blackout_calendar": str(tmp_path / "b.csv")},
        data={"source": "synthetic", "instrument": {"id": "X.SIM", "tick": "0.01"}},
        lifecycle={"methods": {"swing": {"exits": {"stop_loss_pct": "7.5"}}}},
    )
    snapshot = SnapshotStore(tmp_path).save(cfg, ts_ns=0)
    assert BacktestConfig.model_validate(snapshot.config) == cfg
    assert BacktestConfig.model_validate(SnapshotStore(tmp_path).get(1).config) == cfg


def test_restore_writes_a_config_file_that_loads_to_the_snapshot(tmp_path: Path) -> None:
    store = SnapshotStore(tmp_path / "snaps")
    cfg = node(risk={"max_order_quantity": "12.5"})
    store.save(cfg, ts_ns=0)
    target = tmp_path / "node.yaml"
    target.write_text("strategies: []\n", encoding="utf-8")
    assert store.restore(1, target).id == 1
    assert load_config(BacktestConfig, target, environ={}) == cfg


def test_a_missing_folder_or_snapshot_is_named(tmp_path: Path) -> None:
    store = SnapshotStore(tmp_path / "none")
    with pytest.raises(ConfigError, match="none: no snapshot folder"):
        store.get(1)
    store.save({"a": 1}, ts_ns=0)
    store.save({"a": 2}, ts_ns=0)
    with pytest.raises(ConfigError, match=r"no snapshot 5 \(snapshots: 1, 2\)"):
        store.get(5)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("config: {}\n", "not a config snapshot"),
        ("snapshot: {taken_ns: soon}\nconfig: {}\n", "snapshot.taken_ns must be an integer"),
        ("snapshot: [\n", "invalid YAML"),
    ],
)
def test_a_file_that_is_not_a_snapshot_is_named(tmp_path: Path, text: str, message: str) -> None:
    (tmp_path / "000001.yaml").write_text(text, encoding="utf-8")
    (tmp_path / "notes.yaml").write_text("ignored: true\n", encoding="utf-8")
    store = SnapshotStore(tmp_path)
    assert store.ids() == [1]
    with pytest.raises(ConfigError, match=message) as info:
        store.get(1)
    assert str(info.value).startswith(str(tmp_path / "000001.yaml"))


def test_an_atomic_write_replaces_the_file_whole_and_cleans_up(tmp_path: Path) -> None:
    target = tmp_path / "c.yaml"
    write_text_atomic(target, "a: 1\n")
    write_text_atomic(target, "a: 2\n")
    assert yaml.safe_load(target.read_text()) == {"a": 2}
    assert [p.name for p in tmp_path.iterdir()] == ["c.yaml"]
    with pytest.raises(FileNotFoundError):
        write_text_atomic(tmp_path / "no-such-folder" / "c.yaml", "a: 3\n")


def test_timestamps_are_utc_with_nanoseconds() -> None:
    assert format_ts(0) == "1970-01-01T00:00:00.000000000Z"
    assert format_ts(1_718_000_000_000_000_001) == "2024-06-10T06:13:20.000000001Z"


# -- events ----------------------------------------------------------------------------------


def test_the_events_check_what_they_carry_and_survive_encoding() -> None:
    stamp: dict[str, Any] = {"id": "e", "correlation_id": "c", "ts_event": 1, "ts_init": 1}
    reloaded = ConfigReloaded(**stamp, path="p.yaml", changed=("risk.x",), snapshot_id=2, snapshot_path="s")
    rejected = ConfigRejected(**stamp, path="p.yaml", errors=("p.yaml: bad",))
    for event in (reloaded, rejected):
        assert msgspec.msgpack.decode(msgspec.msgpack.encode(event), type=type(event)) == event
        assert message_type(type(event).__name__) is type(event)
    with pytest.raises(ValueRangeError, match="at least one changed key"):
        ConfigReloaded(**stamp, path="p", changed=(), snapshot_id=1, snapshot_path="s")
    with pytest.raises(ValueRangeError, match="snapshot ids start at 1"):
        ConfigReloaded(**stamp, path="p", changed=("a",), snapshot_id=0, snapshot_path="s")
    with pytest.raises(ValueRangeError, match="at least one error"):
        ConfigRejected(**stamp, path="p", errors=())


def test_the_package_exports_every_public_name_of_its_modules() -> None:
    modules = ("diff", "events", "loader", "snapshots")
    names = {name for m in modules for name in importlib.import_module(f"tradeloop.config.{m}").__all__}
    assert set(tradeloop.config.__all__) == names
    assert len(tradeloop.config.__all__) == len(names)
    assert all(hasattr(tradeloop.config, name) for name in names)
