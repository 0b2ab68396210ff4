"""Rebuild benchmark: a node's state rebuilt from a 1,000,000-event store, with and without a snapshot.

    python benchmarks/replay_bench.py                 # 1,000,000 events
    python benchmarks/replay_bench.py -n 200000 --snapshot-every 50000

The store is recorded from a synthetic backtest (untimed): a random walk of one-minute bars
traded by a fast moving-average crossover with a stop-loss and trailing-stop method, so the log
holds the real mix - bars, orders and their lifecycle (submits, acceptances, modifies, cancels,
fills), positions, account updates, exit and risk events. The run is sized from a short pilot so
that the store holds about ``n`` records.

* ``full_s``: :func:`~tradeloop.runtime.projection.rebuild` of the whole log, no snapshot.
* ``snapshot_s``: restore the latest snapshot and replay the tail after it. Snapshots are taken
  every ``snapshot_every`` records, so the tail is between 0 and ``snapshot_every`` records;
  the benchmark takes the average case, a snapshot ``snapshot_every / 2`` records before the end.
* ``snapshot_save_s`` / ``snapshot_bytes``: the cost of taking and storing that snapshot.

Each rebuild is timed with only the store open (the previous projections are freed), as a
restarting node would start.

Both rebuilds are checked to give the same :class:`~tradeloop.runtime.projection.ProjectionState`.
"""

from __future__ import annotations

import argparse
import gc
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from tradeloop.config.loader import load_config
from tradeloop.model.objects import Money
from tradeloop.runtime.build import build_engine, make_instrument
from tradeloop.runtime.config import BacktestConfig
from tradeloop.runtime.projection import rebuild
from tradeloop.runtime.replay import record_into
from tradeloop.store.port import ReadFilter
from tradeloop.store.sqlite_store import SqliteEventStore

CONFIG = """
run: {name: rebuild-bench, seed: 11}
data:
  source: synthetic
  kind: bars
  instrument: {id: ABC.SIM, type: equity}
  synthetic: {count: 1000, seed: 5, volatility: 0.003}
venue: {starting_balance: 1000000, account_type: MARGIN, taker_fee: 0.0001, latency_ms: 1}
strategies:
  - class: tradeloop.strategy.samples:MovingAverageCrossover
    config: {instrument_id: ABC.SIM, fast: 3, slow: 8, quantity: 10, method: trend}
lifecycle:
  methods:
    trend:
      exits: {stop_loss_pct: 0.5, trailing_stop: {activation_pct: 0.2, distance_pct: 0.3}}
"""


def bench_config(bars: int) -> BacktestConfig:
    """The benchmark's backtest over ``bars`` synthetic bars."""
    base = yaml.safe_load(CONFIG)
    base["data"]["synthetic"]["count"] = bars
    return load_config(BacktestConfig, base=base)


def record_session(path: Path, n: int) -> tuple[BacktestConfig, int]:
    """Record a synthetic backtest of about ``n`` messages into a new store at ``path``;
    returns its config and the number of records."""
    pilot_bars = 20_000
    pilot = build_engine(bench_config(pilot_bars), event_log=None)
    pilot.run()
    per_bar = pilot.bus.stats().published
    ratio = sum(per_bar.values()) / pilot_bars
    cfg = bench_config(max(100, round(n / ratio)))
    engine = build_engine(cfg, event_log=None)
    with SqliteEventStore(path) as store:
        recorder = record_into(engine.bus, store, batch=10_000)
        engine.run()
        recorder.flush()
        return cfg, store.last_seq()


def bench_rebuild(n: int = 1_000_000, *, snapshot_every: int = 100_000) -> dict[str, Any]:
    """Rebuild a recorded store of about ``n`` events without and with a snapshot.

    Returns
    -------
    dict
        ``records``, ``applied`` (records that changed state), ``full_s``, ``full_rate``,
        ``snapshot_seq``, ``tail_records``, ``snapshot_s``, ``snapshot_save_s``,
        ``snapshot_bytes``, ``speedup`` and ``record_s`` (recording the store, untimed above).
    """
    with tempfile.TemporaryDirectory(prefix="tradeloop-rebuild-bench-") as folder:
        path = Path(folder) / "store.sqlite"
        started = time.perf_counter()
        cfg, records = record_session(path, n)
        record_s = time.perf_counter() - started
        assert cfg.data.instrument is not None
        instruments = [make_instrument(cfg.data.instrument)]
        balance = Money.from_decimal(cfg.venue.starting_balance, cfg.venue.currency)
        with SqliteEventStore(path) as store:
            started = time.perf_counter()
            full = rebuild(store, instruments=instruments, starting_balance=balance)
            full_s = time.perf_counter() - started
            full_state, applied = full.state(), full.records_applied
            del full  # each timing starts with only what a restarting node would hold
            gc.collect()
            snapshot_seq = max(0, records - snapshot_every // 2)
            head = rebuild(
                store,
                instruments=instruments,
                starting_balance=balance,
                where=ReadFilter(to_seq=snapshot_seq),
            )
            started = time.perf_counter()
            payload = head.snapshot()
            store.save_snapshot("bench", head.last_seq, payload)
            save_s = time.perf_counter() - started
            del head
            gc.collect()
            started = time.perf_counter()
            fast = rebuild(store, instruments=instruments, starting_balance=balance, snapshot_name="bench")
            snapshot_s = time.perf_counter() - started
            if fast.state() != full_state:
                differences = "; ".join(fast.state().differences(full_state)[:3])
                raise AssertionError(f"snapshot + tail differs from the full rebuild: {differences}")
    return {
        "records": records,
        "applied": applied,
        "full_s": round(full_s, 3),
        "full_rate": round(records / full_s),
        "snapshot_seq": snapshot_seq,
        "tail_records": fast.records_read,
        "snapshot_s": round(snapshot_s, 3),
        "snapshot_save_s": round(save_s, 3),
        "snapshot_bytes": len(payload),
        "speedup": round(full_s / snapshot_s, 1) if snapshot_s > 0 else None,
        "record_s": round(record_s, 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("-n", type=int, default=1_000_000, help="events in the store (about)")
    parser.add_argument("--snapshot-every", type=int, default=100_000, help="records between snapshots")
    args = parser.parse_args(argv)
    result = bench_rebuild(args.n, snapshot_every=args.snapshot_every)
    print(
        f"rebuild of {result['records']:,} records ({result['applied']:,} applied): "
        f"{result['full_s']:.2f} s without a snapshot ({result['full_rate']:,} records/s); "
        f"{result['snapshot_s']:.3f} s from a snapshot at seq {result['snapshot_seq']:,} + "
        f"{result['tail_records']:,} tail records ({result['speedup']}x); snapshot "
        f"{result['snapshot_bytes'] / 1e6:.1f} MB saved in {result['snapshot_save_s']:.2f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
