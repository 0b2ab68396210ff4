"""Volume participation caps fills per data point; IOC and FOK get a single attempt."""

from __future__ import annotations

from decimal import Decimal

from tradeloop.model import LiquiditySide, Money, OrderStatus, Price
from tradeloop.venues.simulated import FillModel, SimulatedVenueConfig


def _participation(fraction: str) -> SimulatedVenueConfig:
    return SimulatedVenueConfig(
        starting_balances=Money.from_str("1000000", "USD"),
        fill_model=FillModel(max_volume_participation=Decimal(fraction)),
    )


def test_market_order_fills_in_parts_capped_by_bar_volume_and_rest_fills_on_later_bars(make_sim):
    sim = make_sim(config=_participation("0.1"))
    sim.bar("100.00", "100.00", "100.00", "100.00")
    coid = sim.submit("BUY", 25)
    sim.bar("100.10", "100.20", "100.00", "100.10", volume="100")
    assert [f.last_qty.as_decimal() for f in sim.fills(coid)] == [10]
    assert sim.orders[coid].status is OrderStatus.PARTIALLY_FILLED
    sim.bar("100.30", "100.40", "100.20", "100.30", volume="100")
    sim.bar("100.50", "100.60", "100.40", "100.50", volume="100")
    fills = sim.fills(coid)
    assert [f.last_qty.as_decimal() for f in fills] == [10, 10, 5]
    assert [f.last_px for f in fills] == [Price.from_str(p) for p in ("100.10", "100.30", "100.50")]
    assert sim.orders[coid].status is OrderStatus.FILLED
    assert sim.venue.position_raw(sim.aapl.id) == 25 * 10**9


def test_participation_cap_rounds_down_to_the_lot_size(make_sim):
    sim = make_sim(config=_participation("0.1"))
    sim.bar("100.00", "100.00", "100.00", "100.00")
    coid = sim.submit("BUY", 10)
    sim.bar("100.00", "100.00", "100.00", "100.00", volume="39")
    assert [f.last_qty.as_decimal() for f in sim.fills(coid)] == [3]


def test_resting_limit_fills_in_parts_across_bars_that_touch_it(make_sim):
    sim = make_sim(config=_participation("0.5"))
    sim.bar("100.00", "100.00", "100.00", "100.00")
    coid = sim.submit("BUY", 30, "LIMIT", price="99.00")
    sim.bar("99.50", "99.80", "98.80", "99.20", volume="40")
    sim.bar("99.50", "99.80", "99.10", "99.20", volume="40")
    assert [f.last_qty.as_decimal() for f in sim.fills(coid)] == [20]
    sim.bar("99.50", "99.80", "98.90", "99.20", volume="40")
    assert [f.last_qty.as_decimal() for f in sim.fills(coid)] == [20, 10]


def test_quote_fills_are_capped_by_top_of_book_size_on_the_side_taken(make_sim):
    sim = make_sim(config=_participation("1"))
    sim.quote("99.99", "100.01", bid_size="500", ask_size="7")
    coid = sim.submit("BUY", 10)
    sim.quote("99.99", "100.01", bid_size="500", ask_size="7")
    sim.quote("99.99", "100.02", bid_size="500", ask_size="7")
    assert [(f.last_qty.as_decimal(), f.last_px) for f in sim.fills(coid)] == [
        (7, Price.from_str("100.01")),
        (3, Price.from_str("100.02")),
    ]


def test_trade_fills_are_capped_by_a_fraction_of_the_trade_size(make_sim):
    sim = make_sim(config=_participation("0.5"))
    sim.trade("100.00", size="10")
    coid = sim.submit("BUY", 8)
    sim.trade("100.00", size="10")
    sim.trade("100.01", size="4")
    assert [f.last_qty.as_decimal() for f in sim.fills(coid)] == [5, 2]


def test_ioc_fills_what_the_first_data_point_allows_and_cancels_the_remainder(make_sim):
    sim = make_sim(config=_participation("0.1"))
    sim.bar("100.00", "100.00", "100.00", "100.00")
    coid = sim.submit("BUY", 25, time_in_force="IOC")
    sim.bar("100.10", "100.20", "100.00", "100.10", volume="100")
    assert sim.kinds(coid) == ["OrderAccepted", "OrderFilled", "OrderCanceled"]
    assert sim.filled_qty(coid) == 10
    sim.bar("100.10", "100.20", "100.00", "100.10", volume="100")
    assert sim.filled_qty(coid) == 10


def test_ioc_limit_that_does_not_cross_at_the_next_price_is_canceled_without_fill(sim):
    sim.bar("100.00", "100.00", "100.00", "100.00")
    coid = sim.submit("BUY", 10, "LIMIT", price="99.00", time_in_force="IOC")
    sim.bar("99.50", "99.60", "98.00", "99.00")
    assert sim.kinds(coid) == ["OrderAccepted", "OrderCanceled"]


def test_ioc_limit_that_crosses_fills_as_taker_at_the_better_price(sim):
    sim.quote("99.98", "100.00")
    coid = sim.submit("BUY", 10, "LIMIT", price="100.05", time_in_force="IOC")
    sim.quote("99.97", "99.99")
    assert sim.kinds(coid) == ["OrderAccepted", "OrderFilled"]
    assert sim.fills(coid)[0].last_px == Price.from_str("99.99")


def test_fok_fills_completely_when_the_data_point_allows_it(make_sim):
    sim = make_sim(config=_participation("0.1"))
    sim.bar("100.00", "100.00", "100.00", "100.00")
    coid = sim.submit("BUY", 10, time_in_force="FOK")
    sim.bar("100.10", "100.20", "100.00", "100.10", volume="100")
    assert sim.kinds(coid) == ["OrderAccepted", "OrderFilled"]
    assert sim.filled_qty(coid) == 10


def test_fok_limit_canceled_without_fill_when_only_part_is_available(make_sim):
    sim = make_sim(config=_participation("1"))
    sim.quote("99.98", "100.00", ask_size="4")
    coid = sim.submit("BUY", 10, "LIMIT", price="100.00", time_in_force="FOK")
    sim.quote("99.98", "100.00", ask_size="4")
    assert sim.kinds(coid) == ["OrderAccepted", "OrderCanceled"]
    assert sim.venue.position_raw(sim.aapl.id) == 0


def test_a_marketable_limit_remainder_held_back_by_the_cap_keeps_taking_at_the_market(make_sim):
    # Buy 100 limit 105 while the ask is 100.00 with 50 shown: the 50 the cap held back must not
    # turn into a maker fill at 105.00 while the market still offers 100.00.
    sim = make_sim(config=_participation("1"))
    sim.quote("99.99", "100.00", ask_size="50")
    coid = sim.submit("BUY", 100, "LIMIT", price="105.00")
    sim.quote("99.99", "100.00", ask_size="50")
    sim.quote("99.99", "100.00", ask_size="50")
    fills = [(f.last_qty.as_decimal(), f.last_px, f.liquidity_side) for f in sim.fills(coid)]
    assert fills == [(50, Price.from_str("100.00"), LiquiditySide.TAKER)] * 2


def test_a_capped_marketable_limit_on_trades_fills_its_remainder_at_the_trade_price(make_sim):
    sim = make_sim(config=_participation("0.5"))
    sim.trade("100.00", size="100")
    coid = sim.submit("BUY", 100, "LIMIT", price="105.00")
    sim.trade("100.00", size="100")
    sim.trade("100.00", size="100")
    assert [f.last_px for f in sim.fills(coid)] == [Price.from_str("100.00")] * 2


def test_a_capped_marketable_limit_rests_as_a_maker_once_the_market_no_longer_crosses(make_sim):
    sim = make_sim(config=_participation("1"))
    sim.quote("99.99", "100.00", ask_size="50")
    coid = sim.submit("BUY", 100, "LIMIT", price="101.00")
    sim.quote("99.99", "100.00", ask_size="50")  # 50 taken at 100.00
    sim.quote("101.99", "102.00", ask_size="50")  # above the limit: now resting
    sim.quote("100.49", "100.50", ask_size="50")  # touched: maker at the limit
    fills = [(f.last_px, f.liquidity_side) for f in sim.fills(coid)]
    assert fills == [
        (Price.from_str("100.00"), LiquiditySide.TAKER),
        (Price.from_str("101.00"), LiquiditySide.MAKER),
    ]


def test_a_stop_limit_triggered_on_a_thin_quote_later_fills_at_the_market_as_taker(make_sim):
    # The quote that triggers it shows 5 on the ask: a 10 % cap is 0 lots, nothing fills there.
    sim = make_sim(config=_participation("0.1"))
    sim.quote("99.99", "100.00")
    coid = sim.submit("BUY", 10, "STOP_LIMIT", trigger="101.00", price="105.00")
    sim.quote("101.99", "102.00", ask_size="5")
    sim.quote("101.99", "102.00", ask_size="1000")
    fills = [(f.last_px, f.liquidity_side) for f in sim.fills(coid)]
    assert fills == [(Price.from_str("102.00"), LiquiditySide.TAKER)]
