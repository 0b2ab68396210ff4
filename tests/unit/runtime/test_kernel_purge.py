"""Kernel.purge_closed: a long-running node forgets old closed records but keeps its totals."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tradeloop.core.errors import TradeloopError
from tradeloop.data.synthetic import generate_bars
from tradeloop.model import Equity, Money
from tradeloop.runtime import BacktestEngine
from tradeloop.strategy.samples import MovingAverageCrossover, MovingAverageCrossoverConfig
from tradeloop.venues.simulated import AccountType, SimulatedVenueConfig

ABC = Equity("ABC.SIM")


def traded_engine() -> BacktestEngine:
    engine = BacktestEngine(seed=1)
    engine.add_instrument(ABC)
    engine.add_venue(
        "SIM",
        SimulatedVenueConfig(
            starting_balances=Money.from_str("1000000", "USD"), account_type=AccountType.MARGIN
        ),
    )
    engine.add_data(generate_bars(ABC, 3_000, seed=5, start_price="100"))
    engine.add_strategy(
        MovingAverageCrossover(
            MovingAverageCrossoverConfig(instrument_id="ABC.SIM", fast=5, slow=20, quantity=Decimal(10))
        )
    )
    engine.run()
    return engine


def test_purging_keeps_the_newest_records_and_every_total() -> None:
    engine = traded_engine()
    portfolio = engine.portfolio
    assert portfolio is not None
    realized, equity, fills = portfolio.realized_pnl_raw(), portfolio.equity_raw, portfolio.fills
    orders_before = engine.execution.orders()
    counts_before = engine.execution.order_counts()
    closed_before = portfolio.positions_closed()
    assert len(closed_before) > 20

    forgotten = engine.purge_closed(5)

    assert forgotten > 0
    assert portfolio.positions_closed() == closed_before[-5:]
    assert portfolio.realized_pnl_raw() == realized
    assert portfolio.equity_raw == equity
    assert portfolio.fills == fills
    remaining = engine.execution.orders()
    closed_orders = [o for o in remaining if o.status.is_closed]
    assert len(closed_orders) == 5
    assert closed_orders == [o for o in orders_before if o.status.is_closed][-5:]
    assert [o for o in remaining if o.is_open] == [o for o in orders_before if o.is_open]
    assert len(portfolio.equity_curve) <= 5
    assert engine.execution.order_counts() == counts_before  # the metrics' order counts keep them
    assert sum(counts_before.values()) == len(orders_before)


def test_purging_refuses_a_negative_count() -> None:
    engine = traded_engine()
    with pytest.raises(TradeloopError):
        engine.purge_closed(-1)
