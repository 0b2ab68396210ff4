"""The SQLite store keeps market data (no message id) out of its partial indexes: its stream
versions are guarded by the batch-continues-the-log check and counted in ``stream_heads``."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from tradeloop.core.message import Message
from tradeloop.store import SqliteEventStore
from tradeloop.store.archive import archive_before
from tradeloop.store.port import ConcurrencyError, ReadFilter
from tradeloop.testkit import es_future, make_quote
from tradeloop.testkit.store_files import stored_seqs

from .contract import decoded, trading_cycle

ES = es_future()
STREAM = f"market-{ES.id}"


def quotes(n: int, *, t0: int = 1_000) -> list[Message]:
    return [make_quote(ES, "5000.00", "5000.25", 1 + i % 5, 2, ts_ns=t0 + i) for i in range(n)]


def test_a_stale_writer_of_market_data_only_gets_a_conflict_and_writes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "e.sqlite"
    with SqliteEventStore(path) as first, SqliteEventStore(path) as second:
        first.append(quotes(5))
        first.flush()
        second.append(quotes(3, t0=9_000))  # numbered seq 1..3, versions 1..3 from stale counters
        with pytest.raises(ConcurrencyError, match="another writer"):
            second.flush()
        assert decoded(first) == quotes(5)
        assert (second.last_seq(), second.stream_version(STREAM)) == (5, 5)


def test_a_stale_writer_is_refused_even_when_the_rows_it_collides_with_were_archived(
    tmp_path: Path,
) -> None:
    path, archive = tmp_path / "e.sqlite", tmp_path / "archive"
    with SqliteEventStore(path, archive_dir=archive) as first, SqliteEventStore(path) as stale:
        first.append(quotes(10))
        first.flush()
        archive_before(first, 10**18, segment_size=5)  # every live row moves to the archive
        assert stored_seqs(path) == []
        stale.append(quotes(2, t0=9_000))  # seq 1..2: no live row left to collide with
        with pytest.raises(ConcurrencyError, match="the log holds seq 10"):
            stale.flush()


def test_market_stream_versions_survive_reopening_and_truncation(tmp_path: Path) -> None:
    path = tmp_path / "e.sqlite"
    with SqliteEventStore(path) as store:
        store.append(quotes(4))
        store.append(trading_cycle(1))  # a quote and a bar of ES, then order events
    with SqliteEventStore(path) as store:
        assert store.stream_version(STREAM) == 6
        cut = store.truncate_after(2)
        assert cut == 2 + len(trading_cycle(1))
        assert store.stream_version(STREAM) == 2
        result = store.append(quotes(1, t0=50_000))
        assert result.first_seq == 3
        assert [(r.seq, r.version) for r in store.read(ReadFilter(stream_id=STREAM))] == [
            (1, 1),
            (2, 2),
            (3, 3),
        ]


def test_a_file_without_stream_heads_counts_its_market_versions_when_opened(tmp_path: Path) -> None:
    path = tmp_path / "e.sqlite"
    with SqliteEventStore(path) as store:
        store.append(quotes(7))
    conn = sqlite3.connect(path)
    try:
        conn.execute("DROP TABLE stream_heads")  # the layout before stream_heads existed
        conn.commit()
    finally:
        conn.close()
    with SqliteEventStore(path) as store:
        assert store.stream_version(STREAM) == 7
        assert store.append(quotes(1, t0=80_000)).first_seq == 8
        assert [r.version for r in store.read()] == list(range(1, 9))


def test_type_filters_find_events_and_market_data_alike(tmp_path: Path) -> None:
    messages = trading_cycle(3)
    with SqliteEventStore(tmp_path / "e.sqlite") as store:
        store.append(messages)
        for names in ({"OrderFilled"}, {"QuoteTick"}, {"OrderFilled", "QuoteTick"}, {"NoSuchType"}):
            expected = [m for m in messages if m.TYPE_NAME in names]
            assert decoded(store, ReadFilter(types=frozenset(names))) == expected, names
