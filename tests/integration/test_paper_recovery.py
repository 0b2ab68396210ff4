"""Crash recovery of the paper node, proven by chaos: ``tradeloop paper`` with a remote venue,
killed with SIGKILL at seeded random moments and restarted each time, ends exactly where an
uninterrupted paper run ends - same orders, fills, positions, P&L and event log apart from its
restart annotations - and the venue never executes an order twice nor loses a fill.

The venue server runs in its own process (:mod:`tradeloop.venues.simulated.server`) and keeps
running while the node dies; the node is the ``tradeloop paper`` command in a subprocess.
"""

from __future__ import annotations

import random
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tradeloop.config import load_config
from tradeloop.core.errors import ConfigError
from tradeloop.model.instruments import Instrument
from tradeloop.model.objects import Money
from tradeloop.runtime.build import load_data, venue_config
from tradeloop.runtime.config import PaperConfig
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


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory: pytest.TempPathFactory) -> PaperOutcome:
    outcome = _run_paper_session(tmp_path_factory.mktemp("paper-uninterrupted"), kills=0, seed=0)
    assert outcome.starts == 1
    return outcome


def test_uninterrupted_remote_paper_session_matches_the_venue(uninterrupted: PaperOutcome) -> None:
    assert uninterrupted.venue.fills, "the strategy must trade for the test to mean anything"
    assert uninterrupted.venue.sent == BARS - 1
    assert_store_matches_venue(
        uninterrupted.store, uninterrupted.venue, uninterrupted.instrument, uninterrupted.starting_cash
    )
    assert store_reconciliations(uninterrupted.store) == []


def test_paper_node_killed_at_random_moments_ends_exactly_like_an_uninterrupted_run(
    tmp_path: Path, uninterrupted: PaperOutcome
) -> None:
    chaos = _run_paper_session(tmp_path, kills=KILLS, seed=7)
    assert_store_matches_venue(chaos.store, chaos.venue, chaos.instrument, chaos.starting_cash)
    assert chaos.kills >= 3, f"only {chaos.kills} kills landed before the session ended"
    # The same final state as the run nobody killed: orders, fills, positions, P&L.
    assert (
        projection(chaos.store, chaos.instrument, chaos.starting_cash).differences(
            projection(uninterrupted.store, uninterrupted.instrument, uninterrupted.starting_cash)
        )
        == []
    )
    assert chaos.venue.fills == uninterrupted.venue.fills
    assert chaos.venue.orders == uninterrupted.venue.orders
    assert chaos.venue.cash_raw == uninterrupted.venue.cash_raw
    # Byte for byte the same event log, apart from the restart annotations.
    assert event_log(chaos.store) == event_log(uninterrupted.store)
    reconciliations = store_reconciliations(chaos.store)
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
