"""A bar aggregated from ticks never marks the portfolio back to an older price."""

from __future__ import annotations

from decimal import Decimal

from tradeloop.model import Equity, Money, OrderSide
from tradeloop.runtime import BacktestEngine
from tradeloop.strategy import Strategy, StrategyConfig
from tradeloop.testkit import make_trade
from tradeloop.venues.simulated import AccountType, SimulatedVenueConfig


class BuyOnceAndWatch(Strategy):
    def __init__(self) -> None:
        super().__init__(StrategyConfig(strategy_id="watch"))
        self.marks_seen: list[tuple[Decimal, Decimal]] = []

    def on_start(self) -> None:
        self.subscribe_bars("UP.SIM", "1-MINUTE")
        instrument = self.instrument("UP.SIM")
        self.submit_order(self.order_factory.market(instrument.id, OrderSide.BUY, instrument.make_qty(100)))

    def on_bar(self, bar: object) -> None:
        price = self.portfolio.last_price(self.instrument("UP.SIM").id)
        assert price is not None
        self.marks_seen.append((price.as_decimal(), bar.close.as_decimal()))  # type: ignore[attr-defined]


def test_a_rising_tick_series_shows_no_drawdown_when_bars_are_built_from_it() -> None:
    instrument = Equity("UP.SIM")
    minute = 60 * 1_000_000_000
    prices = ["100", "100", "120", "120", "130", "130"]
    ticks = [
        make_trade(instrument, p, 1, ts_ns=(i // 2) * minute + (i % 2 + 1) * 1_000_000)
        for i, p in enumerate(prices)
    ]
    engine = BacktestEngine(seed=1)
    engine.add_instrument(instrument)
    engine.add_venue(
        "SIM",
        SimulatedVenueConfig(
            starting_balances=Money.from_str("100000", "USD"), account_type=AccountType.CASH
        ),
    )
    engine.add_data(ticks)
    strategy = BuyOnceAndWatch()
    engine.add_strategy(strategy)
    engine.run()

    assert engine.portfolio is not None
    assert engine.portfolio.max_drawdown_raw == 0  # prices only rose after the fill at 100
    # While handling a bar, the mark is the newest trade, not the (older) bar close.
    assert strategy.marks_seen == [
        (Decimal("120.00"), Decimal("100.00")),
        (Decimal("130.00"), Decimal("120.00")),
    ]
