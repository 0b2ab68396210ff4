"""The run's event log: every message appended, in dispatch order, to SQLite.

One row per message, with a sequence number (the dispatch order, from 1, without gaps) shared
by two tables: ``events`` holds commands and events (stable type name, both timestamps, id,
correlation and causation ids, msgpack-encoded message) and ``market_data`` the bulk of a run
(sequence, type name, ``ts_event`` and the encoded message: market data has no ids, and four
bound columns instead of eight make the insert about a third cheaper). The ``messages`` view
is their union in sequence order, for inspection with any SQLite client. Rows are written in
batches inside one transaction each.

The log's *content hash* is SHA-256 over, for each row in order, the UTF-8 type name, a NUL
byte and the payload (msgpack is self-delimiting, so the framing is unambiguous). Two runs of
the same backtest produce the same hash; :func:`content_hash` recomputes it from a file.

Rows are written in the calling thread (``writer="inline"``, the default) or by a child
process (``writer="process"``): the run then encodes each batch once and the child pays
SQLite's per-row cost on another core, which pays off only when that core is idle. A backtest log needs no crash durability
(the run can be repeated), so the connection uses ``synchronous=OFF``; the durable event
store with its configurable policy is a separate, later component.
"""

from __future__ import annotations

import hashlib
import sqlite3
import subprocess
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Literal

import msgspec

from tradeloop.core.errors import TradeloopError
from tradeloop.core.message import Data, Message, message_type
from tradeloop.store.log_writer import SqliteWriter, read_frame, write_frame

__all__ = ["EventLogRecord", "SqliteEventLog", "content_hash", "read_event_log"]


DataRow = tuple[int, str, int, bytes]
EventRow = tuple[int, str, int, int, str, str, "str | None", bytes]


class _ProcessWriter:
    """Runs :class:`~tradeloop.store.log_writer.SqliteWriter` in a child interpreter, so
    SQLite's per-row cost is paid on another core; each batch crosses the pipe as one msgpack
    frame. The pipe's buffer bounds how far the run gets ahead (back-pressure); ``close``
    waits for the last row and raises if the writer failed.
    """

    def __init__(self, path: Path) -> None:
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "tradeloop.store.writer_process", str(path)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        if self._proc.stdin is None or self._proc.stdout is None:  # pragma: no cover - PIPE given
            raise TradeloopError("could not open the pipes to the event log writer")
        self._in: IO[bytes] = self._proc.stdin
        self._out: IO[bytes] = self._proc.stdout
        self._encode = msgspec.msgpack.Encoder().encode
        self._closed = False

    def write(self, data: Sequence[Sequence[object]], events: Sequence[Sequence[object]]) -> None:
        try:
            write_frame(self._in, self._encode((data, events)))
        except (BrokenPipeError, ConnectionResetError):
            self.close()  # raises with the writer's reason
            raise TradeloopError("the event log writer process stopped") from None

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            write_frame(self._in, b"")
            self._in.close()
        except (BrokenPipeError, ConnectionResetError):
            pass
        answer = read_frame(self._out)
        self._out.close()
        code = self._proc.wait()
        if answer is None:
            raise TradeloopError(f"event log writer exited with status {code} without an answer")
        if answer:
            raise TradeloopError(f"event log writer failed: {answer.decode(errors='replace')}")


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

    def __init__(
        self, path: Path | str, *, batch_size: int = 20_000, writer: Literal["process", "inline"] = "inline"
    ) -> None:
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        batch_size *= 2  # two hashed parts per message
        self.path = Path(path)
        if self.path.exists():
            raise TradeloopError(f"event log {self.path} already exists; a run writes a new log")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if writer == "process":
            self._writer: SqliteWriter | _ProcessWriter = _ProcessWriter(self.path)
        elif writer == "inline":
            self._writer = SqliteWriter(self.path)
        else:
            raise ValueError(f"writer must be 'process' or 'inline', got {writer!r}")
        self._events: list[EventRow] = []
        self._data: list[DataRow] = []
        self._hashed: list[bytes] = []  # type name + NUL, payload, ... in sequence order
        self._batch_size = batch_size
        self._encode = msgspec.msgpack.Encoder().encode
        self._hash = hashlib.sha256()
        self._kinds: dict[type, tuple[bool, bytes]] = {}
        self.count = 0
        self._closed = False

    def record(self, msg: Message) -> None:
        """Append ``msg`` (buffered; written every ``batch_size`` messages)."""
        self.count += 1
        cls = type(msg)
        kind = self._kinds.get(cls)
        if kind is None:
            kind = self._kinds[cls] = (issubclass(cls, Data), cls.TYPE_NAME.encode() + b"\0")
        payload = self._encode(msg)
        hashed = self._hashed
        hashed.append(kind[1])
        hashed.append(payload)
        if kind[0]:
            self._data.append((self.count, cls.TYPE_NAME, msg.ts_event, payload))
        else:
            self._events.append(
                (
                    self.count,
                    cls.TYPE_NAME,
                    msg.ts_event,
                    msg.ts_init,
                    msg.id,  # type: ignore[attr-defined]
                    msg.correlation_id,  # type: ignore[attr-defined]
                    msg.causation_id,  # type: ignore[attr-defined]
                    payload,
                )
            )
        if len(hashed) >= self._batch_size:
            self.flush()

    def flush(self) -> None:
        """Write the buffered rows in one transaction."""
        if not self._hashed:
            return
        self._hash.update(b"".join(self._hashed))
        self._writer.write(self._data, self._events)
        self._data = []
        self._events = []
        self._hashed = []

    def hexdigest(self) -> str:
        """Content hash of everything recorded so far (flushes first)."""
        self.flush()
        return self._hash.hexdigest()

    def close(self) -> str:
        """Flush, close the file and return the content hash. Idempotent."""
        if self._closed:
            return self._hash.hexdigest()
        digest = self.hexdigest()
        self._closed = True
        self._writer.close()
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
        cur = conn.execute("SELECT type, payload FROM messages ORDER BY seq")
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
        cur = conn.execute("SELECT * FROM messages ORDER BY seq")
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
                message = decoder.decode(payload)
                if ts_init is None:  # market_data rows do not store it; the message carries it
                    ts_init = message.ts_init
                yield EventLogRecord(seq, type_name, ts_event, ts_init, mid, corr, cause, message)
    finally:
        conn.close()
