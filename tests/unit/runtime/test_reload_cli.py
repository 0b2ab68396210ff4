"""``tradeloop config snapshots`` and ``tradeloop config rollback``, through typer's CliRunner.

The sub-app is mounted on a fresh root app exactly as ``tradeloop.cli.main`` mounts it. The last
test runs the whole story: a node applies an edit, the operator rolls back from the command line,
and the node's reloader puts the earlier risk limits back in force.
"""

from __future__ import annotations

import os
from decimal import Decimal
from pathlib import Path

import pytest
import typer
import yaml
from typer.testing import CliRunner, Result

from tradeloop.cli.config_cmd import config_app
from tradeloop.config import ConfigReloaded, SnapshotStore, load_config
from tradeloop.core.bus import MessageBus
from tradeloop.core.ids import AccountId, IdFactory
from tradeloop.execution import ExecutionEngine
from tradeloop.model.account import Account
from tradeloop.model.objects import Money
from tradeloop.portfolio import Portfolio
from tradeloop.risk import RiskEngine
from tradeloop.runtime import BacktestConfig
from tradeloop.runtime.reload import ConfigReloader, RiskApplier
from tradeloop.testkit import TestClock, aapl_equity

app = typer.Typer()


@app.command()
def version() -> None:
    """A second command, so ``config`` is a sub-command as in the real app."""


app.add_typer(config_app)

STRATEGIES = """\
strategies:
  - class: tradeloop.strategy.samples:MovingAverageCrossover
    config: {instrument_id: AAPL.XNAS, fast: 10, slow: 30}
"""
NS = 1_718_000_000 * 1_000_000_000


def invoke(*args: str | Path) -> Result:
    return CliRunner().invoke(app, [str(a) for a in args])


def assert_fails(result: Result, *fragments: str) -> None:
    """Exit code 2, nothing on stdout, one ``error:`` line naming every fragment."""
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    (line,) = result.stderr.splitlines()
    assert line.startswith("error: ")
    for fragment in fragments:
        assert fragment in line, line


def config(max_qty: int, fast: int = 10) -> BacktestConfig:
    text = STRATEGIES.replace("fast: 10", f"fast: {fast}") + f"risk: {{max_order_quantity: {max_qty}}}\n"
    return BacktestConfig.model_validate(yaml.safe_load(text))


@pytest.fixture
def node_file(tmp_path: Path) -> Path:
    path = tmp_path / "paper.yaml"
    path.write_text(STRATEGIES + "risk: {max_order_quantity: 300}\n", encoding="utf-8")
    return path


def three_snapshots(path: Path) -> SnapshotStore:
    store = SnapshotStore.for_config(path)
    store.save(config(100), ts_ns=NS, source=path)
    store.save(config(200, fast=5), ts_ns=NS + 60_000_000_000, source=path)
    store.save(config(300, fast=5), ts_ns=NS + 120_000_000_000, source=path)
    return store


# -- snapshots ---------------------------------------------------------------------------------


def test_snapshots_lists_each_with_its_time_and_the_keys_changed_since_the_one_before(
    node_file: Path,
) -> None:
    store = three_snapshots(node_file)
    result = invoke("config", "snapshots", node_file)
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        f"config snapshots in {store.folder}",
        "   1  2024-06-10T06:13:20.000000000Z  (first)",
        "   2  2024-06-10T06:14:20.000000000Z  strategies.0.config.fast, risk.max_order_quantity",
        "   3  2024-06-10T06:15:20.000000000Z  risk.max_order_quantity",
    ]


def test_snapshots_reads_another_folder_and_says_when_it_is_empty(node_file: Path, tmp_path: Path) -> None:
    folder = tmp_path / "elsewhere"
    folder.mkdir()
    result = invoke("config", "snapshots", node_file, "--snapshots", folder)
    assert result.exit_code == 0
    assert result.stdout.strip() == f"no snapshots in {folder}"


def test_snapshots_without_a_folder_fails_clearly(node_file: Path) -> None:
    folder = node_file.parent / ".tradeloop-snapshots" / "paper"
    assert_fails(invoke("config", "snapshots", node_file), f"{folder}: no snapshot folder", "--snapshots")


def test_a_corrupt_snapshot_is_named(node_file: Path) -> None:
    store = three_snapshots(node_file)
    (store.folder / "000002.yaml").write_text("config: {}\n", encoding="utf-8")
    assert_fails(invoke("config", "snapshots", node_file), "000002.yaml: not a config snapshot")


# -- rollback ----------------------------------------------------------------------------------


def test_rollback_writes_the_snapshot_before_the_latest_to_the_config_file(node_file: Path) -> None:
    three_snapshots(node_file)
    result = invoke("config", "rollback", node_file)

    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        f"restored snapshot 2 (taken 2024-06-10T06:14:20.000000000Z) to {node_file}",
        "changes from the latest snapshot (3): risk.max_order_quantity",
    ]
    restored = load_config(BacktestConfig, node_file, environ={})
    assert restored == config(200, fast=5)
    assert node_file.read_text(encoding="utf-8").startswith("# restored from config snapshot 2")


def test_rollback_to_a_chosen_snapshot_keeps_the_file_mode_and_leaves_no_temporary_file(
    node_file: Path,
) -> None:
    three_snapshots(node_file)
    node_file.chmod(0o640)
    result = invoke("config", "rollback", node_file, "--to", "1")
    assert result.exit_code == 0, result.output
    assert "changes from the latest snapshot (3): strategies.0.config.fast, risk.max_order_quantity" in (
        result.stdout
    )
    assert load_config(BacktestConfig, node_file, environ={}).risk.max_order_quantity == Decimal(100)
    assert node_file.stat().st_mode & 0o777 == 0o640
    assert sorted(p.name for p in node_file.parent.iterdir()) == [".tradeloop-snapshots", "paper.yaml"]


def test_rollback_to_the_latest_restores_the_config_in_force(node_file: Path) -> None:
    three_snapshots(node_file)
    node_file.write_text("risk: {max_order_quantity: -1}\n", encoding="utf-8")  # a rejected edit
    result = invoke("config", "rollback", node_file, "--to", "3")
    assert result.exit_code == 0, result.output
    assert "snapshot 3 is the latest" in result.stdout
    assert load_config(BacktestConfig, node_file, environ={}) == config(300, fast=5)


@pytest.mark.parametrize(
    ("setup", "args", "fragments"),
    [
        pytest.param(3, ["--to", "7"], ["no snapshot 7 (snapshots: 1, 2, 3)"], id="unknown-snapshot"),
        pytest.param(
            1, [], ["only snapshot 1 exists; nothing earlier to roll back to"], id="nothing-earlier"
        ),
        pytest.param(0, [], ["no snapshot folder"], id="no-folder"),
        pytest.param(-1, [], ["no snapshots to roll back to"], id="empty-folder"),
    ],
)
def test_rollback_fails_clearly_without_a_snapshot_to_restore(
    node_file: Path, setup: int, args: list[str], fragments: list[str]
) -> None:
    store = SnapshotStore.for_config(node_file)
    if setup == -1:
        store.folder.mkdir(parents=True)
    for n in range(setup):
        store.save(config(100 + n), ts_ns=NS, source=node_file)
    before = node_file.read_text(encoding="utf-8")
    assert_fails(invoke("config", "rollback", node_file, *args), *fragments)
    assert node_file.read_text(encoding="utf-8") == before


def test_rollback_refuses_a_snapshot_that_is_not_a_valid_config_and_leaves_the_file(node_file: Path) -> None:
    store = three_snapshots(node_file)
    edited = store.get(2).path
    edited.write_text(edited.read_text(encoding="utf-8").split("config:")[0] + "config: {a: 1}\n", "utf-8")
    before = node_file.read_bytes()

    result = invoke("config", "rollback", node_file)

    assert result.exit_code == 2, result.output
    assert "snapshot 2 is not a valid config" in result.stderr
    assert "a: unknown key" in result.stderr
    assert node_file.read_bytes() == before


def test_rollback_needs_the_config_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    assert_fails(invoke("config", "rollback", missing), f"{missing}: config file not found")
    assert not missing.exists()


def test_a_rollback_is_applied_by_the_running_nodes_reloader(node_file: Path) -> None:
    clock = TestClock(NS)
    ids = IdFactory(0)
    bus = MessageBus(clock, ids)
    reloaded: list[ConfigReloaded] = []
    bus.subscribe(ConfigReloaded, reloaded.append)
    portfolio = Portfolio(
        bus, clock, ids, Account(AccountId("SIM-001"), Money.from_str("100000", "USD")), [aapl_equity()]
    )
    execution = ExecutionEngine(bus, clock, ids)
    current = load_config(BacktestConfig, node_file, environ={})
    risk = RiskEngine(bus, clock, ids, portfolio, execution, current.risk)
    reloader = ConfigReloader(
        node_file,
        BacktestConfig,
        bus=bus,
        clock=clock,
        ids=ids,
        snapshots=SnapshotStore.for_config(node_file),
        immutable={"venue": "fixed"},
        current=current,
        environ={},
    )
    reloader.register("risk", RiskApplier(risk))
    node_file.write_text(STRATEGIES + "risk: {max_order_quantity: 40}\n", encoding="utf-8")
    assert reloader.reload().applied
    assert risk.config.max_order_quantity == 40

    assert invoke("config", "rollback", node_file).exit_code == 0
    outcome = reloader.reload()  # what the watcher does when the file is replaced

    assert outcome.applied
    assert risk.config.max_order_quantity == 300
    assert [(e.changed, e.snapshot_id) for e in reloaded] == [
        (("risk.max_order_quantity",), 2),
        (("risk.max_order_quantity",), 3),
    ]
    listing = invoke("config", "snapshots", node_file).stdout.splitlines()
    assert [line.split()[0] for line in listing[1:]] == ["1", "2", "3"]
    assert os.path.samefile(reloader.snapshot.path, SnapshotStore.for_config(node_file).get(3).path)
