"""Validation on arrival: every rejection names its reason."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tradeloop.core.errors import ConfigError
from tradeloop.core.ids import ClientOrderId, StrategyId
from tradeloop.model import (
    CryptoSpot,
    Equity,
    Money,
    OrderRejected,
    OrderSide,
    OrderSpec,
    OrderType,
    Quantity,
    SubmitOrder,
)
from tradeloop.venues.simulated import FeeModel, SimulatedVenueConfig


def _reason(sim, coid) -> str:
    (rejected,) = sim.of(OrderRejected, coid)
    assert sim.kinds(coid) == ["OrderRejected"]
    assert rejected.causation_id.startswith("cmd-")
    return rejected.reason


def _margin(amount: str, leverage: str = "1") -> SimulatedVenueConfig:
    return SimulatedVenueConfig(
        starting_balances=Money.from_str(amount, "USD"), account_type="MARGIN", leverage=Decimal(leverage)
    )


def test_buy_needing_more_than_the_cash_is_rejected(make_sim):
    sim = make_sim(config=SimulatedVenueConfig(starting_balances=Money.from_str("1000", "USD")))
    sim.bar("100.00", "100.00", "100.00", "100.00")
    # 10 x 100 = 1000 plus the 0.05% taker fee is more than 1000.
    reason = _reason(sim, sim.submit("BUY", 10))
    assert "insufficient cash" in reason
    assert "1000.50" in reason


def test_buy_within_cash_including_fee_is_accepted(make_sim):
    sim = make_sim(config=SimulatedVenueConfig(starting_balances=Money.from_str("1000.50", "USD")))
    sim.bar("100.00", "100.00", "100.00", "100.00")
    coid = sim.submit("BUY", 10)
    assert sim.kinds(coid) == ["OrderAccepted"]


def test_cash_reserved_by_resting_buys_is_not_available_to_new_ones(make_sim):
    sim = make_sim(config=SimulatedVenueConfig(starting_balances=Money.from_str("1500", "USD")))
    sim.bar("100.00", "100.00", "100.00", "100.00")
    assert sim.kinds(sim.submit("BUY", 10, "LIMIT", price="99.00")) == ["OrderAccepted"]
    assert "insufficient cash" in _reason(sim, sim.submit("BUY", 6, "LIMIT", price="99.00"))


def test_price_off_the_tick_grid_is_rejected(sim):
    sim.bar("100.00", "100.00", "100.00", "100.00")
    reason = _reason(sim, sim.submit("BUY", 1, "LIMIT", price="99.005"))
    assert reason.startswith("invalid price")
    assert "tick size" in reason


def test_event_contract_price_outside_the_band_is_rejected(sim):
    sim.trade("0.50", instrument=sim.event)
    high = _reason(sim, sim.submit("SELL", 1, "LIMIT", price="1.00", instrument=sim.event))
    assert "above the maximum 0.99" in high
    low = _reason(sim, sim.submit("BUY", 1, "LIMIT", price="0.00", instrument=sim.event))
    assert "below the minimum 0.01" in low


def test_event_contract_prices_at_the_band_edges_are_accepted(sim):
    sim.trade("0.50", instrument=sim.event)
    coid = sim.submit("BUY", 1, "LIMIT", price="0.01", instrument=sim.event)
    assert sim.kinds(coid) == ["OrderAccepted"]


def test_trigger_price_off_the_grid_is_rejected(sim):
    sim.bar("100.00", "100.00", "100.00", "100.00")
    assert _reason(sim, sim.submit("BUY", 1, "STOP_MARKET", trigger="101.001")).startswith(
        "invalid trigger price"
    )


def test_size_off_the_lot_grid_is_rejected(sim):
    sim.bar("100.00", "100.00", "100.00", "100.00")
    reason = _reason(sim, sim.submit("BUY", "1.5"))
    assert reason.startswith("invalid quantity")
    assert "lot size" in reason


def test_size_below_the_instrument_minimum_is_rejected(make_sim):
    from dataclasses import replace

    from tradeloop.model import Quantity

    lot100 = replace(Equity("LOT.SIM"), min_quantity=Quantity.from_str("100"))
    sim = make_sim(instruments=[lot100])
    sim.trade("10.00", instrument=lot100)
    assert "below the minimum" in _reason(sim, sim.submit("BUY", 50, instrument=lot100))


def test_reduce_only_order_that_would_open_a_position_is_rejected(sim):
    sim.bar("100.00", "100.00", "100.00", "100.00")
    reason = _reason(sim, sim.submit("SELL", 1, reduce_only=True))
    assert "reduce-only" in reason
    assert "flat" in reason


def test_reduce_only_order_larger_than_the_position_is_rejected_and_smaller_accepted(sim):
    sim.bar("100.00", "100.00", "100.00", "100.00")
    sim.submit("BUY", 5)
    sim.bar("100.00", "100.00", "100.00", "100.00")
    assert "would increase the position" in _reason(sim, sim.submit("SELL", 6, reduce_only=True))
    assert "reduce-only" in _reason(sim, sim.submit("BUY", 1, reduce_only=True))
    coid = sim.submit("SELL", 5, reduce_only=True)
    sim.bar("100.00", "100.00", "100.00", "100.00")
    assert sim.kinds(coid) == ["OrderAccepted", "OrderFilled"]


def test_reduce_only_fill_is_capped_at_the_position_and_remainder_canceled(make_sim):
    sim = make_sim(config=_margin("100000"))
    sim.bar("100.00", "100.00", "100.00", "100.00")
    sim.submit("BUY", 5)
    sim.bar("100.00", "100.00", "100.00", "100.00")
    stop = sim.submit("SELL", 5, "STOP_MARKET", trigger="95.00", reduce_only=True)
    assert sim.kinds(sim.submit("SELL", 3)) == ["OrderAccepted"]  # the position shrinks to 2
    sim.bar("100.00", "100.00", "100.00", "100.00")
    sim.bar("94.00", "94.00", "94.00", "94.00")
    assert sim.kinds(stop) == ["OrderAccepted", "OrderTriggered", "OrderFilled", "OrderCanceled"]
    assert sim.filled_qty(stop) == 2
    assert sim.venue.position_raw(sim.aapl.id) == 0


def test_post_only_limit_that_would_cross_is_rejected(sim):
    sim.quote("99.98", "100.02")
    reason = _reason(sim, sim.submit("BUY", 1, "LIMIT", price="100.02", post_only=True))
    assert "post-only" in reason
    assert "100.02" in reason
    resting = sim.submit("BUY", 1, "LIMIT", price="100.01", post_only=True)
    assert sim.kinds(resting) == ["OrderAccepted"]


def test_cash_account_cannot_sell_short(sim):
    sim.bar("100.00", "100.00", "100.00", "100.00")
    reason = _reason(sim, sim.submit("SELL", 1))
    assert "no shorting" in reason


def test_cash_account_cannot_sell_more_than_held_across_open_sells(sim):
    sim.bar("100.00", "100.00", "100.00", "100.00")
    sim.submit("BUY", 10)
    sim.bar("100.00", "100.00", "100.00", "100.00")
    assert sim.kinds(sim.submit("SELL", 6, "LIMIT", price="110.00")) == ["OrderAccepted"]
    reason = _reason(sim, sim.submit("SELL", 5, "LIMIT", price="111.00"))
    assert "open sells 6" in reason


def test_margin_account_may_short_within_buying_power(make_sim):
    sim = make_sim(config=_margin("10000", leverage="2"))
    sim.bar("100.00", "100.00", "100.00", "100.00")
    assert sim.kinds(sim.submit("SELL", 150)) == ["OrderAccepted"]
    assert "insufficient buying power" in _reason(sim, sim.submit("SELL", 60))
    sim.bar("100.00", "100.00", "100.00", "100.00")
    # Buying back part of the short only reduces exposure: never blocked.
    assert sim.kinds(sim.submit("BUY", 150)) == ["OrderAccepted"]


def test_margin_buying_power_counts_resting_orders(make_sim):
    sim = make_sim(config=_margin("10000", leverage="1"))
    sim.bar("100.00", "100.00", "100.00", "100.00")
    assert sim.kinds(sim.submit("BUY", 60, "LIMIT", price="90.00")) == ["OrderAccepted"]
    assert "insufficient buying power" in _reason(sim, sim.submit("BUY", 55, "LIMIT", price="90.00"))


def test_unknown_instrument_and_duplicate_client_order_id_are_rejected(sim):
    other = Equity("MSFT.SIM")
    assert "not traded on venue SIM" in _reason(sim, sim.submit("BUY", 1, instrument=other))
    sim.bar("100.00", "100.00", "100.00", "100.00")
    sim.submit("BUY", 1, "LIMIT", price="90.00", coid="DUP")
    sim.submit("BUY", 1, "LIMIT", price="90.00", coid="DUP")
    assert sim.kinds("DUP") == ["OrderAccepted", "OrderRejected"]
    assert "duplicate client order id" in sim.of(OrderRejected, "DUP")[0].reason


def test_instruments_of_another_venue_or_currency_are_a_config_error(make_sim):
    with pytest.raises(ConfigError, match="not on venue SIM"):
        make_sim(instruments=[Equity("AAPL.NASDAQ")])
    with pytest.raises(ConfigError, match="quoted in USDT"):
        make_sim(instruments=[CryptoSpot("BTCUSDT.SIM")])


def test_cash_account_accepts_reduce_only_bracket_whose_second_leg_is_canceled_once_flat(sim):
    sim.bar("100.00", "100.00", "100.00", "100.00")
    sim.submit("BUY", 10)
    sim.bar("100.00", "100.00", "100.00", "100.00")
    stop = sim.submit("SELL", 10, "STOP_MARKET", trigger="95.00", reduce_only=True)
    target = sim.submit("SELL", 10, "LIMIT", price="110.00", reduce_only=True)
    assert sim.kinds(stop) == sim.kinds(target) == ["OrderAccepted"]
    # A plain sell on top of them still may not exceed the position.
    assert "no shorting" in _reason(sim, sim.submit("SELL", 11, "LIMIT", price="120.00"))
    sim.bar("100.00", "111.00", "99.00", "110.50")
    assert sim.kinds(target) == ["OrderAccepted", "OrderFilled"]
    sim.bar("96.00", "96.00", "94.00", "94.50")
    assert sim.kinds(stop) == ["OrderAccepted", "OrderTriggered", "OrderCanceled"]
    assert sim.venue.position_raw(sim.aapl.id) == 0


def _fee_free_margin(amount: str, leverage: str) -> SimulatedVenueConfig:
    return SimulatedVenueConfig(
        starting_balances=Money.from_str(amount, "USD"),
        account_type="MARGIN",
        leverage=Decimal(leverage),
        fee_model=FeeModel(maker_fee=Decimal(0), taker_fee=Decimal(0)),
    )


def _long_50_at_100(sim) -> None:
    sim.bar("100.00", "100.00", "100.00", "100.00")
    sim.submit("BUY", 50)
    sim.bar("100.00", "100.00", "100.00", "100.00")
    assert sim.venue.position_raw(sim.aapl.id) == 50 * 10**9
    assert sim.venue.balance() == Money.from_str("5000", "USD")


def test_margin_buying_power_marks_the_position_at_the_last_bar_close(make_sim):
    sim = make_sim(config=_fee_free_margin("10000", leverage="2"))
    _long_50_at_100(sim)
    sim.bar("100.00", "120.00", "80.00", "110.00")
    # Marked at the close 110: equity 5000 + 50 x 110 = 10500, x2 = 21000, less the position's
    # 5500 gross exposure: 15500 of buying power (not the open's 15000 nor the high's 16000).
    assert "available 15500.00 USD" in _reason(sim, sim.submit("BUY", 156, "LIMIT", price="100.00"))
    assert sim.kinds(sim.submit("BUY", 155, "LIMIT", price="100.00")) == ["OrderAccepted"]


def test_margin_buying_power_marks_the_position_at_the_last_trade_price(make_sim):
    sim = make_sim(config=_fee_free_margin("10000", leverage="2"))
    _long_50_at_100(sim)
    sim.trade("130.00")
    # 2 x (5000 + 50 x 130) - 50 x 130 = 16500 (the fill price 100 would give 15000).
    assert "available 16500.00 USD" in _reason(sim, sim.submit("BUY", 166, "LIMIT", price="100.00"))
    assert sim.kinds(sim.submit("BUY", 165, "LIMIT", price="100.00")) == ["OrderAccepted"]


def test_margin_market_order_without_any_known_price_is_rejected_naming_the_instrument(make_sim):
    sim = make_sim(config=_margin("100000"))
    reason = _reason(sim, sim.submit("SELL", 1))
    assert reason == "no market price known for AAPL.SIM: cannot check the buying power"
    # A stop is counted at its trigger, so it needs no market price.
    assert sim.kinds(sim.submit("BUY", 1, "STOP_MARKET", trigger="101.00")) == ["OrderAccepted"]


def _mismatched_submit(sim, coid: str, *, strategy: str, instrument) -> None:
    spec = OrderSpec(
        client_order_id=ClientOrderId(coid),
        strategy_id=StrategyId("S-1"),
        instrument_id=sim.aapl.id,
        side=OrderSide.BUY,
        order_type=OrderType.MARKET,
        quantity=Quantity.from_int(1),
    )
    ts = sim.clock.timestamp_ns()
    command = SubmitOrder(
        id=f"bad-{coid}",
        correlation_id=f"corr-{coid}",
        ts_event=ts,
        ts_init=ts,
        strategy_id=StrategyId(strategy),
        instrument_id=instrument.id,
        order=spec,
    )
    sim.venue.submit_order(command)


def test_submit_whose_command_names_another_strategy_or_instrument_than_its_order_is_rejected(sim):
    sim.bar("100.00", "100.00", "100.00", "100.00")
    _mismatched_submit(sim, "WRONG-STRATEGY", strategy="S-2", instrument=sim.aapl)
    _mismatched_submit(sim, "WRONG-INSTRUMENT", strategy="S-1", instrument=sim.es)
    _mismatched_submit(sim, "MATCHING", strategy="S-1", instrument=sim.aapl)
    for coid in ("WRONG-STRATEGY", "WRONG-INSTRUMENT"):
        (rejected,) = sim.of(OrderRejected, coid)
        assert rejected.reason == "the command's strategy or instrument differs from its order's"
    assert sim.kinds("MATCHING") == ["OrderAccepted"]
    assert [r.client_order_id for r in sim.venue.open_orders()] == ["MATCHING"]
