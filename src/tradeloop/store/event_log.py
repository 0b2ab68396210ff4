"""The run's event log: every message appended, in dispatch order, to SQLite.

One row per message: a sequence number (the dispatch order, from 1, without gaps), the stable
type name, both timestamps, the id, correlation and causation ids (``NULL`` for market data)
and the msgpack-encoded message. Rows are written in batches inside one transaction each.

The log's *content hash* is SHA-256 over, for each row in order, the UTF-8 type name, a NUL
byte and the payload (msgpack is self-delimiting, so the framing is unambiguous). Two runs of
the same backtest produce the same hash; :func:`content_hash` recomputes it from a file.

A backtest log needs no crash durability (the run can be repeated), so the connection uses
``synchronous=OFF``; the durable event store with its configurable policy is a separate,
later component.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType

import msgspec

from tradeloop.core.errors import TradeloopError
from tradeloop.core.message import Data, Message, message_type

__all__ = ["EventLogRecord", "SqliteEventLog", "content_hash", "read_event_log"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY,
    type TEXT NOT NULL,
    ts_event INTEGER NOT NULL,
    ts_init INTEGER NOT NULL,
    id TEXT,
    correlation_id TEXT,
    causation_id TEXT,
    payload BLOB NOT NULL
)
"""
_INSERT = "INSERT INTO events VALUES (?, ?, ?, ?, ?, ?, ?, ?)"


class EventLogRecord(msgspec.Struct, frozen=True):
    """One row of the log, decoded."""

    seq: int
    type: str
    ts_event: int
    ts_init: int
    id: str | None
    correlation_id: str | None
    causation_id: str | None
    message: Message


class SqliteEventLog:
    """Appends messages to a SQLite file; use as the bus recorder (``log.record``)."""

    def __init__(self, path: Path | str, *, batch_size: int = 20_000) -> None:
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        self.path = Path(path)
        if self.path.exists():
            raise TradeloopError(f"event log {self.path} already exists; a run writes a new log")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._conn = sqlite3.connect(self.path, isolation_level=None)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=OFF")
        self._conn.execute(_SCHEMA)
        self._batch: list[tuple[int, str, int, int, str | None, str | None, str | None, bytes]] = []
        self._batch_size = batch_size
        self._encode = msgspec.msgpack.Encoder().encode
        self._hash = hashlib.sha256()
        self._data_types: dict[type, bool] = {}
        self.count = 0
        self._closed = False

    def record(self, msg: Message) -> None:
        """Append ``msg`` (buffered; written every ``batch_size`` messages)."""
        self.count += 1
        cls = type(msg)
        is_data = self._data_types.get(cls)
        if is_data is None:
            is_data = self._data_types[cls] = issubclass(cls, Data)
        if is_data:
            row = (self.count, cls.TYPE_NAME, msg.ts_event, msg.ts_init, None, None, None, self._encode(msg))
        else:
            row = (
                self.count,
                cls.TYPE_NAME,
                msg.ts_event,
                msg.ts_init,
                msg.id,  # type: ignore[attr-defined]
                msg.correlation_id,  # type: ignore[attr-defined]
                msg.causation_id,  # type: ignore[attr-defined]
                self._encode(msg),
            )
        self._batch.append(row)
        if len(self._batch) >= self._batch_size:
            self.flush()

    def flush(self) -> None:
        """Write the buffered rows in one transaction."""
        batch = self._batch
        if not batch:
            return
        h = self._hash
        for row in batch:
            h.update(row[1].encode())
            h.update(b"\0")
            h.update(row[7])
        conn = self._conn
        conn.execute("BEGIN")
        conn.executemany(_INSERT, batch)
        conn.execute("COMMIT")
        self._batch = []

    def hexdigest(self) -> str:
        """Content hash of everything recorded so far (flushes first)."""
        self.flush()
        return self._hash.hexdigest()

    def close(self) -> str:
        """Flush, close the file and return the content hash. Idempotent."""
        if self._closed:
            return self._hash.hexdigest()
        digest = self.hexdigest()
        self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        self._conn.close()
        self._closed = True
        return digest

    def __enter__(self) -> SqliteEventLog:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def _open_existing(path: Path | str) -> sqlite3.Connection:
    p = Path(path)
    if not p.is_file():
        raise TradeloopError(f"no event log at {p}")
    return sqlite3.connect(f"file:{p}?mode=ro", uri=True)


def content_hash(path: Path | str) -> str:
    """Recompute the content hash of an event log file."""
    conn = _open_existing(path)
    try:
        h = hashlib.sha256()
        cur = conn.execute("SELECT type, payload FROM events ORDER BY seq")
        while rows := cur.fetchmany(50_000):
            for type_name, payload in rows:
                h.update(type_name.encode())
                h.update(b"\0")
                h.update(payload)
        return h.hexdigest()
    finally:
        conn.close()


def read_event_log(path: Path | str, *, types: set[str] | None = None) -> Iterator[EventLogRecord]:
    """Decode the log's rows in order, optionally only those of the given type names."""
    conn = _open_existing(path)
    decoders: dict[str, msgspec.msgpack.Decoder[Message]] = {}
    try:
        cur = conn.execute("SELECT * FROM events ORDER BY seq")
        while rows := cur.fetchmany(10_000):
            for seq, type_name, ts_event, ts_init, mid, corr, cause, payload in rows:
                if types is not None and type_name not in types:
                    continue
                decoder = decoders.get(type_name)
                if decoder is None:
                    try:
                        cls = message_type(type_name)
                    except KeyError:
                        raise TradeloopError(
                            f"event log {path}: row {seq} has unknown message type {type_name!r}"
                        ) from None
                    decoder = decoders[type_name] = msgspec.msgpack.Decoder(cls)
                yield EventLogRecord(
                    seq, type_name, ts_event, ts_init, mid, corr, cause, decoder.decode(payload)
                )
    finally:
        conn.close()
