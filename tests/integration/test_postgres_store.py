"""The PostgreSQL event store against the real server on 127.0.0.1:5432: the shared contract,
plus the server-side details (collation, COPY path, conflict on a unique version).

Each test works in a schema of its own (random name) and drops it afterwards. The server is
found through ``TRADELOOP_TEST_PG_DSN`` (default ``postgresql://postgres@127.0.0.1:5432/test``);
without a server the module is skipped with the reason.
"""

from __future__ import annotations

import os
import secrets
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql

from tradeloop.store import PostgresEventStore
from tradeloop.store.buffered import BufferedEventStore
from tradeloop.store.port import ConcurrencyError, StoreError, stream_of

# The contract lives beside the unit tests (package ``store`` under tests/unit, as pytest
# imports it there); importing it under that same name keeps one copy of its test messages.
_UNIT = str(Path(__file__).resolve().parents[1] / "unit")
if _UNIT not in sys.path:
    sys.path.insert(0, _UNIT)
from store.contract import EventStoreContract, StoreFactory, decoded, trading_cycle  # noqa: E402

DSN = os.environ.get("TRADELOOP_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/test")


def _server_problem() -> str | None:
    try:
        with psycopg.connect(DSN, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        return f"no PostgreSQL at {DSN}: {exc}"
    return None


_PROBLEM = _server_problem()
pytestmark = pytest.mark.skipif(_PROBLEM is not None, reason=_PROBLEM or "")


def _scratch_schema() -> Iterator[str]:
    name = f"tl_test_{secrets.token_hex(6)}"
    yield name
    with psycopg.connect(DSN, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(name)))


@pytest.fixture
def schema() -> Iterator[str]:
    yield from _scratch_schema()


@pytest.fixture
def other_schema() -> Iterator[str]:
    yield from _scratch_schema()


def _factory(schema: str) -> Iterator[StoreFactory]:
    opened: list[PostgresEventStore] = []

    def make(**options: Any) -> PostgresEventStore:
        store = PostgresEventStore(DSN, schema=schema, **options)
        opened.append(store)
        return store

    yield make
    for store in opened:
        store.close()


def _execute(store: BufferedEventStore, query: str, params: tuple[object, ...]) -> None:
    assert isinstance(store, PostgresEventStore)
    with psycopg.connect(DSN, autocommit=True) as conn:
        conn.execute(sql.SQL(query).format(s=sql.Identifier(store.schema)), params)


class TestPostgresEventStore(EventStoreContract):
    @pytest.fixture
    def make_store(self, schema: str) -> Iterator[StoreFactory]:
        yield from _factory(schema)

    @pytest.fixture
    def other_store(self, other_schema: str) -> Iterator[StoreFactory]:
        yield from _factory(other_schema)

    def overwrite_payload(self, store: BufferedEventStore, seq: int, payload: bytes) -> None:
        _execute(store, "UPDATE {s}.records SET payload = %s WHERE seq = %s", (payload, seq))

    def rename_type(self, store: BufferedEventStore, old: str, new: str) -> None:
        _execute(store, "UPDATE {s}.records SET type_name = %s WHERE type_name = %s", (new, old))


def test_text_columns_use_the_bytewise_collation(schema: str) -> None:
    with PostgresEventStore(DSN, schema=schema) as store:
        store.append(trading_cycle(1))
    with psycopg.connect(DSN) as conn:
        collations = dict(
            conn.execute(
                "SELECT column_name, collation_name FROM information_schema.columns "
                "WHERE table_schema = %s AND table_name = 'records' AND data_type = 'text'",
                (schema,),
            ).fetchall()
        )
    assert set(collations) == {"stream_id", "type_name", "message_id", "correlation_id", "causation_id"}
    assert set(collations.values()) == {"C"}


def test_a_conflict_in_a_copied_batch_rolls_the_whole_batch_back(schema: str) -> None:
    ours, theirs = trading_cycle(10, seed=1), trading_cycle(10, seed=2)  # 70 records: the COPY path
    with (
        PostgresEventStore(DSN, schema=schema, batch_size=1_000) as first,
        PostgresEventStore(DSN, schema=schema, batch_size=1_000) as second,
    ):
        first.append(ours)
        first.flush()
        second.append(theirs)
        with pytest.raises(ConcurrencyError, match="already exists"):
            second.flush()
        assert decoded(first) == ours
        assert second.last_seq() == 70


def test_a_bad_schema_name_or_server_is_refused() -> None:
    with pytest.raises(ValueError, match="schema must be"):
        PostgresEventStore(DSN, schema="bad; drop")
    with pytest.raises(StoreError, match=r"cannot connect to event store tradeloop at .*:\*\*\*@"):
        PostgresEventStore("postgresql://nobody:secret@127.0.0.1:1/none", connect_timeout_s=1)


@pytest.mark.parametrize(
    "dsn",
    [
        "postgresql://:hunter2@127.0.0.1:1/none",  # an empty user name: libpq takes the OS user
        "host=127.0.0.1 port=1 password='hunter2 x' dbname=none",  # a quoted password with a space
        "postgresql://nobody@127.0.0.1:1/none?password=hunter2",
    ],
)
def test_a_connection_error_never_shows_the_password(dsn: str) -> None:
    with pytest.raises(StoreError) as info:
        PostgresEventStore(dsn, connect_timeout_s=1)
    assert "hunter2" not in str(info.value)
    assert "***" in str(info.value)


def _indexes(schema: str) -> set[str]:
    with psycopg.connect(DSN) as conn:
        rows = conn.execute("SELECT indexname FROM pg_indexes WHERE schemaname = %s", (schema,)).fetchall()
    return {name for (name,) in rows}


def test_only_commands_and_events_carry_a_unique_stream_version_index(schema: str) -> None:
    with PostgresEventStore(DSN, schema=schema) as store:
        store.append(trading_cycle(1))
    with psycopg.connect(DSN) as conn:
        (definition,) = conn.execute(
            "SELECT indexdef FROM pg_indexes WHERE schemaname = %s AND indexname = 'records_stream_version'",
            (schema,),
        ).fetchone()
        with pytest.raises(psycopg.errors.UniqueViolation):
            conn.execute(
                sql.SQL(
                    "INSERT INTO {s}.records SELECT seq + 100, stream_id, version, type_name, ts_event, "
                    "ts_init, 'another-id', NULL, NULL, payload, checksum FROM {s}.records "
                    "WHERE message_id IS NOT NULL LIMIT 1"
                ).format(s=sql.Identifier(schema))
            )
    assert "WHERE (message_id IS NOT NULL)" in definition


def test_a_schema_with_the_table_wide_version_constraint_gets_no_second_index(schema: str) -> None:
    with psycopg.connect(DSN, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
        conn.execute(
            sql.SQL(
                'CREATE TABLE {}.records (seq BIGINT PRIMARY KEY, stream_id TEXT COLLATE "C" NOT NULL, '
                'version BIGINT NOT NULL, type_name TEXT COLLATE "C" NOT NULL, ts_event BIGINT NOT NULL, '
                'ts_init BIGINT NOT NULL, message_id TEXT COLLATE "C", correlation_id TEXT COLLATE "C", '
                'causation_id TEXT COLLATE "C", payload BYTEA NOT NULL, checksum BIGINT NOT NULL, '
                "UNIQUE (stream_id, version))"
            ).format(sql.Identifier(schema))
        )
    messages = trading_cycle(2)
    with PostgresEventStore(DSN, schema=schema) as store:
        store.append(messages)
        assert decoded(store) == messages
    indexes = _indexes(schema)
    assert "records_stream_id_version_key" in indexes
    assert "records_stream_version" not in indexes


def test_stream_heads_are_counted_once_for_a_schema_from_before_them(schema: str) -> None:
    messages = trading_cycle(3)
    with PostgresEventStore(DSN, schema=schema) as store:
        store.append(messages)
        versions = {stream_of(m): store.stream_version(stream_of(m)) for m in messages}
    with psycopg.connect(DSN, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP TABLE {}.stream_heads").format(sql.Identifier(schema)))
    with PostgresEventStore(DSN, schema=schema) as reopened:
        assert {s: reopened.stream_version(s) for s in versions} == versions
        more = trading_cycle(1, seed=9, t0=10**12)
        reopened.append(more)
        market = stream_of(messages[0])
        assert reopened.stream_version(market) == versions[market] + 2
    with PostgresEventStore(DSN, schema=schema) as again:
        assert again.stream_version(market) == versions[market] + 2
