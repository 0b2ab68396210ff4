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

The run only buffers messages (a bare ``list.append``) and encodes each batch in one call;
a sink splits the batch into rows, hashes and inserts them, either in the run's thread
(``writer="inline"``) or in a child process (``writer="process"``) on another core, which
is what a backtest uses (about a fifth faster with the log on). A
backtest log needs no crash durability (the run can be repeated), so the connection uses
``synchronous=OFF``; the durable event store with its configurable policy is a separate,
later component.
"""

from __future__ import annotations

import contextlib
import hashlib
import sqlite3
import subprocess
import sys
import weakref
from collections.abc import Callable, Iterator
from pathlib import Path
from types import TracebackType
from typing import IO, Literal

import msgspec

# Reading a log decodes by registered type name, so the model's messages must be known; types
# of higher layers (risk events, user events) register when their modules are imported.
import tradeloop.model  # noqa: F401 - imported for its message registrations
from tradeloop.core.errors import TradeloopError
from tradeloop.core.message import Message, message_type
from tradeloop.store.log_writer import LogSink, read_frame, write_frame

__all__ = ["EventLogRecord", "SqliteEventLog", "content_hash", "read_event_log"]


_PIPE_BYTES = 1 << 20


def _reap(proc: subprocess.Popen[bytes]) -> None:
    """Close the pipes and wait for the writer (ending it if it does not stop by itself)."""
    for stream in (proc.stdin, proc.stdout):
        if stream is not None:
            with contextlib.suppress(OSError):
                stream.close()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


class _ProcessSink:
    """A :class:`~tradeloop.store.log_writer.LogSink` in a child interpreter, so SQLite's
    per-row cost is paid on another core; each batch crosses the pipe as one frame. The pipe's
    buffer bounds how far the run gets ahead (back-pressure); ``close`` waits for the last row
    and raises if the writer failed.
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
        self._closed = False
        self._digest = ""
        # Reap the child if this sink is dropped without close() (a run that died early).
        self._reaper = weakref.finalize(self, _reap, self._proc)
        # A pipe buffer that holds a whole batch lets the run hand one over while the writer
        # is still inserting the previous one (Linux; elsewhere the default buffer is kept).
        if sys.platform == "linux":
            import fcntl  # Unix-only module

            with contextlib.suppress(OSError):
                fcntl.fcntl(self._in.fileno(), fcntl.F_SETPIPE_SZ, _PIPE_BYTES)

    def write_batch(self, frame: bytes) -> None:
        try:
            write_frame(self._in, b"B" + frame)
        except (BrokenPipeError, ConnectionResetError):
            self.close()  # raises with the writer's reason
            raise TradeloopError("the event log writer process stopped") from None

    def _ask(self, request: bytes) -> str:
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            write_frame(self._in, request)  # a dead writer is reported by the missing answer
        answer = read_frame(self._out)
        if answer is None:
            code = self._proc.wait()
            raise TradeloopError(f"event log writer exited with status {code} without an answer")
        if not answer.startswith(b"OK"):
            raise TradeloopError(f"event log writer failed: {answer[3:].decode(errors='replace')}")
        return answer[2:].decode()

    def hexdigest(self) -> str:
        return self._digest if self._closed else self._ask(b"D")

    def close(self) -> str:
        if self._closed:
            return self._digest
        self._closed = True
        try:
            self._digest = self._ask(b"E")
        finally:
            self._reaper()
        return self._digest


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
    """Appends messages to a SQLite file.

    Use :attr:`append` as the bus recorder on a hot path (a bare ``list.append``) and call
    :meth:`maybe_flush` regularly, or :meth:`record`, which flushes by itself every
    ``batch_size`` messages.
    """

    def __init__(
        self, path: Path | str, *, batch_size: int = 20_000, writer: Literal["process", "inline"] = "inline"
    ) -> None:
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        self.path = Path(path)
        if self.path.exists():
            raise TradeloopError(f"event log {self.path} already exists; a run writes a new log")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if writer == "process":
            self._sink: LogSink | _ProcessSink = _ProcessSink(self.path)
        elif writer == "inline":
            self._sink = LogSink(self.path)
        else:
            raise ValueError(f"writer must be 'process' or 'inline', got {writer!r}")
        self._pending: list[Message] = []
        self.append: Callable[[Message], None] = self._pending.append
        """Buffer a message (no flush check): the fastest recorder."""
        self._batch_size = batch_size
        self._encode = msgspec.msgpack.Encoder().encode
        self._written = 0
        self._closed = False

    @property
    def count(self) -> int:
        """Messages recorded so far (written or buffered)."""
        return self._written + len(self._pending)

    def record(self, msg: Message) -> None:
        """Append ``msg`` (buffered; written every ``batch_size`` messages)."""
        pending = self._pending
        pending.append(msg)
        if len(pending) >= self._batch_size:
            self.flush()

    def maybe_flush(self) -> None:
        """Write the buffer if it holds at least ``batch_size`` messages."""
        if len(self._pending) >= self._batch_size:
            self.flush()

    def flush(self) -> None:
        """Write the buffered messages in one transaction."""
        pending = self._pending
        if not pending:
            return
        if self._closed:
            raise TradeloopError(f"event log {self.path} is closed")
        frame = self._encode(
            (self._written + 1, [m.TYPE_NAME for m in pending], [m.ts_event for m in pending], pending)
        )
        self._written += len(pending)
        pending.clear()
        self._sink.write_batch(frame)

    def hexdigest(self) -> str:
        """Content hash of everything recorded so far (flushes first)."""
        self.flush()
        return self._sink.hexdigest()

    def close(self) -> str:
        """Flush, close the file and return the content hash. Idempotent."""
        if not self._closed:
            self.flush()
            self._closed = True
        return self._sink.close()

    def __enter__(self) -> SqliteEventLog:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def _open_existing(path: Path | str) -> sqlite3.Connection:
    """Open a finished log read-only (``immutable``: no side files), checking it is one."""
    p = Path(path)
    if not p.is_file():
        raise TradeloopError(f"no event log at {p}")
    conn = sqlite3.connect(f"{p.resolve().as_uri()}?mode=ro&immutable=1", uri=True)
    try:
        found = conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'view' AND name = 'messages'"
        ).fetchone()
    except sqlite3.DatabaseError as exc:
        conn.close()
        raise TradeloopError(f"{p} is not an event log: {exc}") from None
    if found is None:
        conn.close()
        raise TradeloopError(f"{p} is not a tradeloop event log (no 'messages' view)")
    return conn


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
                            f"event log {path}: row {seq} has message type {type_name!r}, which is not "
                            "registered here; import the module that defines it before reading"
                        ) from None
                    decoder = decoders[type_name] = msgspec.msgpack.Decoder(cls)
                try:
                    message = decoder.decode(payload)
                except (msgspec.DecodeError, ValueError) as exc:
                    raise TradeloopError(
                        f"event log {path}: row {seq} ({type_name}) is corrupt: {exc}"
                    ) from None
                yield EventLogRecord(
                    seq,
                    type_name,
                    ts_event,
                    ts_init if ts_init is not None else message.ts_init,
                    mid,
                    corr,
                    cause,
                    message,
                )
    finally:
        conn.close()
