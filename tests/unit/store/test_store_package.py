"""The store package's public names, and its lazy PostgreSQL export."""

from __future__ import annotations

import subprocess
import sys

import pytest

import tradeloop.store as store


def test_every_public_name_of_the_store_package_resolves_once() -> None:
    assert sorted(store.__all__) == sorted(set(store.__all__))
    for name in store.__all__:
        assert getattr(store, name) is not None


def test_the_event_store_backends_are_exported_and_implement_the_port() -> None:
    for backend in (store.SqliteEventStore, store.PostgresEventStore):
        assert issubclass(backend, store.BufferedEventStore)
    with pytest.raises(AttributeError, match="no attribute 'Nothing'"):
        _ = store.Nothing  # type: ignore[attr-defined]


def test_importing_the_store_does_not_import_psycopg() -> None:
    code = "import sys, tradeloop.store; print('psycopg' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
