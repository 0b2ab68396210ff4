"""A shipped test kit: stub instruments, market data, fills, order round trips, seeded ids and a test clock.

Layer: imports :mod:`tradeloop.core` and :mod:`tradeloop.model` only, so tests of any package
above them can use it. :mod:`tradeloop.testkit.store_files` (edits of a SQLite event store
file behind its back) imports :mod:`tradeloop.store` and is imported on its own.
"""

from tradeloop.testkit.stubs import (
    DEFAULT_SEED,
    TestClock,
    aapl_equity,
    btcusdt,
    es_future,
    eurusd,
    event_contract,
    id_factory,
    make_bar,
    make_fill,
    make_order_round,
    make_quote,
    make_trade,
)

__all__ = [
    "DEFAULT_SEED",
    "TestClock",
    "aapl_equity",
    "btcusdt",
    "es_future",
    "eurusd",
    "event_contract",
    "id_factory",
    "make_bar",
    "make_fill",
    "make_order_round",
    "make_quote",
    "make_trade",
]
