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
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pytest

from tradeloop.data.synthetic import generate_bars
from tradeloop.model.instruments import Equity
from tradeloop.model.objects import Money
from tradeloop.runtime.recovery import (
    NodeSpec,
    RecoverableNode,
    write_node_spec,
)
from tradeloop.store.sqlite_store import SqliteEventStore
from tradeloop.strategy.samples.ma_cross import MovingAverageCrossover, MovingAverageCrossoverConfig
from tradeloop.testkit.store_files import overwrite_stored_payload, stored_seqs
from tradeloop.venues.simulated.config import SimulatedVenueConfig
from tradeloop.venues.simulated.server import (
    VenueSession,
    VenueState,
    read_state,
    start_venue_server,
    write_session,
)

from .recovery_checks import (
    assert_store_matches_venue,
    event_log,
    projection,
    store_reconciliations,
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


def test_uninterrupted_session_state_matches_the_venue(tmp_path: Path) -> None:
    outcome = _run_session(tmp_path, 600, kills=0, seed=1)
    assert outcome.starts == 1
    assert outcome.venue.fills, "the strategy must trade for the test to mean anything"
    assert_store_matches_venue(outcome.store, outcome.venue, INSTRUMENT, START_CASH)
    assert store_reconciliations(outcome.store) == []


CHAOS_BARS = 3_000


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory: pytest.TempPathFactory) -> SessionOutcome:
    return _run_session(tmp_path_factory.mktemp("uninterrupted"), CHAOS_BARS, kills=0, seed=0)


def _assert_chaos_run_equals_uninterrupted(chaos: SessionOutcome, clean: SessionOutcome) -> None:
    assert_store_matches_venue(chaos.store, chaos.venue, INSTRUMENT, START_CASH)
    assert chaos.kills >= 1
    # The same final state as the run nobody killed: orders, fills, positions, P&L, equity.
    assert (
        projection(chaos.store, INSTRUMENT, START_CASH).differences(
            projection(clean.store, INSTRUMENT, START_CASH)
        )
        == []
    )
    assert chaos.venue.fills == clean.venue.fills
    assert chaos.venue.orders == clean.venue.orders
    assert chaos.venue.cash_raw == clean.venue.cash_raw
    # Byte for byte the same event log, apart from the restart annotations.
    assert event_log(chaos.store) == event_log(clean.store)
    reconciliations = store_reconciliations(chaos.store)
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
        f"connections={venue.connections} reconciliations={len(store_reconciliations(chaos.store))}"
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
                try:
                    stored = max(stored_seqs(store), default=0)
                except sqlite3.OperationalError:  # the node is still creating its tables
                    stored = 0
        node.kill()
        node.wait()
        assert stored >= 2_000
        # A torn write: the last committed record's payload no longer matches its checksum.
        last = stored_seqs(store)[-1]
        overwrite_stored_payload(store, last, b"\x00\xff")
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
