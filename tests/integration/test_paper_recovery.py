"""Crash recovery of the paper node, proven by chaos: ``tradeloop paper`` with a remote venue,
killed with SIGKILL at seeded random moments and restarted each time, ends exactly where an
uninterrupted paper run ends - same orders, fills, positions, P&L and event log apart from its
restart annotations - and the venue never executes an order twice nor loses a fill.

The venue server runs in its own process (:mod:`tradeloop.venues.simulated.server`) and keeps
running while the node dies; the node is the ``tradeloop paper`` command in a subprocess.
"""

from __future__ import annotations

import random
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tradeloop.config import load_config
from tradeloop.core.errors import ConfigError
from tradeloop.model.events import OrderFilled
from tradeloop.model.instruments import Instrument
from tradeloop.model.objects import Money
from tradeloop.runtime.build import load_data, venue_config
from tradeloop.runtime.config import PaperConfig
from tradeloop.runtime.projection import ProjectionState, rebuild
from tradeloop.runtime.recovery import ReconciliationCompleted
from tradeloop.store.port import ReadFilter
from tradeloop.store.sqlite_store import SqliteEventStore
from tradeloop.venues.simulated.server import (
    VenueSession,
    VenueState,
    read_state,
    start_venue_server,
    write_session,
)

BARS = 3_000
KILLS = 4


def _config(tmp: Path) -> dict[str, Any]:
    """A crossover on synthetic one-minute bars, its market and execution from the venue server."""
    return {
        "run": {"name": "paper-recovery", "seed": 3, "output_dir": str(tmp / "out")},
        "data": {
            "source": "synthetic",
            "instrument": {"id": "ABC.SIM", "type": "equity", "taker_fee": "0.001"},
            "synthetic": {"count": BARS, "seed": 11, "start_price": 100, "volatility": 0.002},
        },
        "venue": {"starting_balance": 1_000_000, "account_type": "CASH"},
        "strategies": [
            {
                "class": "tradeloop.strategy.samples:MovingAverageCrossover",
                "config": {"instrument_id": "ABC.SIM", "fast": 2, "slow": 5, "quantity": 50},
            }
        ],
        "report": {"enabled": False},
        "node": {
            "metrics_port": None,
            "watch_config": False,
            "health_interval_seconds": 0.2,
            "store": {"path": str(tmp / "store.sqlite")},
            "venue": {"mode": "remote", "socket": str(tmp / "venue.sock")},
        },
        "logging": {"level": "WARNING"},
    }


@dataclass
class PaperOutcome:
    venue: VenueState
    store: Path
    instrument: Instrument
    starting_cash: Money
    starts: int
    kills: int
    seconds: float


def _run_paper_session(tmp: Path, *, kills: int, seed: int) -> PaperOutcome:
    """A whole session: the venue server, and ``tradeloop paper`` killed ``kills`` times."""
    tmp.mkdir(parents=True, exist_ok=True)
    raw = _config(tmp)
    config_file = tmp / "paper.yaml"
    config_file.write_text(yaml.safe_dump(raw))
    cfg = load_config(PaperConfig, config_file)
    loaded = load_data(cfg.data)
    venue = str(loaded.instrument.venue)
    session = VenueSession(venue, (loaded.instrument,), venue_config(cfg.venue), tuple(loaded.data))
    sock, state_out, store = tmp / "venue.sock", tmp / "venue.json", tmp / "store.sqlite"
    server = start_venue_server(sock, write_session(tmp / "session.pkl", session), state_out)
    rng = random.Random(seed)
    command = [sys.executable, "-c", "from tradeloop.cli.main import app; app()", "paper", str(config_file)]
    starts = done_kills = 0
    started = time.monotonic()
    try:
        while True:
            starts += 1
            node = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            if done_kills < kills:
                time.sleep(rng.uniform(0.9, 1.8))  # the interpreter starts in ~0.7 s of these
                if node.poll() is None:
                    node.kill()  # SIGKILL: no cleanup of any kind
                    done_kills += 1
            _, err = node.communicate(timeout=60)
            if node.returncode == 0:
                break
            assert node.returncode == -9, f"paper node failed (exit {node.returncode}):\n{err.decode()}"
            assert starts < kills + 30, "the paper node makes no progress between kills"
        server.wait(timeout=30)
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
    assert server.returncode == 0
    return PaperOutcome(
        read_state(state_out),
        store,
        loaded.instrument,
        venue_config(cfg.venue).starting_balances,
        starts,
        done_kills,
        time.monotonic() - started,
    )


def _projection(outcome: PaperOutcome) -> ProjectionState:
    with SqliteEventStore(outcome.store) as store:
        projection = rebuild(store, instruments=[outcome.instrument], starting_balance=outcome.starting_cash)
        return projection.state()


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


def _assert_matches_venue(outcome: PaperOutcome) -> None:
    venue = outcome.venue
    state = _projection(outcome)
    fills = _store_fills(outcome.store)
    venue_fills = [f.trade_id for f in venue.fills]
    # No order executed twice, no fill duplicated or lost.
    assert venue.duplicate_submits == 0
    assert len(set(venue_fills)) == len(venue_fills)
    assert sorted(fills) == sorted(venue_fills)
    venue_orders = {o.client_order_id: o for o in venue.orders}
    for cid in Counter(f.client_order_id for f in venue.fills):
        assert sum(f.qty_raw for f in venue.fills if f.client_order_id == cid) == venue_orders[cid].filled_raw
    # The node's rebuilt state is the venue's.
    assert {o.client_order_id for o in state.orders} >= set(venue_orders)
    for o in state.orders:
        if o.client_order_id in venue_orders:
            assert o.filled_qty.raw == venue_orders[o.client_order_id].filled_raw
            assert o.status == venue_orders[o.client_order_id].status
    net = sum((p.quantity.raw if p.side == "LONG" else -p.quantity.raw) for p in state.open_positions)
    assert net == venue.positions[str(outcome.instrument.id)]
    assert state.cash.raw == venue.cash_raw
    assert state.commissions.raw == venue.commissions_raw
    assert state.fills == len(venue_fills)


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory: pytest.TempPathFactory) -> PaperOutcome:
    outcome = _run_paper_session(tmp_path_factory.mktemp("paper-uninterrupted"), kills=0, seed=0)
    assert outcome.starts == 1
    return outcome


def test_uninterrupted_remote_paper_session_matches_the_venue(uninterrupted: PaperOutcome) -> None:
    assert uninterrupted.venue.fills, "the strategy must trade for the test to mean anything"
    assert uninterrupted.venue.sent == BARS - 1
    _assert_matches_venue(uninterrupted)
    assert _reconciliations(uninterrupted.store) == []


def test_paper_node_killed_at_random_moments_ends_exactly_like_an_uninterrupted_run(
    tmp_path: Path, uninterrupted: PaperOutcome
) -> None:
    chaos = _run_paper_session(tmp_path, kills=KILLS, seed=7)
    _assert_matches_venue(chaos)
    assert chaos.kills >= 3, f"only {chaos.kills} kills landed before the session ended"
    # The same final state as the run nobody killed: orders, fills, positions, P&L.
    assert _projection(chaos).differences(_projection(uninterrupted)) == []
    assert chaos.venue.fills == uninterrupted.venue.fills
    assert chaos.venue.orders == uninterrupted.venue.orders
    assert chaos.venue.cash_raw == uninterrupted.venue.cash_raw
    # Byte for byte the same event log, apart from the restart annotations.
    assert _log(chaos.store) == _log(uninterrupted.store)
    reconciliations = _reconciliations(chaos.store)
    assert reconciliations, "a killed node restarted from its store must reconcile"
    assert all(r.mismatches == () for r in reconciliations)
    venue = chaos.venue
    print(
        f"paper chaos: kills={chaos.kills} starts={chaos.starts} seconds={chaos.seconds:.1f} "
        f"(uninterrupted {uninterrupted.seconds:.1f}) orders={len(venue.orders)} fills={len(venue.fills)} "
        f"resent_commands={venue.resent_commands} resent_items={venue.resent_items} "
        f"duplicate_submits={venue.duplicate_submits} connections={venue.connections} "
        f"reconciliations={len(reconciliations)} "
        f"items_replayed={[r.items_replayed for r in reconciliations]}"
    )


def test_a_remote_venue_without_a_socket_is_rejected_naming_the_setting(tmp_path: Path) -> None:
    raw = _config(tmp_path)
    raw["node"]["venue"] = {"mode": "remote"}
    config_file = tmp_path / "paper.yaml"
    config_file.write_text(yaml.safe_dump(raw))
    with pytest.raises(ConfigError, match=r"node\.venue\.socket"):
        load_config(PaperConfig, config_file)
