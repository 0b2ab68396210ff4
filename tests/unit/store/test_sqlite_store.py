"""The SQLite event store: the shared contract, plus what only a file shows (pragmas, schema,
a damaged archive, an interrupted archive run)."""

from __future__ import annotations

import json
import sqlite3
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
import zstandard
from hypothesis import given, settings
from hypothesis import strategies as st

from tradeloop.core.message import Message
from tradeloop.store import SqliteEventStore
from tradeloop.store.archive import INDEX_FILE, archive_before
from tradeloop.store.buffered import BufferedEventStore
from tradeloop.store.port import (
    ConcurrencyError,
    CorruptRecordError,
    Durability,
    ReadFilter,
    StoreError,
    stream_of,
)
from tradeloop.testkit import aapl_equity, es_future, make_quote
from tradeloop.testkit.store_files import (
    convert_to_row_layout,
    overwrite_stored_payload,
    rename_stored_type,
    stored_seqs,
)

from .contract import EventStoreContract, ProbeRecorded, StoreFactory, decoded, trading_cycle


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
        assert isinstance(store, SqliteEventStore)
        overwrite_stored_payload(store.path, seq, payload)

    def rename_type(self, store: BufferedEventStore, old: str, new: str) -> None:
        assert isinstance(store, SqliteEventStore)
        rename_stored_type(store.path, old, new)


@pytest.mark.parametrize(("durability", "synchronous"), [(Durability.EVENT, 2), (Durability.BATCH, 1)])
def test_the_file_is_in_wal_mode_with_synchronous_by_durability(
    tmp_path: Path, durability: Durability, synchronous: int
) -> None:
    with SqliteEventStore(tmp_path / "e.sqlite", durability=durability) as store:
        assert store._conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert store._conn.execute("PRAGMA synchronous").fetchone()[0] == synchronous


def test_the_schema_keeps_message_ids_unique_and_indexes_correlations(tmp_path: Path) -> None:
    path = tmp_path / "e.sqlite"
    messages = trading_cycle(1)
    with SqliteEventStore(path) as store:
        store.append(messages)
    conn = sqlite3.connect(path)
    try:
        ids = dict(conn.execute("SELECT message_id, seq FROM ids"))
        assert ids == {m.id: seq for seq, m in enumerate(messages, 1) if hasattr(m, "id")}
        correlated = conn.execute("SELECT correlation_id, first_seq FROM correlations").fetchall()
        chains = {m.correlation_id for m in messages if getattr(m, "correlation_id", None)}
        assert sorted(correlated) == sorted((chain, 3) for chain in chains)  # the one event block
        with pytest.raises(sqlite3.IntegrityError, match=r"ids\.message_id"):
            conn.execute("INSERT INTO ids SELECT message_id, seq + 100 FROM ids LIMIT 1")
        assert conn.execute(
            "SELECT first_seq, last_seq, count, kind FROM blocks ORDER BY kind"
        ).fetchall() == [
            (3, len(messages), len(messages) - 2, 0),  # the order's events
            (1, 2, 2, 1),  # a quote and a bar
        ]
    finally:
        conn.close()


def test_a_file_of_the_row_layout_is_read_numbered_on_and_deduplicated(tmp_path: Path) -> None:
    """A store written one row per record (before blocks) keeps working: its rows are read in
    order with the new blocks, its ids stay known, its streams number on, and truncation and
    archiving cut across both layouts."""
    path = tmp_path / "e.sqlite"
    old, new = trading_cycle(3), trading_cycle(2, seed=2, t0=10**12)
    with SqliteEventStore(path) as store:
        store.append(old)
    convert_to_row_layout(path)
    with SqliteEventStore(path, archive_dir=tmp_path / "archive") as store:
        assert decoded(store) == old
        repeated = store.append([m for m in old if hasattr(m, "id")])
        assert (repeated.appended, repeated.duplicates) == (0, 15)  # every command and event is known
        assert store.append(new).first_seq == len(old) + 1
        records = list(store.read())
        assert decoded(store) == old + new
        assert [r.seq for r in records] == list(range(1, len(old + new) + 1))
        stream = stream_of(old[0])  # the market stream, in rows and in a block
        in_stream = [m for m in old + new if stream_of(m) == stream]
        assert [r.version for r in records if r.stream_id == stream] == list(range(1, len(in_stream) + 1))
        assert decoded(store, ReadFilter(stream_id=stream)) == in_stream
        chain = old[4].correlation_id  # type: ignore[attr-defined]
        assert decoded(store, ReadFilter(correlation_id=chain)) == [
            m for m in old + new if getattr(m, "correlation_id", None) == chain
        ]
        archive_before(store, 10**18, segment_size=8)  # segments 1-8 .. 25-32 cut rows and a block
        assert decoded(store) == old + new
        assert store.truncate_after(33) == len(old + new) - 33
        assert decoded(store) == (old + new)[:33]
        assert store.append(new[-2:]).first_seq == 34
        assert store.verify().ok


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
        assert stored_seqs(path)[0] == 8
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


def test_an_archive_of_segment_format_1_is_still_read(tmp_path: Path) -> None:
    """Segments written before records carried their checksum (records as maps, index format 1)
    read as before, and the archive grows on from them."""
    messages = trading_cycle(3)
    path, folder = tmp_path / "e.sqlite", tmp_path / "archive"
    with SqliteEventStore(path, archive_dir=folder) as store:
        store.append(messages)
        archive_before(store, 10**18, segment_size=8)
    index = json.loads((folder / INDEX_FILE).read_text())
    for entry in index["segments"]:
        assert entry.pop("format") == 2
        file = folder / entry["file"]
        records = msgspec.msgpack.decode(zstandard.ZstdDecompressor().decompress(file.read_bytes()))
        fields = ("seq", "stream_id", "version", "type_name", "ts_event", "ts_init", "message_id",
                  "correlation_id", "causation_id", "payload")  # fmt: skip
        old = [dict(zip(fields, r[:10], strict=True)) for r in records]
        blob = zstandard.ZstdCompressor(write_checksum=True).compress(msgspec.msgpack.encode(old))
        file.write_bytes(blob)
        entry["size"] = len(blob)
    index["format"] = 1
    (folder / INDEX_FILE).write_text(json.dumps(index))
    with SqliteEventStore(path, archive_dir=folder) as store:
        assert decoded(store) == messages
        assert store.verify().ok
        more = trading_cycle(2, seed=5, t0=10**12)
        store.append(more)
        archive_before(store, 10**18, segment_size=8)
        assert decoded(store) == messages + more
    assert json.loads((folder / INDEX_FILE).read_text())["format"] == 2


def test_a_release_before_blocks_cannot_write_into_the_file(tmp_path: Path) -> None:
    """The old layout's writers insert into ``records``; a block-layout file refuses them, and
    a file from a newer layout is refused by this release."""
    path = tmp_path / "e.sqlite"
    with SqliteEventStore(path) as store:
        store.append(trading_cycle(1))
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 2
        with pytest.raises(sqlite3.IntegrityError, match="keeps its records in blocks"):
            conn.execute("INSERT INTO records SELECT 100, 's', 1, 't', 0, 0, NULL, NULL, NULL, x'00', 0")
        conn.execute("PRAGMA user_version = 3")
        conn.commit()
    finally:
        conn.close()
    with pytest.raises(StoreError, match="layout 3, newer than this tradeloop's"):
        SqliteEventStore(path)


def test_a_repair_that_fails_leaves_no_transaction_open(tmp_path: Path) -> None:
    path = tmp_path / "e.sqlite"
    messages = trading_cycle(3)
    with SqliteEventStore(path) as store:
        store.append(messages)
        store.flush()
        conn = sqlite3.connect(path)
        try:  # the event block's summary is unreadable: cutting the block cannot recount it
            conn.execute("UPDATE blocks SET summary = x'c1' WHERE kind = 0")
            conn.commit()
        finally:
            conn.close()
        with pytest.raises(CorruptRecordError, match="summary"):
            store.truncate_after(0)
        assert not store._conn.in_transaction
        other = sqlite3.connect(path, timeout=0.1)
        try:
            other.execute("BEGIN IMMEDIATE")  # the write lock is free
            other.execute("ROLLBACK")
        finally:
            other.close()


def test_a_stale_writer_after_another_cut_the_log_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "e.sqlite"
    messages = trading_cycle(2)
    with SqliteEventStore(path) as first, SqliteEventStore(path) as stale:
        first.append(messages)
        first.flush()
        stale.append(messages[:1] * 1)  # reloads nothing: numbers from its own counters (seq 1)
        with pytest.raises(ConcurrencyError):
            stale.flush()
        assert stale.last_seq() == len(messages)
        first.truncate_after(5)
        stale.append(messages[:1])  # seq 15: would leave 6..14 missing
        with pytest.raises(ConcurrencyError, match="cut the log"):
            stale.flush()
        assert first.verify().ok
        assert decoded(first) == messages[:5]


def test_a_block_moved_away_during_a_read_is_a_clear_error_not_damage(tmp_path: Path) -> None:
    path, folder = tmp_path / "e.sqlite", tmp_path / "archive"
    messages = trading_cycle(3)
    with SqliteEventStore(path, archive_dir=folder) as writer, SqliteEventStore(path) as reader:
        for i in range(0, len(messages), 7):  # a block of each kind per cycle
            writer.append(messages[i : i + 7])
            writer.flush()
        records = reader.read(ReadFilter(types=frozenset({"QuoteTick", "OrderFilled"})))
        next(records)  # the read has listed its blocks
        archive_before(writer, 10**18, segment_size=9)  # moves, cuts and rewrites blocks
        with pytest.raises(StoreError, match="archived or truncated by another connection"):
            list(records)
