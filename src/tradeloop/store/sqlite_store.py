"""The embedded event store: one SQLite file in WAL mode, no server.

Tables
------
``blocks``
    The log: each committed batch is stored as blocks of up to 4,096 records of one kind,
    commands and events or market data (:mod:`tradeloop.store.blocks`), one row each with the
    block's first and last sequence numbers, count, kind, ``ts_event`` range, a summary (type
    names, each stream's highest version), the records as one msgpack value, and a checksum of
    it all. Every record keeps its own seq, stream and version, type name, timestamps, ids,
    payload and payload CRC-32. A row per record cost about 4 us to insert plus 1-2 us per
    index, and 2 us to read back; a block costs a fraction of that per record.
``ids``
    ``message_id -> seq`` for every command and event (the unique key that makes appends
    idempotent and refuses a second writer of the same message); kept when records are
    archived, so idempotency survives retention.
``correlations``
    ``(correlation_id, first_seq)``: the event blocks that hold records of a correlation id,
    once per block (a trade's chain usually sits in one), so the causal chain of a trade is
    found by opening only those.
``stream_heads``
    The highest version of every stream, raised by each batch, so opening the store reads one
    small table. ``(stream_id, version)`` is unique because every batch must continue the log
    (below), not through an index of its own.
``records``
    The layout before blocks, one row per record; still read (merged in sequence order with
    the blocks), never written: a trigger refuses inserts, so a release from before blocks
    cannot write into a file it would misread. ``PRAGMA user_version`` holds the layout
    (:data:`LAYOUT`); a file of a newer layout is refused.
``snapshots``
    The latest snapshot per projection name.
``archived_ids`` / ``archived_streams`` / ``meta``
    What retention keeps of archived records of the old layout (their message ids), each
    stream's highest archived version, and the sequence number archived through.

Reads: the event blocks, the market blocks and the old layout's rows are each read in sequence
order and merged. Ranges of sequence numbers and time prune blocks, summaries skip blocks that
cannot hold a type or stream asked for, and a read by correlation id opens only the event
blocks the ``correlations`` index names. A read that meets a block another connection has
since archived or cut stops with a :class:`~tradeloop.store.port.StoreError` (read again).

Damage: a damaged payload is named by its record's own checksum, and everything before it can
be recovered. Damage elsewhere in a block (its numbers, streams, ids, summary) fails the
block's checksum while its payloads pass theirs: no record of that block can be trusted, so
:meth:`~tradeloop.store.buffered.BufferedEventStore.verify` reports the block's first record
and a repair cuts the log there (up to 4,095 records of the block are lost with it; the
records before it are kept).

Durability: ``EVENT`` runs with ``synchronous=FULL`` and commits each append; ``BATCH`` and
``INTERVAL`` run with ``synchronous=NORMAL`` (in WAL mode a commit survives a crash of the
process; a power loss can take back the last commits, never corrupt the file) and commit per
batch. Each batch is one ``BEGIN IMMEDIATE`` transaction.

Two stores may open one file (a second reader, or a second writer by mistake): a writer whose
numbers another writer already used, or that would leave a gap after another writer cut the
log, gets :class:`~tradeloop.store.port.ConcurrencyError` when it commits, and its batch rolls
back whole. Inside the batch's write lock its first sequence number must follow the last one
stored or archived exactly (one indexed lookup); the unique keys of the blocks' sequence
numbers and of ``ids`` stay as a backstop.
"""

from __future__ import annotations

import secrets
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from itertools import chain, repeat, starmap
from operator import itemgetter
from pathlib import Path
from typing import Any

import msgspec
from msgspec.structs import astuple

from tradeloop.store.blocks import (
    EVENTS,
    MARKET,
    decode_block,
    decode_summary,
    encode_block,
    matching,
    merge_chunks,
    split_blocks,
)
from tradeloop.store.buffered import (
    COLUMNS,
    BufferedEventStore,
    Row,
    StoreState,
    filter_conditions,
    keyset_pages,
    merge_versions,
    type_kinds,
)
from tradeloop.store.port import (
    ConcurrencyError,
    Durability,
    ReadFilter,
    StoredEvent,
    StoreError,
)

__all__ = ["SqliteEventStore"]

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS records (
        seq INTEGER PRIMARY KEY,
        stream_id TEXT NOT NULL,
        version INTEGER NOT NULL,
        type_name TEXT NOT NULL,
        ts_event INTEGER NOT NULL,
        ts_init INTEGER NOT NULL,
        message_id TEXT,
        correlation_id TEXT,
        causation_id TEXT,
        payload BLOB NOT NULL,
        checksum INTEGER NOT NULL
    )""",
    "CREATE UNIQUE INDEX IF NOT EXISTS records_stream_version ON records (stream_id, version) "
    "WHERE message_id IS NOT NULL",
    "CREATE UNIQUE INDEX IF NOT EXISTS records_message_id ON records (message_id) "
    "WHERE message_id IS NOT NULL",
    "CREATE INDEX IF NOT EXISTS records_ts_event ON records (ts_event)",
    "CREATE INDEX IF NOT EXISTS records_correlation_id ON records (correlation_id) "
    "WHERE correlation_id IS NOT NULL",
    "CREATE INDEX IF NOT EXISTS records_type_name ON records (type_name) WHERE message_id IS NOT NULL",
    """CREATE TABLE IF NOT EXISTS blocks (
        first_seq INTEGER PRIMARY KEY,
        last_seq INTEGER NOT NULL UNIQUE,
        count INTEGER NOT NULL,
        kind INTEGER NOT NULL,
        min_ts INTEGER NOT NULL,
        max_ts INTEGER NOT NULL,
        summary BLOB NOT NULL,
        payload BLOB NOT NULL,
        checksum INTEGER NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS blocks_kind ON blocks (kind, last_seq)",
    # Releases before blocks would write one-row records into a file they cannot read whole.
    "CREATE TRIGGER IF NOT EXISTS records_read_only BEFORE INSERT ON records BEGIN "
    "SELECT RAISE(ABORT, 'this event store keeps its records in blocks (layout 2): open it with a "
    "tradeloop that reads that layout'); END",
    "CREATE TABLE IF NOT EXISTS ids (message_id TEXT PRIMARY KEY, seq INTEGER NOT NULL) WITHOUT ROWID",
    """CREATE TABLE IF NOT EXISTS correlations (
        correlation_id TEXT NOT NULL,
        first_seq INTEGER NOT NULL,
        PRIMARY KEY (correlation_id, first_seq)
    ) WITHOUT ROWID""",
    """CREATE TABLE IF NOT EXISTS snapshots (
        name TEXT PRIMARY KEY,
        seq INTEGER NOT NULL,
        payload BLOB NOT NULL
    )""",
    "CREATE TABLE IF NOT EXISTS archived_ids (message_id TEXT PRIMARY KEY) WITHOUT ROWID",
    """CREATE TABLE IF NOT EXISTS archived_streams (
        stream_id TEXT PRIMARY KEY,
        version INTEGER NOT NULL
    ) WITHOUT ROWID""",
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID",
    """CREATE TABLE IF NOT EXISTS stream_heads (
        stream_id TEXT PRIMARY KEY,
        version INTEGER NOT NULL
    ) WITHOUT ROWID""",
)
_FILL_HEADS = (
    "INSERT INTO stream_heads (stream_id, version) "
    "SELECT stream_id, MAX(version) FROM records WHERE message_id IS NULL GROUP BY stream_id"
)
_RAISE_HEAD = (
    "INSERT INTO stream_heads (stream_id, version) VALUES (?, ?) "
    "ON CONFLICT (stream_id) DO UPDATE SET version = MAX(version, excluded.version)"
)
_LAST_LIVE = (
    "SELECT MAX(COALESCE((SELECT MAX(seq) FROM records), 0), COALESCE((SELECT MAX(last_seq) FROM blocks), 0))"
)
_LAST_TAKEN = (
    "SELECT MAX(COALESCE((SELECT MAX(seq) FROM records), 0), "
    "COALESCE((SELECT MAX(last_seq) FROM blocks), 0), "
    "COALESCE((SELECT value FROM meta WHERE key = 'archived_through'), 0))"
)
_INSERT_BLOCK = "INSERT INTO blocks VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
_INSERT_ID = "INSERT INTO ids (message_id, seq) VALUES (?, ?)"
_INSERT_CORRELATION = "INSERT INTO correlations (correlation_id, first_seq) VALUES (?, ?)"
_CORRELATED = (
    "SELECT c.first_seq, b.last_seq FROM correlations AS c JOIN blocks AS b ON b.first_seq = c.first_seq "
    "WHERE c.correlation_id = ? AND b.last_seq > ? AND c.first_seq <= ? ORDER BY c.first_seq"
)
_BLOCK_HEADS = "SELECT first_seq, summary FROM blocks"
_NEXT_BLOCKS = (
    "SELECT first_seq, last_seq, summary FROM blocks WHERE kind = ? AND last_seq > ?{} "
    "ORDER BY last_seq LIMIT 64"
)
_BLOCK = (
    "SELECT first_seq, last_seq, count, kind, min_ts, max_ts, summary, payload, checksum FROM blocks "
    "WHERE first_seq = ?"
)
LAYOUT = 2
"""``PRAGMA user_version`` of a file in the block layout (0: the one-row-per-record layout)."""
_SELECT = f"SELECT {', '.join(COLUMNS)} FROM records"
_ID_SEQ = itemgetter(6, 0)
_KNOWN_IDS = "SELECT message_id FROM ids WHERE message_id IN (SELECT value FROM json_each(?))"
_KNOWN_IDS_ALL_LAYOUTS = (
    "WITH asked (id) AS (SELECT value FROM json_each(?)) "
    "SELECT message_id FROM ids WHERE message_id IN asked "
    "UNION ALL SELECT message_id FROM records WHERE message_id IN asked "
    "UNION ALL SELECT message_id FROM archived_ids WHERE message_id IN asked"
)
_json_ids = msgspec.json.Encoder().encode


def _type_condition(types: list[str]) -> tuple[str, list[object]]:
    """``type_name IN (...)``; when every type is a command or event (always stored with a
    message id), also ``message_id IS NOT NULL``, which lets SQLite use the partial type index."""
    condition = f"type_name IN ({', '.join('?' * len(types))})"
    if type_kinds(types) == (True, False):
        condition += " AND message_id IS NOT NULL"
    return condition, list(types)


class SqliteEventStore(BufferedEventStore):
    """An :class:`~tradeloop.store.port.EventStore` in a SQLite file (created if missing).

    Parameters
    ----------
    path:
        The database file.
    durability, batch_size, interval_s, archive_dir, monotonic:
        See :class:`~tradeloop.store.buffered.BufferedEventStore`.
    busy_timeout_s:
        How long a commit waits for another connection's write lock before failing.
    """

    def __init__(
        self,
        path: Path | str,
        *,
        durability: Durability | str = Durability.BATCH,
        batch_size: int = 10_000,
        interval_s: float = 1.0,
        archive_dir: Path | str | None = None,
        busy_timeout_s: float = 5.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(
            durability=durability,
            batch_size=batch_size,
            interval_s=interval_s,
            archive_dir=archive_dir,
            monotonic=monotonic,
        )
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._row_layout_ids = True  # until the counters are loaded
        try:
            # The store runs its own transactions (BEGIN IMMEDIATE ... COMMIT); it may be
            # handed between threads (one at a time), e.g. to flush from an executor.
            self._conn = sqlite3.connect(
                self.path, isolation_level=None, timeout=busy_timeout_s, check_same_thread=False
            )
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open event store {self.path}: {exc}") from None
        try:
            self._configure()
            self._open_counters()
        except BaseException:
            self._conn.close()
            raise

    def _configure(self) -> None:
        conn = self._conn
        try:
            # Larger pages make the B-tree appends of a batch cheaper (measured ~+30% on inserts);
            # only effective before the first table exists.
            conn.execute("PRAGMA page_size = 16384")
            layout = conn.execute("PRAGMA user_version").fetchone()[0]
            if layout > LAYOUT:
                raise StoreError(
                    f"event store {self.path} has layout {layout}, newer than this tradeloop's "
                    f"({LAYOUT}): open it with the release that wrote it or a newer one"
                )
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if mode != "wal":
                raise StoreError(f"event store {self.path}: cannot switch to WAL mode (got {mode!r})")
            sync = "FULL" if self.durability is Durability.EVENT else "NORMAL"
            conn.execute(f"PRAGMA synchronous = {sync}")
            conn.execute("PRAGMA cache_size = -65536")  # 64 MiB: keeps the indexes' hot pages
            # Checkpoint every 128 MiB of WAL rather than 16 MiB (~+10% on batched appends), and
            # shrink the WAL file back to 64 MiB afterwards.
            conn.execute("PRAGMA wal_autocheckpoint = 8192")
            conn.execute("PRAGMA journal_size_limit = 67108864")
            conn.execute("BEGIN IMMEDIATE")
            had_heads = conn.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'stream_heads'"
            ).fetchone()
            for statement in _SCHEMA:
                conn.execute(statement)
            if had_heads is None:
                # A new file, or one from before stream_heads: number from its id-less rows.
                self._recount_heads(conn)
            conn.execute(
                "INSERT INTO meta (key, value) VALUES ('store_id', ?) ON CONFLICT (key) DO NOTHING",
                (secrets.randbits(62) + 1,),
            )
            conn.execute(f"PRAGMA user_version = {LAYOUT}")
            conn.execute("COMMIT")
        except sqlite3.DatabaseError as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise StoreError(f"{self.path} is not a usable event store: {exc}") from None

    def _describe(self) -> str:
        return f"event store {self.path}"

    def _load_state(self) -> StoreState:
        try:
            conn = self._conn
            last = conn.execute(_LAST_LIVE).fetchone()[0]
            versions = merge_versions(
                dict(conn.execute("SELECT stream_id, version FROM archived_streams")),
                chain(
                    conn.execute(
                        "SELECT stream_id, MAX(version) FROM records WHERE message_id IS NOT NULL "
                        "GROUP BY stream_id"
                    ).fetchall(),
                    conn.execute("SELECT stream_id, version FROM stream_heads").fetchall(),
                ),
            )
            meta = dict(conn.execute("SELECT key, value FROM meta"))
            # Whether message ids also live in the old layout's tables (see _stored_ids).
            self._row_layout_ids = bool(
                conn.execute(
                    "SELECT EXISTS (SELECT 1 FROM records WHERE message_id IS NOT NULL) "
                    "OR EXISTS (SELECT 1 FROM archived_ids)"
                ).fetchone()[0]
            )
        except sqlite3.Error as exc:
            raise StoreError(f"{self._describe()}: cannot load its counters: {exc}") from None
        return StoreState(int(last), versions, int(meta.get("archived_through", 0)), int(meta["store_id"]))

    def _write_rows(self, rows: Iterable[Row], count: int) -> None:
        rows = rows if isinstance(rows, list) else list(rows)
        if not rows:
            return
        events = [row for row in rows if row[6] is not None]
        market = [row for row in rows if row[6] is None] if len(events) < len(rows) else []
        blocks = [encode_block(run, MARKET) for run in split_blocks(market)]
        correlations: list[tuple[str, int]] = []
        for run in split_blocks(events):
            block = encode_block(run, EVENTS)
            blocks.append(block)
            chains = dict.fromkeys(row[7] for row in run if row[7] is not None)
            correlations += zip(chains, repeat(block.first_seq))
        ids = [_ID_SEQ(row) for row in events]
        heads: dict[str, int] = {}
        for block in blocks:  # a stream may have records of both kinds: keep the highest
            merge_versions(heads, block.heads.items())
        conn = self._conn
        try:
            conn.execute("BEGIN IMMEDIATE")
            taken = conn.execute(_LAST_TAKEN).fetchone()[0]
            if taken + 1 != rows[0][0]:
                conn.execute("ROLLBACK")
                happened = "already stored some of these records" if taken >= rows[0][0] else "cut the log"
                raise ConcurrencyError(
                    f"{self._describe()}: another writer {happened} "
                    f"(the log holds seq {taken}, this batch starts at {rows[0][0]})"
                )
            conn.executemany(_INSERT_BLOCK, [block.columns() for block in blocks])
            conn.executemany(_INSERT_ID, ids)
            conn.executemany(_INSERT_CORRELATION, correlations)
            conn.executemany(_RAISE_HEAD, heads.items())
            conn.execute("COMMIT")
        except sqlite3.IntegrityError as exc:
            conn.execute("ROLLBACK")
            raise ConcurrencyError(
                f"{self._describe()}: another writer already stored some of these records ({exc})"
            ) from None
        except sqlite3.Error as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise StoreError(f"{self._describe()}: cannot write {count} records: {exc}") from None

    def _record_pages(self, where: ReadFilter, after_seq: int, page_size: int) -> Iterator[list[StoredEvent]]:
        """Records in sequence order: the matching records of the event blocks, of the market
        blocks and of the old layout's rows, each read in order and merged."""
        # Up to what is committed now: each source then reads the same log, whatever is
        # appended while the read goes on (the next read sees it).
        last = self._query(_LAST_LIVE, [], "cannot read")[0][0]
        end = min(where.to_seq, last) if where.to_seq is not None else last
        sources: list[Iterator[list[StoredEvent]]] = []
        if where.correlation_id is not None:
            sources.append(self._correlated(where, after_seq, end))
        else:
            events, market = type_kinds(where.types) if where.types is not None else (True, True)
            if events:
                sources.append(self._block_chunks(EVENTS, where, after_seq, end))
            if market:
                sources.append(self._block_chunks(MARKET, where, after_seq, end))
        if self._query("SELECT 1 FROM records LIMIT 1", [], "cannot read"):
            sources.append(self._row_chunks(where, after_seq, end, page_size))
        return merge_chunks(sources)

    def _block_chunks(
        self, kind: int, where: ReadFilter, after_seq: int, end: int
    ) -> Iterator[list[StoredEvent]]:
        """The matching records of the blocks of ``kind`` after ``after_seq``, a block at a time
        (blocks whose range or summary cannot match are not opened)."""
        conditions = ""
        params: list[object] = []
        if where.from_ts is not None:
            conditions += " AND max_ts >= ?"
            params.append(where.from_ts)
        if where.to_ts is not None:
            conditions += " AND min_ts < ?"
            params.append(where.to_ts)
        sql = _NEXT_BLOCKS.format(conditions)
        types, stream = where.types, where.stream_id
        cursor = after_seq
        while True:
            page = self._query(sql, [kind, cursor, *params], f"cannot read blocks after seq {cursor}")
            for first, last, summary in page:
                if first > end:
                    return  # the blocks of a kind do not overlap: the rest start later still
                if types is not None or stream is not None:
                    known = decode_summary(summary, first)
                    if types is not None and types.isdisjoint(known.types):
                        continue
                    if stream is not None and stream not in known.heads:
                        continue
                yield matching(self._block_records(first, last), where, after_seq)
            if len(page) < 64:
                return
            cursor = page[-1][1]

    def _correlated(self, where: ReadFilter, after_seq: int, end: int) -> Iterator[list[StoredEvent]]:
        """The records of a correlation id, from the event blocks the index names."""
        found = self._query(
            _CORRELATED, [where.correlation_id, after_seq, end], "cannot look a correlation id up"
        )
        for first, last in found:
            yield matching(self._block_records(first, last), where, after_seq)

    def _row_chunks(
        self, where: ReadFilter, after_seq: int, end: int, page_size: int
    ) -> Iterator[list[StoredEvent]]:
        """The matching rows of the old layout, in pages."""
        conditions, params = filter_conditions(where, "?", _type_condition)
        sql = f"{_SELECT} WHERE {' AND '.join(conditions)} AND seq <= ? ORDER BY seq LIMIT {int(page_size)}"

        def fetch(last: int) -> list[Row]:
            rows: list[Row] = self._query(sql, [last, *params, end], f"cannot read after seq {last}")
            return rows

        for rows in keyset_pages(fetch, after_seq, page_size):
            yield list(starmap(StoredEvent, rows))

    def _query(self, sql: str, params: list[object], failure: str) -> list[tuple[Any, ...]]:
        try:
            return self._conn.execute(sql, params).fetchall()
        except sqlite3.Error as exc:
            raise StoreError(f"{self._describe()}: {failure}: {exc}") from None

    def _block_records(self, first: int, last: int) -> list[StoredEvent]:
        found = self._query(_BLOCK, [first], f"cannot read block {first}-{last}")
        if not found:  # rewritten or deleted since it was listed: not damage, a moving log
            raise StoreError(
                f"{self._describe()}: records {first}-{last} were archived or truncated by another "
                "connection during this read; read again"
            )
        return decode_block(*found[0])

    @staticmethod
    def _recount_heads(conn: sqlite3.Connection) -> None:
        """Fill ``stream_heads`` from the blocks' summaries and the old layout's id-less rows
        (the old layout's event rows are counted when the store opens)."""
        conn.execute(_FILL_HEADS)
        heads: dict[str, int] = {}
        for first, summary in conn.execute(_BLOCK_HEADS).fetchall():
            merge_versions(heads, decode_summary(summary, first).heads.items())
        conn.executemany(_RAISE_HEAD, heads.items())

    def _cut_blocks(
        self, conn: sqlite3.Connection, seq: int, *, keep_before: bool
    ) -> tuple[int, dict[str, int]]:
        """Delete the blocks' records after ``seq`` (``keep_before``) or up to it; a block
        across ``seq`` is rewritten with the records it keeps. Returns the records deleted and
        each stream's highest deleted version."""
        if keep_before:
            sql = "SELECT first_seq, last_seq, count, kind, summary FROM blocks WHERE last_seq > ?"
        else:
            sql = "SELECT first_seq, last_seq, count, kind, summary FROM blocks WHERE first_seq <= ?"
        deleted = 0
        heads: dict[str, int] = {}
        for first, last, count, kind, summary in conn.execute(sql, (seq,)).fetchall():
            gone: dict[str, int]
            if (keep_before and first > seq) or (not keep_before and last <= seq):
                kept: list[Row] = []
                gone = decode_summary(summary, first).heads
            else:
                records = self._block_records(first, last)
                kept = [astuple(r) for r in records if (r.seq <= seq) == keep_before]
                gone = {r.stream_id: r.version for r in records if (r.seq <= seq) != keep_before}
            conn.execute("DELETE FROM blocks WHERE first_seq = ?", (first,))
            if kept:
                conn.execute(_INSERT_BLOCK, encode_block(kept, kind).columns())
                if kept[0][0] != first:  # the block now starts later: so do its correlations
                    conn.execute(
                        "UPDATE correlations SET first_seq = ? WHERE first_seq = ?", (kept[0][0], first)
                    )
            deleted += count - len(kept)
            merge_versions(heads, gone.items())
        # The correlations of deleted blocks (the archive answers reads of what it holds).
        side = ">" if keep_before else "<="
        conn.execute(f"DELETE FROM correlations WHERE first_seq {side} ?", (seq,))
        return deleted, heads

    def _stored_ids(self, ids: list[str]) -> set[str]:
        # One prepared statement whatever the number of ids (a JSON array of them); the old
        # layout's tables are asked only if the file has ids there.
        sql = _KNOWN_IDS_ALL_LAYOUTS if self._row_layout_ids else _KNOWN_IDS
        try:
            return {r[0] for r in self._conn.execute(sql, (_json_ids(ids),))}
        except sqlite3.Error as exc:
            raise StoreError(f"{self._describe()}: cannot look message ids up: {exc}") from None

    def _put_snapshot(self, name: str, seq: int, payload: bytes) -> None:
        self._execute_write(
            "INSERT INTO snapshots (name, seq, payload) VALUES (?, ?, ?) "
            "ON CONFLICT (name) DO UPDATE SET seq = excluded.seq, payload = excluded.payload",
            (name, seq, payload),
        )

    def _get_snapshot(self, name: str) -> tuple[int, bytes] | None:
        try:
            row = self._conn.execute("SELECT seq, payload FROM snapshots WHERE name = ?", (name,)).fetchone()
        except sqlite3.Error as exc:
            raise StoreError(f"{self._describe()}: cannot load snapshot {name!r}: {exc}") from None
        return (int(row[0]), bytes(row[1])) if row else None

    def _delete_after(self, seq: int) -> int:
        with self._transaction(f"cannot truncate after seq {seq}") as conn:
            deleted = conn.execute("DELETE FROM records WHERE seq > ?", (seq,)).rowcount
            deleted += self._cut_blocks(conn, seq, keep_before=True)[0]
            conn.execute("DELETE FROM ids WHERE seq > ?", (seq,))
            conn.execute("DELETE FROM snapshots WHERE seq > ?", (seq,))
            # Versions of the cut id-less records are free again: recount from what is left (a
            # rare repair). Archived versions stay in archived_streams.
            conn.execute("DELETE FROM stream_heads")
            self._recount_heads(conn)
        return int(deleted)

    def _drop_live_through(self, seq: int) -> int:
        with self._transaction(f"cannot drop archived records up to {seq}") as conn:
            conn.execute(
                "INSERT OR IGNORE INTO archived_ids (message_id) "
                "SELECT message_id FROM records WHERE seq <= ? AND message_id IS NOT NULL",
                (seq,),
            )
            conn.execute(
                "INSERT INTO archived_streams (stream_id, version) "
                "SELECT stream_id, MAX(version) FROM records WHERE seq <= ? GROUP BY stream_id "
                "ON CONFLICT (stream_id) DO UPDATE SET version = MAX(version, excluded.version)",
                (seq,),
            )
            deleted = conn.execute("DELETE FROM records WHERE seq <= ?", (seq,)).rowcount
            dropped, heads = self._cut_blocks(conn, seq, keep_before=False)
            # Message ids stay in ``ids``: idempotency outlives retention.
            conn.executemany(
                "INSERT INTO archived_streams (stream_id, version) VALUES (?, ?) "
                "ON CONFLICT (stream_id) DO UPDATE SET version = MAX(version, excluded.version)",
                heads.items(),
            )
            conn.execute(
                "INSERT INTO meta (key, value) VALUES ('archived_through', ?) "
                "ON CONFLICT (key) DO UPDATE SET value = MAX(value, excluded.value)",
                (seq,),
            )
        return int(deleted) + dropped

    def _execute_write(self, sql: str, params: tuple[object, ...]) -> None:
        with self._transaction("write failed") as conn:
            conn.execute(sql, params)

    @contextmanager
    def _transaction(self, failure: str) -> Iterator[sqlite3.Connection]:
        """One ``BEGIN IMMEDIATE ... COMMIT``; any error rolls back (so the write lock is never
        left held), and a database error is raised as a :class:`StoreError` starting with
        ``failure``."""
        conn = self._conn
        try:
            conn.execute("BEGIN IMMEDIATE")
            yield conn
            conn.execute("COMMIT")
        except BaseException as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            if isinstance(exc, sqlite3.Error):
                raise StoreError(f"{self._describe()}: {failure}: {exc}") from None
            raise

    def _release(self) -> None:
        self._conn.close()
