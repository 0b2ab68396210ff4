"""Property: for any sequence of fills, the portfolio's ledger equals a Decimal recomputation.

Fills are published on a real bus with a Portfolio subscribed (no execution engine, no venue).
The reference model below is written independently of ``Position``: per (strategy,
instrument) a FIFO queue of Decimal lots; a fill that crosses zero is split, its whole
commission booked to the closing part; cash moves by notional and commission.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from tradeloop.core.bus import MessageBus
from tradeloop.core.ids import AccountId, InstrumentId, StrategyId
from tradeloop.model.account import Account
from tradeloop.model.enums import OrderSide
from tradeloop.model.events import PositionClosed
from tradeloop.model.instruments import Instrument
from tradeloop.model.objects import Money, raw_from_decimal
from tradeloop.portfolio import Portfolio
from tradeloop.testkit import TestClock, aapl_equity, btcusdt, es_future, id_factory, make_fill, make_trade

ES, AAPL, BTC = es_future(), aapl_equity(), btcusdt()


@dataclass(frozen=True)
class Universe:
    currency: str
    instruments: tuple[Instrument, ...]
    base_price: tuple[Decimal, ...]
    qty_step: tuple[Decimal, ...]
    fee_from_rate: bool  # True: the instrument's taker rate (rounded); False: a drawn amount


USD = Universe("USD", (ES, AAPL), (Decimal(5000), Decimal(150)), (Decimal(1), Decimal(1)), False)
USDT = Universe("USDT", (BTC,), (Decimal(43000),), (Decimal("0.000137"),), True)


@dataclass
class ModelPosition:
    lots: deque[list[Decimal]] = field(default_factory=deque)  # [signed qty, price]
    gross: Decimal = Decimal(0)
    fees: Decimal = Decimal(0)

    @property
    def net(self) -> Decimal:
        return sum((lot[0] for lot in self.lots), Decimal(0))

    def trade(self, signed: Decimal, px: Decimal, multiplier: int) -> None:
        """Close opposite lots oldest first, then open what is left."""
        remaining = signed
        while remaining and self.lots and (self.lots[0][0] > 0) != (remaining > 0):
            lot = self.lots[0]
            take = min(abs(remaining), abs(lot[0]))
            direction = 1 if lot[0] > 0 else -1
            self.gross += (px - lot[1]) * take * direction * multiplier
            lot[0] -= direction * take
            remaining += direction * take
            if not lot[0]:
                self.lots.popleft()
        if remaining:
            self.lots.append([remaining, px])

    @property
    def realized(self) -> Decimal:
        return self.gross - self.fees


@dataclass
class Model:
    cash: Decimal
    fees: Decimal = Decimal(0)
    open: dict[tuple[str, str], ModelPosition] = field(default_factory=dict)
    closed: list[ModelPosition] = field(default_factory=list)

    def fill(self, key: tuple[str, str], signed: Decimal, px: Decimal, fee: Decimal, multiplier: int) -> None:
        self.cash -= signed * px * multiplier + fee
        self.fees += fee
        pos = self.open.get(key)
        if pos is None:
            pos = self.open[key] = ModelPosition()
        net = pos.net
        if net and (net > 0) != (signed > 0) and abs(signed) > abs(net):
            # Crosses zero: close with the whole commission, open the rest without one.
            pos.trade(-net, px, multiplier)
            pos.fees += fee
            self.closed.append(self.open.pop(key))
            rest = self.open[key] = ModelPosition()
            rest.trade(signed + net, px, multiplier)
            return
        pos.trade(signed, px, multiplier)
        pos.fees += fee
        if not pos.net:
            self.closed.append(self.open.pop(key))


fill_steps = st.lists(
    st.tuples(
        st.integers(0, 1),  # strategy
        st.integers(0, 1),  # instrument (modulo the universe's count)
        st.booleans(),  # buy?
        st.integers(1, 7),  # quantity in steps
        st.integers(-60, 60),  # price offset in ticks
        st.integers(0, 999),  # commission in the currency's smallest unit
    ),
    min_size=1,
    max_size=40,
)


@settings(max_examples=150, deadline=None)
@given(universe=st.sampled_from([USD, USDT]), steps=fill_steps, mark_ticks=st.integers(-80, 80))
def test_cash_fees_and_realized_pnl_equal_a_decimal_fifo_recomputation(
    universe: Universe, steps: list[tuple[int, int, bool, int, int, int]], mark_ticks: int
) -> None:
    clock = TestClock(1_000)
    bus = MessageBus(clock, id_factory(1))
    start = Decimal(1_000_000)
    portfolio = Portfolio(
        bus,
        clock,
        id_factory(2),
        Account(AccountId("ACC-1"), Money.from_decimal(start, universe.currency)),
        universe.instruments,
    )
    closed_events: list[PositionClosed] = []
    bus.subscribe(PositionClosed, closed_events.append)
    ids = id_factory(3)
    model = Model(cash=start)
    smallest = Decimal(1).scaleb(-Money.zero(universe.currency).precision)

    for n, (strategy, which, buy, steps_qty, ticks, fee_units) in enumerate(steps):
        k = which % len(universe.instruments)
        instrument = universe.instruments[k]
        qty = universe.qty_step[k] * steps_qty
        px = universe.base_price[k] + ticks * instrument.price_increment.as_decimal()
        side = OrderSide.BUY if buy else OrderSide.SELL
        if universe.fee_from_rate:
            notional = qty * px * instrument.multiplier
            fee = (notional * instrument.taker_fee).quantize(smallest, rounding=ROUND_HALF_EVEN)
            commission = None
        else:
            fee = fee_units * smallest
            commission = Money.from_decimal(fee, universe.currency)
        clock.set_time(1_000 + n)
        bus.publish(
            make_fill(
                instrument,
                side,
                qty,
                px,
                commission=commission,
                ts_ns=1_000 + n,
                strategy_id=f"S-{strategy}",
                trade_id=f"T-{n}",
                ids=ids,
            )
        )
        signed = qty if buy else -qty
        model.fill((f"S-{strategy}", instrument.id), signed, px, fee, instrument.multiplier)

    def raw(value: Decimal) -> int:
        return raw_from_decimal(value, 9)

    assert bus.handler_errors == 0
    assert portfolio.account.cash_raw == raw(model.cash)
    assert portfolio.account.commissions_raw == raw(model.fees)
    realized = sum((p.realized for p in (*model.closed, *model.open.values())), Decimal(0))
    assert portfolio.realized_pnl_raw() == raw(realized)
    assert [e.realized_pnl.raw for e in closed_events] == [raw(p.realized) for p in model.closed]
    assert [p.realized_pnl_raw for p in portfolio.positions_closed()] == [
        raw(p.realized) for p in model.closed
    ]
    for (strategy_id, instrument_id), expected in model.open.items():
        pos = portfolio.position(StrategyId(strategy_id), InstrumentId(instrument_id))
        assert pos is not None
        assert pos.net_raw == raw(expected.net)
        assert pos.realized_pnl_raw == raw(expected.realized)
    assert len(portfolio.positions_open()) == len(model.open)

    # Mark every instrument at one price: equity is cash plus the open lots at that mark.
    value = Decimal(0)
    unrealized = Decimal(0)
    for k, instrument in enumerate(universe.instruments):
        mark = universe.base_price[k] + mark_ticks * instrument.price_increment.as_decimal()
        bus.publish(make_trade(instrument, mark, ts_ns=10_000 + k))
        for (_, iid), pos_model in model.open.items():
            if iid == instrument.id:
                value += pos_model.net * mark * instrument.multiplier
                for lot_qty, lot_px in pos_model.lots:
                    unrealized += (mark - lot_px) * lot_qty * instrument.multiplier
    assert portfolio.equity_raw == raw(model.cash + value)
    assert portfolio.unrealized_pnl_raw() == raw(unrealized)
