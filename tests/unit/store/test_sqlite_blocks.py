"""The SQLite store keeps records in blocks (:mod:`tradeloop.store.blocks`): reads, filters,
truncation, archiving and damage across block boundaries."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from tradeloop.core.message import Message
from tradeloop.store import SqliteEventStore
from tradeloop.store.archive import archive_before
from tradeloop.store.blocks import BLOCK_RECORDS, EVENTS, MARKET
from tradeloop.store.port import CorruptRecordError, ReadFilter, stream_of
from tradeloop.testkit.store_files import overwrite_stored_payload, rename_stored_type, stored_seqs

from .contract import ProbeRecorded, decoded, trading_cycle

CYCLE = len(trading_cycle(1))  # records per cycle: a quote, a bar and an order's five events


def correlation(message: Message) -> str | None:
    return getattr(message, "correlation_id", None)


@pytest.fixture(scope="module")
def messages() -> list[Message]:
    """Two blocks of events and one of market data; two events first put the boundary of the
    event blocks inside a trade's chain."""
    probes: list[Message] = [
        ProbeRecorded(ts_event=1, ts_init=1, id=f"probe-{i}", correlation_id=f"probe-{i}", note="")
        for i in range(2)
    ]
    return probes + trading_cycle(2 * BLOCK_RECORDS // CYCLE + 3)


def events_of(messages: list[Message]) -> list[Message]:
    return [m for m in messages if hasattr(m, "id")]


def seq_of(messages: list[Message], message: Message) -> int:
    return next(i for i, m in enumerate(messages, 1) if m is message)


def chain_at(messages: list[Message], seq: int) -> str | None:
    """The correlation id with records up to ``seq`` and after it, if any (seq ``i`` is
    ``messages[i - 1]``)."""
    before = {correlation(m) for m in messages[:seq]}
    after = {correlation(m) for m in messages[seq:]}
    chains = (before & after) - {None}
    return chains.pop() if chains else None


def straddling(messages: list[Message], seq: int) -> str:
    chain = chain_at(messages, seq)
    assert chain is not None
    return chain


def blocks_of(path: Path, kind: int) -> list[tuple[int, int, int]]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute(
            "SELECT first_seq, last_seq, count FROM blocks WHERE kind = ? ORDER BY first_seq", (kind,)
        ).fetchall()
    finally:
        conn.close()


def test_a_large_batch_is_stored_in_full_blocks_of_each_kind_and_read_back_in_order(
    tmp_path: Path, messages: list[Message]
) -> None:
    path = tmp_path / "e.sqlite"
    events = events_of(messages)
    market = [m for m in messages if not hasattr(m, "id")]
    with SqliteEventStore(path, batch_size=len(messages)) as store:
        store.append(messages)
        store.flush()
        n = len(messages)
        boundary = seq_of(messages, events[BLOCK_RECORDS])
        assert blocks_of(path, EVENTS) == [
            (1, boundary - 1, BLOCK_RECORDS),
            (boundary, n, len(events) - BLOCK_RECORDS),
        ]
        assert blocks_of(path, MARKET) == [(3, seq_of(messages, market[-1]), len(market))]
        assert decoded(store) == messages
        assert [r.seq for r in store.read(batch_size=7)] == list(range(1, n + 1))
        middle = ReadFilter(from_seq=boundary - 3, to_seq=boundary + 5)
        assert [r.seq for r in store.read(middle)] == list(range(boundary - 3, boundary + 6))


def test_a_chain_split_across_two_blocks_is_found_whole_by_its_correlation_id(
    tmp_path: Path, messages: list[Message]
) -> None:
    events = events_of(messages)
    chain = straddling(events, BLOCK_RECORDS)
    with SqliteEventStore(tmp_path / "e.sqlite", batch_size=len(messages)) as store:
        store.append(messages)
        expected = [m for m in messages if correlation(m) == chain]
        assert len(expected) == 5
        assert decoded(store, ReadFilter(correlation_id=chain)) == expected
        assert decoded(store, ReadFilter(correlation_id="no-such-chain")) == []


def test_type_and_stream_filters_skip_blocks_that_cannot_match(
    tmp_path: Path, messages: list[Message]
) -> None:
    with SqliteEventStore(tmp_path / "e.sqlite", batch_size=len(messages)) as store:
        store.append(messages)
        order_stream = stream_of(messages[-3])
        assert decoded(store, ReadFilter(stream_id=order_stream)) == [
            m for m in messages if stream_of(m) == order_stream
        ]
        fills = decoded(store, ReadFilter(types=frozenset({"OrderFilled"})))
        assert fills == [m for m in messages if m.TYPE_NAME == "OrderFilled"]
        late = messages[-CYCLE].ts_event
        assert decoded(store, ReadFilter(from_ts=late)) == [m for m in messages if m.ts_event >= late]


def test_truncating_inside_blocks_keeps_their_fronts_and_numbers_on(
    tmp_path: Path, messages: list[Message]
) -> None:
    path = tmp_path / "e.sqlite"
    cut = BLOCK_RECORDS + 10
    with SqliteEventStore(path, batch_size=len(messages)) as store:
        store.append(messages)
        assert store.truncate_after(cut) == len(messages) - cut
        kept = blocks_of(path, EVENTS) + blocks_of(path, MARKET)
        assert max(last for _, last, _ in kept) == cut
        assert sum(count for _, _, count in kept) == cut
        assert decoded(store) == messages[:cut]
        assert store.append(messages[cut:]).first_seq == cut + 1
        assert decoded(store) == messages
    with SqliteEventStore(path) as reopened:
        market = stream_of(messages[2])
        assert reopened.stream_version(market) == sum(stream_of(m) == market for m in messages)


def test_archiving_through_the_middle_of_a_block_moves_its_front_and_keeps_its_chains(
    tmp_path: Path, messages: list[Message]
) -> None:
    path = tmp_path / "e.sqlite"
    # One segment only (the next would end past the log), cut inside a chain and a block.
    through = next(seq for seq in range(len(messages) // 2 + 1, len(messages)) if chain_at(messages, seq))
    with SqliteEventStore(path, archive_dir=tmp_path / "archive", batch_size=len(messages)) as store:
        store.append(messages)
        report = archive_before(store, 10**18, segment_size=through)
        assert report.archived_through == through
        assert stored_seqs(path)[0] == through + 1
        assert decoded(store) == messages
        for chain in (straddling(messages, through), straddling(messages, through + CYCLE)):
            expected = [m for m in messages if correlation(m) == chain]
            assert decoded(store, ReadFilter(correlation_id=chain)) == expected
        assert store.append([m for m in messages if hasattr(m, "id")]).duplicates == sum(
            hasattr(m, "id") for m in messages
        )


def test_a_damaged_payload_inside_a_block_is_named_after_the_good_records(
    tmp_path: Path, messages: list[Message]
) -> None:
    path = tmp_path / "e.sqlite"
    bad = BLOCK_RECORDS + 3
    with SqliteEventStore(path, batch_size=len(messages)) as store:
        store.append(messages)
        store.flush()
        overwrite_stored_payload(path, bad, b"\x00\xff")
        reader = store.read()
        assert [next(reader).seq for _ in range(bad - 1)] == list(range(1, bad))
        with pytest.raises(CorruptRecordError, match=f"record {bad} "):
            next(reader)
        report = store.verify()
        assert (report.first_bad_seq, report.good) == (bad, bad - 1)
        store.truncate_after(report.good)
        assert store.verify().ok
        assert decoded(store) == messages[: bad - 1]


def test_a_block_damaged_outside_its_payloads_is_reported_from_its_first_record(
    tmp_path: Path, messages: list[Message]
) -> None:
    path = tmp_path / "e.sqlite"
    with SqliteEventStore(path, batch_size=len(messages)) as store:
        store.append(messages)
        store.flush()
        ((first, _, _),) = blocks_of(path, EVENTS)[1:]
        conn = sqlite3.connect(path)
        try:  # a stream name changed inside the second event block: its checksum fails
            (payload,) = conn.execute("SELECT payload FROM blocks WHERE first_seq = ?", (first,)).fetchone()
            damaged = payload.replace(b"order-O-", b"order-Q-", 1)
            assert damaged != payload
            conn.execute("UPDATE blocks SET payload = ? WHERE first_seq = ?", (damaged, first))
            conn.commit()
        finally:
            conn.close()
        report = store.verify()
        assert (report.first_bad_seq, report.good) == (first, first - 1)
        assert report.reason is not None
        assert "fails its checksum" in report.reason
        store.truncate_after(report.good)
        assert decoded(store) == messages[: first - 1]
        assert store.verify().ok


def test_a_damaged_summary_fails_the_block_s_checksum(tmp_path: Path, messages: list[Message]) -> None:
    """Reads by type skip blocks by their summaries, so a damaged summary must not pass verify()."""
    path = tmp_path / "e.sqlite"
    with SqliteEventStore(path, batch_size=len(messages)) as store:
        store.append(messages)
        store.flush()
        ((first, _, _), _) = blocks_of(path, EVENTS)
        conn = sqlite3.connect(path)
        try:
            (summary,) = conn.execute("SELECT summary FROM blocks WHERE first_seq = ?", (first,)).fetchone()
            damaged = summary.replace(b"OrderFilled", b"OrderFilmed")
            conn.execute("UPDATE blocks SET summary = ? WHERE first_seq = ?", (damaged, first))
            conn.commit()
        finally:
            conn.close()
        assert store.verify().first_bad_seq == first


class NodeNote(Message, frozen=True, kw_only=True, gc=False):
    """A message with no id that is not market data: stored in market blocks, stream ``node``."""

    TYPE_NAME = "tests.store.NodeNote"
    text: str


@pytest.mark.parametrize("note_first", [False, True])
def test_a_stream_with_records_of_both_kinds_keeps_its_highest_version_after_reopening(
    tmp_path: Path, note_first: bool
) -> None:
    path = tmp_path / "e.sqlite"
    probes = [ProbeRecorded(ts_event=i, ts_init=i, id=f"p-{i}", correlation_id="c", note="") for i in (1, 3)]
    notes = [NodeNote(ts_event=i, ts_init=i, text="") for i in (1, 3)]
    middle: Message = ProbeRecorded(ts_event=2, ts_init=2, id="p-2", correlation_id="c", note="")
    if not note_first:
        middle = NodeNote(ts_event=2, ts_init=2, text="between")
    ends: list[Message] = list(notes if note_first else probes)
    assert {stream_of(m) for m in [*ends, middle]} == {"node"}
    with SqliteEventStore(path) as store:
        store.append([ends[0], middle, ends[1]])  # the kinds alternate in one batch
        assert store.stream_version("node") == 3
    with SqliteEventStore(path) as reopened:
        assert reopened.stream_version("node") == 3
        reopened.append([NodeNote(ts_event=4, ts_init=4, text="after")])
        assert [r.version for r in reopened.read(ReadFilter(stream_id="node"))] == [1, 2, 3, 4]


def test_a_read_is_a_gap_free_prefix_of_the_log_while_another_connection_appends(tmp_path: Path) -> None:
    """One market block and seventy event blocks: the read lists blocks of each kind in pages
    of 64, so its event side looks for blocks again after the market side has finished; what
    is appended meanwhile must not show up on one side only."""
    path = tmp_path / "e.sqlite"
    cycles = trading_cycle(72)
    market = [m for m in cycles if not hasattr(m, "id")]
    rounds = [cycles[i + 2 : i + CYCLE] for i in range(0, len(cycles), CYCLE)]
    with SqliteEventStore(path) as writer, SqliteEventStore(path) as reader:
        writer.append(market[:2])
        writer.flush()
        for events in rounds[:70]:
            writer.append(events)
            writer.flush()
        records = reader.read()
        first = next(records)
        writer.append(market[2:3])  # a quote, then an order's events, each committed
        writer.flush()
        writer.append(rounds[70])
        writer.flush()
        seqs = [first.seq] + [r.seq for r in records]
        assert seqs == list(range(1, len(seqs) + 1))
        assert seqs[-1] == 2 + 70 * 5  # what was committed when the read began
        assert [r.seq for r in reader.read()] == list(range(1, 2 + 71 * 5 + 2))


def test_a_type_this_process_does_not_know_is_still_found_by_name(tmp_path: Path) -> None:
    path = tmp_path / "e.sqlite"
    messages = trading_cycle(2)
    with SqliteEventStore(path) as store:
        store.append(messages)
    rename_stored_type(path, "OrderFilled", "someplugin.PluginFilled")  # written by a plugin
    with SqliteEventStore(path) as store:
        found = list(store.read(ReadFilter(types=frozenset({"someplugin.PluginFilled"}))))
        assert [r.seq for r in found] == [5, 12]
