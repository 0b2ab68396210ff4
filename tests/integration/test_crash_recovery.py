"""Crash recovery, proven by chaos: a node killed with SIGKILL at random moments, restarted each
time, ends exactly where an uninterrupted node ends - same orders, fills, positions, P&L, and
the same event log apart from its restart annotations - and the venue never executes an order
twice nor loses a fill.

The venue runs in its own process (:mod:`tradeloop.venues.simulated.server`) and keeps running
while the node dies; the node runs in a subprocess (:mod:`tradeloop.runtime.recovery`).
"""

from __future__ import annotations

import os
import random
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pytest

from tradeloop.data.synthetic import generate_bars
from tradeloop.model.events import OrderFilled
from tradeloop.model.instruments import Equity
from tradeloop.model.objects import Money
from tradeloop.runtime.projection import ProjectionState, rebuild
from tradeloop.runtime.recovery import (
    NodeSpec,
    ReconciliationCompleted,
    RecoverableNode,
    write_node_spec,
)
from tradeloop.store.port import ReadFilter
from tradeloop.store.sqlite_store import SqliteEventStore
from tradeloop.strategy.samples.ma_cross import MovingAverageCrossover, MovingAverageCrossoverConfig
from tradeloop.venues.simulated.config import SimulatedVenueConfig
from tradeloop.venues.simulated.server import (
    VenueSession,
    VenueState,
    read_state,
    start_venue_server,
    write_session,
)

INSTRUMENT = Equity("ABC.SIM", taker_fee="0.001")
START_CASH = Money.from_str("1000000", "USD")
VENUE_CONFIG = SimulatedVenueConfig(starting_balances=START_CASH)


def _session(bars: int) -> tuple[VenueSession, NodeSpec]:
    data = tuple(generate_bars(INSTRUMENT, bars, seed=11, volatility=0.002))
    session = VenueSession("SIM", (INSTRUMENT,), VENUE_CONFIG, data)
    strategy = MovingAverageCrossoverConfig(
        strategy_id="MA", instrument_id=str(INSTRUMENT.id), fast=2, slow=5, quantity=Decimal(50)
    )
    spec = NodeSpec(
        venue="SIM",
        instruments=(INSTRUMENT,),
        venue_config=VENUE_CONFIG,
        bars=((str(INSTRUMENT.id), "1-MINUTE"),),
        strategies=((MovingAverageCrossover, strategy),),
        seed=5,
    )
    return session, spec


@dataclass
class SessionOutcome:
    venue: VenueState
    store: Path
    starts: int
    kills: int
    stderr: str


def _run_session(tmp: Path, bars: int, *, kills: int, seed: int) -> SessionOutcome:
    """Run a whole session: venue server process, node subprocess killed ``kills`` times."""
    tmp.mkdir(parents=True, exist_ok=True)
    session, spec = _session(bars)
    session_file = write_session(tmp / "session.pkl", session)
    spec_file = write_node_spec(tmp / "node.pkl", spec)
    sock, state_out, store = tmp / "venue.sock", tmp / "venue.json", tmp / "store.sqlite"
    server = start_venue_server(sock, session_file, state_out)
    rng = random.Random(seed)
    node_args = [
        sys.executable, "-m", "tradeloop.runtime.recovery",
        "--socket", str(sock), "--store", str(store), "--spec", str(spec_file),
    ]  # fmt: skip
    starts = done_kills = 0
    errors: list[str] = []
    try:
        while True:
            starts += 1
            node = subprocess.Popen(node_args, stderr=subprocess.PIPE)
            if done_kills < kills:
                time.sleep(rng.uniform(0.6, 1.6))
                if node.poll() is None:
                    node.kill()  # SIGKILL: no cleanup of any kind
                    done_kills += 1
            _, err = node.communicate(timeout=120)
            errors.append(err.decode())
            if node.returncode == 0:
                break
            assert node.returncode == -9, f"node failed (exit {node.returncode}):\n{err.decode()}"
            assert starts < kills + 50, "the node makes no progress between kills"
        server.wait(timeout=30)
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
    assert server.returncode == 0
    return SessionOutcome(read_state(state_out), store, starts, done_kills, "".join(errors))


def _projection(store_path: Path) -> ProjectionState:
    with SqliteEventStore(store_path) as store:
        return rebuild(store, instruments=[INSTRUMENT], starting_balance=START_CASH).state()


def _log(store_path: Path) -> list[tuple[str, bytes]]:
    """The event log without restart annotations."""
    conn = sqlite3.connect(store_path)
    try:
        rows = conn.execute("SELECT type_name, payload FROM records ORDER BY seq").fetchall()
    finally:
        conn.close()
    return [(t, bytes(p)) for t, p in rows if t != ReconciliationCompleted.TYPE_NAME]


def _store_fills(store_path: Path) -> list[str]:
    with SqliteEventStore(store_path) as store:
        records = store.read(ReadFilter(types=frozenset({OrderFilled.TYPE_NAME})))
        return [str(r.decode().trade_id) for r in records]  # type: ignore[attr-defined]


def _reconciliations(store_path: Path) -> list[ReconciliationCompleted]:
    with SqliteEventStore(store_path) as store:
        out = []
        for r in store.read(ReadFilter(types=frozenset({ReconciliationCompleted.TYPE_NAME}))):
            message = r.decode()
            assert isinstance(message, ReconciliationCompleted)
            out.append(message)
        return out


def _assert_matches_venue(outcome: SessionOutcome) -> None:
    venue = outcome.venue
    state = _projection(outcome.store)
    fills = _store_fills(outcome.store)
    venue_fills = [f.trade_id for f in venue.fills]
    # No order executed twice, no fill duplicated or lost.
    assert venue.duplicate_submits == 0
    assert len(set(venue_fills)) == len(venue_fills)
    assert len(set(fills)) == len(fills)
    assert sorted(fills) == sorted(venue_fills)
    executions = Counter(f.client_order_id for f in venue.fills)
    venue_orders = {o.client_order_id: o for o in venue.orders}
    for cid in executions:
        assert sum(f.qty_raw for f in venue.fills if f.client_order_id == cid) == venue_orders[cid].filled_raw
    # The node's rebuilt state is the venue's.
    assert {o.client_order_id for o in state.orders} >= set(venue_orders)
    for o in state.orders:
        if o.client_order_id in venue_orders:
            assert o.filled_qty.raw == venue_orders[o.client_order_id].filled_raw
            assert o.status == venue_orders[o.client_order_id].status
    net = sum((p.quantity.raw if p.side == "LONG" else -p.quantity.raw) for p in state.open_positions)
    assert net == venue.positions[str(INSTRUMENT.id)]
    assert state.cash.raw == venue.cash_raw
    assert state.commissions.raw == venue.commissions_raw
    assert state.fills == len(venue_fills)


def test_uninterrupted_session_state_matches_the_venue(tmp_path: Path) -> None:
    outcome = _run_session(tmp_path, 600, kills=0, seed=1)
    assert outcome.starts == 1
    assert outcome.venue.fills, "the strategy must trade for the test to mean anything"
    _assert_matches_venue(outcome)
    assert _reconciliations(outcome.store) == []


CHAOS_BARS = 3_000


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory: pytest.TempPathFactory) -> SessionOutcome:
    return _run_session(tmp_path_factory.mktemp("uninterrupted"), CHAOS_BARS, kills=0, seed=0)


def _assert_chaos_run_equals_uninterrupted(chaos: SessionOutcome, clean: SessionOutcome) -> None:
    _assert_matches_venue(chaos)
    assert chaos.kills >= 1
    # The same final state as the run nobody killed: orders, fills, positions, P&L, equity.
    assert _projection(chaos.store).differences(_projection(clean.store)) == []
    assert chaos.venue.fills == clean.venue.fills
    assert chaos.venue.orders == clean.venue.orders
    assert chaos.venue.cash_raw == clean.venue.cash_raw
    # Byte for byte the same event log, apart from the restart annotations.
    assert _log(chaos.store) == _log(clean.store)
    reconciliations = _reconciliations(chaos.store)
    assert reconciliations, "a killed node restarted from its store must reconcile"
    assert all(r.mismatches == () for r in reconciliations)


def test_node_killed_five_times_ends_exactly_like_an_uninterrupted_run(
    tmp_path: Path, uninterrupted: SessionOutcome
) -> None:
    chaos = _run_session(tmp_path, CHAOS_BARS, kills=5, seed=42)
    _assert_chaos_run_equals_uninterrupted(chaos, uninterrupted)
    venue = chaos.venue
    print(
        f"chaos: kills={chaos.kills} starts={chaos.starts} orders={len(venue.orders)} "
        f"fills={len(venue.fills)} resent_commands={venue.resent_commands} "
        f"resent_items={venue.resent_items} duplicate_submits={venue.duplicate_submits} "
        f"connections={venue.connections} reconciliations={len(_reconciliations(chaos.store))}"
    )


@pytest.mark.soak
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_soak_node_killed_many_times_ends_exactly_like_an_uninterrupted_run(
    tmp_path: Path, uninterrupted: SessionOutcome, seed: int
) -> None:
    kills = int(os.environ.get("TRADELOOP_CHAOS_KILLS", "25"))
    chaos = _run_session(tmp_path, CHAOS_BARS, kills=kills, seed=seed)
    _assert_chaos_run_equals_uninterrupted(chaos, uninterrupted)


def test_corrupted_tail_record_is_reported_cut_and_the_rest_recovered(
    tmp_path: Path, uninterrupted: SessionOutcome
) -> None:
    session, spec = _session(CHAOS_BARS)
    sock, state_out, store = tmp_path / "venue.sock", tmp_path / "venue.json", tmp_path / "store.sqlite"
    server = start_venue_server(sock, write_session(tmp_path / "session.pkl", session), state_out)
    spec_file = write_node_spec(tmp_path / "node.pkl", spec)
    node_args = [
        sys.executable, "-m", "tradeloop.runtime.recovery",
        "--socket", str(sock), "--store", str(store), "--spec", str(spec_file),
    ]  # fmt: skip
    try:
        node = subprocess.Popen(node_args)
        deadline = time.monotonic() + 30
        stored = 0
        while stored < 2_000 and time.monotonic() < deadline:
            time.sleep(0.05)
            if store.exists():
                with sqlite3.connect(store) as conn:
                    try:
                        stored = conn.execute("SELECT COALESCE(MAX(seq), 0) FROM records").fetchone()[0]
                    except sqlite3.OperationalError:  # the node is still creating its tables
                        stored = 0
        node.kill()
        node.wait()
        assert stored >= 2_000
        # A torn write: the last committed record's payload no longer matches its checksum.
        with sqlite3.connect(store) as conn:
            last = conn.execute("SELECT MAX(seq) FROM records").fetchone()[0]
            conn.execute("UPDATE records SET payload = X'00ff' WHERE seq = ?", (last,))
        with SqliteEventStore(store) as check:
            report = check.verify()
        assert report.first_bad_seq == last

        result = RecoverableNode(spec, store, sock).run()
        server.wait(timeout=30)
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
    assert result.finished
    assert any(f"corrupted record {last}" in cut for cut in result.truncated)
    assert result.reconciliation is not None
    assert result.reconciliation.truncated == tuple(result.truncated)
    assert result.reconciliation.mismatches == ()
    # Everything before the bad record was recovered, and the venue replayed what was cut.
    assert result.items_replayed > 0
    chaos = SessionOutcome(read_state(state_out), store, 2, 1, "")
    _assert_chaos_run_equals_uninterrupted(chaos, uninterrupted)
