"""The venue's own ledger: exact fees, cash and positions, checked against Decimal arithmetic."""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tradeloop.core.ids import AccountId
from tradeloop.model import Account, LiquiditySide, Money, OrderSide
from tradeloop.venues.simulated import FeeModel, SimulatedVenueConfig

CENT = Decimal("0.01")


def _fee(px: Decimal, qty: Decimal, multiplier: int, rate: Decimal) -> Decimal:
    return (px * qty * multiplier * rate).quantize(CENT, rounding=ROUND_HALF_EVEN)


def test_maker_and_taker_fees_equal_decimal_rate_times_notional(sim):
    sim.bar("100.00", "100.00", "100.00", "100.00")
    taker = sim.submit("BUY", 13)
    maker = sim.submit("BUY", 7, "LIMIT", price="99.37")
    sim.bar("100.01", "100.20", "99.30", "99.90")
    (t,) = sim.fills(taker)
    (m,) = sim.fills(maker)
    assert t.liquidity_side is LiquiditySide.TAKER
    assert m.liquidity_side is LiquiditySide.MAKER
    assert t.commission.as_decimal() == _fee(Decimal("100.01"), Decimal(13), 1, Decimal("0.0005"))
    assert m.commission.as_decimal() == _fee(Decimal("99.37"), Decimal(7), 1, Decimal("0.0002"))
    assert sim.venue.commissions().as_decimal() == t.commission.as_decimal() + m.commission.as_decimal()


def test_fee_rounding_is_half_to_even_at_the_cent(make_sim):
    config = SimulatedVenueConfig(
        starting_balances=Money.from_str("100000", "USD"), fee_model=FeeModel(taker_fee=Decimal("0.001"))
    )
    sim = make_sim(config=config)
    sim.bar("10.00", "10.00", "10.00", "10.00")
    fees = []
    for px in ("5.00", "15.00", "25.00", "25.01"):
        coid = sim.submit("BUY", 1)
        sim.bar(px, px, px, px)
        fees.append(sim.fills(coid)[0].commission.as_decimal())
    # 0.005 -> 0.00, 0.015 -> 0.02, 0.025 -> 0.02 (ties to even), 0.02501 -> 0.03.
    assert fees == [Decimal("0.00"), Decimal("0.02"), Decimal("0.02"), Decimal("0.03")]


def test_fee_model_overrides_the_instrument_rates(make_sim):
    config = SimulatedVenueConfig(
        starting_balances=Money.from_str("100000", "USD"),
        fee_model=FeeModel(maker_fee=Decimal("-0.0001"), taker_fee=Decimal("0.002")),
    )
    sim = make_sim(config=config)
    sim.bar("100.00", "100.00", "100.00", "100.00")
    taker = sim.submit("BUY", 10)
    maker = sim.submit("BUY", 10, "LIMIT", price="99.00")
    sim.bar("100.00", "100.00", "99.00", "99.50")
    assert sim.fills(taker)[0].commission == Money.from_str("2.00", "USD")
    assert sim.fills(maker)[0].commission == Money.from_str("-0.10", "USD")  # a rebate


def test_futures_notional_uses_the_contract_multiplier(make_sim):
    sim = make_sim(config=SimulatedVenueConfig(starting_balances=Money.from_str("1000000", "USD")))
    sim.trade("5000.00", instrument=sim.es)
    coid = sim.submit("BUY", 1, instrument=sim.es)
    sim.trade("5000.25", instrument=sim.es)
    fee = _fee(Decimal("5000.25"), Decimal(1), 50, Decimal("0.00003"))
    assert sim.fills(coid)[0].commission.as_decimal() == fee
    assert sim.venue.balance().as_decimal() == Decimal(1000000) - Decimal("5000.25") * 50 - fee


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    steps=st.lists(
        st.tuples(
            st.sampled_from(["AAPL", "ES"]),
            st.sampled_from(["BUY", "SELL"]),
            st.integers(min_value=1, max_value=20),
            st.integers(min_value=1, max_value=40_000),
        ),
        min_size=1,
        max_size=25,
    )
)
def test_ledger_equals_decimal_recomputation_after_random_fills(make_sim, steps):
    config = SimulatedVenueConfig(
        starting_balances=Money.from_str("1000000000", "USD"), account_type="MARGIN", leverage=Decimal(10)
    )
    sim = make_sim(config=config)
    instruments = {"AAPL": sim.aapl, "ES": sim.es}
    for inst in instruments.values():
        sim.trade("100.00", instrument=inst)
    for name, side, qty, ticks in steps:
        inst = instruments[name]
        sim.submit(side, qty, instrument=inst)
        px = inst.price_increment.as_decimal() * ticks
        sim.trade(str(px), instrument=inst)
    fills = sim.fills()
    assert len(fills) == len(steps)  # the balance carries any path these steps can take

    cash = Decimal(1_000_000_000)
    fees = Decimal(0)
    positions = {inst.id: Decimal(0) for inst in instruments.values()}
    account = Account(AccountId("check"), Money.from_str("1000000000", "USD"))
    for fill in fills:
        inst = sim.instruments[fill.instrument_id]
        px, qty = fill.last_px.as_decimal(), fill.last_qty.as_decimal()
        rate = inst.taker_fee  # every fill here is a market order
        fee = _fee(px, qty, inst.multiplier, rate)
        assert fill.commission.as_decimal() == fee
        sign = 1 if fill.order_side is OrderSide.BUY else -1
        cash -= sign * px * qty * inst.multiplier + fee
        fees += fee
        positions[inst.id] += sign * qty
        account.apply_fill(fill, inst)
    assert sim.venue.balance().as_decimal() == cash
    assert Decimal(sim.venue.cash_raw) / 10**9 == cash
    assert sim.venue.commissions().as_decimal() == fees
    for iid, pos in positions.items():
        assert Decimal(sim.venue.position_raw(iid)) / 10**9 == pos
    assert sim.venue.cash_raw == account.cash_raw
