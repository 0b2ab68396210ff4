"""State reconstruction: orders, positions and account rebuilt from a recorded session's store
equal what the live engine held, exactly; snapshots make the rebuild read only the tail."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from tradeloop.config.loader import load_config
from tradeloop.core.ids import ClientOrderId, StrategyId, VenueOrderId
from tradeloop.core.message import Message
from tradeloop.model.commands import OrderSpec, SubmitOrder
from tradeloop.model.enums import OrderSide, OrderStatus, OrderType
from tradeloop.model.events import OrderAccepted, OrderSubmitted
from tradeloop.model.instruments import Instrument
from tradeloop.model.objects import Money
from tradeloop.runtime.build import build_engine
from tradeloop.runtime.config import BacktestConfig
from tradeloop.runtime.projection import (
    Projection,
    ProjectionError,
    ProjectionState,
    SnapshotError,
    rebuild,
    state_of,
)
from tradeloop.runtime.replay import record_into
from tradeloop.store import ReadFilter, SqliteEventStore
from tradeloop.testkit import aapl_equity, es_future, id_factory, make_fill

SESSION = """
run: {name: projection-test, seed: 3}
data:
  source: synthetic
  kind: bars
  instrument: {id: ABC.SIM, type: equity}
  synthetic: {count: 1500, seed: 2, volatility: 0.003}
venue: {starting_balance: 100000, account_type: MARGIN, taker_fee: 0.0001, latency_ms: 1}
strategies:
  - class: tradeloop.strategy.samples:MovingAverageCrossover
    config: {instrument_id: ABC.SIM, fast: 5, slow: 20, quantity: 10, method: trend}
lifecycle:
  methods:
    trend:
      exits: {stop_loss_pct: 0.5, trailing_stop: {activation_pct: 0.2, distance_pct: 0.3}}
"""
BALANCE = Money.from_str("100000", "USD")
CHECKPOINT = 4_000
"""The live state is captured as record CHECKPOINT + 1 is dispatched: after records 1..CHECKPOINT."""
UP_TO = ReadFilter(to_seq=CHECKPOINT)


@dataclass(frozen=True)
class Session:
    path: Path
    live: ProjectionState
    live_at_checkpoint: ProjectionState
    instruments: list[Instrument]
    records: int


def session_config() -> BacktestConfig:
    return load_config(BacktestConfig, base=yaml.safe_load(SESSION))


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> Session:
    """A backtest with a stop-loss and trailing-stop method, every message recorded in a store."""
    cfg = session_config()
    engine = build_engine(cfg, event_log=None)
    captured: list[ProjectionState] = []
    seen = 0

    def checkpoint(_: Message) -> None:
        # Called as each message is dispatched, before its handlers: the engine then holds the
        # state of every message before it, fully handled.
        nonlocal seen
        seen += 1
        if seen == CHECKPOINT + 1:
            assert engine.portfolio is not None
            captured.append(state_of(engine.execution, engine.portfolio, engine.instruments))

    path = tmp_path_factory.mktemp("projection") / "store.sqlite"
    with SqliteEventStore(path) as store:
        recorder = record_into(engine.bus, store, batch=2_000)
        engine.bus.add_recorder(checkpoint)
        engine.run()
        recorder.flush()
        records = store.last_seq()
    assert engine.portfolio is not None
    live = state_of(engine.execution, engine.portfolio, engine.instruments)
    return Session(path, live, captured[0], list(engine.instruments.values()), records)


def test_rebuilding_from_the_log_equals_the_live_engines_orders_positions_and_account(
    session: Session,
) -> None:
    with SqliteEventStore(session.path) as store:
        projection = rebuild(store, instruments=session.instruments, starting_balance=BALANCE)
    state = projection.state()
    assert state.differences(session.live) == []
    assert state == session.live
    # The session is rich enough to mean something: fills both ways, closed trades, and orders
    # that were canceled, modified and rejected on the way (the lifecycle's exits).
    statuses = {o.status for o in state.orders}
    assert {OrderStatus.FILLED.value, OrderStatus.CANCELED.value, OrderStatus.REJECTED.value} <= statuses
    assert state.fills > 20
    assert len(state.positions) > 10
    assert state.realized_pnl != Money.zero("USD")
    assert state.account_id == "SIM-001"
    assert projection.records_read == session.records
    assert projection.handler_errors == 0


def test_a_rebuild_up_to_a_record_equals_the_live_state_at_that_record(session: Session) -> None:
    with SqliteEventStore(session.path) as store:
        projection = rebuild(
            store,
            instruments=session.instruments,
            starting_balance=BALANCE,
            where=ReadFilter(to_seq=CHECKPOINT),
        )
    assert projection.last_seq == CHECKPOINT
    assert projection.state() == session.live_at_checkpoint
    assert projection.state() != session.live


def test_snapshot_plus_tail_equals_the_full_rebuild_and_reads_only_the_tail(session: Session) -> None:
    every = 5_000
    with SqliteEventStore(session.path) as store:
        full = rebuild(
            store,
            instruments=session.instruments,
            starting_balance=BALANCE,
            snapshot_name="portfolio",
            snapshot_every=every,
        )
        saved = store.load_snapshot("portfolio")
        assert saved is not None
        snapshot_seq = saved[0]
        assert session.records - every < snapshot_seq <= session.records

        fast = rebuild(
            store, instruments=session.instruments, starting_balance=BALANCE, snapshot_name="portfolio"
        )

    assert fast.restored_from_seq == snapshot_seq
    assert fast.records_read == session.records - snapshot_seq
    assert fast.records_read < every < full.records_read
    assert fast.last_seq == full.last_seq
    assert fast.state() == full.state() == session.live


def test_a_restored_projection_goes_on_applying_records_like_one_that_never_stopped(session: Session) -> None:
    with SqliteEventStore(session.path) as store:
        head = rebuild(
            store,
            instruments=session.instruments,
            starting_balance=BALANCE,
            where=ReadFilter(to_seq=CHECKPOINT),
        )
        restored = Projection.restore(head.snapshot())
        assert restored.state() == session.live_at_checkpoint
        read = restored.catch_up(store)
    assert read == session.records - CHECKPOINT
    assert restored.state() == session.live


def test_a_snapshot_beyond_the_requested_end_is_not_used(session: Session) -> None:
    with SqliteEventStore(session.path) as store:
        full = rebuild(store, instruments=session.instruments, starting_balance=BALANCE)
        full.save_snapshot(store, "late")
        earlier = rebuild(
            store,
            instruments=session.instruments,
            starting_balance=BALANCE,
            snapshot_name="late",
            where=ReadFilter(to_seq=CHECKPOINT),
        )
    assert earlier.restored_from_seq is None
    assert earlier.records_read == CHECKPOINT
    assert earlier.state() == session.live_at_checkpoint


def test_a_snapshot_taken_with_other_settings_is_refused_naming_them(session: Session) -> None:
    with SqliteEventStore(session.path) as store:
        rebuild(store, instruments=session.instruments, starting_balance=BALANCE).save_snapshot(store, "p")
        with pytest.raises(SnapshotError, match=r"starting balance 100000\.00 USD \(given 250000\.00 USD\)"):
            rebuild(
                store,
                instruments=session.instruments,
                starting_balance=Money.from_str("250000", "USD"),
                snapshot_name="p",
            )
        with pytest.raises(SnapshotError, match="instruments"):
            rebuild(store, instruments=[aapl_equity()], starting_balance=BALANCE, snapshot_name="p")


def test_a_snapshot_of_another_version_or_build_is_refused_as_same_version_only(session: Session) -> None:
    with SqliteEventStore(session.path) as store:
        projection = rebuild(
            store, instruments=session.instruments, starting_balance=BALANCE, where=ReadFilter(to_seq=100)
        )
    payload = projection.snapshot()
    old = payload.replace(b'"tradeloop": "', b'"tradeloop": "0.0.0-', 1)
    with pytest.raises(SnapshotError, match="same-version only"):
        Projection.restore(old)
    changed_build = payload.replace(b'"layout": "', b'"layout": "renamed_field,', 1)
    with pytest.raises(SnapshotError, match="another layout"):
        Projection.restore(changed_build)
    with pytest.raises(SnapshotError, match="not a projection snapshot"):
        Projection.restore(b"garbage")
    with pytest.raises(SnapshotError, match="truncated or corrupt"):
        Projection.restore(payload[: len(payload) // 2])


def test_a_projection_of_a_filtered_read_is_partial_and_never_snapshotted(session: Session) -> None:
    with SqliteEventStore(session.path) as store:
        partial = rebuild(
            store,
            instruments=session.instruments,
            starting_balance=BALANCE,
            where=ReadFilter(types=frozenset({"OrderFilled"})),
        )
        assert partial.partial
        with pytest.raises(SnapshotError, match="partial"):
            partial.snapshot()
        with pytest.raises(ValueError, match="whole log"):
            rebuild(
                store,
                instruments=session.instruments,
                starting_balance=BALANCE,
                snapshot_name="p",
                where=ReadFilter(from_ts=0),
            )


# -- hand-made logs ------------------------------------------------------------------------------

ES = es_future()


def order_messages(
    client_order_id: str, *, trade_ids: tuple[str, ...], account: str = "SIM-001"
) -> list[Message]:
    """A buy of 2 ES: submit, submitted, accepted and a fill per trade id (1 contract each)."""
    ids = id_factory(7)
    coid = ClientOrderId(client_order_id)
    spec = OrderSpec(
        client_order_id=coid,
        strategy_id=StrategyId("S-1"),
        instrument_id=ES.id,
        side=OrderSide.BUY,
        order_type=OrderType.MARKET,
        quantity=ES.make_qty(2),
    )
    common = {"strategy_id": spec.strategy_id, "instrument_id": ES.id, "client_order_id": coid}
    common["correlation_id"] = "c-1"
    submit = SubmitOrder(
        ts_event=1, ts_init=1, id=ids.new_id(), correlation_id="c-1", strategy_id=spec.strategy_id,
        instrument_id=ES.id, order=spec,
    )  # fmt: skip
    out: list[Message] = [
        submit,
        OrderSubmitted(ts_event=2, ts_init=2, id=ids.new_id(), account_id=account, **common),
        OrderAccepted(ts_event=3, ts_init=3, id=ids.new_id(), venue_order_id=VenueOrderId("V-1"), **common),
    ]
    for n, trade_id in enumerate(trade_ids):
        out.append(
            make_fill(
                ES, OrderSide.BUY, 1, "5000.25", ts_ns=10 + n, client_order_id=client_order_id,
                trade_id=trade_id, correlation_id="c-1", account_id=account, ids=ids,
            )
        )  # fmt: skip
    return out


def test_a_fill_resent_by_the_venue_is_refused_by_its_order_and_never_reaches_the_ledger(
    tmp_path: Path,
) -> None:
    with SqliteEventStore(tmp_path / "s.sqlite") as store:
        store.append(order_messages("O-1", trade_ids=("T-1", "T-1", "T-2")))
        projection = rebuild(store, instruments=[ES], starting_balance=BALANCE)
    state = projection.state()
    assert projection.handler_errors == 1
    assert state.fills == 2
    (order,) = state.orders
    assert (order.status, str(order.filled_qty)) == ("FILLED", "2")
    (position,) = state.positions
    assert str(position.quantity) == "2"
    # 2 contracts x 5000.25 x 50 USD a point, once (the test kit's ES has no fees).
    assert state.cash == BALANCE - Money.from_str("500025", "USD")


def test_a_fill_of_an_instrument_the_projection_was_not_given_is_refused_naming_the_record(
    tmp_path: Path,
) -> None:
    with SqliteEventStore(tmp_path / "s.sqlite") as store:
        store.append(order_messages("O-1", trade_ids=("T-1",)))
        with pytest.raises(
            ProjectionError,
            match=rf"record 4: fill T-1 of order O-1 is for {re.escape(ES.id)}, which is not among",
        ):
            rebuild(store, instruments=[aapl_equity()], starting_balance=BALANCE)


def test_records_must_be_fed_once_in_sequence_order(tmp_path: Path) -> None:
    with SqliteEventStore(tmp_path / "s.sqlite") as store:
        store.append(order_messages("O-1", trade_ids=("T-1",)))
        records = list(store.read())
    projection = Projection([ES], BALANCE, "SIM-001")
    projection.apply_record(records[1])
    with pytest.raises(ProjectionError, match="record 1 is not after the last record fed"):
        projection.apply_record(records[0])


def test_the_account_id_comes_from_the_log_or_else_from_the_venue(tmp_path: Path) -> None:
    with SqliteEventStore(tmp_path / "empty.sqlite") as store:
        assert rebuild(store, instruments=[ES], starting_balance=BALANCE).state().account_id == "CME-001"
    with SqliteEventStore(tmp_path / "s.sqlite") as store:
        store.append(order_messages("O-1", trade_ids=("T-1",), account="ACC-7"))
        assert rebuild(store, instruments=[ES], starting_balance=BALANCE).state().account_id == "ACC-7"
    with pytest.raises(ProjectionError, match="instruments"):
        Projection([], BALANCE, "SIM-001")
