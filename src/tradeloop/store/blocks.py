"""Record blocks: many records stored as one row.

A SQLite row costs several microseconds to insert and about two to read back, whatever it
holds, and each index on it costs more. So the SQLite store keeps the records of a committed
batch as *blocks*: each block holds up to :data:`BLOCK_RECORDS` records, encoded as one msgpack
array of :class:`~tradeloop.store.port.StoredEvent` arrays (every field of a record, its
payload checksum included), which decodes straight into the records a read returns. What must
be found without reading the log (message ids, correlation ids) is indexed beside the blocks.

Each block holds one *kind* of record: commands and events (:data:`EVENTS`), or market data
and anything else without an id (:data:`MARKET`). A read by an event type, a correlation id or
an order's stream then opens event blocks only (about a third of a session's records), and a
read of market data skips the event blocks. So a block's sequence numbers increase but are not
consecutive: blocks of the two kinds (and rows of an older layout) interleave, and a read merges
them in sequence order.

Beside the records a block keeps a summary (its type names and each stream's highest version),
so reads by type or stream skip blocks without decoding them and stream heads can be recounted
without a scan, and one CRC-32 over the encoded records, the summary and the block's numbers,
so damage outside the payloads (a sequence number, a stream, a summary, a time range) is found
as surely as damage to a payload, whose own CRC-32 then names the damaged record.
"""

from __future__ import annotations

import struct
import zlib
from bisect import bisect_right
from collections.abc import Iterator, Sequence
from operator import attrgetter, itemgetter

import msgspec

from tradeloop.store.buffered import Row
from tradeloop.store.port import CorruptRecordError, ReadFilter, StoredEvent

__all__ = [
    "BLOCK_RECORDS",
    "EVENTS",
    "MARKET",
    "Block",
    "BlockSummary",
    "decode_block",
    "block_checksum",
    "decode_summary",
    "encode_block",
    "matching",
    "merge_chunks",
    "split_blocks",
]

BLOCK_RECORDS = 4_096
"""Records per block at most."""

EVENTS = 0
"""The kind of block holding commands and events (records with a message id)."""

MARKET = 1
"""The kind of block holding market data and any other record without an id."""


class BlockSummary(msgspec.Struct, array_like=True, gc=False):
    """What a read or a recount needs to know of a block without decoding it."""

    types: list[str]
    heads: dict[str, int]  # stream -> its highest version in the block


class Block(msgspec.Struct, frozen=True, gc=False):
    """One block to store: its first and last sequence numbers, record count, kind,
    ``ts_event`` range, summary (its ``heads`` also at hand), encoded records and checksum."""

    first_seq: int
    last_seq: int
    count: int
    kind: int
    min_ts: int
    max_ts: int
    summary: bytes
    payload: bytes
    checksum: int
    heads: dict[str, int]

    def columns(self) -> tuple[int, int, int, int, int, int, bytes, bytes, int]:
        """The stored columns, in the table's order."""
        return (
            self.first_seq, self.last_seq, self.count, self.kind, self.min_ts, self.max_ts,
            self.summary, self.payload, self.checksum,
        )  # fmt: skip


_NUMBERS = struct.Struct("<6q")


def block_checksum(
    first_seq: int,
    last_seq: int,
    count: int,
    kind: int,
    min_ts: int,
    max_ts: int,
    summary: bytes,
    payload: bytes,
) -> int:
    """The CRC-32 of a block's numbers, summary and encoded records."""
    numbers = _NUMBERS.pack(first_seq, last_seq, count, kind, min_ts, max_ts)
    return zlib.crc32(payload, zlib.crc32(summary, zlib.crc32(numbers)))


_encode = msgspec.msgpack.Encoder().encode
_decode_records = msgspec.msgpack.Decoder(list[StoredEvent]).decode
_decode_summary = msgspec.msgpack.Decoder(BlockSummary).decode
_STREAM = itemgetter(1)
_VERSION = itemgetter(2)
_TYPE = itemgetter(3)
_TS_EVENT = itemgetter(4)
_SEQ = attrgetter("seq")


def split_blocks(rows: Sequence[Row]) -> Iterator[Sequence[Row]]:
    """Cut rows (in sequence order) into runs of at most :data:`BLOCK_RECORDS`."""
    for start in range(0, len(rows), BLOCK_RECORDS):
        yield rows[start : start + BLOCK_RECORDS]


def encode_block(rows: Sequence[Row], kind: int) -> Block:
    """The block of ``kind`` holding ``rows`` (in sequence order, at least one)."""
    payload = _encode(rows)  # each row encodes exactly as its StoredEvent would
    # Rows come in sequence order: a stream's last version is its highest.
    heads = dict(zip(map(_STREAM, rows), map(_VERSION, rows), strict=True))
    summary = _encode((sorted(set(map(_TYPE, rows))), heads))
    first, last, count = rows[0][0], rows[-1][0], len(rows)
    min_ts, max_ts = min(map(_TS_EVENT, rows)), max(map(_TS_EVENT, rows))
    checksum = block_checksum(first, last, count, kind, min_ts, max_ts, summary, payload)
    return Block(first, last, count, kind, min_ts, max_ts, summary, payload, checksum, heads)


def decode_block(
    first_seq: int,
    last_seq: int,
    count: int,
    kind: int,
    min_ts: int,
    max_ts: int,
    summary: bytes,
    payload: bytes,
    checksum: int,
) -> list[StoredEvent]:
    """The records of a stored block (its columns in the table's order).

    Raises
    ------
    CorruptRecordError
        If the block does not decode, does not hold the records its row says, or fails its
        checksum while every payload passes its own. A block whose damage is inside a payload
        is returned as it is: the reader's per-record check then names the damaged record.
    """
    where = f"record block {first_seq}-{last_seq}"
    try:
        records = _decode_records(payload)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise CorruptRecordError(f"record {first_seq}: {where} is damaged: {exc}") from None
    if len(records) != count or not records or records[0].seq != first_seq or records[-1].seq != last_seq:
        held = f"{len(records)} records, {records[0].seq}-{records[-1].seq}" if records else "no records"
        raise CorruptRecordError(f"record {first_seq}: {where} is damaged: it holds {held}")
    stored = block_checksum(first_seq, last_seq, count, kind, min_ts, max_ts, summary, payload)
    if stored != checksum and all(zlib.crc32(r.payload) == r.checksum for r in records):
        # Every payload is intact, so the damage is elsewhere (a sequence number, stream,
        # version, type, time, id, the summary or the block's numbers): no record of the block
        # can be trusted, nor can reads that skip blocks by their summaries.
        raise CorruptRecordError(
            f"record {first_seq}: {where} fails its checksum (a torn or corrupted write); "
            "verify() reports the first bad record and truncate_after() cuts the tail from it"
        )
    return records


def decode_summary(summary: bytes, first_seq: int) -> BlockSummary:
    """A block's summary (its type names and stream heads)."""
    try:
        return _decode_summary(summary)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise CorruptRecordError(
            f"record {first_seq}: the summary of its record block is damaged: {exc}"
        ) from None


def matching(records: list[StoredEvent], where: ReadFilter, after_seq: int = 0) -> list[StoredEvent]:
    """The records with ``seq > after_seq`` that match ``where`` (``records`` in order)."""
    low = max(after_seq + 1, where.from_seq)
    high = where.to_seq
    from_ts, to_ts, types = where.from_ts, where.to_ts, where.types
    stream, correlation = where.stream_id, where.correlation_id
    whole = low <= records[0].seq and (high is None or high >= records[-1].seq)
    if (
        whole
        and from_ts is None
        and to_ts is None
        and types is None
        and stream is None
        and correlation is None
    ):
        return records
    return [
        r
        for r in records
        if r.seq >= low
        and (high is None or r.seq <= high)
        and (from_ts is None or r.ts_event >= from_ts)
        and (to_ts is None or r.ts_event < to_ts)
        and (types is None or r.type_name in types)
        and (stream is None or r.stream_id == stream)
        and (correlation is None or r.correlation_id == correlation)
    ]


def merge_chunks(sources: list[Iterator[list[StoredEvent]]]) -> Iterator[list[StoredEvent]]:
    """Merge sources of records into one in sequence order. Each source yields lists of records
    in sequence order (a list may be empty); so does the merge, a list per step: every record of
    every source up to the lowest last sequence number the sources hold, sorted (a merge of a
    few sorted runs, cheap for Python's sort)."""
    if len(sources) == 1:
        yield from (chunk for chunk in sources[0] if chunk)
        return
    buffers: list[list[StoredEvent]] = [[] for _ in sources]
    live = list(range(len(sources)))
    while True:
        for i in list(live):
            while not buffers[i]:
                chunk = next(sources[i], None)
                if chunk is None:
                    live.remove(i)
                    break
                buffers[i] = chunk
        if not live:
            return
        if len(live) == 1:
            (i,) = live
            yield buffers[i]
            buffers[i] = []
            continue
        bound = min(buffers[i][-1].seq for i in live)
        out: list[StoredEvent] = []
        for i in live:
            held = buffers[i]
            if held[-1].seq <= bound:
                out += held
                buffers[i] = []
            else:
                cut = bisect_right(held, bound, key=_SEQ)
                out += held[:cut]
                buffers[i] = held[cut:]
        out.sort(key=_SEQ)
        yield out
