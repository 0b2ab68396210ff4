"""Recording a node's messages into its event store, behind the ``EventStore`` port.

The bus calls :meth:`StoreRecorder.record` for every message as it is published, before any
handler runs (the store is the authority: what a handler reacts to is already captured). How
soon a captured message is durable is the store's durability policy:

* ``event``: the recorder appends each message at once and the store commits and syncs it
  before the publish returns - nothing a handler did can be lost, at a cost per message;
* ``batch``: messages are buffered and appended in batches (``batch_size``) and at least once
  a second by the node's housekeeping; a crash loses at most the unflushed tail;
* ``interval``: as ``batch``, committed every ``interval_seconds``.
"""

from __future__ import annotations

from pathlib import Path

from tradeloop.core.message import Message
from tradeloop.runtime.config import StoreSettings
from tradeloop.store.port import Durability, EventStore
from tradeloop.store.sqlite_store import SqliteEventStore

__all__ = ["StoreRecorder", "open_store"]


def open_store(settings: StoreSettings, default_path: Path) -> EventStore:
    """The node's store as configured (SQLite at ``path`` or ``default_path``; PostgreSQL at ``dsn``)."""
    durability = Durability(settings.durability)
    if settings.backend == "postgres":
        from tradeloop.store.postgres_store import PostgresEventStore  # psycopg only when used

        assert settings.dsn is not None  # the config validator guarantees it
        return PostgresEventStore(
            settings.dsn,
            schema=settings.schema_name,
            durability=durability,
            batch_size=settings.batch_size,
            interval_s=settings.interval_seconds,
        )
    path = settings.path or default_path
    path.parent.mkdir(parents=True, exist_ok=True)
    return SqliteEventStore(
        path, durability=durability, batch_size=settings.batch_size, interval_s=settings.interval_seconds
    )


class StoreRecorder:
    """The bus recorder of a node: captures every message and feeds the store."""

    __slots__ = ("_buffer", "_immediate", "path", "recorded", "store")

    def __init__(self, store: EventStore, *, path: Path | None = None) -> None:
        self.store = store
        self.path = path
        self._buffer: list[Message] = []
        self._immediate = getattr(store, "durability", None) is Durability.EVENT
        self.recorded = 0

    def record(self, message: Message) -> None:
        """The bus recorder: called for each message before its handlers run."""
        self.recorded += 1
        if self._immediate:
            self.store.append((message,))
        else:
            self._buffer.append(message)

    def maybe_flush(self) -> None:
        """Hand buffered messages to the store; the store commits per its policy."""
        if self._buffer:
            batch, self._buffer = self._buffer, []
            self.store.append(batch)
        self.store.maybe_flush()

    def flush(self) -> None:
        """Everything captured so far appended and committed."""
        if self._buffer:
            batch, self._buffer = self._buffer, []
            self.store.append(batch)
        self.store.flush()

    def close(self) -> None:
        self.flush()
        self.store.close()
