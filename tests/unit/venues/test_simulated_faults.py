"""Injected faults: rejections, limits that never fill, partial fills, refused cancels."""

from __future__ import annotations

from decimal import Decimal

from tradeloop.model import Money, OrderCancelRejected, OrderRejected
from tradeloop.venues.simulated import FaultConfig, SimulatedVenueConfig


def _faulty(**faults) -> SimulatedVenueConfig:
    return SimulatedVenueConfig(
        starting_balances=Money.from_str("100000", "USD"), faults=FaultConfig(**faults)
    )


def test_reject_orders_fault_rejects_every_order(make_sim):
    sim = make_sim(config=_faulty(reject_orders=True))
    sim.bar("100.00", "100.00", "100.00", "100.00")
    coids = [sim.submit("BUY", 1), sim.submit("BUY", 1, "LIMIT", price="99.00")]
    assert [sim.kinds(c) for c in coids] == [["OrderRejected"], ["OrderRejected"]]
    assert all("fault injection" in e.reason for e in sim.of(OrderRejected))


def _rejection_pattern(make_sim, seed: int) -> list[bool]:
    sim = make_sim(config=_faulty(reject_probability=0.5, seed=seed))
    sim.bar("100.00", "100.00", "100.00", "100.00")
    coids = [sim.submit("BUY", 1, "LIMIT", price="90.00") for _ in range(40)]
    return [sim.kinds(c) == ["OrderRejected"] for c in coids]


def test_random_rejections_are_repeatable_for_a_seed(make_sim):
    pattern = _rejection_pattern(make_sim, seed=11)
    assert pattern == _rejection_pattern(make_sim, seed=11)
    assert 5 < sum(pattern) < 35
    assert pattern != _rejection_pattern(make_sim, seed=12)


def test_never_fill_limit_orders_fault_keeps_touched_limits_resting(make_sim):
    sim = make_sim(config=_faulty(never_fill_limit_orders=True))
    sim.bar("100.00", "100.00", "100.00", "100.00")
    limit = sim.submit("BUY", 10, "LIMIT", price="99.00")
    market = sim.submit("BUY", 10)
    ioc = sim.submit("BUY", 10, "LIMIT", price="101.00", time_in_force="IOC")
    sim.bar("98.00", "98.50", "97.00", "98.00")
    assert sim.kinds(limit) == ["OrderAccepted"]
    assert sim.kinds(market) == ["OrderAccepted", "OrderFilled"]
    assert sim.kinds(ioc) == ["OrderAccepted", "OrderCanceled"]
    assert [r.client_order_id for r in sim.venue.open_orders()] == [limit]


def test_max_fill_fraction_fault_splits_every_order_into_partial_fills(make_sim):
    sim = make_sim(config=_faulty(max_fill_fraction=Decimal("0.25")))
    sim.bar("100.00", "100.00", "100.00", "100.00")
    coid = sim.submit("BUY", 10)
    for _ in range(6):
        sim.bar("100.00", "100.00", "100.00", "100.00")
    assert [f.last_qty.as_decimal() for f in sim.fills(coid)] == [2, 2, 2, 2, 2]


def test_max_fill_fraction_fills_at_least_one_lot(make_sim):
    sim = make_sim(config=_faulty(max_fill_fraction=Decimal("0.1")))
    sim.bar("100.00", "100.00", "100.00", "100.00")
    coid = sim.submit("BUY", 3)
    for _ in range(3):
        sim.bar("100.00", "100.00", "100.00", "100.00")
    assert [f.last_qty.as_decimal() for f in sim.fills(coid)] == [1, 1, 1]


def test_cancel_rejects_fault_refuses_cancels_and_the_order_stays_working(make_sim):
    sim = make_sim(config=_faulty(cancel_rejects=True))
    sim.bar("100.00", "100.00", "100.00", "100.00")
    coid = sim.submit("BUY", 10, "LIMIT", price="99.00")
    sim.cancel(coid)
    sim.cancel_all()
    reasons = [e.reason for e in sim.of(OrderCancelRejected, coid)]
    assert reasons == ["fault injection: cancel rejected"] * 2
    sim.bar("99.00", "99.00", "99.00", "99.00")
    assert sim.kinds(coid)[-1] == "OrderFilled"
