"""The event log's writer: SQLite rows from framed batches (run as ``python -m
tradeloop.store.writer_process PATH`` by the event log's process writer).

It reads frames from standard input - an 8-byte big-endian length, then a msgpack
``(market_data_rows, event_rows)`` batch - and writes each batch in one transaction. A
zero-length frame ends it: it checkpoints the WAL, closes the file and answers on standard
output with an empty frame (success) or the error text.
"""

from __future__ import annotations

import sqlite3
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

import msgspec

__all__ = ["SCHEMA", "SqliteWriter", "main", "read_frame", "write_frame"]

SCHEMA = (
    """CREATE TABLE events (
        seq INTEGER PRIMARY KEY,
        type TEXT NOT NULL,
        ts_event INTEGER NOT NULL,
        ts_init INTEGER NOT NULL,
        id TEXT NOT NULL,
        correlation_id TEXT NOT NULL,
        causation_id TEXT,
        payload BLOB NOT NULL
    )""",
    """CREATE TABLE market_data (
        seq INTEGER PRIMARY KEY,
        type TEXT NOT NULL,
        ts_event INTEGER NOT NULL,
        payload BLOB NOT NULL
    )""",
    """CREATE VIEW messages AS
        SELECT seq, type, ts_event, ts_init, id, correlation_id, causation_id, payload FROM events
        UNION ALL
        SELECT seq, type, ts_event, NULL, NULL, NULL, NULL, payload FROM market_data""",
)
_INSERT_EVENT = "INSERT INTO events VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
_INSERT_DATA = "INSERT INTO market_data VALUES (?, ?, ?, ?)"


class SqliteWriter:
    """Creates the log file and writes batches of rows, one transaction each."""

    def __init__(self, path: Path) -> None:
        self._conn = sqlite3.connect(path, isolation_level=None)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=OFF")
        for statement in SCHEMA:
            self._conn.execute(statement)

    def write(self, data: Sequence[Sequence[Any]], events: Sequence[Sequence[Any]]) -> None:
        conn = self._conn
        conn.execute("BEGIN")
        if data:
            conn.executemany(_INSERT_DATA, data)
        if events:
            conn.executemany(_INSERT_EVENT, events)
        conn.execute("COMMIT")

    def close(self) -> None:
        self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        self._conn.close()


def write_frame(stream: IO[bytes], payload: bytes) -> None:
    stream.write(len(payload).to_bytes(8, "big"))
    stream.write(payload)
    stream.flush()


def read_frame(stream: IO[bytes]) -> bytes | None:
    """The next frame's payload, or ``None`` at end of stream."""
    header = stream.read(8)
    if len(header) < 8:
        return None
    size = int.from_bytes(header, "big")
    payload = stream.read(size)
    if len(payload) < size:
        return None
    return payload


def main(argv: Sequence[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m tradeloop.store.log_writer PATH", file=sys.stderr)
        return 2
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    try:
        writer = SqliteWriter(Path(argv[0]))
        decode = msgspec.msgpack.Decoder(tuple[list[list[Any]], list[list[Any]]]).decode
        while True:
            frame = read_frame(stdin)
            if frame is None:
                raise EOFError("the run closed the pipe without ending the log")
            if not frame:
                break
            data, events = decode(frame)
            writer.write(data, events)
        writer.close()
    except Exception as exc:  # noqa: BLE001 - reported to the parent, which raises
        write_frame(stdout, f"{type(exc).__name__}: {exc}".encode())
        return 1
    write_frame(stdout, b"")
    return 0
