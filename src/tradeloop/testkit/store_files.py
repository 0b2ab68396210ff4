"""Edits of a SQLite event store file behind the store's back, for tests: a torn write, a log
written before a class was renamed, a file of the older one-row-per-record layout.

They know the file's layout (:mod:`tradeloop.store.sqlite_store`), so tests do not.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import msgspec
from msgspec.structs import astuple, replace

from tradeloop.store.blocks import encode_block
from tradeloop.store.buffered import COLUMNS
from tradeloop.store.port import StoredEvent

__all__ = [
    "convert_to_row_layout",
    "overwrite_stored_payload",
    "rename_stored_type",
    "stored_seqs",
]

_decode_records = msgspec.msgpack.Decoder(list[StoredEvent]).decode
_encode = msgspec.msgpack.Encoder().encode


@contextmanager
def _connect(path: Path | str) -> Iterator[sqlite3.Connection]:
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("BEGIN IMMEDIATE")
        yield conn
        conn.execute("COMMIT")
    finally:
        conn.close()


def _blocks(conn: sqlite3.Connection) -> list[tuple[int, int, list[StoredEvent]]]:
    """``(first_seq, kind, records)`` of every block."""
    return [
        (first, kind, _decode_records(payload))
        for first, kind, payload in conn.execute(
            "SELECT first_seq, kind, payload FROM blocks ORDER BY first_seq"
        )
    ]


def overwrite_stored_payload(path: Path | str, seq: int, payload: bytes) -> None:
    """Replace record ``seq``'s payload and nothing else (its checksums stay): a torn write."""
    with _connect(path) as conn:
        if conn.execute("UPDATE records SET payload = ? WHERE seq = ?", (payload, seq)).rowcount:
            return
        for first, _, records in _blocks(conn):
            changed = [replace(r, payload=payload) if r.seq == seq else r for r in records]
            if changed != records:
                conn.execute("UPDATE blocks SET payload = ? WHERE first_seq = ?", (_encode(changed), first))
                return
    raise KeyError(f"no record {seq} is stored in {path}")


def rename_stored_type(path: Path | str, old: str, new: str) -> None:
    """Rewrite the type name of stored records from ``old`` to ``new``, checksums and all (a
    log written before a class was renamed)."""
    with _connect(path) as conn:
        conn.execute("UPDATE records SET type_name = ? WHERE type_name = ?", (new, old))
        for first, kind, records in _blocks(conn):
            if any(r.type_name == old for r in records):
                block = encode_block(
                    [astuple(replace(r, type_name=new) if r.type_name == old else r) for r in records], kind
                )
                conn.execute(
                    "UPDATE blocks SET summary = ?, payload = ?, checksum = ? WHERE first_seq = ?",
                    (block.summary, block.payload, block.checksum, first),
                )


def stored_seqs(path: Path | str) -> list[int]:
    """The sequence numbers of the live records, in order (read-only)."""
    conn = sqlite3.connect(f"{Path(path).resolve().as_uri()}?mode=ro", uri=True)
    try:
        seqs = [seq for (seq,) in conn.execute("SELECT seq FROM records")]
        for _, _, records in _blocks(conn):
            seqs += [r.seq for r in records]
    finally:
        conn.close()
    return sorted(seqs)


def convert_to_row_layout(path: Path | str) -> None:
    """Move every record into the ``records`` table, one row each, as stores wrote them before
    blocks (and drop what that layout did not have)."""
    marks = ", ".join("?" * len(COLUMNS))
    with _connect(path) as conn:
        conn.execute("DROP TRIGGER IF EXISTS records_read_only")
        conn.execute("PRAGMA user_version = 0")
        for _, _, records in _blocks(conn):
            conn.executemany(
                f"INSERT INTO records ({', '.join(COLUMNS)}) VALUES ({marks})", map(astuple, records)
            )
        for table in ("blocks", "ids", "correlations"):
            conn.execute(f"DELETE FROM {table}")
        conn.execute(
            "DELETE FROM stream_heads WHERE stream_id NOT IN "
            "(SELECT stream_id FROM records WHERE message_id IS NULL)"
        )
