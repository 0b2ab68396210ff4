"""The one contract every EventStore backend passes.

A backend's test module subclasses :class:`EventStoreContract` and provides

* a ``make_store`` fixture: a factory ``make_store(**options) -> store`` that opens a store on
  the test's own storage (every call the same storage, so a second call is a reopen, a second
  reader or a second writer); the fixture closes whatever it opened;
* an ``other_store`` fixture: the same, on a second, separate storage;
* :meth:`EventStoreContract.overwrite_payload` and :meth:`EventStoreContract.rename_type`:
  raw edits of a stored row behind the store's back (a torn write, a log written before a
  class was renamed).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from pathlib import Path

import msgspec
import pytest

from tradeloop.core.message import Event, Message, register_alias
from tradeloop.model.data import Bar, QuoteTick
from tradeloop.model.enums import OrderSide
from tradeloop.model.events import OrderFilled
from tradeloop.store.archive import archive_before
from tradeloop.store.buffered import BufferedEventStore
from tradeloop.store.port import (
    AppendResult,
    ConcurrencyError,
    CorruptRecordError,
    Durability,
    EventStore,
    ReadFilter,
    StoreError,
    stream_of,
)
from tradeloop.testkit import (
    es_future,
    id_factory,
    make_bar,
    make_fill,
    make_order_round,
    make_quote,
    make_trade,
)

ES = es_future()
SECOND = 1_000_000_000
StoreFactory = Callable[..., BufferedEventStore]


class ProbeRecorded(Event, frozen=True, kw_only=True, gc=False):
    """A test event that is "renamed": records are rewritten to an old name with an alias."""

    TYPE_NAME = "tests.store.ProbeRecorded"
    note: str


OLD_PROBE_NAME = "tests.store.ProbeRecordedV1"
register_alias(OLD_PROBE_NAME, ProbeRecorded)


def trading_cycle(n: int, *, seed: int = 1, t0: int = SECOND) -> list[Message]:
    """``n`` cycles of real messages: a quote, a bar, a submit, an accept, a fill, a position
    and an account update, each cycle with its own correlation id and order."""
    ids = id_factory(seed)
    out: list[Message] = []
    for i in range(n):
        ts = t0 + i * 10 * SECOND
        out.append(make_quote(ES, "5000.00", "5000.25", 3, 4, ts_ns=ts))
        out.append(make_bar(ES, "5000", "5001", "4999.5", "5000.25", ts_ns=ts + 1))
        out += make_order_round(ES, "5000.25", ts_ns=ts + 2, tag=f"{seed}-{i}", ids=ids)
    return out


def decoded(store: BufferedEventStore, where: ReadFilter | None = None) -> list[Message]:
    return [e.decode() for e in store.read(where)]


class EventStoreContract(ABC):
    """Behaviour every :class:`~tradeloop.store.port.EventStore` backend must show."""

    @abstractmethod
    def overwrite_payload(self, store: BufferedEventStore, seq: int, payload: bytes) -> None:
        """Replace record ``seq``'s payload in storage, bypassing the store."""

    @abstractmethod
    def rename_type(self, store: BufferedEventStore, old: str, new: str) -> None:
        """Rewrite the type name of stored records from ``old`` to ``new``, bypassing the store."""

    # -- basics --------------------------------------------------------------------------------

    def test_backend_implements_the_port(self, make_store: StoreFactory) -> None:
        assert isinstance(make_store(), EventStore)

    def test_empty_store_has_no_records_versions_ids_or_snapshots(self, make_store: StoreFactory) -> None:
        store = make_store()
        assert store.last_seq() == 0
        assert list(store.read()) == []
        assert store.stream_version("order-O-1") == 0
        assert not store.contains("no-such-id")
        assert store.load_snapshot("portfolio") is None
        assert store.append([]) == AppendResult(0, 0, 0, 0)
        assert store.verify().ok

    def test_real_messages_round_trip_with_their_record_columns(self, make_store: StoreFactory) -> None:
        messages = trading_cycle(2)
        store = make_store()
        result = store.append(messages)
        assert result == AppendResult(len(messages), 0, 1, len(messages))
        records = list(store.read())
        assert [r.decode() for r in records] == messages
        assert [r.seq for r in records] == list(range(1, len(messages) + 1))
        for record, message in zip(records, messages, strict=True):
            assert type(record.payload) is bytes
            assert record.type_name == type(message).TYPE_NAME
            assert record.stream_id == stream_of(message)
            assert (record.ts_event, record.ts_init) == (message.ts_event, message.ts_init)
            assert record.message_id == getattr(message, "id", None)
            assert record.correlation_id == getattr(message, "correlation_id", None)
            assert record.causation_id == getattr(message, "causation_id", None)
        fill = next(r for r in records if r.type_name == "OrderFilled")
        assert isinstance(fill.decode(), OrderFilled)
        assert fill.stream_id == "order-O-1-0"
        quote = records[0]
        assert isinstance(quote.decode(), QuoteTick)
        assert quote.stream_id == f"market-{ES.id}"
        assert quote.message_id is None
        assert isinstance(records[1].decode(), Bar)

    def test_a_large_batch_round_trips(self, make_store: StoreFactory) -> None:
        messages = trading_cycle(60)  # 420 records: past any small-batch path
        store = make_store(batch_size=1_000)
        store.append(messages)
        store.flush()
        assert decoded(store) == messages

    # -- numbering -----------------------------------------------------------------------------

    def test_sequence_numbers_continue_without_gaps_across_appends_and_reopen(
        self, make_store: StoreFactory
    ) -> None:
        messages = trading_cycle(3)
        store = make_store(batch_size=4)
        first = store.append(messages[:5])
        second = store.append(messages[5:9])
        assert (first.first_seq, first.last_seq) == (1, 5)
        assert (second.first_seq, second.last_seq) == (6, 9)
        assert store.last_seq() == 9
        store.close()
        reopened = make_store()
        assert reopened.last_seq() == 9
        third = reopened.append(messages[9:])
        assert (third.first_seq, third.last_seq) == (10, len(messages))
        assert [r.seq for r in reopened.read()] == list(range(1, len(messages) + 1))

    def test_stream_versions_count_per_stream_and_continue_after_reopen(
        self, make_store: StoreFactory
    ) -> None:
        messages = trading_cycle(2)
        store = make_store()
        store.append(messages)
        records = list(store.read())
        seen: dict[str, int] = {}
        for record in records:
            seen[record.stream_id] = seen.get(record.stream_id, 0) + 1
            assert record.version == seen[record.stream_id]
        # Submit, accept and fill of one order share its stream.
        assert seen["order-O-1-0"] == 3
        assert seen[f"market-{ES.id}"] == 4
        assert seen["account-SIM-001"] == 2
        assert store.stream_version("order-O-1-1") == 3
        store.close()
        reopened = make_store()
        assert reopened.stream_version(f"market-{ES.id}") == 4
        reopened.append([make_trade(ES, "5000", ts_ns=99 * SECOND)])
        last = list(reopened.read(ReadFilter(from_seq=reopened.last_seq())))
        assert (last[0].stream_id, last[0].version) == (f"market-{ES.id}", 5)

    # -- idempotency ---------------------------------------------------------------------------

    def test_a_stored_message_id_is_skipped_and_counted(self, make_store: StoreFactory) -> None:
        messages = trading_cycle(1)
        store = make_store(durability=Durability.EVENT)
        store.append(messages)
        again = store.append(messages[2:])  # the five events again
        assert again == AppendResult(0, 5, 0, 0)
        assert store.last_seq() == len(messages)
        assert store.contains(messages[2].id)  # type: ignore[attr-defined]

    def test_a_repeated_id_within_one_append_and_in_the_unflushed_buffer_is_skipped(
        self, make_store: StoreFactory
    ) -> None:
        fill = make_fill(ES, OrderSide.SELL, 2, "5000.5", ids=id_factory(9))
        other = make_fill(ES, OrderSide.SELL, 1, "5000.5", ids=id_factory(10))
        store = make_store(batch_size=100)
        assert store.append([fill, fill, other]) == AppendResult(2, 1, 1, 2)
        assert store.contains(fill.id)  # buffered counts as stored
        assert store.append([other, fill]) == AppendResult(0, 2, 0, 0)
        store.flush()
        assert decoded(store) == [fill, other]

    def test_ids_with_quotes_commas_and_backslashes_are_matched_exactly(
        self, make_store: StoreFactory
    ) -> None:
        odd = ['a"b', "c,d", "e\\f", "{g}", "h i", "NULL"]
        probes = [ProbeRecorded(ts_event=1, ts_init=1, id=i, correlation_id="c", note=i) for i in odd]
        store = make_store(durability=Durability.EVENT)
        assert store.append(probes).appended == len(odd)
        assert store.append(probes).duplicates == len(odd)
        assert all(store.contains(i) for i in odd)
        assert not store.contains("a")
        assert [r.message_id for r in store.read()] == odd

    def test_ids_stay_known_after_reopen(self, make_store: StoreFactory) -> None:
        messages = trading_cycle(1)
        store = make_store()
        store.append(messages)
        store.close()
        reopened = make_store()
        result = reopened.append(messages)
        assert result.duplicates == 5
        assert result.appended == 2  # the quote and the bar: market data has no id
        assert reopened.last_seq() == len(messages) + 2

    def test_market_data_is_never_deduplicated(self, make_store: StoreFactory) -> None:
        quote = make_quote(ES, "5000", "5000.25", ts_ns=5 * SECOND)
        bar = make_bar(ES, "5000", "5000", "5000", "5000", ts_ns=6 * SECOND)
        store = make_store()
        assert store.append([quote, quote, bar]).appended == 3
        assert store.append([quote, bar]).appended == 2
        assert decoded(store) == [quote, quote, bar, quote, bar]

    # -- reads ---------------------------------------------------------------------------------

    def test_read_filters_by_seq_time_type_stream_and_correlation(self, make_store: StoreFactory) -> None:
        messages = trading_cycle(4)
        store = make_store()
        store.append(messages)
        everything = list(store.read())

        def seqs(where: ReadFilter) -> list[int]:
            return [r.seq for r in store.read(where)]

        assert seqs(ReadFilter(from_seq=5, to_seq=9)) == [5, 6, 7, 8, 9]
        assert seqs(ReadFilter(from_seq=27)) == [27, 28]
        assert seqs(ReadFilter(from_seq=9, to_seq=8)) == []
        t1, t2 = messages[7].ts_event, messages[14].ts_event  # the second and third cycle's quotes
        assert seqs(ReadFilter(from_ts=t1, to_ts=t2)) == list(range(8, 15))  # to_ts is exclusive
        bars = seqs(ReadFilter(types=frozenset({"Bar"})))
        assert bars == [r.seq for r in everything if r.type_name == "Bar"]
        assert len(bars) == 4
        fills_or_bars = seqs(ReadFilter(types=frozenset({"Bar", "OrderFilled"})))
        assert len(fills_or_bars) == 8
        assert seqs(ReadFilter(types=frozenset())) == []
        assert seqs(ReadFilter(stream_id="order-O-1-2")) == [17, 18, 19]
        corr = messages[2].correlation_id  # type: ignore[attr-defined]
        assert seqs(ReadFilter(correlation_id=corr)) == [3, 4, 5, 6, 7]
        assert seqs(ReadFilter(correlation_id=corr, types=frozenset({"OrderFilled"}), to_seq=5)) == [5]

    def test_reading_in_small_pages_returns_every_record_once(self, make_store: StoreFactory) -> None:
        messages = trading_cycle(3)
        store = make_store()
        store.append(messages)
        assert [r.decode() for r in store.read(batch_size=2)] == messages
        assert [r.seq for r in store.read(ReadFilter(stream_id=f"market-{ES.id}"), batch_size=4)] == [
            1,
            2,
            8,
            9,
            15,
            16,
        ]

    def test_bad_read_arguments_are_refused(self, make_store: StoreFactory) -> None:
        store = make_store()
        with pytest.raises(ValueError, match="from_seq"):
            store.read(ReadFilter(from_seq=0))
        with pytest.raises(ValueError, match="batch_size"):
            store.read(batch_size=0)
        with pytest.raises(TypeError, match="Message"):
            store.append(["not a message"])  # type: ignore[list-item]

    def test_an_append_that_fails_part_way_leaves_the_store_as_it_was(self, make_store: StoreFactory) -> None:
        good = trading_cycle(1)
        unencodable = msgspec.structs.replace(good[0], bid_size=object())  # type: ignore[type-var]
        store = make_store(durability=Durability.EVENT)
        with pytest.raises(TypeError):
            store.append([*good, unencodable])
        assert store.last_seq() == 0
        assert store.stream_version(stream_of(good[0])) == 0
        assert not store.contains(good[2].id)  # type: ignore[attr-defined]
        assert list(store.read()) == []
        result = store.append(good)
        assert (result.first_seq, result.appended, result.duplicates) == (1, len(good), 0)
        assert decoded(store) == good
        assert store.verify().ok

    def test_types_may_be_given_as_any_collection_of_names(self, make_store: StoreFactory) -> None:
        messages = trading_cycle(2)
        store = make_store()
        store.append(messages)
        fills = [m for m in messages if isinstance(m, OrderFilled)]
        for types in (["OrderFilled"], ("OrderFilled",), {"OrderFilled"}):
            assert decoded(store, ReadFilter(types=types)) == fills  # type: ignore[arg-type]

    def test_a_renamed_type_is_read_through_its_alias(self, make_store: StoreFactory) -> None:
        probe = ProbeRecorded(ts_event=1, ts_init=1, id="probe-1", correlation_id="c-1", note="kept")
        store = make_store()
        store.append([probe])
        store.flush()
        self.rename_type(store, ProbeRecorded.TYPE_NAME, OLD_PROBE_NAME)
        (record,) = store.read()
        assert record.type_name == OLD_PROBE_NAME
        assert record.decode() == probe

    def test_a_type_without_a_registered_name_fails_to_decode_naming_the_record(
        self, make_store: StoreFactory
    ) -> None:
        store = make_store()
        store.append(trading_cycle(1))
        store.flush()
        self.rename_type(store, "OrderAccepted", "tests.store.NeverRegistered")
        record = next(r for r in store.read() if r.type_name == "tests.store.NeverRegistered")
        with pytest.raises(CorruptRecordError, match=rf"record {record.seq}: unknown message type"):
            record.decode()

    # -- durability ----------------------------------------------------------------------------

    def test_batch_store_records_survive_flush_close_and_reopen(self, make_store: StoreFactory) -> None:
        messages = trading_cycle(2)
        store = make_store(durability=Durability.BATCH, batch_size=1_000)
        store.append(messages[:7])
        store.flush()
        store.append(messages[7:])  # still buffered: close flushes it
        store.close()
        assert decoded(make_store()) == messages

    def test_batch_store_commits_by_itself_when_a_batch_is_full(self, make_store: StoreFactory) -> None:
        messages = trading_cycle(1)
        writer = make_store(durability=Durability.BATCH, batch_size=3)
        reader = make_store()
        writer.append(messages[:2])
        assert list(reader.read()) == []  # buffered, not committed
        writer.append(messages[2:3])
        assert [r.seq for r in reader.read()] == [1, 2, 3]

    def test_event_store_records_are_visible_to_a_second_reader_at_once(
        self, make_store: StoreFactory
    ) -> None:
        messages = trading_cycle(1)
        writer = make_store(durability=Durability.EVENT)
        reader = make_store()
        for i, message in enumerate(messages, start=1):
            writer.append([message])
            assert [r.decode() for r in reader.read(ReadFilter(from_seq=i))] == [message]

    def test_interval_store_commits_when_the_interval_has_passed(self, make_store: StoreFactory) -> None:
        now = [100.0]
        writer = make_store(durability=Durability.INTERVAL, interval_s=2.0, monotonic=lambda: now[0])
        reader = make_store()
        writer.append(trading_cycle(1))
        writer.maybe_flush()
        assert list(reader.read()) == []
        now[0] += 2.5
        writer.maybe_flush()
        assert reader.read().__next__().seq == 1
        now[0] += 3.0
        writer.append([make_trade(ES, "5000", ts_ns=SECOND)])  # the append itself notices the interval
        assert sum(1 for _ in reader.read()) == 8

    # -- snapshots -----------------------------------------------------------------------------

    def test_snapshots_are_saved_loaded_and_replaced(self, make_store: StoreFactory) -> None:
        store = make_store(batch_size=1_000)
        store.append(trading_cycle(2))
        store.save_snapshot("portfolio", 7, b"state after 7")
        store.save_snapshot("orders", 3, b"orders after 3")
        assert store.load_snapshot("portfolio") == (7, b"state after 7")
        store.save_snapshot("portfolio", 14, b"state after 14")
        store.close()
        reopened = make_store()
        assert reopened.load_snapshot("portfolio") == (14, b"state after 14")
        assert reopened.load_snapshot("orders") == (3, b"orders after 3")
        assert reopened.last_seq() == 14  # the snapshot flushed the records it describes

    def test_a_snapshot_past_the_log_or_without_a_name_is_refused(self, make_store: StoreFactory) -> None:
        store = make_store()
        store.append(trading_cycle(1))
        with pytest.raises(ValueError, match="last seq 7"):
            store.save_snapshot("portfolio", 8, b"x")
        with pytest.raises(ValueError, match="name"):
            store.save_snapshot("", 1, b"x")

    # -- concurrency and lifecycle -------------------------------------------------------------

    def test_a_second_writer_of_the_same_stream_version_gets_a_conflict_and_writes_nothing(
        self, make_store: StoreFactory
    ) -> None:
        ours, theirs = trading_cycle(1, seed=1), trading_cycle(1, seed=2)
        first = make_store(batch_size=100)
        second = make_store(batch_size=100)
        first.append(ours)
        first.flush()
        second.append(theirs)  # numbered 1..7 from its stale counters
        with pytest.raises(ConcurrencyError, match="another writer"):
            second.flush()
        assert decoded(first) == ours  # nothing of the losing batch was written
        assert second.last_seq() == len(ours)  # counters reloaded from storage
        assert second.stream_version(f"market-{ES.id}") == 2
        result = second.append(theirs)  # the retry numbers after the winner's records
        second.flush()
        assert (result.first_seq, result.last_seq) == (8, 14)
        assert decoded(first) == ours + theirs

    def test_close_is_idempotent_and_a_closed_store_refuses_use(self, make_store: StoreFactory) -> None:
        store = make_store()
        store.append(trading_cycle(1))
        store.close()
        store.close()
        assert store.closed
        for use in (
            lambda: store.append(trading_cycle(1)),
            lambda: store.read(),
            store.flush,
            store.maybe_flush,
            lambda: store.contains("x"),
            lambda: store.save_snapshot("p", 1, b""),
            lambda: store.load_snapshot("p"),
        ):
            with pytest.raises(StoreError, match="closed"):
                use()

    # -- corruption ----------------------------------------------------------------------------

    def test_a_corrupted_payload_is_reported_by_seq_after_the_good_records(
        self, make_store: StoreFactory
    ) -> None:
        messages = trading_cycle(2)
        store = make_store()
        store.append(messages)
        store.flush()
        payload = next(r.payload for r in store.read(ReadFilter(from_seq=12, to_seq=12)))
        self.overwrite_payload(store, 12, payload[:-5] + b"\xff" * 5)
        reader = store.read(batch_size=5)
        good = [next(reader) for _ in range(11)]
        assert [r.decode() for r in good] == messages[:11]
        with pytest.raises(CorruptRecordError, match="record 12"):
            next(reader)

    def test_verify_and_truncate_recover_everything_before_a_torn_tail(
        self, make_store: StoreFactory
    ) -> None:
        messages = trading_cycle(2)
        store = make_store()
        store.append(messages)
        store.save_snapshot("portfolio", 13, b"after 13")
        store.save_snapshot("orders", 10, b"after 10")
        payload = next(r.payload for r in store.read(ReadFilter(from_seq=12, to_seq=12)))
        self.overwrite_payload(store, 12, payload[: len(payload) // 2])  # a cut write
        report = store.verify()
        assert not report.ok
        assert (report.first_bad_seq, report.good, report.last_seq) == (12, 11, 14)
        assert report.reason is not None
        assert "checksum" in report.reason
        assert store.truncate_after(report.good) == 3
        assert store.verify().ok
        assert decoded(store) == messages[:11]
        assert store.load_snapshot("portfolio") is None  # it described records that are gone
        assert store.load_snapshot("orders") == (10, b"after 10")
        result = store.append(messages[11:])  # recovery goes on from the last good record
        assert (result.first_seq, result.appended, result.duplicates) == (12, 3, 0)
        assert decoded(store) == messages

    def test_verify_reports_a_payload_that_does_not_decode(self, make_store: StoreFactory) -> None:
        store = make_store()
        store.append(trading_cycle(1))
        store.flush()
        self.rename_type(store, "PositionOpened", "OrderAccepted")  # checksum fine, shape wrong
        report = store.verify()
        assert (report.first_bad_seq, report.good) == (6, 5)
        assert store.verify(decode=False).ok

    # -- retention -----------------------------------------------------------------------------

    def test_reads_across_archive_and_live_equal_the_reads_before_archiving(
        self, make_store: StoreFactory, tmp_path: Path
    ) -> None:
        messages = trading_cycle(6)  # 42 records, 10 s per cycle
        store = make_store(archive_dir=tmp_path / "archive")
        store.append(messages)
        filters = [
            None,
            ReadFilter(from_seq=5, to_seq=30),
            ReadFilter(from_ts=messages[10].ts_event, to_ts=messages[33].ts_event),
            ReadFilter(types=frozenset({"OrderFilled", "Bar"})),
            ReadFilter(stream_id=f"market-{ES.id}"),
            ReadFilter(correlation_id=messages[16].correlation_id),  # type: ignore[attr-defined]
        ]
        before = [list(store.read(f)) for f in filters]
        cutoff = messages[35].ts_event  # records 1..35 are older
        report = archive_before(store, cutoff, tmp_path / "archive", segment_size=10)
        assert (report.archived_through, report.records, len(report.segments)) == (30, 30, 3)
        assert [list(store.read(f)) for f in filters] == before
        store.close()

        reopened = make_store(archive_dir=tmp_path / "archive")
        assert [list(reopened.read(f, batch_size=7)) for f in filters] == before
        assert reopened.last_seq() == 42
        assert reopened.stream_version("order-O-1-0") == 3
        again = reopened.append(messages[:7])  # ids that now live in the archive
        assert (again.appended, again.duplicates) == (2, 5)
        assert reopened.contains(messages[2].id)  # type: ignore[attr-defined]
        assert reopened.verify().ok

    def test_archiving_numbers_on_as_if_nothing_moved(self, make_store: StoreFactory, tmp_path: Path) -> None:
        messages = trading_cycle(4)
        store = make_store(archive_dir=tmp_path / "archive")
        store.append(messages[:14])
        report = archive_before(store, 10**18, segment_size=7)
        assert report.archived_through == 14
        assert list(store.read(ReadFilter(from_seq=15))) == []
        result = store.append(messages[14:])
        assert (result.first_seq, result.last_seq) == (15, 28)
        records = list(store.read())
        assert [r.seq for r in records] == list(range(1, 29))
        assert [r.decode() for r in records] == messages
        market = [r.version for r in records if r.stream_id == f"market-{ES.id}"]
        assert market == list(range(1, 9))

    def test_archiving_moves_only_whole_segments_older_than_the_cutoff(
        self, make_store: StoreFactory, tmp_path: Path
    ) -> None:
        messages = trading_cycle(3)  # 21 records
        store = make_store(archive_dir=tmp_path / "archive")
        store.append(messages)
        nothing = archive_before(store, messages[5].ts_event, segment_size=8)  # segment 1..8 too new
        assert nothing.records == 0
        assert store.archive is not None
        assert store.archive.last_seq() == 0
        report = archive_before(store, 10**18, segment_size=8)  # 17..21 is not a whole segment
        assert report.archived_through == 16
        assert decoded(store) == messages

    def test_a_store_with_archived_records_needs_its_archive_folder(
        self, make_store: StoreFactory, tmp_path: Path
    ) -> None:
        store = make_store(archive_dir=tmp_path / "archive")
        store.append(trading_cycle(2))
        archive_before(store, 10**18, segment_size=5)
        store.close()
        with pytest.raises(StoreError, match="archive_dir"):
            make_store()
        with pytest.raises(StoreError, match="segments are missing"):
            make_store(archive_dir=tmp_path / "elsewhere")

    def test_another_store_s_archive_folder_is_refused(
        self, make_store: StoreFactory, tmp_path: Path, other_store: StoreFactory
    ) -> None:
        theirs = other_store(archive_dir=tmp_path / "archive")
        theirs.append(trading_cycle(2, seed=5))
        archive_before(theirs, 10**18, segment_size=5)
        ours = make_store()
        ours.append(trading_cycle(2))
        ours.close()
        with pytest.raises(StoreError, match="segments of another store"):
            make_store(archive_dir=tmp_path / "archive")
        assert len(decoded(make_store())) == 14  # nothing of ours was touched

    def test_archiving_needs_an_archive_folder(self, make_store: StoreFactory, tmp_path: Path) -> None:
        store = make_store()
        with pytest.raises(StoreError, match="archive_dir"):
            archive_before(store, 10**18)
        archived = make_store(archive_dir=tmp_path / "a")
        with pytest.raises(ValueError, match="not the store's archive folder"):
            archive_before(archived, 10**18, tmp_path / "b")
