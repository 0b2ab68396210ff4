"""The SQLite event store: the shared contract, plus what only a file shows (pragmas, schema,
a damaged archive, an interrupted archive run)."""

from __future__ import annotations

import sqlite3
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tradeloop.core.message import Message
from tradeloop.store import SqliteEventStore
from tradeloop.store.archive import INDEX_FILE, archive_before
from tradeloop.store.buffered import BufferedEventStore
from tradeloop.store.port import CorruptRecordError, Durability, StoreError
from tradeloop.testkit import aapl_equity, es_future, make_quote

from .contract import EventStoreContract, ProbeRecorded, StoreFactory, decoded, trading_cycle


def _raw(store: BufferedEventStore) -> sqlite3.Connection:
    assert isinstance(store, SqliteEventStore)
    return sqlite3.connect(store.path, isolation_level=None)


def _factory(path: Path) -> Iterator[StoreFactory]:
    opened: list[SqliteEventStore] = []

    def make(**options: Any) -> SqliteEventStore:
        store = SqliteEventStore(path, **options)
        opened.append(store)
        return store

    yield make
    for store in opened:
        store.close()


class TestSqliteEventStore(EventStoreContract):
    @pytest.fixture
    def make_store(self, tmp_path: Path) -> Iterator[StoreFactory]:
        yield from _factory(tmp_path / "events.sqlite")

    @pytest.fixture
    def other_store(self, tmp_path: Path) -> Iterator[StoreFactory]:
        yield from _factory(tmp_path / "other.sqlite")

    def overwrite_payload(self, store: BufferedEventStore, seq: int, payload: bytes) -> None:
        conn = _raw(store)
        try:
            conn.execute("UPDATE records SET payload = ? WHERE seq = ?", (payload, seq))
        finally:
            conn.close()

    def rename_type(self, store: BufferedEventStore, old: str, new: str) -> None:
        conn = _raw(store)
        try:
            conn.execute("UPDATE records SET type_name = ? WHERE type_name = ?", (new, old))
        finally:
            conn.close()


@pytest.mark.parametrize(("durability", "synchronous"), [(Durability.EVENT, 2), (Durability.BATCH, 1)])
def test_the_file_is_in_wal_mode_with_synchronous_by_durability(
    tmp_path: Path, durability: Durability, synchronous: int
) -> None:
    with SqliteEventStore(tmp_path / "e.sqlite", durability=durability) as store:
        assert store._conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert store._conn.execute("PRAGMA synchronous").fetchone()[0] == synchronous


def test_the_schema_keeps_unique_stream_versions_and_message_ids(tmp_path: Path) -> None:
    path = tmp_path / "e.sqlite"
    with SqliteEventStore(path) as store:
        store.append(trading_cycle(1))
    conn = sqlite3.connect(path)
    try:
        indexes = {row[1]: row for row in conn.execute("PRAGMA index_list(records)")}
        unique = {name for name, row in indexes.items() if row[2]}
        assert "records_message_id" in unique
        assert indexes["records_message_id"][4] == 1  # partial: market data has no id
        assert "records_stream_version" in unique
        assert indexes["records_stream_version"][4] == 1  # partial: market data is kept apart
        assert {"records_ts_event", "records_correlation_id", "records_type_name"} <= set(indexes)
        with pytest.raises(sqlite3.IntegrityError, match=r"stream_id, records\.version"):
            conn.execute(
                "INSERT INTO records SELECT seq + 100, stream_id, version, type_name, ts_event, ts_init, "
                "'another-id', NULL, NULL, payload, checksum FROM records WHERE message_id IS NOT NULL "
                "LIMIT 1"
            )
    finally:
        conn.close()


def test_a_file_that_is_not_a_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "e.sqlite"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(StoreError, match="not a usable event store"):
        SqliteEventStore(path)


def test_bad_options_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="batch_size"):
        SqliteEventStore(tmp_path / "e.sqlite", batch_size=0)
    with pytest.raises(ValueError, match="durability must be one of"):
        SqliteEventStore(tmp_path / "e.sqlite", durability="sometimes")
    with pytest.raises(ValueError, match="interval_s"):
        SqliteEventStore(tmp_path / "e.sqlite", interval_s=0)


def test_a_damaged_archive_segment_is_reported_with_its_records(tmp_path: Path) -> None:
    messages = trading_cycle(2)
    with SqliteEventStore(tmp_path / "e.sqlite", archive_dir=tmp_path / "archive") as store:
        store.append(messages)
        (segment,) = archive_before(store, 10**18, segment_size=10).segments
        blob = (tmp_path / "archive" / segment.file).read_bytes()
        (tmp_path / "archive" / segment.file).write_bytes(blob[:20] + bytes(len(blob) - 20))
        with pytest.raises(CorruptRecordError, match=r"record 1: archived segment .* is damaged"):
            list(store.read())
        report = store.verify()
        assert (report.first_bad_seq, report.good) == (1, 0)


def test_an_archive_run_stopped_after_writing_its_segment_is_finished_on_reopen(tmp_path: Path) -> None:
    messages = trading_cycle(2)
    path, folder = tmp_path / "e.sqlite", tmp_path / "archive"
    with SqliteEventStore(path, archive_dir=folder) as store:
        store.append(messages)
        store.flush()
        assert store.archive is not None
        # The segment and the index are written, then the run dies before the live rows go.
        store.archive.add(list(store.read())[:7])
        assert decoded(store) == messages  # the live copies of 1..7 are skipped
    with SqliteEventStore(path, archive_dir=folder) as reopened:
        assert reopened._conn.execute("SELECT MIN(seq) FROM records").fetchone()[0] == 8
        assert decoded(reopened) == messages
        assert reopened.append(messages).duplicates == 10  # ids of archived and live records


def test_the_archive_index_lists_segments_in_order(tmp_path: Path) -> None:
    with SqliteEventStore(tmp_path / "e.sqlite", archive_dir=tmp_path / "archive") as store:
        store.append(trading_cycle(3))
        report = archive_before(store, 10**18, segment_size=5)
    assert [(s.first_seq, s.last_seq) for s in report.segments] == [(1, 5), (6, 10), (11, 15), (16, 20)]
    assert (tmp_path / "archive" / INDEX_FILE).is_file()
    assert all((tmp_path / "archive" / s.file).stat().st_size == s.size for s in report.segments)


_STEP = st.one_of(
    st.tuples(st.just("event"), st.integers(0, 6)),  # an event with one of a few ids (repeats happen)
    st.tuples(st.just("quote"), st.integers(0, 1)),
    st.tuples(st.just("flush"), st.just(0)),
    st.tuples(st.just("reopen"), st.just(0)),
)


@settings(max_examples=40)
@given(steps=st.lists(_STEP, max_size=30), batch_size=st.integers(1, 5))
def test_numbering_and_idempotency_match_a_simple_model(
    steps: list[tuple[str, int]], batch_size: int
) -> None:
    """Whatever the mix of appends, repeats, flushes and reopens: sequence numbers run from 1
    without gaps, each id is stored once, and every stream's versions run from 1."""
    instruments = [es_future(), aapl_equity()]
    expected: list[Message] = []
    stored_ids: set[str] = set()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "e.sqlite"
        store = SqliteEventStore(path, batch_size=batch_size)
        try:
            for i, (kind, n) in enumerate(steps):
                if kind == "flush":
                    store.flush()
                elif kind == "reopen":
                    store.close()
                    store = SqliteEventStore(path, batch_size=batch_size)
                else:
                    message: Message
                    if kind == "event":
                        message = ProbeRecorded(
                            ts_event=i, ts_init=i, id=f"id-{n}", correlation_id="c", note=""
                        )
                    else:
                        message = make_quote(instruments[n], "100", "101", ts_ns=i + 1)
                    result = store.append([message])
                    fresh = kind == "quote" or message.id not in stored_ids  # type: ignore[attr-defined]
                    assert result.appended == int(fresh)
                    if fresh:
                        assert result.first_seq == len(expected) + 1
                        expected.append(message)
                        if kind == "event":
                            stored_ids.add(message.id)  # type: ignore[attr-defined]
            records = list(store.read())
        finally:
            store.close()
    assert [r.seq for r in records] == list(range(1, len(expected) + 1))
    assert [r.decode() for r in records] == expected
    versions: dict[str, int] = {}
    for record in records:
        versions[record.stream_id] = versions.get(record.stream_id, 0) + 1
        assert record.version == versions[record.stream_id]
