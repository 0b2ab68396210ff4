"""Limit, stop-market and stop-limit orders against bars, quotes and trades."""

from __future__ import annotations

from tradeloop.model import LiquiditySide, OrderTriggered, Price


def _px(text: str) -> Price:
    return Price.from_str(text)


def test_buy_limit_fills_as_maker_at_limit_when_bar_trades_down_to_it(sim):
    sim.bar("100.00", "100.50", "99.50", "100.00")
    coid = sim.submit("BUY", 10, "LIMIT", price="99.00")
    sim.bar("100.00", "100.20", "98.90", "99.50")
    (fill,) = sim.fills(coid)
    assert fill.last_px == _px("99.00")
    assert fill.liquidity_side is LiquiditySide.MAKER


def test_limit_not_filled_when_the_price_never_reaches_it(sim):
    sim.bar("100.00", "100.50", "99.50", "100.00")
    buy = sim.submit("BUY", 10, "LIMIT", price="99.00")
    sim.bar("100.00", "100.20", "99.01", "99.50")
    sim.quote("99.01", "99.02")
    sim.trade("99.01")
    assert sim.fills(buy) == []
    assert [r.client_order_id for r in sim.venue.open_orders()] == [buy]


def test_limit_fills_when_touched_exactly(sim):
    sim.bar("100.00", "100.50", "99.50", "100.00")
    coid = sim.submit("BUY", 10, "LIMIT", price="99.00")
    sim.bar("100.00", "100.20", "99.00", "99.50")
    assert sim.fills(coid)[0].last_px == _px("99.00")


def test_bar_gapping_through_limit_fills_at_open_with_price_improvement(sim):
    sim.bar("100.00", "100.50", "99.50", "100.00")
    buy = sim.submit("BUY", 10, "LIMIT", price="99.00")
    sim.bar("97.50", "98.50", "97.00", "98.00")
    (fill,) = sim.fills(buy)
    assert fill.last_px == _px("97.50")
    assert fill.liquidity_side is LiquiditySide.MAKER


def test_sell_limit_fills_at_limit_when_bar_trades_up_to_it(sim):
    sim.bar("100.00", "100.00", "100.00", "100.00")
    buy = sim.submit("BUY", 10)
    sim.bar("100.00", "100.00", "100.00", "100.00")
    assert sim.fills(buy)
    sell = sim.submit("SELL", 10, "LIMIT", price="101.00")
    sim.bar("100.00", "101.50", "99.80", "101.20")
    assert sim.fills(sell)[0].last_px == _px("101.00")


def test_resting_limit_on_quotes_fills_at_its_limit_when_the_ask_reaches_it(sim):
    sim.quote("100.00", "100.02")
    coid = sim.submit("BUY", 10, "LIMIT", price="99.50")
    sim.quote("99.60", "99.62")
    assert sim.fills(coid) == []
    sim.quote("99.40", "99.45")
    (fill,) = sim.fills(coid)
    assert fill.last_px == _px("99.50")
    assert fill.liquidity_side is LiquiditySide.MAKER


def test_resting_limit_fills_at_limit_on_a_trade_through_it(sim):
    sim.trade("100.00")
    coid = sim.submit("BUY", 10, "LIMIT", price="99.50")
    sim.trade("99.30")
    assert sim.fills(coid)[0].last_px == _px("99.50")


def test_marketable_limit_on_arrival_takes_at_the_better_of_limit_and_next_price(sim):
    sim.quote("100.00", "100.02")
    coid = sim.submit("BUY", 10, "LIMIT", price="100.10")
    sim.quote("99.98", "100.01")
    (fill,) = sim.fills(coid)
    assert fill.last_px == _px("100.01")
    assert fill.liquidity_side is LiquiditySide.TAKER


def test_marketable_limit_rests_as_maker_when_next_point_no_longer_crosses(sim):
    sim.bar("100.00", "100.00", "100.00", "100.00")
    coid = sim.submit("BUY", 10, "LIMIT", price="100.00")
    sim.bar("100.50", "100.80", "99.90", "100.10")
    (fill,) = sim.fills(coid)
    assert fill.last_px == _px("100.00")
    assert fill.liquidity_side is LiquiditySide.MAKER


def test_bar_walks_open_high_low_close_when_high_is_nearer_the_open(sim):
    sim.bar("100.00", "100.00", "100.00", "100.00")
    sim.submit("BUY", 10)
    sim.bar("100.00", "100.00", "100.00", "100.00")
    sell = sim.submit("SELL", 5, "LIMIT", price="101.00")
    buy = sim.submit("BUY", 5, "LIMIT", price="98.00")
    # High 1.50 from the open, low 2.50: O-H-L-C, so the sell fills first.
    sim.bar("100.00", "101.50", "97.50", "99.00")
    fills = sim.fills()
    assert [f.client_order_id for f in fills[-2:]] == [sell, buy]


def test_bar_walks_open_low_high_close_when_low_is_nearer_the_open(sim):
    sim.bar("100.00", "100.00", "100.00", "100.00")
    sim.submit("BUY", 10)
    sim.bar("100.00", "100.00", "100.00", "100.00")
    sell = sim.submit("SELL", 5, "LIMIT", price="101.00")
    buy = sim.submit("BUY", 5, "LIMIT", price="98.00")
    sim.bar("100.00", "102.50", "98.00", "101.00")
    fills = sim.fills()
    assert [f.client_order_id for f in fills[-2:]] == [buy, sell]


def test_buy_stop_triggers_inside_bar_and_fills_at_trigger(sim):
    sim.bar("100.00", "100.50", "99.50", "100.00")
    coid = sim.submit("BUY", 10, "STOP_MARKET", trigger="101.00")
    sim.bar("100.20", "100.90", "99.90", "100.50")
    assert sim.kinds(coid) == ["OrderAccepted"]
    sim.bar("100.50", "101.60", "100.40", "101.40")
    assert sim.kinds(coid) == ["OrderAccepted", "OrderTriggered", "OrderFilled"]
    fill = sim.fills(coid)[0]
    assert fill.last_px == _px("101.00")
    assert fill.liquidity_side is LiquiditySide.TAKER
    assert fill.causation_id == sim.of(OrderTriggered, coid)[0].id


def test_sell_stop_gapped_through_fills_at_the_worse_open(sim):
    sim.bar("100.00", "100.00", "100.00", "100.00")
    sim.submit("BUY", 10)
    sim.bar("100.00", "100.00", "100.00", "100.00")
    stop = sim.submit("SELL", 10, "STOP_MARKET", trigger="99.00")
    sim.bar("97.00", "98.00", "96.50", "97.50")
    assert sim.fills(stop)[0].last_px == _px("97.00")
    assert sim.venue.position_raw(sim.aapl.id) == 0


def test_buy_stop_on_trades_fills_at_the_trade_that_reached_it(sim):
    sim.trade("100.00")
    coid = sim.submit("BUY", 10, "STOP_MARKET", trigger="100.50")
    sim.trade("100.40")
    assert sim.fills(coid) == []
    sim.trade("100.70")
    assert sim.fills(coid)[0].last_px == _px("100.70")


def test_stop_limit_triggers_then_rests_as_limit_and_fills_as_maker(sim):
    sim.bar("100.00", "100.00", "100.00", "100.00")
    sim.submit("BUY", 10)
    sim.bar("100.00", "100.00", "100.00", "100.00")
    # Sell stop at 99, limit 98.50: gapping to 97 triggers it, but 97 is below the limit.
    coid = sim.submit("SELL", 10, "STOP_LIMIT", price="98.50", trigger="99.00")
    sim.bar("97.00", "97.80", "96.90", "97.50")
    assert sim.kinds(coid) == ["OrderAccepted", "OrderTriggered"]
    sim.bar("97.60", "98.70", "97.40", "98.60")
    (fill,) = sim.fills(coid)
    assert fill.last_px == _px("98.50")
    assert fill.liquidity_side is LiquiditySide.MAKER


def test_stop_limit_fills_at_once_as_taker_when_trigger_price_crosses_its_limit(sim):
    sim.bar("100.00", "100.50", "99.50", "100.00")
    coid = sim.submit("BUY", 10, "STOP_LIMIT", price="101.50", trigger="101.00")
    sim.bar("100.20", "101.80", "100.10", "101.60")
    assert sim.kinds(coid) == ["OrderAccepted", "OrderTriggered", "OrderFilled"]
    fill = sim.fills(coid)[0]
    assert fill.last_px == _px("101.00")
    assert fill.liquidity_side is LiquiditySide.TAKER


def test_limit_fills_only_once_per_bar_even_if_walk_touches_it_twice(sim):
    sim.bar("100.00", "100.00", "100.00", "100.00")
    coid = sim.submit("BUY", 10, "LIMIT", price="99.00")
    sim.bar("99.00", "101.00", "98.00", "99.00")
    assert len(sim.fills(coid)) == 1


def test_sell_stop_on_quotes_watches_the_bid_and_fills_at_it(sim):
    sim.quote("100.00", "100.02")
    sim.submit("BUY", 10)
    sim.quote("100.00", "100.02")
    stop = sim.submit("SELL", 10, "STOP_MARKET", trigger="99.50")
    sim.quote("99.51", "99.49")  # a crossed book: the ask reaches the trigger, the bid does not
    assert sim.fills(stop) == []
    sim.quote("99.40", "99.45")
    assert sim.fills(stop)[0].last_px == Price.from_str("99.40")


def test_a_limit_sent_before_any_price_takes_at_the_market_when_the_first_quote_is_through_it(sim):
    coid = sim.submit("BUY", 10, "LIMIT", price="101.00")
    sim.quote("99.98", "100.00")
    (fill,) = sim.fills(coid)
    assert fill.last_px == _px("100.00")  # the better price, not its own limit
    assert fill.liquidity_side is LiquiditySide.TAKER


def test_a_limit_sent_before_any_price_takes_at_the_first_trade_through_it(sim):
    coid = sim.submit("BUY", 10, "LIMIT", price="101.00")
    sim.trade("100.00")
    (fill,) = sim.fills(coid)
    assert (fill.last_px, fill.liquidity_side) == (_px("100.00"), LiquiditySide.TAKER)


def test_a_limit_sent_before_any_price_and_not_reached_rests_as_a_maker(sim):
    coid = sim.submit("BUY", 10, "LIMIT", price="99.00")
    sim.bar("100.00", "100.50", "99.50", "100.20")  # never reaches 99.00
    assert sim.fills(coid) == []
    sim.bar("100.00", "100.10", "98.90", "99.20")
    (fill,) = sim.fills(coid)
    assert (fill.last_px, fill.liquidity_side) == (_px("99.00"), LiquiditySide.MAKER)


def test_ioc_stop_limit_gapped_past_its_limit_is_canceled_when_it_triggers(sim):
    sim.bar("100.00", "100.00", "100.00", "100.00")
    coid = sim.submit("BUY", 10, "STOP_LIMIT", price="101.00", trigger="101.00", time_in_force="IOC")
    # The open gaps over the limit: the stop triggers at 102.00, which its limit cannot take.
    # Its one attempt is spent there; the bar's next point, the low 100.50, must not fill it.
    sim.bar("102.00", "104.00", "100.50", "101.00")
    assert sim.kinds(coid) == ["OrderAccepted", "OrderTriggered", "OrderCanceled"]
    assert sim.venue.open_orders() == []
    sim.bar("100.50", "100.60", "100.40", "100.50")
    assert sim.fills(coid) == []


def test_fok_stop_limit_triggered_on_a_quote_through_its_limit_is_canceled(sim):
    sim.quote("99.98", "100.00")
    coid = sim.submit("BUY", 10, "STOP_LIMIT", price="101.00", trigger="101.00", time_in_force="FOK")
    sim.quote("101.40", "101.50")
    assert sim.kinds(coid) == ["OrderAccepted", "OrderTriggered", "OrderCanceled"]
    sim.quote("100.80", "100.90")  # now within the limit, but the order is gone
    assert sim.fills(coid) == []
