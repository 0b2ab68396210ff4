"""MessageBus: lane priority, handler order, isolation, overload policies, endpoints."""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tradeloop.core import (
    Data,
    Event,
    HandlerFailed,
    IdFactory,
    Lane,
    LaneCapacity,
    Message,
    MessageBus,
    SimulatedClock,
)


class Kick(Event, frozen=True, kw_only=True, gc=False):
    """Published from outside; its handler publishes the scenario from inside the reactor."""

    key: int = -1


class CriticalPing(Event, frozen=True, kw_only=True, gc=False):
    LANE: ClassVar[Lane] = Lane.CRITICAL
    key: int = 0


class HighPing(Event, frozen=True, kw_only=True, gc=False):
    key: int = 0


class LowPing(Event, frozen=True, kw_only=True, gc=False):
    LANE: ClassVar[Lane] = Lane.LOW
    key: int = 0


class Tick(Data, frozen=True, kw_only=True, gc=False):
    instrument_id: str
    key: int = 0


class OtherTick(Data, frozen=True, kw_only=True, gc=False):
    instrument_id: str
    key: int = 0


def make_bus(
    *,
    high: int = 100,
    normal: int = 100,
    low: int = 100,
    history_size: int = 1_000,
    auto_drain: bool = True,
) -> MessageBus:
    return MessageBus(
        SimulatedClock(1_000),
        IdFactory(7),
        capacity=LaneCapacity(high=high, normal=normal, low=low),
        history_size=history_size,
        auto_drain=auto_drain,
    )


def event(cls: type[Any], key: int = 0, *, correlation_id: str = "corr", msg_id: str | None = None) -> Any:
    return cls(ts_event=1, ts_init=1, id=msg_id or f"id-{key}", correlation_id=correlation_id, key=key)


def tick(instrument: str, key: int = 0, cls: type[Any] = Tick) -> Any:
    return cls(ts_event=1, ts_init=1, instrument_id=instrument, key=key)


def label(msg: Any) -> str:
    if isinstance(msg, Tick | OtherTick):
        return f"{type(msg).__name__}:{msg.instrument_id}{msg.key}"
    return f"{type(msg).__name__}:{msg.key}"


def on_kick(bus: MessageBus, *messages: Message) -> Callable[[Kick], None]:
    def handler(_: Kick) -> None:
        for m in messages:
            bus.publish(m)

    return handler


class Recorder:
    def __init__(self) -> None:
        self.seen: list[str] = []

    def __call__(self, msg: Any) -> None:
        self.seen.append(label(msg))


def record_all(bus: MessageBus) -> Recorder:
    rec = Recorder()
    for cls in (CriticalPing, HighPing, LowPing, Tick, OtherTick):
        bus.subscribe(cls, rec)
    return rec


# -- lanes -----------------------------------------------------------------------------------


def test_lanes_drain_critical_then_high_then_normal_then_low_when_published_from_a_handler() -> None:
    bus = make_bus()
    rec = record_all(bus)
    bus.subscribe(
        Kick,
        on_kick(
            bus,
            event(LowPing, 1),
            tick("A", 2),
            event(HighPing, 3),
            event(CriticalPing, 4),
            event(LowPing, 5),
            event(HighPing, 6),
            tick("B", 7),
            event(CriticalPing, 8),
        ),
    )
    bus.publish(event(Kick))
    assert rec.seen == [
        "CriticalPing:4",
        "CriticalPing:8",
        "HighPing:3",
        "HighPing:6",
        "Tick:A2",
        "Tick:B7",
        "LowPing:1",
        "LowPing:5",
    ]
    assert all(n == 0 for n in bus.queued().values())


def test_after_an_error_escapes_the_reactor_the_next_publish_waits_behind_what_is_queued() -> None:
    bus = make_bus()
    rec = record_all(bus)
    failures = {"once": True}

    def log(msg: Any) -> None:  # an event log that fails once (a full disk)
        if isinstance(msg, CriticalPing) and failures.pop("once", False):
            raise OSError("disk full")

    bus.add_recorder(log)
    bus.subscribe(Kick, on_kick(bus, event(CriticalPing, 1), event(CriticalPing, 2)))
    with pytest.raises(OSError, match="disk full"):
        bus.publish(event(Kick))
    assert bus.queued()[Lane.CRITICAL] == 1  # CriticalPing 2 is still queued

    bus.publish(event(LowPing, 9))

    assert rec.seen == ["CriticalPing:2", "LowPing:9"]  # lane order, not the newcomer first
    assert all(n == 0 for n in bus.queued().values())


def test_critical_published_while_draining_low_overtakes_the_rest_of_the_low_lane() -> None:
    bus = make_bus()
    rec = record_all(bus)

    def on_low(msg: LowPing) -> None:
        if msg.key == 1:
            bus.publish(event(CriticalPing, 9))

    bus.subscribe(LowPing, on_low)
    bus.subscribe(Kick, on_kick(bus, event(LowPing, 1), event(LowPing, 2)))
    bus.publish(event(Kick))
    assert rec.seen == ["LowPing:1", "CriticalPing:9", "LowPing:2"]


def test_publish_from_outside_without_auto_drain_queues_until_drain_in_lane_order() -> None:
    bus = make_bus(auto_drain=False)
    rec = record_all(bus)
    bus.publish(event(LowPing, 1))
    bus.publish(tick("A", 2))
    bus.publish(event(HighPing, 3))
    bus.publish(event(CriticalPing, 4))
    assert rec.seen == []
    assert bus.queued() == {Lane.CRITICAL: 1, Lane.HIGH: 1, Lane.NORMAL: 1, Lane.LOW: 1}
    bus.drain()
    assert rec.seen == ["CriticalPing:4", "HighPing:3", "Tick:A2", "LowPing:1"]
    assert bus.stats().queued == {"CRITICAL": 0, "HIGH": 0, "NORMAL": 0, "LOW": 0}


def test_publish_from_outside_with_auto_drain_runs_to_completion_before_returning() -> None:
    bus = make_bus()
    rec = record_all(bus)
    bus.subscribe(Kick, on_kick(bus, event(LowPing, 1), event(HighPing, 2)))
    bus.publish(event(Kick))
    assert rec.seen == ["HighPing:2", "LowPing:1"]
    assert not bus.is_draining


def test_is_draining_only_inside_the_reactor() -> None:
    bus = make_bus()
    states: list[bool] = []
    bus.subscribe(HighPing, lambda _: states.append(bus.is_draining))
    assert not bus.is_draining
    bus.publish(event(HighPing))
    assert states == [True]
    assert not bus.is_draining


# -- handler order and routing -------------------------------------------------------------


def test_handlers_run_highest_priority_first_and_ties_in_subscription_order() -> None:
    bus = make_bus()
    order: list[str] = []

    def handler(name: str) -> Callable[[Any], None]:
        return lambda _: order.append(name)

    bus.subscribe(HighPing, handler("a"), priority=0)
    bus.subscribe(HighPing, handler("b"), priority=10)
    bus.subscribe(HighPing, handler("c"), priority=5)
    bus.subscribe(HighPing, handler("d"), priority=10)
    bus.subscribe(Event, handler("e-base"), priority=10)
    bus.subscribe(Message, handler("f-base"), priority=-1)
    bus.publish(event(HighPing))
    assert order == ["b", "d", "e-base", "c", "a", "f-base"]


def test_base_class_subscription_receives_every_subclass_and_nothing_else() -> None:
    bus = make_bus()
    events: list[str] = []
    data: list[str] = []
    everything: list[str] = []
    bus.subscribe(Event, lambda m: events.append(type(m).__name__))
    bus.subscribe(Data, lambda m: data.append(type(m).__name__))
    bus.subscribe(Message, lambda m: everything.append(type(m).__name__))
    bus.publish(event(HighPing))
    bus.publish(event(CriticalPing))
    bus.publish(tick("A"))
    bus.publish(tick("A", cls=OtherTick))
    assert events == ["HighPing", "CriticalPing"]
    assert data == ["Tick", "OtherTick"]
    assert everything == ["HighPing", "CriticalPing", "Tick", "OtherTick"]


def test_subscribing_the_same_handler_twice_delivers_once() -> None:
    bus = make_bus()
    rec = Recorder()
    bus.subscribe(HighPing, rec)
    bus.subscribe(HighPing, rec, priority=5)
    bus.publish(event(HighPing, 1))
    assert rec.seen == ["HighPing:1"]


def test_a_handler_subscribed_to_a_type_and_its_base_gets_each_message_once() -> None:
    bus = make_bus()
    rec = Recorder()
    bus.subscribe(Event, rec)
    bus.subscribe(HighPing, rec)
    bus.publish(event(HighPing, 1))
    bus.publish(event(LowPing, 2))
    assert rec.seen == ["HighPing:1", "LowPing:2"]


def test_unsubscribe_stops_delivery_and_ignores_unknown_pairs() -> None:
    bus = make_bus()
    rec = Recorder()
    bus.subscribe(HighPing, rec)
    bus.publish(event(HighPing, 1))
    bus.unsubscribe(HighPing, rec)
    bus.unsubscribe(HighPing, rec)
    bus.unsubscribe(LowPing, rec)
    bus.publish(event(HighPing, 2))
    assert rec.seen == ["HighPing:1"]
    assert not bus.has_subscribers(HighPing)


def test_has_subscribers_sees_base_class_subscriptions() -> None:
    bus = make_bus()
    assert not bus.has_subscribers(HighPing)
    bus.subscribe(Event, lambda _: None)
    assert bus.has_subscribers(HighPing)
    assert not bus.has_subscribers(Tick)


def test_subscription_made_inside_a_handler_applies_to_the_next_message() -> None:
    bus = make_bus()
    late = Recorder()

    def subscriber(_: HighPing) -> None:
        bus.subscribe(HighPing, late)

    bus.subscribe(HighPing, subscriber)
    bus.publish(event(HighPing, 1))
    bus.publish(event(HighPing, 2))
    assert late.seen == ["HighPing:2"]


# -- error isolation -----------------------------------------------------------------------


def test_raising_handler_is_isolated_counted_logged_and_reported_with_its_correlation_id(
    caplog: pytest.LogCaptureFixture,
) -> None:
    bus = make_bus()
    rec = Recorder()
    failures: list[HandlerFailed] = []

    def exploding_handler(_: Any) -> None:
        raise RuntimeError("boom")

    bus.subscribe(HighPing, exploding_handler, priority=10)
    bus.subscribe(HighPing, rec)
    bus.subscribe(HandlerFailed, failures.append)
    with caplog.at_level(logging.ERROR, logger="tradeloop.bus"):
        bus.publish(event(HighPing, 1, correlation_id="corr-42", msg_id="msg-1"))
    assert rec.seen == ["HighPing:1"]
    assert bus.handler_errors == 1
    assert bus.stats().handler_errors == 1
    assert len(failures) == 1
    failed = failures[0]
    assert failed.correlation_id == "corr-42"
    assert failed.causation_id == "msg-1"
    assert failed.message_type == "HighPing"
    assert "exploding_handler" in failed.handler
    assert "boom" in failed.error
    assert failed.ts_event == 1_000
    assert "corr-42" in caplog.text
    assert "exploding_handler" in caplog.text


def test_failure_on_market_data_gets_a_fresh_correlation_id_and_no_causation() -> None:
    bus = make_bus()
    failures: list[HandlerFailed] = []

    def bad(_: Any) -> None:
        raise ValueError("bad tick")

    bus.subscribe(Tick, bad)
    bus.subscribe(HandlerFailed, failures.append)
    bus.publish(tick("A"))
    assert len(failures) == 1
    assert failures[0].correlation_id
    assert failures[0].causation_id is None
    assert failures[0].message_type == "Tick"


def test_raising_handler_failed_handler_does_not_loop() -> None:
    bus = make_bus()
    calls: list[str] = []

    def raises_on_everything(msg: Any) -> None:
        calls.append(type(msg).__name__)
        raise RuntimeError("always")

    # Subscribed to the Event base: it also receives (and fails on) the HandlerFailed report.
    bus.subscribe(Event, raises_on_everything)
    bus.publish(event(HighPing))
    assert calls == ["HighPing", "HandlerFailed"]
    assert bus.handler_errors == 2
    assert bus.count(HandlerFailed) == 1
    assert all(n == 0 for n in bus.queued().values())


def test_every_raising_handler_is_reported_separately() -> None:
    bus = make_bus()
    failures: list[HandlerFailed] = []

    def first(_: Any) -> None:
        raise RuntimeError("one")

    def second(_: Any) -> None:
        raise KeyError("two")

    bus.subscribe(HighPing, first)
    bus.subscribe(HighPing, second)
    bus.subscribe(HandlerFailed, failures.append)
    bus.publish(event(HighPing))
    assert bus.handler_errors == 2
    assert [f.handler.rsplit(".", 1)[-1] for f in failures] == ["first", "second"]


# -- overload policies ---------------------------------------------------------------------


def test_normal_lane_conflates_to_the_newest_per_type_and_instrument_when_full() -> None:
    bus = make_bus(normal=2)
    rec = record_all(bus)
    bus.subscribe(
        Kick,
        on_kick(
            bus,
            tick("A", 1),
            tick("B", 1),  # the lane is now full
            tick("A", 2),
            tick("B", 2),
            tick("A", 3),  # replaces A2
            tick("A", 1, cls=OtherTick),  # another type: its own key
            tick("B", 3),  # replaces B2
            tick("A", 2, cls=OtherTick),  # replaces OtherTick A1
        ),
    )
    bus.publish(event(Kick))
    assert bus.conflated == 3
    assert bus.stats().conflated == 3
    assert rec.seen == ["Tick:A1", "Tick:B1", "Tick:A3", "Tick:B3", "OtherTick:A2"]


def test_normal_lane_keeps_per_instrument_order_across_the_queue_and_the_conflation_buffer() -> None:
    bus = make_bus(normal=1)
    rec = record_all(bus)
    bus.subscribe(Kick, on_kick(bus, tick("A", 1), tick("A", 2), tick("B", 1), tick("A", 3)))
    bus.publish(event(Kick))
    seen_a = [s for s in rec.seen if s.startswith("Tick:A")]
    assert seen_a == ["Tick:A1", "Tick:A3"]
    assert "Tick:B1" in rec.seen
    assert bus.conflated == 1


def test_normal_lane_below_capacity_delivers_every_tick() -> None:
    bus = make_bus(normal=10)
    rec = record_all(bus)
    bus.subscribe(Kick, on_kick(bus, *(tick("A", k) for k in range(5))))
    bus.publish(event(Kick))
    assert rec.seen == [f"Tick:A{k}" for k in range(5)]
    assert bus.conflated == 0


def test_low_lane_drops_the_oldest_when_full_and_counts_it() -> None:
    bus = make_bus(low=2)
    rec = record_all(bus)
    bus.subscribe(Kick, on_kick(bus, *(event(LowPing, k) for k in range(1, 6))))
    bus.publish(event(Kick))
    assert rec.seen == ["LowPing:4", "LowPing:5"]
    assert bus.dropped == 3
    assert bus.stats().dropped == 3


def test_high_lane_never_drops_inside_the_reactor_and_counts_overflows() -> None:
    bus = make_bus(high=1)
    rec = record_all(bus)
    bus.subscribe(Kick, on_kick(bus, *(event(HighPing, k) for k in range(5))))
    bus.publish(event(Kick))
    assert rec.seen == [f"HighPing:{k}" for k in range(5)]
    assert bus.high_overflows == 4
    assert bus.dropped == 0


def test_high_lane_full_outside_the_reactor_drains_before_queueing() -> None:
    bus = make_bus(high=2, auto_drain=False)
    rec = record_all(bus)
    bus.publish(event(HighPing, 1))
    bus.publish(event(HighPing, 2))
    assert rec.seen == []
    bus.publish(event(HighPing, 3))  # the producer "waits": the queued two are handled first
    assert rec.seen == ["HighPing:1", "HighPing:2"]
    assert bus.queued()[Lane.HIGH] == 1
    bus.drain()
    assert rec.seen == ["HighPing:1", "HighPing:2", "HighPing:3"]
    assert bus.high_overflows == 0


def test_critical_lane_is_unbounded() -> None:
    bus = make_bus(high=1, normal=1, low=1)
    rec = record_all(bus)
    bus.subscribe(Kick, on_kick(bus, *(event(CriticalPing, k) for k in range(50))))
    bus.publish(event(Kick))
    assert rec.seen == [f"CriticalPing:{k}" for k in range(50)]


@pytest.mark.parametrize("field", ["high", "normal", "low"])
def test_lane_capacity_below_one_is_rejected(field: str) -> None:
    with pytest.raises(ValueError, match=field):
        LaneCapacity(**{field: 0})


# -- endpoints, counts, history, recorders -------------------------------------------------


def test_send_delivers_to_the_endpoint_now_and_counts_records_and_keeps_history() -> None:
    bus = make_bus()
    got = Recorder()
    recorded: list[str] = []
    bus.add_recorder(lambda m: recorded.append(label(m)))
    bus.register_endpoint("exec", got)
    bus.send("exec", event(HighPing, 1))
    assert got.seen == ["HighPing:1"]
    assert recorded == ["HighPing:1"]
    assert bus.count(HighPing) == 1
    assert bus.history is not None
    assert [label(m) for m in bus.history] == ["HighPing:1"]


def test_send_from_a_handler_runs_before_queued_messages() -> None:
    bus = make_bus()
    rec = record_all(bus)
    endpoint = Recorder()
    bus.register_endpoint("exec", endpoint)

    def kick(_: Kick) -> None:
        bus.publish(event(HighPing, 1))
        bus.send("exec", event(LowPing, 2))
        endpoint.seen.append(f"queued-high={bus.queued()[Lane.HIGH]}")

    bus.subscribe(Kick, kick)
    bus.publish(event(Kick))
    assert endpoint.seen == ["LowPing:2", "queued-high=1"]
    assert rec.seen == ["HighPing:1"]  # the endpoint message is not broadcast to subscribers


def test_send_to_an_unknown_endpoint_raises_key_error() -> None:
    bus = make_bus()
    with pytest.raises(KeyError, match="nowhere"):
        bus.send("nowhere", event(HighPing))


def test_registering_an_endpoint_twice_raises() -> None:
    bus = make_bus()
    bus.register_endpoint("exec", lambda _: None)
    with pytest.raises(ValueError, match="exec"):
        bus.register_endpoint("exec", lambda _: None)


def test_raising_endpoint_handler_is_isolated_and_its_failure_delivered_at_once() -> None:
    bus = make_bus()
    failures: list[HandlerFailed] = []

    def broken_endpoint(_: Any) -> None:
        raise RuntimeError("venue down")

    bus.subscribe(HandlerFailed, failures.append)
    bus.register_endpoint("exec", broken_endpoint)
    bus.send("exec", event(HighPing, 1, correlation_id="corr-9"))
    assert bus.handler_errors == 1
    assert [f.correlation_id for f in failures] == ["corr-9"]
    assert all(n == 0 for n in bus.queued().values())


def test_per_type_counts_survive_a_later_subscribe() -> None:
    bus = make_bus()
    bus.subscribe(HighPing, lambda _: None)
    bus.publish(event(HighPing))
    bus.publish(event(HighPing))
    bus.subscribe(Event, lambda _: None)  # re-resolves every route
    bus.subscribe(HighPing, lambda _: None)
    bus.publish(event(HighPing))
    assert bus.count(HighPing) == 3
    assert bus.stats().published["HighPing"] == 3


def test_messages_without_subscribers_are_still_counted() -> None:
    bus = make_bus()
    bus.publish(event(LowPing))
    assert bus.count(LowPing) == 1
    assert bus.count(CriticalPing) == 0
    assert "CriticalPing" not in bus.stats().published


def test_history_keeps_only_the_latest_messages() -> None:
    bus = make_bus(history_size=3)
    for k in range(5):
        bus.publish(event(HighPing, k))
    assert bus.history is not None
    assert [label(m) for m in bus.history] == ["HighPing:2", "HighPing:3", "HighPing:4"]


def test_history_size_zero_keeps_no_history() -> None:
    bus = make_bus(history_size=0)
    bus.publish(event(HighPing))
    assert bus.history is None


def test_every_recorder_sees_every_dispatched_message_in_dispatch_order() -> None:
    bus = make_bus()
    first: list[str] = []
    second: list[str] = []
    bus.add_recorder(lambda m: first.append(label(m)))
    bus.add_recorder(lambda m: second.append(label(m)))
    bus.subscribe(Kick, on_kick(bus, event(LowPing, 1), event(CriticalPing, 2)))
    bus.publish(event(Kick, 0))
    assert first == ["Kick:0", "CriticalPing:2", "LowPing:1"]
    assert second == first


# -- property: lane priority under any interleaving ----------------------------------------

_LANE_CLASS: dict[Lane, type[Any]] = {
    Lane.CRITICAL: CriticalPing,
    Lane.HIGH: HighPing,
    Lane.NORMAL: Tick,
    Lane.LOW: LowPing,
}


@dataclass(frozen=True)
class Node:
    """One message of a scenario: its lane, instrument (NORMAL) and who publishes it."""

    lane: Lane
    instrument: str
    parent: int | None  # None: published from outside the reactor


@dataclass(frozen=True)
class Scenario:
    nodes: tuple[Node, ...]
    high: int
    normal: int
    low: int

    def children(self, key: int) -> list[int]:
        return [k for k, n in enumerate(self.nodes) if n.parent == key]


@st.composite
def scenarios(draw: st.DrawFn) -> Scenario:
    count = draw(st.integers(1, 40))
    nodes: list[Node] = []
    for i in range(count):
        lane = draw(st.sampled_from(list(Lane)))
        instrument = draw(st.sampled_from("ABC"))
        # Mostly published from inside the handler of an earlier message.
        parent = None if i == 0 else draw(st.one_of(st.integers(0, i - 1), st.just(None)))
        nodes.append(Node(lane, instrument, parent))
    return Scenario(
        tuple(nodes),
        high=draw(st.integers(1, 4)),
        normal=draw(st.integers(1, 4)),
        low=draw(st.integers(1, 4)),
    )


@dataclass
class ModelRun:
    order: list[int]
    conflated: int
    dropped: int
    high_overflows: int


def model_reactor(sc: Scenario) -> ModelRun:
    """The documented reactor, written independently: lanes, capacities and policies."""
    crit: deque[int] = deque()
    high: deque[int] = deque()
    normal: deque[int] = deque()
    overflow: dict[str, int] = {}  # instrument -> newest key, oldest entry first
    low: deque[int] = deque()
    run = ModelRun([], 0, 0, 0)

    def enqueue(key: int) -> None:
        node = sc.nodes[key]
        if node.lane is Lane.CRITICAL:
            crit.append(key)
        elif node.lane is Lane.HIGH:
            if len(high) >= sc.high:
                run.high_overflows += 1
            high.append(key)
        elif node.lane is Lane.NORMAL:
            if len(normal) < sc.normal and not overflow:
                normal.append(key)
                return
            # Over capacity: the newest tick per instrument replaces the waiting one and
            # goes to the back of the conflation buffer.
            if node.instrument in overflow:
                run.conflated += 1
                del overflow[node.instrument]
            overflow[node.instrument] = key
        else:
            if len(low) >= sc.low:
                low.popleft()
                run.dropped += 1
            low.append(key)

    def dispatch(key: int) -> None:
        run.order.append(key)
        for child in sc.children(key):
            enqueue(child)

    for root, node in enumerate(sc.nodes):
        if node.parent is not None:
            continue
        dispatch(root)
        while True:
            if crit:
                dispatch(crit.popleft())
            elif high:
                dispatch(high.popleft())
            elif normal:
                dispatch(normal.popleft())
            elif overflow:
                dispatch(overflow.pop(next(iter(overflow))))
            elif low:
                dispatch(low.popleft())
            else:
                break
    return run


def run_on_bus(sc: Scenario) -> tuple[list[int], MessageBus]:
    bus = make_bus(high=sc.high, normal=sc.normal, low=sc.low)
    messages: list[Message] = []
    for key, node in enumerate(sc.nodes):
        cls = _LANE_CLASS[node.lane]
        messages.append(tick(node.instrument, key) if cls is Tick else event(cls, key))
    delivered: list[int] = []

    def handler(msg: Any) -> None:
        delivered.append(msg.key)
        for child in sc.children(msg.key):
            bus.publish(messages[child])

    for cls in _LANE_CLASS.values():
        bus.subscribe(cls, handler)
    for key, node in enumerate(sc.nodes):
        if node.parent is None:
            bus.publish(messages[key])
    return delivered, bus


@settings(max_examples=300, deadline=None)
@given(scenarios())
def test_dispatch_follows_lane_priority_for_any_interleaving_of_publishes(sc: Scenario) -> None:
    delivered, bus = run_on_bus(sc)
    expected = model_reactor(sc)

    assert delivered == expected.order
    assert (bus.conflated, bus.dropped, bus.high_overflows) == (
        expected.conflated,
        expected.dropped,
        expected.high_overflows,
    )
    assert bus.handler_errors == 0
    assert all(n == 0 for n in bus.queued().values())

    # Independent of the model: facts that hold for any correct reactor.
    step_of = {key: step for step, key in enumerate(delivered)}
    assert len(step_of) == len(delivered), "a message was delivered twice"

    def published_at(key: int) -> float:
        parent = sc.nodes[key].parent
        return step_of[key] - 0.5 if parent is None else step_of[parent]

    published = [k for k, n in enumerate(sc.nodes) if n.parent is None or n.parent in step_of]
    must_arrive = {k for k in published if sc.nodes[k].lane in (Lane.CRITICAL, Lane.HIGH)}
    assert must_arrive <= set(delivered), "a CRITICAL or HIGH message was lost"
    assert len(published) == len(delivered) + bus.conflated + bus.dropped

    for i, earlier in enumerate(delivered):
        for later in delivered[i + 1 :]:
            if sc.nodes[later].lane < sc.nodes[earlier].lane:
                # A higher lane ran later only because it was published later.
                assert published_at(later) >= i

    # FIFO within a lane, and per instrument on the NORMAL lane.
    def publish_order(key: int) -> tuple[float, int]:
        return (published_at(key), key)

    for lane in Lane:
        keys = [k for k in delivered if sc.nodes[k].lane is lane]
        assert keys == sorted(keys, key=publish_order)
    for instrument in "ABC":
        keys = [
            k for k in delivered if sc.nodes[k].lane is Lane.NORMAL and sc.nodes[k].instrument == instrument
        ]
        assert keys == sorted(keys, key=publish_order)


def test_forwarding_a_published_message_to_an_endpoint_does_not_record_it_twice() -> None:
    clock = SimulatedClock(0)
    bus = MessageBus(clock, IdFactory(1))
    recorded: list[object] = []
    bus.add_recorder(recorded.append)
    received: list[object] = []
    bus.register_endpoint("exec", received.append)
    msg = event(HighPing, 1)
    bus.subscribe(HighPing, lambda m: bus.send("exec", m, forward=True))
    bus.publish(msg)
    assert received == [msg]
    assert recorded == [msg]
    assert bus.count(HighPing) == 1


def test_emit_stamps_a_new_message_now_and_publishes_it() -> None:
    bus = make_bus()
    got: list[HighPing] = []
    bus.subscribe(HighPing, got.append)

    first = bus.emit(HighPing, key=3)
    second = bus.emit(HighPing, correlation_id="chain", causation_id=first, key=4)

    assert [m.key for m in got] == [3, 4]
    assert [m.id for m in got] == [first, second]
    assert first != second
    assert got[0].correlation_id not in ("", first)  # a chain of its own
    assert (got[1].correlation_id, got[1].causation_id) == ("chain", first)
    assert all(m.ts_event == m.ts_init == 1_000 for m in got)
