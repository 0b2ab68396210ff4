"""The run's event log: every dispatched message, in order, decodable, with a content hash."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path
from typing import Literal

import msgspec
import pytest

from tradeloop.core.bus import MessageBus
from tradeloop.core.errors import TradeloopError
from tradeloop.core.message import Data, Event, Message
from tradeloop.model.data import Bar
from tradeloop.model.enums import OrderSide
from tradeloop.model.events import RegimeChanged
from tradeloop.store import SqliteEventLog, content_hash, read_event_log
from tradeloop.testkit import TestClock, es_future, id_factory, make_bar, make_fill, make_trade

ES = es_future()
MINUTE = 60_000_000_000


def sample_messages(n: int = 5, *, seed: int = 1) -> list[Message]:
    ids = id_factory(seed)
    out: list[Message] = []
    for i in range(n):
        ts = (i + 1) * MINUTE
        price = f"{5000 + i}.25"
        out.append(make_bar(ES, price, price, price, price, ts_ns=ts))
        out.append(make_trade(ES, price, 3, ts_ns=ts + 1, trade_id=f"X-{i}"))
        out.append(
            make_fill(ES, OrderSide.BUY, 1, price, ts_ns=ts + 2, trade_id=f"T-{i}", causation_id="c", ids=ids)
        )
    return out


def write_log(path: Path, messages: list[Message], *, batch_size: int = 20_000) -> str:
    log = SqliteEventLog(path, batch_size=batch_size)
    for msg in messages:
        log.record(msg)
    return log.close()


def expected_hash(messages: list[Message]) -> str:
    """The documented hash: SHA-256 over type name, NUL and msgpack payload, row by row."""
    h = hashlib.sha256()
    for msg in messages:
        h.update(type(msg).TYPE_NAME.encode())
        h.update(b"\0")
        h.update(msgspec.msgpack.encode(msg))
    return h.hexdigest()


def test_rows_follow_dispatch_order_without_gaps_and_decode_to_equal_messages(tmp_path: Path) -> None:
    clock = TestClock()
    bus = MessageBus(clock, id_factory(7))
    log = SqliteEventLog(tmp_path / "events.sqlite", batch_size=4)
    dispatched: list[Message] = []
    bus.add_recorder(log.record)
    bus.add_recorder(dispatched.append)

    def on_bar(bar: Bar) -> None:
        # Queued behind the bar, dispatched before the next publish returns.
        bus.publish(
            RegimeChanged(
                id=f"r-{bar.ts_event}",
                correlation_id=f"c-{bar.ts_event}",
                ts_event=bar.ts_event,
                ts_init=bar.ts_event,
                instrument_id=bar.instrument_id,
                regime="TRENDING",
                previous="RANGING",
            )
        )
        if bar.ts_event == 2 * MINUTE:
            raise ValueError("handler failure is logged too")

    bus.subscribe(Bar, on_bar)
    for msg in sample_messages(3):
        bus.publish(msg)
    log.close()

    records = list(read_event_log(log.path))
    assert [r.seq for r in records] == list(range(1, len(dispatched) + 1))
    assert [r.message for r in records] == dispatched
    assert [r.type for r in records] == [type(m).TYPE_NAME for m in dispatched]
    assert "HandlerFailed" in {r.type for r in records}
    assert records[0].type == "Bar"
    assert records[1].type == "RegimeChanged"  # caused by the bar, dispatched right after it
    for record in records:
        msg = record.message
        assert (record.ts_event, record.ts_init) == (msg.ts_event, msg.ts_init)
        if isinstance(msg, Data):
            assert (record.id, record.correlation_id, record.causation_id) == (None, None, None)
        else:
            assert isinstance(msg, Event)
            assert (record.id, record.correlation_id, record.causation_id) == (
                msg.id,
                msg.correlation_id,
                msg.causation_id,
            )


def test_the_content_hash_is_the_documented_digest_and_content_hash_recomputes_it(tmp_path: Path) -> None:
    messages = sample_messages()
    path = tmp_path / "a.sqlite"
    log = SqliteEventLog(path)
    for msg in messages:
        log.record(msg)
    before_close = log.hexdigest()

    digest = log.close()

    assert digest == before_close == expected_hash(messages)
    assert content_hash(path) == digest
    assert log.count == len(messages)


@pytest.mark.parametrize("batch_size", [1, 2, 7, 20_000])
def test_batching_changes_neither_the_rows_nor_the_hash(tmp_path: Path, batch_size: int) -> None:
    messages = sample_messages()

    digest = write_log(tmp_path / "log.sqlite", messages, batch_size=batch_size)

    assert digest == expected_hash(messages)
    assert [r.message for r in read_event_log(tmp_path / "log.sqlite")] == messages


def test_equal_runs_give_equal_hashes_and_a_changed_message_changes_it(tmp_path: Path) -> None:
    first = write_log(tmp_path / "1.sqlite", sample_messages(seed=1))
    again = write_log(tmp_path / "2.sqlite", sample_messages(seed=1))
    other = write_log(tmp_path / "3.sqlite", sample_messages(seed=2))  # other event ids

    assert first == again
    assert first != other


def test_a_log_refuses_to_overwrite_an_existing_file(tmp_path: Path) -> None:
    path = tmp_path / "events.sqlite"
    write_log(path, sample_messages(2))
    before = path.read_bytes()

    with pytest.raises(TradeloopError, match="already exists; a run writes a new log"):
        SqliteEventLog(path)

    assert path.read_bytes() == before
    assert len(list(read_event_log(path))) == 6


def test_close_is_idempotent_and_the_context_manager_closes(tmp_path: Path) -> None:
    messages = sample_messages(2)
    with SqliteEventLog(tmp_path / "ctx.sqlite") as log:
        for msg in messages:
            log.record(msg)

    assert log.close() == log.close() == expected_hash(messages)
    assert content_hash(tmp_path / "ctx.sqlite") == expected_hash(messages)


def test_reading_can_select_message_types(tmp_path: Path) -> None:
    path = tmp_path / "events.sqlite"
    write_log(path, sample_messages(4))

    fills = list(read_event_log(path, types={"OrderFilled"}))

    assert [r.seq for r in fills] == [3, 6, 9, 12]
    assert {type(r.message).__name__ for r in fills} == {"OrderFilled"}


def test_an_unknown_type_name_in_a_row_is_a_clear_error_naming_file_and_row(tmp_path: Path) -> None:
    path = tmp_path / "events.sqlite"
    write_log(path, sample_messages(2))
    with sqlite3.connect(path) as conn:  # simulate a log written by a newer version
        tables = [
            name
            for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
            if "type" in {col[1] for col in conn.execute(f"PRAGMA table_info({name})")}
        ]
        for table in tables:
            conn.execute(f"UPDATE {table} SET type = 'OrderTeleported' WHERE seq = 3")
    conn.close()

    reader = read_event_log(path)
    assert next(reader).seq == 1
    assert next(reader).seq == 2
    with pytest.raises(
        TradeloopError, match=r"row 3 has message type 'OrderTeleported', which is not registered"
    ) as info:
        next(reader)
    assert str(path) in str(info.value)


def test_reading_or_hashing_a_missing_log_is_a_clear_error(tmp_path: Path) -> None:
    missing = tmp_path / "nope.sqlite"
    with pytest.raises(TradeloopError, match="no event log at"):
        content_hash(missing)
    with pytest.raises(TradeloopError, match="no event log at"):
        list(read_event_log(missing))


def test_a_batch_size_below_one_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="batch_size must be at least 1"):
        SqliteEventLog(tmp_path / "x.sqlite", batch_size=0)
    assert not (tmp_path / "x.sqlite").exists()


@pytest.mark.parametrize("writer", ["inline", "process"])
def test_either_writer_produces_the_same_rows_and_hash(
    tmp_path: Path, writer: Literal["inline", "process"]
) -> None:
    messages = sample_messages(4)
    path = tmp_path / f"{writer}.sqlite"
    log = SqliteEventLog(path, batch_size=3, writer=writer)
    for msg in messages:
        log.record(msg)

    assert log.close() == expected_hash(messages) == content_hash(path)
    assert [r.message for r in read_event_log(path)] == messages


def test_a_file_that_is_not_an_event_log_is_refused_clearly(tmp_path: Path) -> None:
    other = tmp_path / "other.sqlite"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE t (x)")
    conn.close()
    text = tmp_path / "notes.txt"
    text.write_text("not a database at all " * 100)
    for path in (other, text):
        with pytest.raises(TradeloopError, match=r"not a tradeloop event log|is not an event log"):
            content_hash(path)


def test_reading_a_finished_log_leaves_no_side_files(tmp_path: Path) -> None:
    path = tmp_path / "events.sqlite"
    messages = sample_messages(3)
    write_log(path, messages)
    assert len(list(read_event_log(path))) == len(messages)
    content_hash(path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["events.sqlite"]


def test_a_batch_whose_columns_disagree_is_refused_and_writes_nothing(tmp_path: Path) -> None:
    from tradeloop.store.log_writer import LogSink

    path = tmp_path / "events.sqlite"
    sink = LogSink(path)
    bar = msgspec.msgpack.encode(sample_messages(1)[0])
    frame = msgspec.msgpack.encode((1, ["Bar", "Bar"], [MINUTE], [msgspec.Raw(bar), msgspec.Raw(bar)]))
    with pytest.raises(ValueError, match="2 type names, 1 timestamps, 2 payloads"):
        sink.write_batch(frame)
    empty = sink.hexdigest()
    sink.close()
    assert empty == hashlib.sha256().hexdigest()
    assert list(read_event_log(path)) == []
