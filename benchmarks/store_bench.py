"""Event store benchmarks: append and replay throughput of the SQLite and PostgreSQL backends.

    python benchmarks/store_bench.py                      # both backends, 200,000 events
    python benchmarks/store_bench.py -n 1000000 --backend sqlite

The workload is a realistic mix, built before the clock starts: about 70% market data (quotes,
trades and one-minute bars of two instruments) and 30% order and position events (a submit,
acceptance, fill, position update and account update per order, each order its own stream and
correlation id).

* ``bench_append``: a fresh store with ``BATCH`` durability (``batch_size`` 10,000) receives the
  mix in appends of 1,000 messages; the clock stops after the final flush.
* ``bench_replay``: the mix is stored first (untimed), then replayed twice: the records in
  sequence order with every checksum verified (what the store delivers to a replay's consumer:
  the rate judged against the target), and the same with every payload decoded into its
  message as well (``decoded_per_s``: what a consumer that decodes everything sees; decoding is
  msgspec building the message and its value objects, about 1 us a message whatever the store).

Targets (ISSUE 5): SQLite append >= 300,000/s and replay >= 1,000,000/s; PostgreSQL append
>= 100,000/s. The figures are printed, not judged. PostgreSQL is found through
``TRADELOOP_BENCH_PG_DSN`` (default ``postgresql://postgres@127.0.0.1:5432/test``); each run
uses a schema of its own and drops it.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import secrets
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tradeloop.core.message import Message
from tradeloop.model.events import PositionChanged
from tradeloop.store.buffered import BufferedEventStore
from tradeloop.store.port import Durability
from tradeloop.testkit import (
    aapl_equity,
    es_future,
    id_factory,
    make_bar,
    make_order_round,
    make_quote,
    make_trade,
)

TARGETS = {
    ("sqlite", "append"): 300_000,
    ("sqlite", "replay"): 1_000_000,
    ("postgres", "append"): 100_000,
}
PG_DSN = os.environ.get("TRADELOOP_BENCH_PG_DSN", "postgresql://postgres@127.0.0.1:5432/test")
APPEND_CHUNK = 1_000
BATCH_SIZE = 10_000
_MIX_CACHE: dict[tuple[int, int], list[Message]] = {}


def make_mix(n: int, seed: int = 7) -> list[Message]:
    """``n`` messages: ~70% market data, ~30% order and position events (cycles of five)."""
    key = (n, seed)
    if key in _MIX_CACHE:
        return _MIX_CACHE[key]
    rng = random.Random(seed)
    ids = id_factory(seed)
    instruments = [(es_future(), "5000.00", "5000.25"), (aapl_equity(), "187.10", "187.11")]
    out: list[Message] = []
    ts = 1_700_000_000_000_000_000
    orders = 0
    # A cycle of 5 events replaces one market-data draw with probability p: 5p / (5p + 1 - p)
    # = 0.3 gives p = 0.0789.
    while len(out) < n:
        ts += 1_000_000
        inst, bid, ask = instruments[rng.randrange(2)]
        if rng.random() >= 0.0789:
            kind = rng.random()
            if kind < 0.6:
                out.append(make_quote(inst, bid, ask, rng.randint(1, 9), rng.randint(1, 9), ts_ns=ts))
            elif kind < 0.9:
                out.append(make_trade(inst, bid, rng.randint(1, 5), ts_ns=ts, trade_id=f"X{len(out)}"))
            else:
                out.append(make_bar(inst, bid, ask, bid, ask, 50, ts_ns=ts))
            continue
        orders += 1
        out += make_order_round(
            inst,
            ask,
            ts_ns=ts,
            tag=str(orders),
            ids=ids,
            position_id=f"P-{inst.id}",
            position_quantity=orders,
            position_event=PositionChanged,
            commissions="1.25",
        )
    _MIX_CACHE[key] = out[:n]
    return _MIX_CACHE[key]


@contextlib.contextmanager
def _fresh_store(backend: str, **options: Any) -> Iterator[BufferedEventStore]:
    """A new, empty store of ``backend``, removed afterwards."""
    if backend == "sqlite":
        from tradeloop.store.sqlite_store import SqliteEventStore

        with tempfile.TemporaryDirectory() as tmp:
            store = SqliteEventStore(Path(tmp) / "events.sqlite", **options)
            try:
                yield store
            finally:
                store.close()
    elif backend == "postgres":
        import psycopg
        from psycopg import sql

        from tradeloop.store.postgres_store import PostgresEventStore

        schema = f"tl_bench_{secrets.token_hex(4)}"
        store = PostgresEventStore(PG_DSN, schema=schema, **options)
        try:
            yield store
        finally:
            store.close()
            with psycopg.connect(PG_DSN, autocommit=True) as conn:
                conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))
    else:
        raise ValueError(f"backend must be 'sqlite' or 'postgres', got {backend!r}")


def _append_all(store: BufferedEventStore, messages: list[Message]) -> None:
    for i in range(0, len(messages), APPEND_CHUNK):
        store.append(messages[i : i + APPEND_CHUNK])
    store.flush()


def bench_append(backend: str, n: int) -> dict[str, Any]:
    """Append ``n`` mixed messages to a fresh ``backend`` store (``BATCH``); events per second."""
    messages = make_mix(n)
    with _fresh_store(backend, durability=Durability.BATCH, batch_size=BATCH_SIZE) as store:
        t0 = time.perf_counter()
        _append_all(store, messages)
        seconds = time.perf_counter() - t0
        if store.last_seq() != n:
            raise RuntimeError(f"{backend}: appended {store.last_seq()} of {n} messages")
    return {
        "backend": backend,
        "scenario": "append",
        "events": n,
        "seconds": round(seconds, 3),
        "events_per_s": round(n / seconds),
        "target": TARGETS.get((backend, "append")),
    }


def bench_replay(backend: str, n: int) -> dict[str, Any]:
    """Store ``n`` mixed messages, then time reading them back (records only, and decoded)."""
    messages = make_mix(n)
    with _fresh_store(backend, durability=Durability.BATCH, batch_size=BATCH_SIZE) as store:
        _append_all(store, messages)
        t0 = time.perf_counter()
        count = sum(1 for _ in store.read())
        read_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        decoded = 0
        for record in store.read():
            record.decode()
            decoded += 1
        replay_s = time.perf_counter() - t0
        if count != n or decoded != n:
            raise RuntimeError(f"{backend}: read {count} and decoded {decoded} of {n} records")
    return {
        "backend": backend,
        "scenario": "replay",
        "events": n,
        "seconds": round(read_s, 3),
        "events_per_s": round(n / read_s),
        "decoded_seconds": round(replay_s, 3),
        "decoded_per_s": round(n / replay_s),
        "target": TARGETS.get((backend, "replay")),
    }


def _line(result: dict[str, Any]) -> str:
    target = result["target"]
    verdict = "" if target is None else f"  (target {target:,}/s)"
    extra = f"  decoded too {result['decoded_per_s']:,}/s" if "decoded_per_s" in result else ""
    return (
        f"{result['backend']:9s} {result['scenario']:7s} {result['events']:>9,} events  "
        f"{result['events_per_s']:>10,}/s{extra}{verdict}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("-n", "--events", type=int, default=200_000)
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    args = parser.parse_args(argv)
    backends = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
    t0 = time.perf_counter()
    make_mix(args.events)
    print(f"built {args.events:,} messages in {time.perf_counter() - t0:.1f} s", flush=True)
    for backend in backends:
        print(_line(bench_append(backend, args.events)), flush=True)
        print(_line(bench_replay(backend, args.events)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
