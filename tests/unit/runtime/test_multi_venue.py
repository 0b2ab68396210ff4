"""A backtest over several simulated venues: one account, orders routed by instrument venue."""

from __future__ import annotations

import pytest

from tradeloop.core.clock import NANOS_PER_SECOND
from tradeloop.core.errors import TradeloopError
from tradeloop.core.ids import Venue
from tradeloop.model.data import TradeTick
from tradeloop.model.enums import OrderSide
from tradeloop.model.events import OrderFilled
from tradeloop.model.instruments import Equity, Instrument
from tradeloop.model.objects import Money, Quantity
from tradeloop.runtime import BacktestEngine
from tradeloop.strategy import Strategy, StrategyConfig
from tradeloop.testkit import make_trade
from tradeloop.venues.simulated import AccountType, SimulatedVenueConfig

SEC = NANOS_PER_SECOND
T0 = 1_704_153_600 * SEC  # 2024-01-02 00:00 UTC
ABC = Equity("ABC.SIM")
XYZ = Equity("XYZ.ALT")


class BuyEachOnce(Strategy):
    """Buys 10 of every instrument on its first trade and records the fills it gets."""

    def __init__(self, instruments: tuple[str, ...]) -> None:
        super().__init__(StrategyConfig(strategy_id="multi"))
        self.names = instruments
        self.bought: set[str] = set()
        self.fills: list[OrderFilled] = []

    def on_start(self) -> None:
        for name in self.names:
            self.subscribe_trade_ticks(name)

    def on_trade_tick(self, tick: TradeTick) -> None:
        if tick.instrument_id not in self.bought:
            self.bought.add(tick.instrument_id)
            self.submit_order(
                self.order_factory.market(tick.instrument_id, OrderSide.BUY, Quantity.from_int(10))
            )

    def on_order_filled(self, event: OrderFilled) -> None:
        self.fills.append(event)


def venue(amount: str, currency: str = "USD") -> SimulatedVenueConfig:
    return SimulatedVenueConfig(
        starting_balances=Money.from_str(amount, currency), account_type=AccountType.CASH
    )


def trades(instrument: Instrument, prices: list[str], offset_s: int) -> list[TradeTick]:
    return [
        make_trade(instrument, p, 100, ts_ns=T0 + (10 * i + offset_s) * SEC) for i, p in enumerate(prices)
    ]


def test_two_venues_in_one_currency_share_one_account_with_the_summed_balance() -> None:
    engine = BacktestEngine(seed=1)
    engine.add_instrument(ABC)
    engine.add_instrument(XYZ)
    engine.add_venue("SIM", venue("100000"))
    engine.add_venue("ALT", venue("50000"))
    engine.add_data(trades(ABC, ["100.00", "101.00", "103.00"], offset_s=1))
    engine.add_data(trades(XYZ, ["20.00", "21.00", "19.50"], offset_s=2))
    strategy = BuyEachOnce(("ABC.SIM", "XYZ.ALT"))
    engine.add_strategy(strategy)

    result = engine.run()

    assert result.starting_balance == Money.from_str("150000", "USD")
    portfolio = engine.portfolio
    assert portfolio is not None
    assert portfolio.account.id == "ALT-SIM-001"
    # Each order went to its instrument's venue and filled at that venue's next trade.
    fills = {f.instrument_id: f for f in strategy.fills}
    assert sorted(fills) == ["ABC.SIM", "XYZ.ALT"]
    assert fills["ABC.SIM"].venue_order_id.startswith("SIM-")
    assert fills["ABC.SIM"].trade_id == "SIM-T-1"
    assert str(fills["ABC.SIM"].last_px) == "101.00"
    assert fills["XYZ.ALT"].venue_order_id.startswith("ALT-")
    assert fills["XYZ.ALT"].trade_id == "ALT-T-1"
    assert str(fills["XYZ.ALT"].last_px) == "21.00"
    sim, alt = engine.venues[Venue("SIM")], engine.venues[Venue("ALT")]
    assert (sim.position_raw(ABC.id), sim.position_raw(XYZ.id)) == (10 * 10**9, 0)
    assert (alt.position_raw(XYZ.id), alt.position_raw(ABC.id)) == (10 * 10**9, 0)
    assert sim.balance() == Money.from_str("98990", "USD")  # 100000 - 10 x 101.00
    assert alt.balance() == Money.from_str("49790", "USD")  # 50000 - 10 x 21.00
    # One ledger over both: cash 150000 - 1010 - 210, marked at 103.00 and 19.50.
    assert portfolio.cash() == Money.from_str("148780", "USD")
    assert result.final_equity == Money.from_str("148780", "USD") + Money.from_str("1225", "USD")


def test_venues_starting_in_different_currencies_are_refused_with_a_clear_error() -> None:
    eur_stock = Equity("DEF.EUX", currency="EUR")
    engine = BacktestEngine(seed=1)
    engine.add_instrument(ABC)
    engine.add_instrument(eur_stock)
    engine.add_venue("SIM", venue("100000"))
    engine.add_venue("EUX", venue("100000", "EUR"))
    engine.add_data(trades(ABC, ["100.00"], offset_s=1))
    engine.add_data(trades(eur_stock, ["50.00"], offset_s=2))
    engine.add_strategy(BuyEachOnce(("ABC.SIM", "DEF.EUX")))

    with pytest.raises(TradeloopError) as info:
        engine.run()

    assert str(info.value) == "venues start in several currencies ['EUR', 'USD']; use one"
