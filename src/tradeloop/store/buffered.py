"""What every :class:`~tradeloop.store.port.EventStore` backend shares: numbering, idempotency,
buffering by durability policy, reads merged with the archive, and integrity checks.

A backend (SQLite, PostgreSQL) supplies the storage primitives - write a batch of rows in one
transaction, read pages of rows in sequence order, look ids up, keep snapshots - and
:class:`BufferedEventStore` does the rest, so both backends behave alike by construction and
the one contract suite checks the primitives.

Numbering. The next sequence number and each stream's version are kept in memory, loaded when
the store opens (live rows, plus what the archive holds) and advanced by :meth:`append`, so a
record's numbers are known - and returned - as soon as it is appended, buffered or not. The
numbers are only ever taken in order, so the log has no gaps; a batch that cannot be written
as numbered (another writer got there first) is discarded as a whole and the counters are
reloaded from storage (:class:`~tradeloop.store.port.ConcurrencyError`).

Idempotency. A message whose id is already stored, already buffered or repeated within one
append is skipped and counted in :attr:`AppendResult.duplicates`. Ids are looked up once per
append call (one query for all its ids), not once per message. Market data has no id and is
never deduplicated.

Integrity. Each record carries the CRC-32 of its payload. :meth:`read` checks it (about 0.1 us
a record, far cheaper than decoding) and raises
:class:`~tradeloop.store.port.CorruptRecordError` naming the sequence number of a torn or
corrupted record, after yielding every good record before it (a backend may check more, and
name the first record it can no longer vouch for: see the SQLite store's blocks); :meth:`verify`
scans the whole log (checksums, decoding, sequence gaps) and reports the first bad record, and
:meth:`truncate_after` cuts a bad tail so recovery of everything before it can proceed.
"""

from __future__ import annotations

import dataclasses
import time
import zlib
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from operator import attrgetter
from pathlib import Path
from types import TracebackType
from typing import Self

import msgspec

from tradeloop.core.message import Command, Data, Event, Message, message_type
from tradeloop.store.archive import SegmentArchive
from tradeloop.store.port import (
    AppendResult,
    ConcurrencyError,
    CorruptRecordError,
    Durability,
    ReadFilter,
    StoredEvent,
    StoreError,
    decode_payload,
    stream_of,
)

__all__ = ["BufferedEventStore", "Row", "StoreState", "VerifyReport", "type_kinds"]

Row = tuple[int, str, int, str, int, int, str | None, str | None, str | None, bytes, int]
"""A record as backends write it: the :class:`StoredEvent` fields in order (``seq, stream_id,
version, type_name, ts_event, ts_init, message_id, correlation_id, causation_id, payload,
checksum``); ``StoredEvent(*row)`` is the record."""

COLUMNS = (
    "seq",
    "stream_id",
    "version",
    "type_name",
    "ts_event",
    "ts_init",
    "message_id",
    "correlation_id",
    "causation_id",
    "payload",
    "checksum",
)
"""Column names of a :data:`Row`, in order."""


def filter_conditions(
    where: ReadFilter, mark: str, any_type: Callable[[list[str]], tuple[str, list[object]]]
) -> tuple[list[str], list[object]]:
    """The SQL conditions of a page query for ``where`` and their parameters, for a backend.

    The first condition is ``seq > mark`` and takes the page's last sequence number, which
    the caller puts before the returned parameters. ``mark`` is the backend's placeholder
    (``?``, ``%s``); ``any_type`` gives the condition and parameters matching ``type_name``
    against the sorted type names (an ``IN`` list or an array, as the backend prefers).
    """
    conditions = [f"seq > {mark}"]
    params: list[object] = []
    if where.to_seq is not None:
        conditions.append(f"seq <= {mark}")
        params.append(where.to_seq)
    if where.from_ts is not None:
        conditions.append(f"ts_event >= {mark}")
        params.append(where.from_ts)
    if where.to_ts is not None:
        conditions.append(f"ts_event < {mark}")
        params.append(where.to_ts)
    if where.types is not None:
        condition, values = any_type(sorted(where.types))
        conditions.append(condition)
        params.extend(values)
    if where.stream_id is not None:
        conditions.append(f"stream_id = {mark}")
        params.append(where.stream_id)
    if where.correlation_id is not None:
        conditions.append(f"correlation_id = {mark}")
        params.append(where.correlation_id)
    return conditions, params


def keyset_pages(
    fetch_after: Callable[[int], list[Row]], after_seq: int, page_size: int
) -> Iterator[list[Row]]:
    """Pages of rows from ``fetch_after(last_seq)`` (at most ``page_size`` rows with a higher
    sequence number, in order) until a short page; each page is its own short query, so no
    read transaction stays open while the caller works on the records (and may append)."""
    last = after_seq
    while True:
        rows = fetch_after(last)
        if not rows:
            return
        yield rows
        if len(rows) < page_size:
            return
        last = rows[-1][0]


def merge_versions(archived: dict[str, int], live: Iterable[tuple[str, int]]) -> dict[str, int]:
    """Each stream's highest version: ``archived`` (updated in place) raised by the live
    table's ``(stream_id, max version)`` pairs."""
    for stream, version in live:
        if version > archived.get(stream, 0):
            archived[stream] = version
    return archived


_EVENT, _MARKET, _OTHER = 0, 1, 2  # kinds of message: with an id, market data, anything else
_PAYLOAD = attrgetter("payload")
_CHECKSUM = attrgetter("checksum")


@dataclass(frozen=True, slots=True)
class StoreState:
    """What a backend reports when the store opens or reloads its counters.

    ``last_seq``: the highest sequence number in the live table (0 if empty);
    ``versions``: each stream's highest version among live rows and archived records;
    ``archived_through``: the sequence number the archive holds records up to (0 if none);
    ``store_id``: a random number minted when the store was created, which binds its archive.
    """

    last_seq: int
    versions: dict[str, int]
    archived_through: int
    store_id: int


@dataclass(frozen=True, slots=True)
class VerifyReport:
    """The result of :meth:`BufferedEventStore.verify`.

    ``good``: records that passed before the first bad one (all of them when the log is
    sound); ``first_bad_seq`` and ``reason``: the first record that failed (missing, checksum
    mismatch, undecodable), or ``None``; ``last_seq``: the highest sequence number present.
    """

    good: int
    first_bad_seq: int | None
    reason: str | None
    last_seq: int

    @property
    def ok(self) -> bool:
        """Whether every record passed."""
        return self.first_bad_seq is None


class BufferedEventStore(ABC):
    """Base of the event store backends (see the module docstring).

    Parameters
    ----------
    durability:
        When appends are committed (:class:`~tradeloop.store.port.Durability`).
    batch_size:
        Records buffered before a ``BATCH`` or ``INTERVAL`` store commits by itself.
    interval_s:
        Wall-clock seconds after which an ``INTERVAL`` store commits its buffer (checked by
        :meth:`append` and :meth:`maybe_flush`).
    archive_dir:
        Folder of archived segments (:mod:`tradeloop.store.archive`); reads include them.
    monotonic:
        Seconds of a monotonic clock, for the ``INTERVAL`` policy (durability is about wall
        time, not the trading clock).

    A store is used by one thread at a time. It is a context manager (closing on exit).
    """

    def __init__(
        self,
        *,
        durability: Durability | str = Durability.BATCH,
        batch_size: int = 10_000,
        interval_s: float = 1.0,
        archive_dir: Path | str | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        try:
            self.durability = Durability(durability)
        except ValueError:
            choices = ", ".join(d.value for d in Durability)
            raise ValueError(f"durability must be one of {choices}, got {durability!r}") from None
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
        if not interval_s > 0:
            raise ValueError(f"interval_s must be positive, got {interval_s!r}")
        self.batch_size = batch_size
        self.interval_s = float(interval_s)
        self._monotonic = monotonic
        self._archive = SegmentArchive(Path(archive_dir)) if archive_dir is not None else None
        self._pending: list[Row] = []
        self._pending_ids: set[str] = set()
        self._next_seq = 1
        self._versions: dict[str, int] = {}
        self._market_streams: dict[str, str] = {}
        self._kinds: dict[type, int] = {}  # message type -> _EVENT, _MARKET or _OTHER
        self._last_flush = monotonic()
        self._closed = False
        self._encode = msgspec.msgpack.Encoder().encode

    # -- backend primitives ------------------------------------------------------------------

    @abstractmethod
    def _describe(self) -> str:
        """Where the store lives, for error messages."""

    @abstractmethod
    def _load_state(self) -> StoreState:
        """Read the counters from storage."""

    @abstractmethod
    def _write_rows(self, rows: Iterable[Row], count: int) -> None:
        """Write ``count`` rows in one transaction; when another writer got there first (a
        unique violation, or numbers that do not continue the log) roll back and raise
        :class:`ConcurrencyError` naming what conflicted."""

    @abstractmethod
    def _record_pages(self, where: ReadFilter, after_seq: int, page_size: int) -> Iterator[list[StoredEvent]]:
        """Live records matching ``where`` with ``seq > after_seq``, in order, in pages (checksums
        are checked by the caller)."""

    @abstractmethod
    def _stored_ids(self, ids: list[str]) -> set[str]:
        """Which of ``ids`` are stored (live or archived)."""

    @abstractmethod
    def _put_snapshot(self, name: str, seq: int, payload: bytes) -> None: ...

    @abstractmethod
    def _get_snapshot(self, name: str) -> tuple[int, bytes] | None: ...

    @abstractmethod
    def _delete_after(self, seq: int) -> int:
        """Delete live rows and snapshots after ``seq`` in one transaction; rows deleted."""

    @abstractmethod
    def _drop_live_through(self, seq: int) -> int:
        """In one transaction: remember the ids and stream versions of live rows up to
        ``seq``, delete those rows and record that the archive holds everything up to ``seq``."""

    @abstractmethod
    def _release(self) -> None:
        """Close the connection."""

    # -- opening -------------------------------------------------------------------------------

    def _open_counters(self) -> None:
        """Load the counters, reconciling the live table with the archive (call once the
        backend's connection is ready)."""
        state = self._load_state()
        archive = self._archive
        if state.archived_through and archive is None:
            raise StoreError(
                f"{self._describe()} has archived records up to seq {state.archived_through}; "
                "open it with archive_dir set to the archive folder"
            )
        if archive is not None:
            archive.bind(state.store_id)
            indexed = archive.last_seq()
            if indexed < state.archived_through:
                raise StoreError(
                    f"archive {archive.folder} ends at seq {indexed}, but {self._describe()} "
                    f"moved records up to seq {state.archived_through} there: segments are missing"
                )
            if indexed > state.archived_through:
                # An archive run stopped between writing a segment and dropping its live rows:
                # finish it (the rows are in the segment; the live copies go).
                self._drop_live_through(indexed)
                state = self._load_state()
        self._apply(state)

    def _apply(self, state: StoreState) -> None:
        archived = self._archive.last_seq() if self._archive is not None else 0
        self._next_seq = max(state.last_seq, archived, state.archived_through) + 1
        self._versions = state.versions

    # -- the port ------------------------------------------------------------------------------

    def append(self, messages: Sequence[Message]) -> AppendResult:
        """Append messages in order; see the module docstring for numbering and idempotency.

        Returns
        -------
        AppendResult
            The sequence numbers given to the new records (known before they are committed).

        Raises
        ------
        ConcurrencyError
            If this append committed (``EVENT``, or a full batch) and another writer had
            already stored one of the numbers; nothing of the batch is written.
        """
        self._check_open()
        if not messages:
            return AppendResult(0, 0, 0, 0)
        kinds = self._kinds
        try:
            ids: list[str] = [m.id for m in messages if kinds[type(m)] is _EVENT]  # type: ignore[attr-defined]
        except KeyError:
            self._learn_kinds(messages)
            ids = [m.id for m in messages if kinds[type(m)] is _EVENT]  # type: ignore[attr-defined]
        known = self._known_ids(ids) if ids else set()
        # Each message becomes its row now (encoded, checksummed): a flush only writes rows. The
        # rows join the buffer only when all of them are built: a message that cannot be
        # encoded leaves the store as it was (its counters included).
        rows: list[Row] = []
        add = rows.append
        pending_ids = self._pending_ids
        versions = self._versions
        market_streams = self._market_streams
        encode = self._encode
        crc32 = zlib.crc32
        seq = first = self._next_seq
        duplicates = 0
        try:
            for message in messages:
                kind = kinds[type(message)]
                if kind is _EVENT:
                    message_id = message.id  # type: ignore[attr-defined]
                    if message_id in known or message_id in pending_ids:
                        duplicates += 1
                        continue
                    stream = stream_of(message)
                    version = versions.get(stream, 0) + 1
                    payload = encode(message)
                    add((
                        seq, stream, version, message.TYPE_NAME, message.ts_event, message.ts_init,
                        message_id, message.correlation_id, message.causation_id,  # type: ignore[attr-defined]
                        payload, crc32(payload),
                    ))  # fmt: skip
                    pending_ids.add(message_id)
                else:
                    if kind is _MARKET:  # stream_of() for market data, cached per instrument
                        instrument = message.instrument_id  # type: ignore[attr-defined]
                        cached = market_streams.get(instrument)
                        if cached is None:
                            cached = market_streams[instrument] = stream_of(message)
                        stream = cached
                    else:
                        stream = stream_of(message)
                    version = versions.get(stream, 0) + 1
                    payload = encode(message)
                    add((
                        seq, stream, version, message.TYPE_NAME, message.ts_event, message.ts_init,
                        None, None, None, payload, crc32(payload),
                    ))  # fmt: skip
                versions[stream] = version
                seq += 1
        except BaseException:
            for row in reversed(rows):  # each row raised its stream's version by one
                versions[row[1]] = row[2] - 1
                if row[6] is not None:
                    pending_ids.discard(row[6])
            raise
        self._pending += rows
        self._next_seq = seq
        appended = seq - first
        result = AppendResult(appended, duplicates, first if appended else 0, seq - 1 if appended else 0)
        if self.durability is Durability.EVENT or len(self._pending) >= self.batch_size:
            self.flush()
        elif self.durability is Durability.INTERVAL:
            self.maybe_flush()
        return result

    def flush(self) -> None:
        """Commit everything appended so far (one transaction).

        Raises
        ------
        ConcurrencyError
            Another writer stored records with these numbers first. The whole buffer is
            discarded (nothing of it is written) and the counters are reloaded from storage;
            re-read the affected streams and append again.
        """
        self._check_open()
        pending = self._pending
        if not pending:
            self._last_flush = self._monotonic()
            return
        try:
            self._write_rows(pending, len(pending))
        except ConcurrencyError as exc:
            lost = f"seq {pending[0][0]}-{pending[-1][0]}"
            self._discard_pending()
            self._apply(self._load_state())
            raise ConcurrencyError(
                f"{exc}; the {len(pending)} unflushed records ({lost}) were discarded and the "
                f"counters reloaded (next seq {self._next_seq}): re-read the streams and append again"
            ) from None
        self._discard_pending()
        self._last_flush = self._monotonic()

    def maybe_flush(self) -> None:
        """Commit if the policy says so: a full batch, or (``INTERVAL``) ``interval_s`` elapsed."""
        self._check_open()
        if not self._pending:
            return
        if len(self._pending) >= self.batch_size or (
            self.durability is Durability.INTERVAL and self._monotonic() - self._last_flush >= self.interval_s
        ):
            self.flush()

    def read(self, where: ReadFilter | None = None, *, batch_size: int = 10_000) -> Iterator[StoredEvent]:
        """Records matching ``where`` in sequence order: archived segments first, then the
        live table. Flushes the buffer first, so everything appended is readable.

        Raises
        ------
        CorruptRecordError
            On reaching a record whose payload fails its checksum (the records before it are
            yielded first).
        """
        self._check_open()
        where = where if where is not None else ReadFilter()
        where = _check_filter(where)
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
        self.flush()
        return self._read(where, batch_size)

    def _read(self, where: ReadFilter, batch_size: int) -> Iterator[StoredEvent]:
        if where.types is not None and not where.types:
            return
        archived = 0
        if self._archive is not None:
            self._archive.refresh()
            archived = self._archive.last_seq()
            if where.from_seq <= archived:
                yield from self._archive.read(where)
        crc32 = zlib.crc32
        for records in self._record_pages(where, max(archived, where.from_seq - 1), batch_size):
            if list(map(crc32, map(_PAYLOAD, records))) == list(map(_CHECKSUM, records)):
                yield from records
                continue
            for record in records:
                if crc32(record.payload) != record.checksum:
                    raise CorruptRecordError(
                        f"record {record.seq} ({record.type_name}) in {self._describe()}: payload "
                        "checksum mismatch (a torn or corrupted write); verify() reports the first "
                        "bad record and truncate_after() cuts the tail from it"
                    )
                yield record

    def last_seq(self) -> int:
        """The highest sequence number given out, committed or buffered (0 if none)."""
        return self._next_seq - 1

    def stream_version(self, stream_id: str) -> int:
        """The stream's highest version, committed or buffered (0 if none)."""
        return self._versions.get(stream_id, 0)

    def contains(self, message_id: str) -> bool:
        """Whether a message with this id is stored, archived or buffered."""
        self._check_open()
        return message_id in self._pending_ids or bool(self._stored_ids([message_id]))

    def save_snapshot(self, name: str, seq: int, payload: bytes) -> None:
        """Store a snapshot of projection ``name`` taken after record ``seq`` (replacing the
        previous one). Flushes first, so a snapshot never describes records a crash could lose."""
        self._check_open()
        if not name:
            raise ValueError("snapshot name must not be empty")
        if isinstance(seq, bool) or not isinstance(seq, int) or not 0 <= seq <= self.last_seq():
            raise ValueError(
                f"snapshot seq must be between 0 and the last seq {self.last_seq()}, got {seq!r}"
            )
        if not isinstance(payload, bytes):
            raise TypeError(f"snapshot payload must be bytes, got {type(payload).__name__}")
        self.flush()
        self._put_snapshot(name, seq, payload)

    def load_snapshot(self, name: str) -> tuple[int, bytes] | None:
        """The snapshot of projection ``name``: ``(seq, payload)``, or ``None``."""
        self._check_open()
        return self._get_snapshot(name)

    def close(self) -> None:
        """Flush and release the store; idempotent. The connection is released even if the
        final flush fails (the error is raised)."""
        if self._closed:
            return
        try:
            self.flush()
        finally:
            self._closed = True
            self._discard_pending()
            self._release()

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._closed

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # -- integrity and retention ---------------------------------------------------------------

    @property
    def archive(self) -> SegmentArchive | None:
        """The archive of this store (``None`` without ``archive_dir``)."""
        return self._archive

    def verify(self, *, decode: bool = True) -> VerifyReport:
        """Scan every record (archive and live) in order: sequence numbers without gaps,
        payload checksums and (``decode``) that each payload decodes under its type name.

        Returns
        -------
        VerifyReport
            How many records are good before the first bad one, and which one that is.
        """
        self._check_open()
        self.flush()
        good = 0
        expected = 1
        try:
            for event in self._verify_source():
                if event.seq != expected:
                    return VerifyReport(
                        good, expected, f"record {expected} is missing (next is {event.seq})", self.last_seq()
                    )
                if decode:
                    decode_payload(event.type_name, event.payload, event.seq)
                good += 1
                expected += 1
        except CorruptRecordError as exc:
            return VerifyReport(good, expected, str(exc), self.last_seq())
        return VerifyReport(good, None, None, self.last_seq())

    def _verify_source(self) -> Iterator[StoredEvent]:
        return self._read(ReadFilter(), 10_000)

    def truncate_after(self, seq: int) -> int:
        """Delete every record after ``seq`` (and snapshots taken after it), then reload the
        counters: the next append continues at ``seq + 1``. Use it to cut a corrupted tail that
        :meth:`verify` reported. Archived records cannot be cut.

        Returns
        -------
        int
            The number of records deleted.
        """
        self._check_open()
        if isinstance(seq, bool) or not isinstance(seq, int) or seq < 0:
            raise ValueError(f"seq must be a non-negative integer, got {seq!r}")
        archived = self._archive.last_seq() if self._archive is not None else 0
        if seq < archived:
            raise StoreError(f"cannot truncate after seq {seq}: records up to {archived} are archived")
        self.flush()
        deleted = self._delete_after(seq)
        self._apply(self._load_state())
        return deleted

    def drop_archived(self, through_seq: int) -> int:
        """Delete live rows up to ``through_seq`` once the archive holds them (used by
        :func:`~tradeloop.store.archive.archive_before`); their ids and stream versions are
        kept, so idempotency and numbering go on as if nothing moved. Returns rows deleted."""
        self._check_open()
        if self._archive is None:
            raise StoreError(f"{self._describe()} has no archive_dir")
        if through_seq > self._archive.last_seq():
            raise StoreError(
                f"cannot drop live records up to seq {through_seq}: the archive ends at "
                f"{self._archive.last_seq()}"
            )
        self.flush()
        return self._drop_live_through(through_seq)

    # -- internals -------------------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise StoreError(f"{self._describe()} is closed")

    def _learn_kinds(self, messages: Sequence[Message]) -> None:
        """Classify the message types not seen before (refusing what is not a Message)."""
        for index, message in enumerate(messages):
            cls = type(message)
            if cls in self._kinds:
                continue
            if not isinstance(message, Message):
                raise TypeError(f"messages[{index}] is a {cls.__name__}, not a tradeloop Message")
            # Commands and events carry an id; market data (and any other message) none.
            if issubclass(cls, (Command, Event)):
                self._kinds[cls] = _EVENT
            elif issubclass(cls, Data) and hasattr(cls, "instrument_id"):
                self._kinds[cls] = _MARKET
            else:
                self._kinds[cls] = _OTHER

    def _discard_pending(self) -> None:
        self._pending = []
        self._pending_ids = set()

    def _known_ids(self, ids: list[str]) -> set[str]:
        pending_ids = self._pending_ids
        fresh = [i for i in ids if i not in pending_ids]
        return self._stored_ids(list(dict.fromkeys(fresh))) if fresh else set()


def type_kinds(types: Iterable[str]) -> tuple[bool, bool]:
    """Whether records of these type names may carry a message id (commands and events), and
    whether they may carry none (market data and the rest). A name this process does not know
    may be either."""
    with_id = without_id = False
    for name in types:
        try:
            cls = message_type(name)
        except KeyError:
            return True, True
        if issubclass(cls, (Command, Event)):
            with_id = True
        else:
            without_id = True
    return with_id, without_id


def _check_filter(where: ReadFilter) -> ReadFilter:
    """``where``, checked, with ``types`` as a frozenset (any collection of names is taken)."""
    if not isinstance(where, ReadFilter):
        raise TypeError(f"where must be a ReadFilter, got {type(where).__name__}")
    if where.from_seq < 1:
        raise ValueError(f"ReadFilter.from_seq must be at least 1, got {where.from_seq}")
    if where.types is not None and not isinstance(where.types, frozenset):
        if isinstance(where.types, str):
            raise TypeError("ReadFilter.types must be a set of type names, not a string")
        return dataclasses.replace(where, types=frozenset(where.types))
    return where
