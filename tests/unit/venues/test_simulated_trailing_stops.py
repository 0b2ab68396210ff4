"""Trailing stops: the trigger follows the best price seen and never moves back."""

from __future__ import annotations

import itertools
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tradeloop.model import FIXED_SCALAR, Money, OrderUpdated, Price
from tradeloop.venues.simulated import SimulatedVenueConfig


def _margin() -> SimulatedVenueConfig:
    return SimulatedVenueConfig(starting_balances=Money.from_str("1000000", "USD"), account_type="MARGIN")


def _triggers(sim, coid) -> list[Price]:
    return [e.trigger_price for e in sim.of(OrderUpdated, coid)]


def test_sell_trailing_stop_starts_offset_below_market_and_reports_its_trigger(sim):
    sim.trade("100.00")
    sim.submit("BUY", 10)
    sim.trade("100.00")
    coid = sim.submit("SELL", 10, "TRAILING_STOP_MARKET", trailing_offset=2 * FIXED_SCALAR)
    assert sim.kinds(coid) == ["OrderAccepted", "OrderUpdated"]
    assert _triggers(sim, coid) == [Price.from_str("98.00")]
    assert sim.orders[coid].trigger_price == Price.from_str("98.00")


def test_sell_trailing_stop_follows_new_highs_and_fills_when_price_falls_back(sim):
    sim.trade("100.00")
    sim.submit("BUY", 10)
    sim.trade("100.00")
    coid = sim.submit("SELL", 10, "TRAILING_STOP_MARKET", trailing_offset=2 * FIXED_SCALAR)
    for px in ("101.00", "103.50", "102.00", "104.00", "102.50"):
        sim.trade(px)
    assert _triggers(sim, coid) == [Price.from_str(p) for p in ("98.00", "99.00", "101.50", "102.00")]
    assert sim.fills(coid) == []
    sim.trade("101.90")
    assert sim.kinds(coid)[-2:] == ["OrderTriggered", "OrderFilled"]
    assert sim.fills(coid)[0].last_px == Price.from_str("101.90")


def test_trailing_stop_moves_on_bar_high_and_triggers_on_the_same_bar_low(sim):
    sim.bar("100.00", "100.00", "100.00", "100.00")
    sim.submit("BUY", 10)
    sim.bar("100.00", "100.00", "100.00", "100.00")
    coid = sim.submit("SELL", 10, "TRAILING_STOP_MARKET", trailing_offset=1 * FIXED_SCALAR)
    # High nearer the open: O-H-L-C. The open and the high move the trigger; the low hits it.
    sim.bar("101.00", "102.50", "99.00", "99.50")
    assert _triggers(sim, coid) == [Price.from_str(p) for p in ("99.00", "100.00", "101.50")]
    assert sim.fills(coid)[0].last_px == Price.from_str("101.50")


def test_trailing_offset_in_basis_points_scales_with_best_price(make_sim):
    sim = make_sim(config=_margin())
    sim.trade("200.00")
    coid = sim.submit(
        "BUY", 5, "TRAILING_STOP_MARKET", trailing_offset=50, trailing_offset_type="BASIS_POINTS"
    )
    sim.trade("180.00")
    # 50 bps above the lowest price: 201.00, then 180.90.
    assert _triggers(sim, coid) == [Price.from_str("201.00"), Price.from_str("180.90")]
    sim.trade("181.00")
    assert sim.fills(coid)[0].last_px == Price.from_str("181.00")


def test_given_trigger_nearer_the_market_is_kept_until_the_trail_passes_it(make_sim):
    sim = make_sim(config=_margin())
    sim.trade("100.00")
    coid = sim.submit("SELL", 1, "TRAILING_STOP_MARKET", trigger="99.50", trailing_offset=2 * FIXED_SCALAR)
    assert sim.kinds(coid) == ["OrderAccepted"]
    sim.trade("101.00")
    assert _triggers(sim, coid) == []
    sim.trade("102.00")
    assert _triggers(sim, coid) == [Price.from_str("100.00")]


def test_trailing_stop_without_trigger_or_market_price_is_rejected(sim):
    coid = sim.submit("SELL", 1, "TRAILING_STOP_MARKET", trailing_offset=FIXED_SCALAR)
    assert sim.kinds(coid) == ["OrderRejected"]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    side=st.sampled_from(["BUY", "SELL"]),
    offset_cents=st.integers(min_value=1, max_value=300),
    path=st.lists(st.integers(min_value=5_000, max_value=15_000), min_size=1, max_size=40),
)
def test_trailing_trigger_follows_best_price_and_never_moves_backwards(make_sim, side, offset_cents, path):
    sim = make_sim(config=_margin())
    start = 10_000
    sim.trade(str(Decimal(start) / 100))
    offset = Decimal(offset_cents) / 100
    coid = sim.submit(side, 1, "TRAILING_STOP_MARKET", trailing_offset=offset_cents * FIXED_SCALAR // 100)
    sign = 1 if side == "BUY" else -1
    best = Decimal(start) / 100
    trigger = best + sign * offset
    expected_triggers = [trigger]
    fill_px = None
    for cents in path:
        px = Decimal(cents) / 100
        sim.trade(str(px))
        if (px < best) if side == "BUY" else (px > best):
            best = px
            candidate = best + sign * offset
            if (candidate < trigger) if side == "BUY" else (candidate > trigger):
                trigger = candidate
                expected_triggers.append(trigger)
        if (px >= trigger) if side == "BUY" else (px <= trigger):
            fill_px = px
            break
    seen = [p.as_decimal() for p in _triggers(sim, coid)]
    assert seen == expected_triggers
    moves = [b - a for a, b in itertools.pairwise(seen)]
    assert all(m * sign < 0 for m in moves)  # buy stops only come down, sell stops only go up
    fills = sim.fills(coid)
    if fill_px is None:
        assert fills == []
    else:
        assert [f.last_px.as_decimal() for f in fills] == [fill_px]


# -- buy-side trailing stops on bars -----------------------------------------------------------


def test_buy_trailing_stop_triggers_when_a_bar_high_reaches_the_trigger_exactly(sim):
    sim.bar("100.00", "100.00", "100.00", "100.00")
    coid = sim.submit("BUY", 10, "TRAILING_STOP_MARKET", trailing_offset=1 * FIXED_SCALAR)
    assert _triggers(sim, coid) == [Price.from_str("101.00")]
    # No new low (the low stays above the best price 100.00): only the high can act, and it
    # touches the trigger.
    sim.bar("100.50", "101.00", "100.40", "100.80")
    assert sim.kinds(coid) == ["OrderAccepted", "OrderUpdated", "OrderTriggered", "OrderFilled"]
    assert sim.fills(coid)[0].last_px == Price.from_str("101.00")


def test_buy_trailing_stop_trails_down_on_a_bar_low_below_the_best_price(sim):
    sim.bar("100.00", "100.00", "100.00", "100.00")
    coid = sim.submit("BUY", 10, "TRAILING_STOP_MARKET", trailing_offset=1 * FIXED_SCALAR)
    # The high stays under the trigger; only the new low (99.00) moves the stop, to 100.00.
    sim.bar("100.00", "100.20", "99.00", "99.50")
    assert _triggers(sim, coid) == [Price.from_str("101.00"), Price.from_str("100.00")]
    assert sim.fills(coid) == []
    # The next bar's high passes the lowered trigger, which the old one (101.00) would not.
    sim.bar("99.50", "100.10", "99.40", "100.05")
    assert sim.kinds(coid)[-2:] == ["OrderTriggered", "OrderFilled"]
    assert sim.fills(coid)[0].last_px == Price.from_str("100.00")


def test_buy_trailing_stop_sent_before_any_price_starts_trailing_on_the_first_bar(sim):
    # A given trigger and no market price yet: the order has no best price until data arrives.
    coid = sim.submit("BUY", 10, "TRAILING_STOP_MARKET", trigger="105.00", trailing_offset=1 * FIXED_SCALAR)
    assert sim.kinds(coid) == ["OrderAccepted"]
    # Far from the given trigger, yet the bar sets the best price (open 100.00, then low 99.50)
    # and the trigger follows it down; the high then reaches the trailed trigger.
    sim.bar("100.00", "100.50", "99.50", "100.00")
    assert _triggers(sim, coid) == [Price.from_str("101.00"), Price.from_str("100.50")]
    assert sim.kinds(coid)[-2:] == ["OrderTriggered", "OrderFilled"]
    assert sim.fills(coid)[0].last_px == Price.from_str("100.50")
