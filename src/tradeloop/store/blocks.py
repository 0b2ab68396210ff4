"""Record blocks: many records stored as one row.

A SQLite row costs several microseconds to insert and about two to read back, whatever it
holds, and each index on it costs more. So the SQLite store keeps the records of a committed
batch as *blocks*: each block holds up to :data:`BLOCK_RECORDS` records, encoded as one msgpack
array of :class:`~tradeloop.store.port.StoredEvent` arrays (every field of a record, its
payload checksum included), which decodes straight into the records a read returns. What must
be found without reading the log (message ids, correlation ids) is indexed beside the blocks.

A block's sequence numbers increase but need not be consecutive (rows of an older layout may
sit between them); a block spans at most :data:`BLOCK_SPAN` sequence numbers, so merging it
with such rows stays a bounded piece of work. Beside the records a block keeps a summary (its
type names and each stream's highest version), so reads by type or stream skip blocks without
decoding them and stream heads can be recounted without a scan, and a CRC-32 of the encoded
block, so damage outside the payloads (a sequence number, a stream, a type) is found as surely
as damage to a payload.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator, Sequence
from operator import itemgetter
from typing import TypeAlias

import msgspec

from tradeloop.store.port import CorruptRecordError, ReadFilter, StoredEvent

__all__ = [
    "BLOCK_RECORDS",
    "BLOCK_SPAN",
    "Block",
    "BlockSummary",
    "decode_block",
    "decode_summary",
    "encode_block",
    "matching",
    "split_blocks",
]

BLOCK_RECORDS = 4_096
"""Records per block at most."""

BLOCK_SPAN = 16_384
"""Sequence numbers a block spans at most."""

Row: TypeAlias = tuple[int, str, int, str, int, int, str | None, str | None, str | None, bytes, int]
"""A record as written (the :data:`~tradeloop.store.buffered.Row` layout)."""


class BlockSummary(msgspec.Struct, array_like=True, gc=False):
    """What a read or a recount needs to know of a block without decoding it."""

    types: list[str]
    heads: dict[str, int]  # stream -> its highest version in the block


class Block(msgspec.Struct, frozen=True, gc=False):
    """One block to store: its first and last sequence numbers, record count, ``ts_event``
    range, summary (its ``heads`` also at hand), encoded records and their CRC-32."""

    first_seq: int
    last_seq: int
    count: int
    min_ts: int
    max_ts: int
    summary: bytes
    payload: bytes
    checksum: int
    heads: dict[str, int]

    def columns(self) -> tuple[int, int, int, int, int, bytes, bytes, int]:
        """The stored columns, in the table's order."""
        return (
            self.first_seq, self.last_seq, self.count, self.min_ts, self.max_ts,
            self.summary, self.payload, self.checksum,
        )  # fmt: skip


_encode = msgspec.msgpack.Encoder().encode
_decode_records = msgspec.msgpack.Decoder(list[StoredEvent]).decode
_decode_summary = msgspec.msgpack.Decoder(BlockSummary).decode
_STREAM = itemgetter(1)
_VERSION = itemgetter(2)
_TYPE = itemgetter(3)
_TS_EVENT = itemgetter(4)


def split_blocks(rows: Sequence[Row]) -> Iterator[Sequence[Row]]:
    """Cut rows (in sequence order) into runs that each fit a block."""
    start = 0
    n = len(rows)
    while start < n:
        limit = rows[start][0] + BLOCK_SPAN
        end = min(start + BLOCK_RECORDS, n)
        if rows[end - 1][0] >= limit:  # the run spans too far (rows of another layout between)
            end = start + 1
            while rows[end][0] < limit:
                end += 1
        yield rows[start:end]
        start = end


def encode_block(rows: Sequence[Row]) -> Block:
    """The block holding ``rows`` (in sequence order, at least one)."""
    payload = _encode(rows)  # each row encodes exactly as its StoredEvent would
    # Rows come in sequence order: a stream's last version is its highest.
    heads = dict(zip(map(_STREAM, rows), map(_VERSION, rows), strict=True))
    types = sorted(set(map(_TYPE, rows)))
    return Block(
        rows[0][0],
        rows[-1][0],
        len(rows),
        min(map(_TS_EVENT, rows)),
        max(map(_TS_EVENT, rows)),
        _encode((types, heads)),
        payload,
        zlib.crc32(payload),
        heads,
    )


def decode_block(first_seq: int, last_seq: int, payload: bytes, checksum: int) -> list[StoredEvent]:
    """The records of a stored block.

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
    if not records or records[0].seq != first_seq or records[-1].seq != last_seq:
        held = f"{records[0].seq}-{records[-1].seq}" if records else "nothing"
        raise CorruptRecordError(f"record {first_seq}: {where} is damaged: it holds records {held}")
    if zlib.crc32(payload) != checksum and all(zlib.crc32(r.payload) == r.checksum for r in records):
        # Every payload is intact, so the damage is elsewhere (a sequence number, stream,
        # version, type, time or id): no record of the block can be trusted.
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
