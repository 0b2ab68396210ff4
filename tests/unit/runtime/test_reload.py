"""ConfigReloader: an edited config file applies everywhere or nowhere.

The node here is real where it matters: a bus, a clock, a portfolio, an execution engine and the
risk engine, whose limits the ``risk`` section drives through :class:`RiskApplier`. A recording
venue stands in for the exchange (an approved order reaches it, a denied one does not). The
``strategies`` section goes to an applier that records what it was given, as a strategy's
parameter update would.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, ConfigDict

from tradeloop.config import ConfigRejected, ConfigReloaded, SnapshotStore, load_config
from tradeloop.core.bus import MessageBus
from tradeloop.core.clock import NANOS_PER_SECOND
from tradeloop.core.errors import ConfigError, TradeloopError
from tradeloop.core.ids import AccountId, IdFactory, StrategyId, Venue
from tradeloop.core.message import Event, HandlerFailed
from tradeloop.execution import ExecutionEngine
from tradeloop.model.account import Account
from tradeloop.model.commands import CancelAllOrders, CancelOrder, ModifyOrder, SubmitOrder
from tradeloop.model.enums import OrderSide
from tradeloop.model.events import OrderDenied
from tradeloop.model.objects import Money
from tradeloop.portfolio import Portfolio
from tradeloop.risk import RiskEngine
from tradeloop.runtime import BacktestConfig
from tradeloop.runtime.reload import (
    CallbackApplier,
    ConfigReloader,
    ReloadOutcome,
    ReloadStatus,
    RiskApplier,
)
from tradeloop.testkit import TestClock, aapl_equity

START_NS = 20_000 * 86_400 * NANOS_PER_SECOND
ACCOUNT = AccountId("SIM-001")
STRATEGY = StrategyId("S-1")
IMMUTABLE = {
    "venue": "the venue cannot change while orders are working",
    "data": "the market data source is fixed for the session",
    "run": "the run's identity is fixed for the session",
}

CONFIG = """\
run: {{name: paper}}
venue: {{starting_balance: {balance}}}
strategies:
  - class: tradeloop.strategy.samples:MovingAverageCrossover
    config: {{instrument_id: AAPL.XNAS, fast: {fast}, slow: 30}}
risk:
  max_order_quantity: {max_qty}
{extra}"""


def config_text(*, balance: str = "100000", fast: int = 10, max_qty: str = "200", extra: str = "") -> str:
    return CONFIG.format(balance=balance, fast=fast, max_qty=max_qty, extra=extra)


class RecordingVenue:
    """An execution client that accepts everything it is sent and answers nothing."""

    def __init__(self) -> None:
        self.submitted: list[SubmitOrder] = []

    @property
    def venue(self) -> Venue:
        return Venue("XNAS")

    @property
    def account_id(self) -> AccountId:
        return ACCOUNT

    def submit_order(self, command: SubmitOrder) -> None:
        self.submitted.append(command)

    def cancel_order(self, command: CancelOrder) -> None:
        raise AssertionError("not used")

    def modify_order(self, command: ModifyOrder) -> None:
        raise AssertionError("not used")

    def cancel_all_orders(self, command: CancelAllOrders) -> None:
        raise AssertionError("not used")


class Node:
    """A paper node's trading core with hot reload over a config file in ``folder``."""

    def __init__(self, folder: Path, text: str | None = None, *, overrides: tuple[str, ...] = ()) -> None:
        self.path = folder / "node.yaml"
        self.path.write_text(config_text() if text is None else text, encoding="utf-8")
        self.clock = TestClock(START_NS)
        self.ids = IdFactory(0)
        self.bus = MessageBus(self.clock, self.ids)
        self.events: list[Event] = []
        self.bus.subscribe(Event, self.events.append, priority=-1)
        config = load_config(BacktestConfig, self.path, overrides=overrides, environ={})
        self.aapl = aapl_equity()
        portfolio = Portfolio(
            self.bus, self.clock, self.ids, Account(ACCOUNT, Money.from_str("1000000", "USD")), [self.aapl]
        )
        self.execution = ExecutionEngine(self.bus, self.clock, self.ids)
        self.venue = RecordingVenue()
        self.execution.register_client(self.venue)
        self.risk = RiskEngine(self.bus, self.clock, self.ids, portfolio, self.execution, config.risk)
        self.store = SnapshotStore.for_config(self.path)
        self.reloader: ConfigReloader[BacktestConfig] = ConfigReloader(
            self.path,
            BacktestConfig,
            bus=self.bus,
            clock=self.clock,
            ids=self.ids,
            snapshots=self.store,
            immutable=IMMUTABLE,
            overrides=overrides,
            current=config,
            environ={},
        )
        self.strategy_params: list[dict[str, Any]] = []
        self.reloader.register("risk", RiskApplier(self.risk))
        self.reloader.register(
            "strategies",
            CallbackApplier(lambda old, new: self.strategy_params.append(new.strategies[0].config)),
        )

    def edit(self, text: str) -> ReloadOutcome:
        self.path.write_text(text, encoding="utf-8")
        self.clock.advance_time(self.clock.timestamp_ns() + NANOS_PER_SECOND)
        return self.reloader.reload()

    def buy(self, qty: str) -> str | None:
        """Submit a market buy; ``None`` if it reached the venue, else the denial reason."""
        spec = self.execution.order_factory(STRATEGY).market(
            self.aapl.id, OrderSide.BUY, self.aapl.make_qty(qty)
        )
        now = self.clock.timestamp_ns()
        before = len(self.venue.submitted)
        self.bus.publish(
            SubmitOrder(
                id=self.ids.new_id(),
                correlation_id=self.ids.new_id(),
                ts_event=now,
                ts_init=now,
                strategy_id=STRATEGY,
                instrument_id=self.aapl.id,
                order=spec,
            )
        )
        if len(self.venue.submitted) > before:
            return None
        denial = [e for e in self.events if isinstance(e, OrderDenied)][-1]
        return denial.reason

    def of(self, kind: type[Any]) -> list[Any]:
        return [e for e in self.events if isinstance(e, kind)]


@pytest.fixture
def node(tmp_path: Path) -> Node:
    return Node(tmp_path)


# -- a valid change --------------------------------------------------------------------------


def test_a_valid_edit_applies_new_risk_limits_and_publishes_the_changed_keys(node: Node) -> None:
    assert node.buy("150") is None

    outcome = node.edit(config_text(max_qty="100", fast=12))

    assert outcome.status is ReloadStatus.APPLIED
    assert outcome.changed == ("strategies.0.config.fast", "risk.max_order_quantity")
    (event,) = node.of(ConfigReloaded)
    assert event.changed == outcome.changed
    assert event.path == str(node.path)
    assert event.snapshot_id == 2
    assert event.snapshot_path == str(node.store.folder / "000002.yaml")
    assert event.ts_event == node.clock.timestamp_ns()
    assert node.risk.config.max_order_quantity == 100
    denial = node.buy("150")
    assert denial is not None
    assert denial.startswith("max_order_quantity")
    assert node.buy("100") is None
    assert node.strategy_params == [{"instrument_id": "AAPL.XNAS", "fast": 12, "slow": 30}]
    assert node.reloader.current.risk.max_order_quantity == 100
    assert node.reloader.snapshot.id == 2
    assert node.store.get(2).config["risk"]["max_order_quantity"] == "100"


def test_only_the_appliers_whose_keys_changed_are_called(node: Node) -> None:
    node.edit(config_text(max_qty="120"))
    assert node.strategy_params == []
    assert node.risk.config.max_order_quantity == 120


def test_the_start_config_is_snapshot_one_and_is_not_saved_again_on_restart(tmp_path: Path) -> None:
    first = Node(tmp_path)
    assert first.store.ids() == [1]
    assert first.reloader.snapshot.id == 1
    again = Node(tmp_path)  # a restart with the same file
    assert again.store.ids() == [1]
    assert again.reloader.snapshot.id == 1
    changed = Node(tmp_path, config_text(fast=7))  # a restart after an offline edit
    assert changed.store.ids() == [1, 2]
    assert changed.reloader.snapshot.id == 2


def test_saving_the_file_without_a_change_publishes_nothing(node: Node) -> None:
    outcome = node.edit("# only a comment added\n" + config_text().replace("200", "200.0"))
    assert outcome == ReloadOutcome(ReloadStatus.UNCHANGED)
    assert node.events == []
    assert node.store.ids() == [1]


def test_the_start_overrides_are_applied_again_on_every_reload(tmp_path: Path) -> None:
    node = Node(tmp_path, overrides=("risk.max_order_quantity=50",))
    assert node.risk.config.max_order_quantity == 50
    outcome = node.edit(config_text(max_qty="500", fast=11))
    assert outcome.changed == ("strategies.0.config.fast",)  # the override still wins over the file
    assert node.risk.config.max_order_quantity == 50


# -- invalid files ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "fragments"),
    [
        pytest.param(config_text() + "risk: [unclosed\n", ["invalid YAML", "line 9"], id="bad-yaml"),
        pytest.param(
            config_text(max_qty="-5"), ["risk.max_order_quantity", "greater than 0"], id="bad-value"
        ),
        pytest.param(
            config_text(extra="  max_order_qty: 100\n"),
            ["risk.max_order_qty", "unknown key"],
            id="misspelled-key",
        ),
        pytest.param(config_text(extra="risk: {}\n"), ["duplicate key 'risk'"], id="duplicate-key"),
    ],
)
def test_an_invalid_file_is_rejected_with_its_errors_and_the_old_config_stays(
    node: Node, text: str, fragments: list[str]
) -> None:
    before = node.reloader.current
    outcome = node.edit(text)

    assert outcome.status is ReloadStatus.REJECTED
    (event,) = node.of(ConfigRejected)
    assert event.errors == outcome.errors
    assert event.changed == ()
    assert event.path == str(node.path)
    assert all(line.startswith(str(node.path)) for line in event.errors)
    for fragment in fragments:
        assert fragment in "\n".join(event.errors)
    assert node.of(ConfigReloaded) == []
    assert node.reloader.current is before
    assert node.risk.config.max_order_quantity == 200
    assert node.buy("150") is None
    assert node.store.ids() == [1]


def test_a_missing_file_is_rejected_and_a_fixed_file_then_applies(node: Node) -> None:
    node.path.unlink()
    outcome = node.reloader.reload()
    assert outcome.errors == (f"{node.path}: config file not found",)
    assert node.edit(config_text(max_qty="90")).applied
    assert node.risk.config.max_order_quantity == 90


# -- what cannot change live -----------------------------------------------------------------


def test_an_immutable_change_is_refused_with_its_reason_and_nothing_applies(node: Node) -> None:
    outcome = node.edit(config_text(balance="5000", max_qty="100"))

    assert outcome.status is ReloadStatus.REJECTED
    assert outcome.errors == (
        "venue.starting_balance: cannot change live: the venue cannot change while orders are working",
    )
    assert outcome.changed == ("venue.starting_balance", "risk.max_order_quantity")
    (event,) = node.of(ConfigRejected)
    assert event.changed == outcome.changed
    assert node.risk.config.max_order_quantity == 200  # the valid part did not apply either
    assert node.reloader.current.venue.starting_balance == 100_000


def test_a_change_no_component_applies_is_refused(node: Node) -> None:
    outcome = node.edit(config_text(extra="report: {enabled: false}\nlog: {batch_size: 10}\n"))
    assert outcome.errors == (
        "log.batch_size: cannot change live: no running component applies it (restart to change it)",
        "report.enabled: cannot change live: no running component applies it (restart to change it)",
    )
    assert node.store.ids() == [1]


def test_a_refusal_in_prepare_applies_nothing(node: Node, tmp_path: Path) -> None:
    calendar = tmp_path / "blackouts.csv"
    calendar.write_text("instrument,start,end,reason\nAAPL.XNAS,not-a-time,2024-01-01T10:00:00Z,x\n")
    outcome = node.edit(config_text(max_qty="100", fast=12, extra=f"  blackout_calendar: {calendar}\n"))

    assert outcome.status is ReloadStatus.REJECTED
    (line,) = outcome.errors
    assert line.startswith(f"risk: refused: {calendar}")
    assert node.strategy_params == []  # the strategies' applier was prepared, never committed
    assert node.risk.config.max_order_quantity == 200
    assert node.store.ids() == [1]


def test_a_failing_commit_rolls_back_the_appliers_already_committed(node: Node) -> None:
    def rebuild(old: BacktestConfig, new: BacktestConfig) -> None:
        raise RuntimeError("the lifecycle could not rebuild its methods")

    # Registered after "risk" and "strategies", so both have committed when it fails. The
    # strategies applier has no rollback of its own: it is undone by committing old over new.
    node.reloader.register("lifecycle", CallbackApplier(rebuild))
    edit = config_text(max_qty="100", fast=12, extra="lifecycle:\n  methods:\n    swing: {}\n")

    outcome = node.edit(edit)

    assert outcome.status is ReloadStatus.REJECTED
    assert outcome.changed == (
        "strategies.0.config.fast",
        "risk.max_order_quantity",
        "lifecycle.methods.swing",
    )
    assert outcome.errors == ("lifecycle: commit failed: the lifecycle could not rebuild its methods",)
    (event,) = node.of(ConfigRejected)
    assert event.errors == outcome.errors
    assert node.risk.config.max_order_quantity == 200
    assert node.buy("150") is None
    assert node.strategy_params == [
        {"instrument_id": "AAPL.XNAS", "fast": 12, "slow": 30},  # committed
        {"instrument_id": "AAPL.XNAS", "fast": 10, "slow": 30},  # undone: old committed over new
    ]
    assert node.reloader.current.risk.max_order_quantity == 200
    assert node.store.ids() == [1]  # the snapshot of a config that never ran is discarded
    assert node.of(ConfigReloaded) == []


def test_a_rollback_that_fails_is_reported_beside_the_commit_failure(tmp_path: Path) -> None:
    reloader, path, events = basket_reloader(tmp_path, "legs: [{symbol: ES}]\n")
    undone: list[str] = []

    def cannot_undo(old: Basket, new: Basket) -> None:
        raise RuntimeError("undo lost")

    def refuse(old: Basket, new: Basket) -> None:
        raise ValueError("the book has no such symbol")

    reloader.register("notes", CallbackApplier(lambda old, new: None, rollback=cannot_undo))
    reloader.register("account", CallbackApplier(lambda old, new: undone.append(new.account)))
    reloader.register("legs", CallbackApplier(refuse))
    path.write_text("account: spare\nnotes: {a: b}\nlegs: [{symbol: ES, weight: 2}]\n")

    outcome = reloader.reload()

    assert outcome.errors == (
        "legs: commit failed: the book has no such symbol",
        "notes: rollback failed, it may run the new config: undo lost",
    )
    assert undone == ["spare", "main"]  # the other one was still undone, after the failed undo
    assert reloader.current == Basket(legs=[Leg(symbol="ES")])
    assert [type(e).__name__ for e in events] == ["ConfigRejected"]


# -- registration ----------------------------------------------------------------------------


def test_a_misspelled_prefix_is_refused_when_registered(node: Node) -> None:
    with pytest.raises(ConfigError, match="applier prefix 'risks': BacktestConfig has no key 'risks'"):
        node.reloader.register("risks", CallbackApplier(lambda old, new: None))
    with pytest.raises(ConfigError, match="'risk' is already registered"):
        node.reloader.register("risk", CallbackApplier(lambda old, new: None))
    with pytest.raises(ConfigError, match=r"'venue\.latency_ms' lies under immutable 'venue'"):
        node.reloader.register("venue.latency_ms", CallbackApplier(lambda old, new: None))


def test_reload_cannot_be_called_from_inside_a_reload(node: Node) -> None:
    def reload_again(event: ConfigReloaded) -> None:
        node.reloader.reload()

    node.bus.subscribe(ConfigReloaded, reload_again)
    assert node.edit(config_text(max_qty="100")).applied
    (failure,) = node.of(HandlerFailed)
    assert "reload() was called during a reload" in failure.error


# -- any config model ------------------------------------------------------------------------


class Leg(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    symbol: str
    weight: int = 1


class Basket(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    account: str = "main"
    legs: list[Leg] = []
    notes: dict[str, str] = {}


def basket_reloader(tmp_path: Path, text: str) -> tuple[ConfigReloader[Basket], Path, list[Event]]:
    path = tmp_path / "basket.yaml"
    path.write_text(text, encoding="utf-8")
    clock = TestClock(START_NS)
    ids = IdFactory(1)
    bus = MessageBus(clock, ids)
    events: list[Event] = []
    bus.subscribe(Event, events.append)
    reloader = ConfigReloader(
        path,
        Basket,
        bus=bus,
        clock=clock,
        ids=ids,
        snapshots=SnapshotStore(tmp_path / "snaps"),
        immutable={"legs.0.symbol": "the first leg is the hedge"},
        current=load_config(Basket, path, environ={}),
        environ={},
    )
    return reloader, path, events


def test_a_coarser_change_is_checked_against_an_immutable_prefix_inside_it(tmp_path: Path) -> None:
    reloader, path, _ = basket_reloader(tmp_path, "legs: [{symbol: ES}]\n")
    reloader.register("legs", CallbackApplier(lambda old, new: None))
    reloader.register("notes", CallbackApplier(lambda old, new: None))

    path.write_text("legs: [{symbol: ES}, {symbol: NQ}]\nnotes: {why: spread}\n")
    assert reloader.reload().changed == ("legs.1", "notes.why")  # the hedge leg is untouched

    path.write_text("legs: []\nnotes: {why: spread}\n")
    outcome = reloader.reload()
    assert outcome.errors == ("legs.0.symbol: cannot change live: the first leg is the hedge",)


def test_the_current_config_must_be_of_the_model(tmp_path: Path) -> None:
    path = tmp_path / "basket.yaml"
    path.write_text("{}\n")
    clock = TestClock(0)
    ids = IdFactory(0)
    with pytest.raises(TradeloopError, match="current must be a Basket, got Leg"):
        ConfigReloader(
            path,
            Basket,
            bus=MessageBus(clock, ids),
            clock=clock,
            ids=ids,
            snapshots=SnapshotStore(tmp_path / "s"),
            current=Leg(symbol="x"),
        )
    with pytest.raises(ConfigError, match="immutable prefix 'acount': Basket has no key 'acount'"):
        ConfigReloader(
            path,
            Basket,
            bus=MessageBus(clock, ids),
            clock=clock,
            ids=ids,
            snapshots=SnapshotStore(tmp_path / "s"),
            immutable={"acount": "typo"},
            current=Basket(),
        )


def test_a_paper_node_refuses_a_live_change_of_the_risk_breach_check_interval(tmp_path: Path) -> None:
    from tradeloop.runtime.config import PaperConfig
    from tradeloop.runtime.paper import IMMUTABLE_KEYS

    path = tmp_path / "node.yaml"
    strategies = (
        "strategies:\n  - class: tradeloop.strategy.samples:MovingAverageCrossover\n"
        "    config: {instrument_id: AAPL.XNAS}\n"
    )
    path.write_text(strategies, encoding="utf-8")
    clock = TestClock(0)
    ids = IdFactory(0)
    reloader = ConfigReloader(
        path,
        PaperConfig,
        bus=MessageBus(clock, ids),
        clock=clock,
        ids=ids,
        snapshots=SnapshotStore(tmp_path / "s"),
        immutable=IMMUTABLE_KEYS,
        current=load_config(PaperConfig, path, environ={}),
        environ={},
    )
    reloader.register("risk", CallbackApplier(lambda old, new: None))  # the breakers' timer is not re-set
    path.write_text(strategies + "risk: {breakers: {risk_breach: {check_interval_seconds: 5}}}\n")
    outcome = reloader.reload()
    assert outcome.errors == (
        "risk.breakers.risk_breach.check_interval_seconds: cannot change live: the risk breach check's "
        "timer is set at start; restart the node to change its interval",
    )
