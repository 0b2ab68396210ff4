"""Exposure limits hold on the worst case across instruments and through modifies."""

from __future__ import annotations

from tradeloop.risk import OrderModifyDenied, RiskConfig, TradingState

from .rig import BUY, SELL, Rig


def test_gross_exposure_counts_orders_working_on_other_instruments() -> None:
    # Gross limit 10,000; two limit buys in flight, 8,000 each, on two instruments.
    rig = Rig(RiskConfig(max_gross_exposure=10_000), breakers=False)
    rig.trade(rig.aapl, "100.00")
    rig.trade(rig.msft, "100.00")
    first = rig.limit(rig.aapl, BUY, "80", "100.00")
    second = rig.limit(rig.msft, BUY, "80", "100.00")
    assert rig.reached_venue(first)
    assert not rig.reached_venue(second)
    (reason,) = rig.denials()
    assert reason.startswith("max_gross_exposure: gross exposure would be 16000.00 USD with every working")


def test_gross_exposure_takes_the_side_that_enlarges_another_instruments_position() -> None:
    # Long 60 MSFT (6,000) with a sell of 60 working: that sell only reduces it, so the worst
    # case of MSFT stays 6,000, and an AAPL order of 4,000 fits under 10,000.
    rig = Rig(RiskConfig(max_gross_exposure=10_000), breakers=False)
    rig.trade(rig.aapl, "100.00")
    rig.hold(rig.msft, BUY, "60", "100.00")
    rig.limit(rig.msft, SELL, "60", "100.00")
    assert rig.reached_venue(rig.limit(rig.aapl, BUY, "40", "100.00"))
    assert not rig.reached_venue(rig.limit(rig.aapl, BUY, "1", "100.00"))


def test_the_same_two_orders_on_one_instrument_are_denied_as_before() -> None:
    rig = Rig(RiskConfig(max_gross_exposure=10_000), breakers=False)
    rig.trade(rig.aapl, "100.00")
    rig.limit(rig.aapl, BUY, "80", "100.00")
    assert not rig.reached_venue(rig.limit(rig.aapl, BUY, "80", "100.00"))


def test_a_modify_cannot_raise_an_order_past_the_position_and_notional_limits() -> None:
    rig = Rig(RiskConfig(max_position_quantity=100, max_order_notional=10_000), breakers=False)
    rig.trade(rig.aapl, "100.00")
    order = rig.limit(rig.aapl, BUY, "50", "100.00")
    modify = rig.modify_qty(order, "1000")
    assert modify not in rig.xnas.modified
    (denied,) = rig.of(OrderModifyDenied)
    assert denied.reason.startswith("max_order_notional: 100000.00 USD")


def test_a_modify_raising_an_order_past_the_position_limit_names_it() -> None:
    rig = Rig(RiskConfig(max_position_quantity=100), breakers=False)
    rig.trade(rig.aapl, "100.00")
    order = rig.limit(rig.aapl, BUY, "50", "100.00")
    assert rig.modify_qty(order, "100") in rig.xnas.modified  # up to the limit: passes
    rig.modify_qty(order, "101")
    (denied,) = rig.of(OrderModifyDenied)
    assert denied.reason.startswith("max_position_quantity: net position would be 101")


def test_a_modify_that_shrinks_an_order_passes_even_over_a_since_lowered_limit() -> None:
    rig = Rig(RiskConfig(max_order_notional=100_000), breakers=False)
    rig.trade(rig.aapl, "100.00")
    order = rig.limit(rig.aapl, BUY, "500", "100.00")
    rig.risk.update_config(RiskConfig(max_order_notional=10_000))
    assert rig.modify_qty(order, "400") in rig.xnas.modified
    assert rig.of(OrderModifyDenied) == []


def test_in_reducing_state_an_exit_may_grow_while_what_it_has_left_still_reduces() -> None:
    rig = Rig(RiskConfig(max_daily_loss=500), breakers=False)
    rig.hold(rig.aapl, BUY, "100", "100.00")
    exit_ = rig.limit(rig.aapl, SELL, "50", "95.00")
    rig.xnas.fill(rig.aapl, exit_, "95.00", qty="30")  # 30 of 50: long 70, the exit has 20 left
    rig.trade(rig.aapl, "80.00")
    rig.market(rig.aapl, BUY, "1")  # the daily loss trips REDUCING
    assert rig.state is TradingState.REDUCING
    assert rig.modify_qty(exit_, "80") in rig.xnas.modified  # 50 left against a long 70
    assert rig.of(OrderModifyDenied) == []
    rig.modify_qty(exit_, "101")  # 71 left: would flip the position
    (denied,) = rig.of(OrderModifyDenied)
    assert "trading state REDUCING" in denied.reason
