"""The bus's opt-in handler timer: what it reports, and that dispatch is unchanged by it."""

from __future__ import annotations

from typing import Any

import pytest

from tradeloop.core import Handler, HandlerFailed, Message, MessageBus, MessageRejected

from .scrape import DashboardPinged, KillSwitchPressed, SignalRaised, make_bus

Sample = tuple[Handler, Message, int]


class Recorder:
    def __init__(self) -> None:
        self.samples: list[Sample] = []

    def __call__(self, handler: Handler, msg: Message, duration_ns: int) -> None:
        self.samples.append((handler, msg, duration_ns))

    def handlers(self) -> list[str]:
        return [getattr(h, "__qualname__", type(h).__qualname__) for h, _, _ in self.samples]


def test_the_timer_is_off_until_set() -> None:
    assert make_bus().handler_timer is None


def test_every_handler_call_is_reported_with_its_handler_message_and_duration() -> None:
    bus = make_bus()
    calls: list[str] = []

    def portfolio(msg: SignalRaised) -> None:
        calls.append("portfolio")

    def strategy(msg: SignalRaised) -> None:
        calls.append("strategy")
        bus.emit(DashboardPinged, n=msg.n)  # queued inside the reactor, drained by _run

    def dashboard(_: DashboardPinged) -> None:
        calls.append("dashboard")

    bus.subscribe(SignalRaised, strategy)
    bus.subscribe(SignalRaised, portfolio, priority=900)
    bus.subscribe(DashboardPinged, dashboard)
    timer = Recorder()
    bus.set_handler_timer(timer)
    bus.emit(SignalRaised, n=5)

    assert calls == ["portfolio", "strategy", "dashboard"]
    assert [(h, type(m).__name__) for h, m, _ in timer.samples] == [
        (portfolio, "SignalRaised"),
        (strategy, "SignalRaised"),
        (dashboard, "DashboardPinged"),
    ]
    assert all(isinstance(ns, int) and ns >= 0 for _, _, ns in timer.samples)
    assert bus.handler_timer is timer


def test_a_publish_bound_before_the_timer_was_set_is_timed_too() -> None:
    bus = make_bus()
    publish = bus.publish  # components bind it once at construction
    handled: list[int] = []
    bus.subscribe(SignalRaised, lambda m: handled.append(m.n))
    timer = Recorder()
    bus.set_handler_timer(timer)
    publish(SignalRaised(id="s", correlation_id="c", ts_event=1, ts_init=1, n=3))
    assert handled == [3]
    assert len(timer.samples) == 1


def test_handlers_subscribed_after_the_timer_was_set_are_timed() -> None:
    bus = make_bus()
    timer = Recorder()
    bus.set_handler_timer(timer)

    def late(_: KillSwitchPressed) -> None:
        pass

    bus.subscribe(KillSwitchPressed, late)
    bus.emit(KillSwitchPressed)
    assert timer.handlers() == ["test_handlers_subscribed_after_the_timer_was_set_are_timed.<locals>.late"]


def test_endpoints_are_timed_and_restored() -> None:
    bus = make_bus()
    executed: list[str] = []
    bus.register_endpoint("before", lambda m: executed.append("before"))
    timer = Recorder()
    bus.set_handler_timer(timer)
    bus.register_endpoint("after", lambda m: executed.append("after"))
    msg = SignalRaised(id="s", correlation_id="c", ts_event=1, ts_init=1)
    bus.send("before", msg)
    bus.send("after", msg, forward=True)
    bus.set_handler_timer(None)
    bus.send("after", msg, forward=True)

    assert executed == ["before", "after", "after"]
    assert len(timer.samples) == 2


def test_sampling_times_the_first_call_then_every_nth_call_of_each_handler() -> None:
    bus = make_bus()
    bus.subscribe(SignalRaised, lambda m: None)
    bus.subscribe(KillSwitchPressed, lambda m: None)
    timer = Recorder()
    bus.set_handler_timer(timer, sample_every=3)
    for n in range(7):
        bus.emit(SignalRaised, n=n)
    bus.emit(KillSwitchPressed)

    sampled = [(type(m).__name__, getattr(m, "n", None)) for _, m, _ in timer.samples]
    assert sampled == [
        ("SignalRaised", 0),
        ("SignalRaised", 3),
        ("SignalRaised", 6),
        ("KillSwitchPressed", None),  # its handler's own first call
    ]


def test_clearing_the_timer_stops_the_reports_and_dispatch_goes_on() -> None:
    bus = make_bus()
    seen: list[int] = []
    bus.subscribe(SignalRaised, lambda m: seen.append(m.n))
    timer = Recorder()
    bus.set_handler_timer(timer)
    bus.emit(SignalRaised, n=1)
    bus.set_handler_timer(None)
    bus.emit(SignalRaised, n=2)
    assert seen == [1, 2]
    assert len(timer.samples) == 1
    assert bus.handler_timer is None


def run_failing_scenario(bus: MessageBus) -> tuple[list[str], list[Any]]:
    calls: list[str] = []

    def authority(msg: SignalRaised) -> None:
        calls.append("authority")
        if msg.n == 2:
            raise MessageRejected("refused")

    def flaky(msg: SignalRaised) -> None:
        calls.append("flaky")
        raise RuntimeError(f"flaky at {msg.n}")

    failures: list[HandlerFailed] = []
    bus.subscribe(SignalRaised, authority, priority=1000)
    bus.subscribe(SignalRaised, flaky)
    bus.subscribe(HandlerFailed, failures.append)
    for n in (1, 2):
        bus.emit(SignalRaised, n=n)
    return calls, [(f.handler, f.message_type, f.error) for f in failures]


def test_failures_and_refusals_behave_and_read_the_same_with_the_timer_on() -> None:
    plain = make_bus()
    timed = make_bus()
    timer = Recorder()
    timed.set_handler_timer(timer)

    assert run_failing_scenario(timed) == run_failing_scenario(plain)
    calls, failures = run_failing_scenario(make_bus())
    assert calls == ["authority", "flaky", "authority"]  # the refusal stops delivery
    assert failures[0][0] == "run_failing_scenario.<locals>.flaky"  # the handler, not a wrapper
    assert [h for h, _, _ in timer.samples].count(timer.samples[0][0]) == 2  # raising calls timed
    assert [getattr(m, "id", None) for m in timed.history or ()] == [
        getattr(m, "id", None) for m in plain.history or ()
    ]
    assert timed.handler_errors == plain.handler_errors == 2


class Unhashable:
    __hash__ = None  # type: ignore[assignment]

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, _: SignalRaised) -> None:
        self.calls += 1


def test_an_unhashable_callable_handler_is_timed_under_its_class_name() -> None:
    bus = make_bus()
    handler = Unhashable()
    bus.subscribe(SignalRaised, handler)
    timer = Recorder()
    bus.set_handler_timer(timer)
    bus.emit(SignalRaised)
    assert handler.calls == 1
    assert timer.handlers() == ["Unhashable"]


@pytest.mark.parametrize("bad", [0, -3, 1.5, True])
def test_sample_every_must_be_a_positive_int(bad: Any) -> None:
    with pytest.raises(ValueError, match="sample_every must be an integer of at least 1"):
        make_bus().set_handler_timer(Recorder(), sample_every=bad)
