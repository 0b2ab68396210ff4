"""Persistence: the run's event log and the durable event store (SQLite, PostgreSQL)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tradeloop.store.archive import ArchiveReport, Segment, SegmentArchive, archive_before
from tradeloop.store.buffered import BufferedEventStore, VerifyReport
from tradeloop.store.event_log import EventLogRecord, SqliteEventLog, content_hash, read_event_log
from tradeloop.store.port import (
    AppendResult,
    ConcurrencyError,
    CorruptRecordError,
    Durability,
    EventStore,
    ReadFilter,
    StoredEvent,
    StoreError,
    decode_payload,
    encode_message,
    stream_of,
)
from tradeloop.store.sqlite_store import SqliteEventStore

if TYPE_CHECKING:
    from tradeloop.store.postgres_store import PostgresEventStore

__all__ = [
    "AppendResult",
    "ArchiveReport",
    "BufferedEventStore",
    "ConcurrencyError",
    "CorruptRecordError",
    "Durability",
    "EventLogRecord",
    "EventStore",
    "PostgresEventStore",
    "ReadFilter",
    "Segment",
    "SegmentArchive",
    "SqliteEventLog",
    "SqliteEventStore",
    "StoreError",
    "StoredEvent",
    "VerifyReport",
    "archive_before",
    "content_hash",
    "decode_payload",
    "encode_message",
    "read_event_log",
    "stream_of",
]


def __getattr__(name: str) -> Any:
    # psycopg takes ~150 ms to import: only a PostgreSQL user pays for it.
    if name == "PostgresEventStore":
        from tradeloop.store.postgres_store import PostgresEventStore

        return PostgresEventStore
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
