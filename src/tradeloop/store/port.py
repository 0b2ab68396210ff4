"""The ``EventStore`` port: the durable, append-only authority every projection is rebuilt from.

Each record holds a global sequence number (from 1, without gaps), a stream id and a version
within the stream (``(stream_id, version)`` is unique), the message's stable registered type
name, both timestamps, its id, correlation and causation ids, and the msgpack-encoded message.

Streams: every state-changing message belongs to one stream (:func:`stream_of`): the order
(``order-<client order id>``), the position, the account, a component, or ``node`` for the
rest; market data goes to ``market-<instrument>``. A stream's versions count from 1.

Appends are idempotent by message id: appending a message whose id is already stored is a
no-op reported in :class:`AppendResult.duplicates` (market data has no id and is never
deduplicated). A writer that appends a stream version another writer already stored gets
:class:`ConcurrencyError` (two nodes writing one store).

Backends (SQLite, PostgreSQL) implement :class:`EventStore` and pass one contract suite.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol, runtime_checkable

import msgspec

from tradeloop.core.errors import TradeloopError
from tradeloop.core.message import Data, Message, message_type

__all__ = [
    "AppendResult",
    "ConcurrencyError",
    "CorruptRecordError",
    "Durability",
    "EventStore",
    "ReadFilter",
    "StoredEvent",
    "StoreError",
    "decode_payload",
    "encode_message",
    "stream_of",
]


class StoreError(TradeloopError):
    """The event store failed (I/O, a closed store, a broken invariant)."""


class ConcurrencyError(StoreError):
    """Another writer already stored this stream version."""


class CorruptRecordError(StoreError):
    """A record cannot be decoded (a torn or corrupted write); names the sequence number."""


class Durability(StrEnum):
    """When an append is on disk.

    ``EVENT``: each append call is committed and synced before it returns (safest, slowest).
    ``BATCH``: appends are buffered and committed per batch of ``batch_size`` records and on
    :meth:`EventStore.flush` (a crash loses at most the unflushed batch).
    ``INTERVAL``: as ``BATCH``, and also committed every ``interval`` seconds of wall time by
    whoever drives :meth:`EventStore.maybe_flush`.
    """

    EVENT = "event"
    BATCH = "batch"
    INTERVAL = "interval"


class StoredEvent(msgspec.Struct, frozen=True, gc=False, array_like=True):
    """One stored record: its numbers and ids, the encoded message and the message's CRC-32
    as it was stored (reads check it). Encoded as an array, in field order (the layout of a
    stored block and of an archived segment)."""

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
    checksum: int

    def decode(self) -> Message:
        """The message, decoded under its registered type name (aliases included)."""
        return decode_payload(self.type_name, self.payload, self.seq)


@dataclass(frozen=True, slots=True)
class AppendResult:
    """What one append did: ``appended`` new records with sequence numbers ``first_seq`` to
    ``last_seq`` (both ``0`` when nothing was appended) and ``duplicates`` skipped by id."""

    appended: int
    duplicates: int
    first_seq: int
    last_seq: int


@dataclass(frozen=True, slots=True)
class ReadFilter:
    """Which records a read returns, in sequence order; every given condition must hold.

    Times are ``ts_event`` in nanoseconds, ``from_ts`` inclusive and ``to_ts`` exclusive;
    sequence numbers are inclusive on both ends.
    """

    from_seq: int = 1
    to_seq: int | None = None
    from_ts: int | None = None
    to_ts: int | None = None
    types: frozenset[str] | None = None
    stream_id: str | None = None
    correlation_id: str | None = None


@runtime_checkable
class EventStore(Protocol):
    """An append-only event store (see the module docstring for the record and its rules)."""

    def append(self, messages: Sequence[Message]) -> AppendResult:
        """Append messages in order (subject to the durability policy)."""
        ...

    def flush(self) -> None:
        """Commit and sync everything appended so far."""
        ...

    def maybe_flush(self) -> None:
        """Commit if the durability policy says it is time (``INTERVAL``); cheap otherwise."""
        ...

    def read(self, where: ReadFilter | None = None, *, batch_size: int = 10_000) -> Iterator[StoredEvent]:
        """Records matching ``where`` in sequence order (archived segments included)."""
        ...

    def last_seq(self) -> int:
        """The highest committed or buffered sequence number (0 for an empty store)."""
        ...

    def stream_version(self, stream_id: str) -> int:
        """The stream's highest version (0 if it has none)."""
        ...

    def contains(self, message_id: str) -> bool:
        """Whether a message with this id is stored."""
        ...

    def save_snapshot(self, name: str, seq: int, payload: bytes) -> None:
        """Store a projection snapshot taken after record ``seq`` (replaces an older one)."""
        ...

    def load_snapshot(self, name: str) -> tuple[int, bytes] | None:
        """The latest snapshot of that name: ``(seq, payload)``, or ``None``."""
        ...

    def close(self) -> None:
        """Flush and release the store (idempotent)."""
        ...


_ENCODER = msgspec.msgpack.Encoder()
_DECODERS: dict[str, msgspec.msgpack.Decoder[Message]] = {}


def encode_message(message: Message) -> bytes:
    return _ENCODER.encode(message)


def decode_payload(type_name: str, payload: bytes, seq: int = 0) -> Message:
    """Decode a stored payload; raises :class:`CorruptRecordError` naming the record."""
    decoder = _DECODERS.get(type_name)
    if decoder is None:
        try:
            cls = message_type(type_name)
        except KeyError:
            raise CorruptRecordError(
                f"record {seq}: unknown message type {type_name!r} (renamed without an alias, "
                "or its module is not imported)"
            ) from None
        decoder = _DECODERS[type_name] = msgspec.msgpack.Decoder(cls)
    try:
        return decoder.decode(payload)
    except (msgspec.DecodeError, msgspec.ValidationError, ValueError) as exc:
        raise CorruptRecordError(f"record {seq} ({type_name}): cannot decode: {exc}") from None


_KEYED_STREAMS = (("client_order_id", "order"), ("position_id", "position"), ("account_id", "account"))
_STREAM_ATTRS: dict[type, tuple[bool, tuple[tuple[str, str], ...]]] = {}


def _stream_attrs(cls: type) -> tuple[bool, tuple[tuple[str, str], ...]]:
    """Whether ``cls`` carries an order spec, and which stream keys it has: looked up once per
    type, since a ``getattr`` with a default that misses costs an exception each time."""
    return hasattr(cls, "order"), tuple((a, p) for a, p in _KEYED_STREAMS if hasattr(cls, a))


def stream_of(message: Message) -> str:
    """The stream a message belongs to (see the module docstring)."""
    if isinstance(message, Data):
        return f"market-{getattr(message, 'instrument_id', 'unknown')}"
    cls = type(message)
    rule = _STREAM_ATTRS.get(cls)
    if rule is None:
        rule = _STREAM_ATTRS[cls] = _stream_attrs(cls)
    has_order, keyed = rule
    if has_order:
        spec = message.order  # type: ignore[attr-defined]  # SubmitOrder carries its order's spec
        if spec is not None and getattr(spec, "client_order_id", None):
            return f"order-{spec.client_order_id}"
    for attr, prefix in keyed:
        value = getattr(message, attr)
        if value:
            return f"{prefix}-{value}"
    return "node"
