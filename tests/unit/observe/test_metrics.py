"""NodeMetrics: bus counters read at scrape time, the snapshot source, latency histograms."""

from __future__ import annotations

import math
from typing import Any

import psutil
import pytest

from tradeloop.core import IdFactory, MessageBus, SimulatedClock
from tradeloop.observe import (
    HANDLER_LATENCY_BUCKETS,
    METRIC_NAMES,
    TICK_TO_ORDER_BUCKETS,
    NodeMetrics,
    NodeSnapshot,
)
from tradeloop.testkit import eurusd, make_quote

from .scrape import DashboardPinged, KillSwitchPressed, Scrape, SignalRaised, make_bus


def ignore(_: object) -> None:
    pass


def test_event_counts_by_type_and_lane_are_read_from_the_bus_at_scrape_time() -> None:
    bus = make_bus()
    for t in (KillSwitchPressed, SignalRaised, DashboardPinged):
        bus.subscribe(t, ignore)
    metrics = NodeMetrics()
    metrics.watch_bus(bus)
    fx = eurusd()

    bus.emit(KillSwitchPressed)
    for n in range(3):
        bus.emit(SignalRaised, n=n)
        bus.publish(make_quote(fx, "1.1000", "1.1002", 1000, 1000, ts_ns=n + 1))
    bus.emit(DashboardPinged)
    first = Scrape(metrics.render())
    bus.emit(SignalRaised)  # counted by the next scrape, with nothing registered in between
    second = Scrape(metrics.render())

    assert first.value("tradeloop_bus_events_total", type="KillSwitchPressed", lane="critical") == 1
    assert first.value("tradeloop_bus_events_total", type="SignalRaised", lane="high") == 3
    assert first.value("tradeloop_bus_events_total", type="QuoteTick", lane="normal") == 3
    assert first.value("tradeloop_bus_events_total", type="DashboardPinged", lane="low") == 1
    assert second.value("tradeloop_bus_events_total", type="SignalRaised", lane="high") == 4


def test_queue_depth_conflation_and_drops_follow_the_lane_policies() -> None:
    # A live node drains from its own task: messages wait in the lanes between steps.
    bus = make_bus(auto_drain=False, normal=2, low=2)
    metrics = NodeMetrics()
    metrics.watch_bus(bus)
    fx = eurusd()
    for n in range(6):  # 2 queue, then the rest conflate to the latest quote: 3 replaced
        bus.publish(make_quote(fx, "1.1000", "1.1002", 1000, 1000, ts_ns=n + 1))
    for n in range(5):  # LOW keeps the newest 2: 3 dropped
        bus.emit(DashboardPinged, n=n)
    bus.emit(SignalRaised)
    bus.emit(KillSwitchPressed)

    queued = Scrape(metrics.render())
    assert queued.value("tradeloop_bus_queue_depth", lane="critical") == 1
    assert queued.value("tradeloop_bus_queue_depth", lane="high") == 1
    assert queued.value("tradeloop_bus_queue_depth", lane="normal") == 3
    assert queued.value("tradeloop_bus_queue_depth", lane="low") == 2
    assert queued.value("tradeloop_bus_conflated_total", lane="normal") == 3
    assert queued.value("tradeloop_bus_dropped_total", lane="low") == 3
    assert queued.value("tradeloop_bus_high_overflows_total") == 0

    bus.drain()
    drained = Scrape(metrics.render())
    for lane in ("critical", "high", "normal", "low"):
        assert drained.value("tradeloop_bus_queue_depth", lane=lane) == 0
    assert drained.value("tradeloop_bus_events_total", type="QuoteTick", lane="normal") == 3


def test_handler_errors_the_bus_isolated_are_counted() -> None:
    bus = make_bus()
    metrics = NodeMetrics()
    metrics.watch_bus(bus)

    def broken(_: SignalRaised) -> None:
        raise ValueError("bad signal")

    bus.subscribe(SignalRaised, broken)
    bus.emit(SignalRaised)
    bus.emit(SignalRaised)
    assert Scrape(metrics.render()).value("tradeloop_bus_handler_errors_total") == 2


def test_business_and_risk_values_come_from_the_snapshot_source_on_every_scrape() -> None:
    metrics = NodeMetrics()
    state = {"fills": 0}

    def snapshot() -> NodeSnapshot:
        return NodeSnapshot(
            orders_by_status={"ACCEPTED": 2, "FILLED": state["fills"]},
            fills=state["fills"],
            open_positions=1,
            realized_pnl=125.5,
            unrealized_pnl=-40.25,
            daily_pnl=85.25,
            gross_exposure=11_000.0,
            net_exposure=-3_000.0,
            drawdown=0.031,
            limit_utilisation={"max_gross_exposure": 0.55, "max_open_orders": 1.2},
            breakers={"error_rate": False, "risk_breach": True},
            stop_losses=2,
        )

    metrics.set_snapshot_source(snapshot)
    state["fills"] = 7
    scrape = Scrape(metrics.render())

    assert scrape.value("tradeloop_orders", status="ACCEPTED") == 2
    assert scrape.value("tradeloop_orders", status="FILLED") == 7
    assert scrape.value("tradeloop_fills_total") == 7
    assert scrape.value("tradeloop_open_positions") == 1
    assert scrape.value("tradeloop_pnl", kind="realized") == 125.5
    assert scrape.value("tradeloop_pnl", kind="unrealized") == -40.25
    assert scrape.value("tradeloop_pnl", kind="daily") == 85.25
    assert scrape.value("tradeloop_exposure", kind="gross") == 11_000
    assert scrape.value("tradeloop_exposure", kind="net") == -3_000
    assert scrape.value("tradeloop_drawdown_ratio") == 0.031
    assert scrape.value("tradeloop_risk_limit_utilisation_ratio", limit="max_gross_exposure") == 0.55
    assert scrape.value("tradeloop_risk_limit_utilisation_ratio", limit="max_open_orders") == 1.2
    assert scrape.value("tradeloop_circuit_breaker_tripped", breaker="error_rate") == 0
    assert scrape.value("tradeloop_circuit_breaker_tripped", breaker="risk_breach") == 1
    assert scrape.value("tradeloop_stop_losses_triggered_total") == 2
    assert scrape.value("tradeloop_snapshot_errors_total") == 0

    state["fills"] = 9
    assert Scrape(metrics.render()).value("tradeloop_fills_total") == 9


def test_a_failing_snapshot_source_is_counted_and_the_scrape_still_serves_the_rest() -> None:
    bus = make_bus()
    bus.subscribe(SignalRaised, ignore)
    metrics = NodeMetrics()
    metrics.watch_bus(bus)
    bus.emit(SignalRaised)

    def broken() -> NodeSnapshot:
        raise KeyError("portfolio not started")

    metrics.set_snapshot_source(broken)
    scrape = Scrape(metrics.render())
    assert scrape.value("tradeloop_snapshot_errors_total") == 1
    assert scrape.value("tradeloop_bus_events_total", type="SignalRaised", lane="high") == 1
    assert "tradeloop_fills_total" not in scrape.names
    assert metrics.snapshot_errors == 1

    metrics.set_snapshot_source(lambda: {"fills": 3})  # type: ignore[arg-type, return-value]
    assert Scrape(metrics.render()).value("tradeloop_snapshot_errors_total") == 2


def test_without_a_bus_or_snapshot_source_only_process_and_latency_series_are_served() -> None:
    scrape = Scrape(NodeMetrics().render())
    assert scrape.value("tradeloop_process_resident_memory_bytes") > 0
    assert "tradeloop_bus_events_total" not in scrape.names
    assert "tradeloop_bus_queue_depth" not in scrape.names
    assert "tradeloop_orders" not in scrape.names
    assert scrape.value("tradeloop_tick_to_order_seconds_count") == 0


def test_process_memory_is_the_resident_set_size_of_this_process() -> None:
    rss = Scrape(NodeMetrics().render()).value("tradeloop_process_resident_memory_bytes")
    now = psutil.Process().memory_info().rss
    assert 0.5 * now < rss < 1.5 * now


def test_two_nodes_in_one_process_keep_separate_registries() -> None:
    a, b = NodeMetrics(), NodeMetrics()
    a.observe_tick_to_order(0.001)
    assert Scrape(a.render()).value("tradeloop_tick_to_order_seconds_count") == 1
    assert Scrape(b.render()).value("tradeloop_tick_to_order_seconds_count") == 0


def test_tick_to_order_histogram_buckets_span_10_microseconds_to_100_milliseconds() -> None:
    metrics = NodeMetrics()
    for seconds in (0.000_008, 0.000_150, 0.000_150, 0.004, 0.5):
        metrics.observe_tick_to_order(seconds)
    metrics.observe_tick_to_order_ns(150_000)
    scrape = Scrape(metrics.render())

    assert TICK_TO_ORDER_BUCKETS[0] == 1e-5
    assert TICK_TO_ORDER_BUCKETS[-1] == 0.1
    bucket = "tradeloop_tick_to_order_seconds_bucket"
    assert scrape.value(bucket, le="1e-05") == 1
    assert scrape.value(bucket, le="0.0001") == 1
    assert scrape.value(bucket, le="0.0002") == 4
    assert scrape.value(bucket, le="0.005") == 5
    assert scrape.value(bucket, le="0.1") == 5
    assert scrape.value(bucket, le="+Inf") == 6
    assert scrape.value("tradeloop_tick_to_order_seconds_sum") == pytest.approx(0.504_458)


@pytest.mark.parametrize("bad", [-0.001, math.nan, math.inf, True, "0.1"])
def test_a_tick_to_order_latency_must_be_finite_seconds_not_below_zero(bad: Any) -> None:
    with pytest.raises(ValueError, match="tick-to-order latency must be a finite number of seconds"):
        NodeMetrics().observe_tick_to_order(bad)


def test_a_tick_to_order_latency_in_ns_must_be_a_non_negative_int() -> None:
    with pytest.raises(ValueError, match="non-negative int of ns, got -5"):
        NodeMetrics().observe_tick_to_order_ns(-5)


class Strategy:
    def __init__(self) -> None:
        self.seen = 0

    def on_signal(self, _: SignalRaised) -> None:
        self.seen += 1


def test_handler_latency_is_sampled_into_a_histogram_per_handler_qualname() -> None:
    bus = make_bus()
    strategy = Strategy()
    bus.subscribe(SignalRaised, strategy.on_signal)
    bus.subscribe(KillSwitchPressed, ignore)
    metrics = NodeMetrics()
    metrics.time_handlers(bus, sample_every=4)
    for n in range(10):  # calls 1, 5 and 9 are sampled
        bus.emit(SignalRaised, n=n)
    bus.emit(KillSwitchPressed)
    scrape = Scrape(metrics.render())

    assert strategy.seen == 10
    assert scrape.value("tradeloop_handler_latency_seconds_count", handler="Strategy.on_signal") == 3
    assert scrape.value("tradeloop_handler_latency_seconds_count", handler="ignore") == 1
    total = scrape.value("tradeloop_handler_latency_seconds_sum", handler="Strategy.on_signal")
    assert 0 < total < 1
    assert HANDLER_LATENCY_BUCKETS[0] == 1e-6
    assert scrape.value("tradeloop_handler_latency_seconds_bucket", handler="ignore", le="+Inf") == 1


def test_turning_the_handler_timer_off_stops_the_latency_samples() -> None:
    bus = make_bus()
    bus.subscribe(SignalRaised, ignore)
    metrics = NodeMetrics()
    metrics.time_handlers(bus, sample_every=1)
    bus.emit(SignalRaised)
    bus.set_handler_timer(None)
    bus.emit(SignalRaised)
    scrape = Scrape(metrics.render())
    assert scrape.value("tradeloop_handler_latency_seconds_count", handler="ignore") == 1


def test_every_documented_family_is_served_once_everything_is_wired() -> None:
    bus = make_bus()
    bus.subscribe(SignalRaised, ignore)
    metrics = NodeMetrics()
    metrics.watch_bus(bus)
    metrics.time_handlers(bus, sample_every=1)
    metrics.set_snapshot_source(
        lambda: NodeSnapshot(
            orders_by_status={"FILLED": 1},
            limit_utilisation={"max_order_rate": 0.1},
            breakers={"venue": False},
        )
    )
    bus.emit(SignalRaised)
    metrics.observe_tick_to_order(0.0001)
    scrape = Scrape(metrics.render())
    assert scrape.families == METRIC_NAMES
    assert all(name.startswith("tradeloop_") for name in scrape.names)


def test_watch_bus_and_the_snapshot_source_reject_the_wrong_objects() -> None:
    metrics = NodeMetrics()
    with pytest.raises(TypeError, match="watch_bus needs a MessageBus, got dict"):
        metrics.watch_bus({})  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="snapshot source must be callable, got int"):
        metrics.set_snapshot_source(3)  # type: ignore[arg-type]


def test_watching_another_bus_replaces_the_first() -> None:
    first = MessageBus(SimulatedClock(0), IdFactory(1))
    second = make_bus()
    first.subscribe(SignalRaised, ignore)
    second.subscribe(SignalRaised, ignore)
    metrics = NodeMetrics()
    metrics.watch_bus(first)
    first.emit(SignalRaised)
    metrics.watch_bus(second)
    assert Scrape(metrics.render()).labels_of("tradeloop_bus_events_total") == []


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"fills": -1}, "NodeSnapshot.fills must be a non-negative int, got -1"),
        ({"open_positions": 1.5}, "NodeSnapshot.open_positions must be a non-negative int"),
        ({"stop_losses": True}, "NodeSnapshot.stop_losses must be a non-negative int"),
        ({"orders_by_status": {"FILLED": -2}}, r"orders_by_status\['FILLED'\] must be a non-negative int"),
        ({"orders_by_status": {"": 1}}, "orders_by_status keys must be non-empty strings"),
        ({"realized_pnl": math.nan}, "NodeSnapshot.realized_pnl must be a finite number"),
        ({"net_exposure": "12"}, "NodeSnapshot.net_exposure must be a finite number"),
        ({"gross_exposure": -1.0}, "NodeSnapshot.gross_exposure must be at least 0"),
        ({"drawdown": -0.1}, "NodeSnapshot.drawdown must be at least 0"),
        (
            {"limit_utilisation": {"max_order_rate": -0.5}},
            r"limit_utilisation\['max_order_rate'\] must be at least",
        ),
        ({"breakers": {"kill_switch": 1}}, r"breakers\['kill_switch'\] must be a bool, got 1"),
        ({"breakers": [("kill_switch", True)]}, "NodeSnapshot.breakers must be a mapping, got list"),
    ],
)
def test_a_snapshot_with_a_bad_field_is_refused_naming_the_field(
    fields: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        NodeSnapshot(**fields)


def test_a_snapshot_keeps_its_own_copies_of_the_mappings() -> None:
    breakers = {"risk_breach": False}
    snap = NodeSnapshot(breakers=breakers)
    breakers["risk_breach"] = True
    assert snap.breakers == {"risk_breach": False}
    with pytest.raises(TypeError):
        snap.breakers["risk_breach"] = True  # type: ignore[index]
