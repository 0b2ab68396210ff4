"""StoreRecorder: a node's messages into its event store, by durability policy."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from tradeloop.core.clock import NANOS_PER_SECOND
from tradeloop.runtime.config import StoreSettings
from tradeloop.runtime.recording import StoreRecorder, open_store
from tradeloop.store import SqliteEventStore
from tradeloop.testkit.stubs import aapl_equity, make_quote


def quotes(n: int) -> list:  # type: ignore[type-arg]
    inst = aapl_equity()
    return [make_quote(inst, "100.00", "100.02", ts_ns=(i + 1) * NANOS_PER_SECOND) for i in range(n)]


def test_event_durability_stores_each_message_before_record_returns(tmp_path: Path) -> None:
    store = open_store(StoreSettings(durability="event"), tmp_path / "s.sqlite")
    recorder = StoreRecorder(store)
    for i, quote in enumerate(quotes(3), start=1):
        recorder.record(quote)
        with SqliteEventStore(tmp_path / "s.sqlite") as reader:  # another connection sees it
            assert reader.last_seq() == i
    recorder.close()


def test_batch_durability_buffers_until_the_recorder_flushes(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    recorder = StoreRecorder(open_store(StoreSettings(durability="batch"), path))
    for quote in quotes(5):
        recorder.record(quote)
    assert recorder.store.last_seq() == 0  # captured, not yet handed over
    recorder.flush()
    recorder.close()
    with SqliteEventStore(path) as reader:
        assert [r.seq for r in reader.read()] == [1, 2, 3, 4, 5]


def test_postgres_needs_a_dsn() -> None:
    with pytest.raises(ValidationError, match="dsn is required"):
        StoreSettings(backend="postgres")
