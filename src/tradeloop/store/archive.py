"""Retention: old records move out of the live table into compressed segment files.

:func:`archive_before` moves the oldest records, in whole segments, to an archive folder: a
segment is a fixed range of ``segment_size`` sequence numbers (``1..S``, ``S+1..2S``, ...),
archived once it is complete and every record in it has ``ts_event`` before the cutoff. The
archive is always a prefix of the log (the first segment that is too new stops the run), so
"archive, then live" is sequence order.

Files in the folder:

* ``<first seq>-<last seq>.msgpack.zst``: the segment's records, a msgpack list of
  :class:`~tradeloop.store.port.StoredEvent` arrays (segment format 2; format 1, written before
  records carried their checksum, is a list of maps and still read), zstd-compressed with a
  content checksum (a damaged file is reported as
  :class:`~tradeloop.store.port.CorruptRecordError` naming its sequence range).
* ``index.json``: the segments in order, with their sequence and ``ts_event`` ranges, so a
  read opens only the segments it needs.

Each segment is written and synced before the index names it, and the index is replaced
atomically; only then are the live rows deleted (keeping their ids and stream versions, so
idempotency and numbering go on as if nothing moved). A run stopped at any point leaves either
an unlisted file (rewritten next time) or a listed segment whose live rows still exist (the
store skips them on read and deletes them when it next opens or archives).
"""

from __future__ import annotations

import os
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import msgspec
import zstandard

from tradeloop.store.port import CorruptRecordError, ReadFilter, StoredEvent, StoreError

__all__ = ["ArchiveReport", "ArchivableStore", "Segment", "SegmentArchive", "archive_before"]

INDEX_FILE = "index.json"
_FORMAT = 2
_READS = frozenset({1, 2})  # index formats this version reads (1: every segment is of format 1)


class Segment(msgspec.Struct, frozen=True, kw_only=True):
    """One archived segment: records ``first_seq..last_seq`` (all of them), their ``ts_event``
    range, its file (relative to the archive folder) and the file's size in bytes."""

    file: str
    first_seq: int
    last_seq: int
    min_ts: int
    max_ts: int
    size: int
    format: int = 1  # of the file: 1 (records as maps, before checksums), 2 (StoredEvent arrays)

    @property
    def count(self) -> int:
        return self.last_seq - self.first_seq + 1


class _RecordV1(msgspec.Struct, frozen=True, gc=False):
    """A record as segments of format 1 hold it (a map, without its checksum)."""

    seq: int
    stream_id: str
    version: int
    type_name: str
    ts_event: int
    ts_init: int
    message_id: str | None
    correlation_id: str | None
    causation_id: str | None
    payload: bytes

    def upgraded(self) -> StoredEvent:
        """The record with the checksum of its payload."""
        return StoredEvent(
            self.seq, self.stream_id, self.version, self.type_name, self.ts_event, self.ts_init,
            self.message_id, self.correlation_id, self.causation_id, self.payload,
            zlib.crc32(self.payload),
        )  # fmt: skip


class _Index(msgspec.Struct, kw_only=True):
    format: int = _FORMAT
    store_id: int = 0  # the store the segments came from (see SegmentArchive.bind)
    segments: list[Segment] = msgspec.field(default_factory=list)


class SegmentArchive:
    """The archive folder of one store: reads segments and adds new ones.

    The folder is created when the first segment is written; a missing folder is an empty
    archive. An archive belongs to one store (:meth:`bind`): opening a store with another
    store's archive folder is refused rather than mixing two logs.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self._segments: list[Segment] = []
        self._stamp: tuple[int, int] | None = None
        self._owner = 0
        self._indexed_owner = 0
        self._encode = msgspec.msgpack.Encoder().encode
        self._decode = msgspec.msgpack.Decoder(list[StoredEvent]).decode
        self._decode_v1 = msgspec.msgpack.Decoder(list[_RecordV1]).decode
        self.refresh()

    @property
    def segments(self) -> tuple[Segment, ...]:
        """The archived segments, in sequence order."""
        return tuple(self._segments)

    def last_seq(self) -> int:
        """The last archived sequence number (0 if the archive is empty)."""
        return self._segments[-1].last_seq if self._segments else 0

    def bind(self, store_id: int) -> None:
        """Tie the archive to the store with this id (kept in the store and in the index).

        Raises
        ------
        StoreError
            If the folder already holds segments of another store.
        """
        self._owner = store_id
        self._check_owner()

    def _check_owner(self) -> None:
        if self._segments and self._owner and self._indexed_owner != self._owner:
            raise StoreError(
                f"archive {self.folder} holds the segments of another store "
                f"(store id {self._indexed_owner}, this store is {self._owner})"
            )

    def refresh(self) -> None:
        """Reload the index if it changed on disk (another process archived)."""
        path = self.folder / INDEX_FILE
        try:
            st = path.stat()
        except FileNotFoundError:
            self._segments, self._stamp = [], None
            return
        stamp = (st.st_mtime_ns, st.st_size)
        if stamp == self._stamp:
            return
        try:
            index = msgspec.json.decode(path.read_bytes(), type=_Index)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise StoreError(f"archive index {path} is unreadable: {exc}") from None
        if index.format not in _READS:
            raise StoreError(
                f"archive index {path} has format {index.format}; this version reads {sorted(_READS)}"
            )
        for before, after in zip(index.segments, index.segments[1:], strict=False):
            if after.first_seq != before.last_seq + 1:
                raise StoreError(
                    f"archive index {path}: segment {after.file} starts at seq {after.first_seq}, "
                    f"expected {before.last_seq + 1}"
                )
        self._segments, self._stamp, self._indexed_owner = index.segments, stamp, index.store_id
        self._check_owner()

    def load(self, segment: Segment) -> list[StoredEvent]:
        """All records of ``segment``.

        Raises
        ------
        CorruptRecordError
            If the file is missing, truncated or fails its checksum.
        """
        where = f"archived segment {segment.file} (records {segment.first_seq}-{segment.last_seq})"
        try:
            blob = (self.folder / segment.file).read_bytes()
        except OSError as exc:
            raise CorruptRecordError(f"record {segment.first_seq}: {where} cannot be read: {exc}") from None
        if len(blob) != segment.size:
            raise CorruptRecordError(
                f"record {segment.first_seq}: {where} has {len(blob)} bytes, the index says {segment.size}"
            )
        try:
            data = zstandard.ZstdDecompressor().decompress(blob)
            if segment.format == 1:
                records = [r.upgraded() for r in self._decode_v1(data)]
            else:
                records = self._decode(data)
        except (zstandard.ZstdError, msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise CorruptRecordError(f"record {segment.first_seq}: {where} is damaged: {exc}") from None
        if len(records) != segment.count or (records and records[0].seq != segment.first_seq):
            raise CorruptRecordError(
                f"record {segment.first_seq}: {where} holds {len(records)} records, expected {segment.count}"
            )
        return records

    def read(self, where: ReadFilter) -> Iterator[StoredEvent]:
        """Archived records matching ``where``, in sequence order (only the segments whose
        ranges can match are opened)."""
        for segment in self._segments:
            if segment.last_seq < where.from_seq:
                continue
            if where.to_seq is not None and segment.first_seq > where.to_seq:
                return
            if (where.from_ts is not None and segment.max_ts < where.from_ts) or (
                where.to_ts is not None and segment.min_ts >= where.to_ts
            ):
                continue
            for event in self.load(segment):
                if _matches(event, where):
                    yield event

    def add(self, records: list[StoredEvent]) -> Segment:
        """Write ``records`` (the next records after :meth:`last_seq`, without gaps) as a
        segment, sync it, and list it in the index."""
        if not records:
            raise ValueError("a segment needs at least one record")
        first, last = records[0].seq, records[-1].seq
        if first != self.last_seq() + 1 or last - first + 1 != len(records):
            raise StoreError(
                f"segment records {first}-{last} ({len(records)} records) do not continue the "
                f"archive at seq {self.last_seq() + 1} without gaps"
            )
        self.folder.mkdir(parents=True, exist_ok=True)
        name = f"{first:020d}-{last:020d}.msgpack.zst"
        blob = zstandard.ZstdCompressor(level=3, write_checksum=True).compress(self._encode(records))
        _write_synced(self.folder / name, blob)
        segment = Segment(
            file=name,
            first_seq=first,
            last_seq=last,
            min_ts=min(r.ts_event for r in records),
            max_ts=max(r.ts_event for r in records),
            size=len(blob),
            format=2,
        )
        segments = [*self._segments, segment]
        index = _Index(store_id=self._owner, segments=segments)
        _write_synced(self.folder / INDEX_FILE, msgspec.json.encode(index))
        self._segments, self._indexed_owner = segments, self._owner
        st = (self.folder / INDEX_FILE).stat()
        self._stamp = (st.st_mtime_ns, st.st_size)
        return segment


def _write_synced(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (temporary file, fsync, rename, fsync folder)."""
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _matches(event: StoredEvent, where: ReadFilter) -> bool:
    return (
        event.seq >= where.from_seq
        and (where.to_seq is None or event.seq <= where.to_seq)
        and (where.from_ts is None or event.ts_event >= where.from_ts)
        and (where.to_ts is None or event.ts_event < where.to_ts)
        and (where.types is None or event.type_name in where.types)
        and (where.stream_id is None or event.stream_id == where.stream_id)
        and (where.correlation_id is None or event.correlation_id == where.correlation_id)
    )


class ArchivableStore(Protocol):
    """What :func:`archive_before` needs of a store (both backends provide it)."""

    @property
    def archive(self) -> SegmentArchive | None: ...

    def flush(self) -> None: ...

    def last_seq(self) -> int: ...

    def read(self, where: ReadFilter | None = None, *, batch_size: int = 10_000) -> Iterator[StoredEvent]: ...

    def drop_archived(self, through_seq: int) -> int: ...


@dataclass(frozen=True, slots=True)
class ArchiveReport:
    """What one :func:`archive_before` run moved: the new ``segments``, their ``records`` in
    total, and the sequence number the archive now holds records up to."""

    segments: tuple[Segment, ...]
    records: int
    archived_through: int


def archive_before(
    store: ArchivableStore,
    ts_ns: int,
    folder: Path | str | None = None,
    *,
    segment_size: int = 100_000,
) -> ArchiveReport:
    """Move the records older than ``ts_ns`` (by ``ts_event``) into the store's archive, in
    whole segments of ``segment_size`` sequence numbers.

    Parameters
    ----------
    store:
        A store opened with ``archive_dir``.
    ts_ns:
        The cutoff: a segment moves only if every record in it has ``ts_event < ts_ns``.
    folder:
        The archive folder; if given it must be the store's ``archive_dir``.
    segment_size:
        Sequence numbers per segment; segments are aligned (``1..S``, ``S+1..2S``, ...) and only
        complete ones move.

    Returns
    -------
    ArchiveReport
        The segments written by this run.
    """
    if isinstance(ts_ns, bool) or not isinstance(ts_ns, int):
        raise TypeError(f"ts_ns must be an int of nanoseconds, got {type(ts_ns).__name__}")
    if isinstance(segment_size, bool) or not isinstance(segment_size, int) or segment_size < 1:
        raise ValueError(f"segment_size must be a positive integer, got {segment_size!r}")
    archive = store.archive
    if archive is None:
        raise StoreError("the store has no archive folder: open it with archive_dir=...")
    if folder is not None and Path(folder).resolve() != archive.folder.resolve():
        raise ValueError(f"folder {folder} is not the store's archive folder {archive.folder}")
    store.flush()
    archive.refresh()
    store.drop_archived(archive.last_seq())  # finish a run that stopped after writing a segment
    written: list[Segment] = []
    last = store.last_seq()
    while True:
        first = archive.last_seq() + 1
        end = ((first - 1) // segment_size + 1) * segment_size
        if end > last:
            break
        records = list(store.read(ReadFilter(from_seq=first, to_seq=end), batch_size=segment_size))
        if len(records) != end - first + 1:
            raise StoreError(f"records {first}-{end} are not all in the live table ({len(records)} found)")
        if max(r.ts_event for r in records) >= ts_ns:
            break
        written.append(archive.add(records))
        store.drop_archived(end)
    return ArchiveReport(tuple(written), sum(s.count for s in written), archive.last_seq())
