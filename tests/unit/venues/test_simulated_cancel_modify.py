"""Cancel and modify: confirmed with OrderCanceled / OrderUpdated, or rejected with a reason."""

from __future__ import annotations

from tradeloop.core.ids import StrategyId
from tradeloop.model import (
    LiquiditySide,
    OrderCanceled,
    OrderCancelRejected,
    OrderModifyRejected,
    OrderStatus,
    OrderUpdated,
    Price,
    Quantity,
)


def _rejection(sim, cls, coid) -> str:
    (event,) = sim.of(cls, coid)
    return event.reason


def test_cancel_of_a_resting_order_confirms_and_it_never_fills(sim):
    sim.bar("100.00", "100.00", "100.00", "100.00")
    coid = sim.submit("BUY", 10, "LIMIT", price="99.00")
    command = sim.cancel(coid)
    (canceled,) = sim.of(OrderCanceled, coid)
    assert canceled.causation_id == command.id
    assert canceled.correlation_id == command.correlation_id
    sim.bar("98.00", "98.00", "98.00", "98.00")
    assert sim.fills(coid) == []
    assert sim.venue.open_orders() == []
    assert sim.venue.order_report(coid).status is OrderStatus.CANCELED


def test_cancel_of_an_unknown_order_is_rejected(sim):
    sim.cancel("NOPE")
    assert "unknown order NOPE" in _rejection(sim, OrderCancelRejected, "NOPE")


def test_cancel_of_a_filled_order_is_rejected_as_already_closed(sim):
    sim.bar("100.00", "100.00", "100.00", "100.00")
    coid = sim.submit("BUY", 1)
    sim.bar("100.00", "100.00", "100.00", "100.00")
    sim.cancel(coid)
    assert "already closed (FILLED)" in _rejection(sim, OrderCancelRejected, coid)


def test_cancel_of_another_strategys_order_is_rejected(sim):
    sim.bar("100.00", "100.00", "100.00", "100.00")
    coid = sim.submit("BUY", 1, "LIMIT", price="99.00")
    sim.cancel(coid, strategy=StrategyId("S-OTHER"))
    assert "belongs to strategy S-1" in _rejection(sim, OrderCancelRejected, coid)
    assert sim.venue.open_orders()[0].client_order_id == coid


def test_cancel_all_cancels_only_that_strategys_orders_on_that_instrument(sim):
    sim.bar("100.00", "100.00", "100.00", "100.00")
    mine = [sim.submit("BUY", 1, "LIMIT", price="99.00") for _ in range(2)]
    other = sim.submit("BUY", 1, "LIMIT", price="99.00", strategy=StrategyId("S-2"))
    elsewhere = sim.submit("BUY", 1, "LIMIT", price="0.10", instrument=sim.event)
    sim.cancel_all()
    assert [e.client_order_id for e in sim.of(OrderCanceled)] == mine
    assert {r.client_order_id for r in sim.venue.open_orders()} == {other, elsewhere}


def test_modify_limit_price_confirms_and_fills_at_the_new_price(sim):
    sim.bar("100.00", "100.00", "100.00", "100.00")
    coid = sim.submit("BUY", 10, "LIMIT", price="98.00")
    command = sim.modify(coid, price="99.00")
    (updated,) = sim.of(OrderUpdated, coid)
    assert updated.price == Price.from_str("99.00")
    assert updated.quantity == Quantity.from_str("10")
    assert updated.causation_id == command.id
    sim.bar("99.50", "99.80", "98.90", "99.20")
    assert sim.fills(coid)[0].last_px == Price.from_str("99.00")


def test_modify_that_makes_a_limit_marketable_takes_at_the_next_price(sim):
    sim.quote("99.98", "100.00")
    coid = sim.submit("BUY", 10, "LIMIT", price="99.00")
    sim.modify(coid, price="100.10")
    sim.quote("99.99", "100.01")
    fill = sim.fills(coid)[0]
    assert fill.last_px == Price.from_str("100.01")
    assert fill.liquidity_side is LiquiditySide.TAKER


def test_modify_quantity_and_stop_trigger(sim):
    sim.bar("100.00", "100.00", "100.00", "100.00")
    coid = sim.submit("BUY", 10, "STOP_MARKET", trigger="105.00")
    sim.modify(coid, qty="4", trigger="102.00")
    (updated,) = sim.of(OrderUpdated, coid)
    assert (updated.quantity, updated.trigger_price) == (Quantity.from_str("4"), Price.from_str("102.00"))
    sim.bar("101.00", "102.50", "100.50", "102.20")
    assert sim.filled_qty(coid) == 4
    assert sim.fills(coid)[0].last_px == Price.from_str("102.00")


def test_modify_down_to_the_filled_quantity_completes_the_order(make_sim):
    from decimal import Decimal

    from tradeloop.model import Money
    from tradeloop.venues.simulated import FillModel, SimulatedVenueConfig

    config = SimulatedVenueConfig(
        starting_balances=Money.from_str("100000", "USD"),
        fill_model=FillModel(max_volume_participation=Decimal("0.1")),
    )
    sim = make_sim(config=config)
    sim.bar("100.00", "100.00", "100.00", "100.00")
    coid = sim.submit("BUY", 20)
    sim.bar("100.00", "100.00", "100.00", "100.00", volume="100")
    sim.modify(coid, qty="10")
    assert sim.orders[coid].status is OrderStatus.FILLED
    assert sim.venue.open_orders() == []


def test_modify_rejections_name_their_reason(sim):
    sim.bar("100.00", "100.00", "100.00", "100.00")
    limit = sim.submit("BUY", 10, "LIMIT", price="98.00")
    market_on_other = sim.submit("BUY", 1, "STOP_MARKET", trigger="101.00")
    cases = [
        ({"coid": "NOPE", "price": "99.00"}, "unknown order"),
        ({"coid": limit}, "nothing to modify"),
        ({"coid": limit, "price": "98.001"}, "invalid price"),
        ({"coid": limit, "qty": "0"}, "invalid quantity"),
        ({"coid": limit, "trigger": "97.00"}, "no trigger price"),
        ({"coid": market_on_other, "price": "101.00"}, "no limit price"),
    ]
    for kwargs, expected in cases:
        before = len(sim.of(OrderModifyRejected))
        sim.modify(**kwargs)
        rejections = sim.of(OrderModifyRejected)
        assert len(rejections) == before + 1
        assert expected in rejections[-1].reason


def test_modify_trigger_after_the_stop_triggered_is_rejected(sim):
    sim.bar("100.00", "100.00", "100.00", "100.00")
    coid = sim.submit("BUY", 1, "STOP_LIMIT", price="100.50", trigger="101.00")
    sim.bar("101.50", "101.60", "101.20", "101.50")
    assert sim.kinds(coid) == ["OrderAccepted", "OrderTriggered"]
    sim.modify(coid, trigger="102.00")
    assert "already triggered" in _rejection(sim, OrderModifyRejected, coid)


def test_modify_of_a_closed_order_is_rejected(sim):
    sim.bar("100.00", "100.00", "100.00", "100.00")
    coid = sim.submit("BUY", 1, "LIMIT", price="99.00")
    sim.cancel(coid)
    sim.modify(coid, price="98.00")
    assert "already closed (CANCELED)" in _rejection(sim, OrderModifyRejected, coid)


def test_modify_below_the_filled_quantity_is_rejected(make_sim):
    from decimal import Decimal

    from tradeloop.model import Money
    from tradeloop.venues.simulated import FillModel, SimulatedVenueConfig

    config = SimulatedVenueConfig(
        starting_balances=Money.from_str("100000", "USD"),
        fill_model=FillModel(max_volume_participation=Decimal("0.1")),
    )
    sim = make_sim(config=config)
    sim.bar("100.00", "100.00", "100.00", "100.00")
    coid = sim.submit("BUY", 20)
    sim.bar("100.00", "100.00", "100.00", "100.00", volume="100")
    sim.modify(coid, qty="5")
    assert "below the filled 10" in _rejection(sim, OrderModifyRejected, coid)


def test_modify_post_only_to_a_crossing_price_is_rejected(sim):
    sim.quote("99.98", "100.00")
    coid = sim.submit("BUY", 1, "LIMIT", price="99.90", post_only=True)
    sim.modify(coid, price="100.00")
    assert "post-only" in _rejection(sim, OrderModifyRejected, coid)


def test_modify_that_needs_more_cash_than_available_is_rejected(make_sim):
    from tradeloop.model import Money
    from tradeloop.venues.simulated import SimulatedVenueConfig

    sim = make_sim(config=SimulatedVenueConfig(starting_balances=Money.from_str("1000", "USD")))
    sim.bar("100.00", "100.00", "100.00", "100.00")
    coid = sim.submit("BUY", 5, "LIMIT", price="99.00")
    sim.modify(coid, qty="20")
    assert "insufficient cash" in _rejection(sim, OrderModifyRejected, coid)
    sim.modify(coid, qty="3")
    assert sim.of(OrderUpdated, coid)[0].quantity == Quantity.from_str("3")


def test_modify_that_would_make_a_reduce_only_order_grow_the_position_is_rejected(sim):
    sim.bar("100.00", "100.00", "100.00", "100.00")
    sim.submit("BUY", 10)
    sim.bar("100.00", "100.00", "100.00", "100.00")
    coid = sim.submit("SELL", 5, "LIMIT", price="105.00", reduce_only=True)
    sim.modify(coid, qty="11")  # one more than the long 10: it would open a short
    assert _rejection(sim, OrderModifyRejected, coid) == "reduce-only order would increase the position"
    assert sim.venue.open_orders()[0].quantity == Quantity.from_str("5")
    sim.modify(coid, qty="10")  # exactly the position: still only reducing
    assert sim.of(OrderUpdated, coid)[0].quantity == Quantity.from_str("10")


def test_modify_quantity_rescales_the_max_fill_fraction_of_each_fill(make_sim):
    from decimal import Decimal

    from tradeloop.model import Money
    from tradeloop.venues.simulated import FaultConfig, SimulatedVenueConfig

    config = SimulatedVenueConfig(
        starting_balances=Money.from_str("100000", "USD"),
        faults=FaultConfig(max_fill_fraction=Decimal("0.25")),
    )
    sim = make_sim(config=config)
    sim.bar("100.00", "100.00", "100.00", "100.00")
    coid = sim.submit("BUY", 8)  # a quarter of 8 is 2 a fill
    sim.bar("100.00", "100.00", "100.00", "100.00")
    sim.modify(coid, qty="20")  # a quarter of the new quantity is 5 a fill
    for _ in range(5):
        sim.bar("100.00", "100.00", "100.00", "100.00")
    assert [f.last_qty.as_decimal() for f in sim.fills(coid)] == [2, 5, 5, 5, 3]


def test_modify_of_a_partly_filled_reduce_only_order_counts_only_its_unfilled_rest(make_sim):
    from decimal import Decimal

    from tradeloop.model import Money
    from tradeloop.venues.simulated import FillModel, SimulatedVenueConfig

    config = SimulatedVenueConfig(
        starting_balances=Money.from_str("100000", "USD"),
        fill_model=FillModel(max_volume_participation=Decimal("0.1")),
    )
    sim = make_sim(config=config)
    sim.bar("100.00", "100.00", "100.00", "100.00")
    sim.submit("BUY", 10)
    sim.bar("100.00", "100.00", "100.00", "100.00", volume="100")
    coid = sim.submit("SELL", 6, "LIMIT", price="105.00", reduce_only=True)
    sim.bar("104.00", "105.50", "103.90", "105.00", volume="40")
    assert sim.filled_qty(coid) == 4  # the position is now long 6, the order has 2 left
    sim.modify(coid, qty="13")  # 9 left would exceed the long 6
    assert "reduce-only" in _rejection(sim, OrderModifyRejected, coid)
    sim.modify(coid, qty="10")  # 6 left: exactly the position
    assert sim.of(OrderUpdated, coid)[0].quantity == Quantity.from_str("10")
