"""Time: DAY and GTD expiry, and command latency."""

from __future__ import annotations

from tradeloop.core.clock import NANOS_PER_MILLI, NANOS_PER_SECOND
from tradeloop.model import Money, OrderAccepted, OrderCanceled, OrderExpired, OrderRejected
from tradeloop.venues.simulated import LatencyModel, SimulatedVenueConfig

DAY_NS = 86_400 * NANOS_PER_SECOND
MINUTE_NS = 60 * NANOS_PER_SECOND


def _latency(base_ns: int, jitter_ns: int = 0, seed: int = 7) -> SimulatedVenueConfig:
    return SimulatedVenueConfig(
        starting_balances=Money.from_str("100000", "USD"),
        latency_model=LatencyModel(base_ns=base_ns, jitter_ns=jitter_ns, seed=seed),
    )


def test_day_order_expires_at_the_next_utc_midnight(sim):
    sim.bar("100.00", "100.00", "100.00", "100.00")
    coid = sim.submit("BUY", 10, "LIMIT", price="90.00", time_in_force="DAY")
    midnight = (sim.start_ns // DAY_NS + 1) * DAY_NS
    sim.bar("100.00", "100.00", "100.00", "100.00", ts=midnight - 1)
    assert sim.kinds(coid) == ["OrderAccepted"]
    # This bar would fill the limit, but the order expired at midnight before it.
    sim.bar("89.00", "89.50", "88.00", "89.00", ts=midnight + MINUTE_NS)
    assert sim.kinds(coid) == ["OrderAccepted", "OrderExpired"]
    expired = sim.of(OrderExpired, coid)[0]
    assert expired.ts_event == midnight
    assert expired.causation_id == sim.of(OrderAccepted, coid)[0].id
    assert sim.venue.open_orders() == []


def test_gtd_order_expires_at_its_expire_time(sim):
    sim.bar("100.00", "100.00", "100.00", "100.00")
    expire = sim.clock.timestamp_ns() + 3 * MINUTE_NS
    coid = sim.submit("BUY", 10, "LIMIT", price="90.00", expire_time_ns=expire)
    sim.bar("100.00", "100.00", "100.00", "100.00")
    sim.bar("100.00", "100.00", "100.00", "100.00")
    assert sim.kinds(coid) == ["OrderAccepted"]
    sim.venue.advance_time(expire - 1)
    assert sim.kinds(coid) == ["OrderAccepted"]
    sim.venue.advance_time(expire)
    assert sim.kinds(coid) == ["OrderAccepted", "OrderExpired"]
    assert sim.of(OrderExpired, coid)[0].ts_event == expire


def test_filled_order_does_not_expire(sim):
    sim.bar("100.00", "100.00", "100.00", "100.00")
    expire = sim.clock.timestamp_ns() + 3 * MINUTE_NS
    coid = sim.submit("BUY", 10, "LIMIT", price="99.00", expire_time_ns=expire)
    sim.bar("99.00", "99.00", "99.00", "99.00")
    sim.venue.advance_time(expire + DAY_NS)
    assert sim.kinds(coid) == ["OrderAccepted", "OrderFilled"]


def test_gtd_expire_time_in_the_past_is_rejected(sim):
    sim.bar("100.00", "100.00", "100.00", "100.00")
    coid = sim.submit("BUY", 1, "LIMIT", price="99.00", expire_time_ns=sim.clock.timestamp_ns())
    assert "expire time" in sim.of(OrderRejected, coid)[0].reason


def test_command_reaches_the_venue_only_after_its_latency(make_sim):
    sim = make_sim(config=_latency(500 * NANOS_PER_MILLI))
    sim.bar("100.00", "100.00", "100.00", "100.00")
    sent = sim.clock.timestamp_ns()
    coid = sim.submit("BUY", 10)
    assert sim.events == []
    sim.venue.advance_time(sent + 500 * NANOS_PER_MILLI - 1)
    assert sim.events == []
    sim.venue.advance_time(sent + 500 * NANOS_PER_MILLI)
    (accepted,) = sim.of(OrderAccepted, coid)
    assert accepted.ts_event == sent + 500 * NANOS_PER_MILLI


def test_market_order_still_in_flight_misses_the_next_bar(make_sim):
    sim = make_sim(config=_latency(90 * NANOS_PER_SECOND))
    sim.bar("100.00", "100.00", "100.00", "100.00")
    coid = sim.submit("BUY", 10)
    sim.bar("101.00", "101.00", "101.00", "101.00")
    assert sim.kinds(coid) == []
    sim.bar("102.00", "102.00", "102.00", "102.00")
    assert sim.kinds(coid) == ["OrderAccepted", "OrderFilled"]
    assert sim.fills(coid)[0].last_px.as_decimal() == 102


def _arrivals(make_sim, seed: int) -> list[int]:
    sim = make_sim(config=_latency(10 * NANOS_PER_MILLI, jitter_ns=5 * NANOS_PER_MILLI, seed=seed))
    sim.bar("100.00", "100.00", "100.00", "100.00")
    sent = []
    for _ in range(20):
        sent.append(sim.clock.timestamp_ns())
        sim.submit("BUY", 1, "LIMIT", price="90.00")
        sim.venue.advance_time(sim.clock.timestamp_ns() + 20 * NANOS_PER_MILLI)
        sim.clock.set_time(sim.clock.timestamp_ns() + 20 * NANOS_PER_MILLI)
    delays = [e.ts_event - t for e, t in zip(sim.of(OrderAccepted), sent, strict=True)]
    assert all(10 * NANOS_PER_MILLI <= d <= 15 * NANOS_PER_MILLI for d in delays)
    return delays


def test_latency_jitter_is_deterministic_for_a_seed(make_sim):
    first = _arrivals(make_sim, seed=42)
    assert first == _arrivals(make_sim, seed=42)
    assert first != _arrivals(make_sim, seed=43)
    assert len(set(first)) > 1


def test_commands_never_overtake_each_other_in_flight(make_sim):
    sim = make_sim(config=_latency(10 * NANOS_PER_MILLI, jitter_ns=10 * NANOS_PER_MILLI, seed=3))
    sim.bar("100.00", "100.00", "100.00", "100.00")
    coids = []
    for _ in range(10):
        coids.append(sim.submit("BUY", 1, "LIMIT", price="90.00"))
        sim.cancel(coids[-1])
    sim.venue.advance_time(sim.clock.timestamp_ns() + 50 * NANOS_PER_MILLI)
    assert [e.client_order_id for e in sim.events] == [c for c in coids for _ in range(2)]
    assert all(sim.kinds(c) == ["OrderAccepted", "OrderCanceled"] for c in coids)
    stamps = [e.ts_event for e in sim.events]
    assert stamps == sorted(stamps)
    assert sim.of(OrderCanceled)[0].causation_id.startswith("cmd-")


def test_next_due_reports_when_advance_time_has_work(make_sim):
    sim = make_sim(config=_latency(250 * NANOS_PER_MILLI))
    sim.bar("100.00", "100.00", "100.00", "100.00")
    assert sim.venue.next_due_ns == 2**63 - 1
    sent = sim.clock.timestamp_ns()
    sim.submit("BUY", 1, "LIMIT", price="90.00", time_in_force="DAY")
    assert sim.venue.next_due_ns == sent + 250 * NANOS_PER_MILLI
    sim.venue.advance_time(sim.venue.next_due_ns)
    assert sim.venue.next_due_ns == (sent // DAY_NS + 1) * DAY_NS
