"""SimulatedClock timers and alerts, and LiveClock basics."""

from __future__ import annotations

import asyncio
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tradeloop.core import LiveClock, SimulatedClock, TimeEvent, TradeloopError
from tradeloop.core.clock import NANOS_PER_SECOND

NEVER = 2**63 - 1


class Log:
    """A timer callback that records what fired and what the clock said at that moment."""

    def __init__(self, clock: SimulatedClock) -> None:
        self.clock = clock
        self.fired: list[tuple[str, int]] = []
        self.events: list[TimeEvent] = []

    def __call__(self, ev: TimeEvent) -> None:
        assert self.clock.timestamp_ns() == ev.ts_init
        self.fired.append((ev.name, ev.ts_event))
        self.events.append(ev)


def test_new_clock_starts_at_the_given_time_with_nothing_due() -> None:
    clock = SimulatedClock(500)
    assert clock.timestamp_ns() == 500
    assert clock.next_due_ns == NEVER
    assert clock.timer_names == []
    assert clock.advance_time(10_000) == 0
    assert clock.timestamp_ns() == 10_000


def test_timers_fire_in_time_order_and_ties_in_the_order_they_were_set() -> None:
    clock = SimulatedClock(0)
    log = Log(clock)
    clock.set_time_alert("b", 20, log)
    clock.set_time_alert("a", 10, log)
    clock.set_time_alert("c", 20, log)
    clock.set_timer("r", 10, log)  # fires 10, 20, 30, ... ; set after a, b and c
    fired = clock.advance_time(30)
    assert log.fired == [("a", 10), ("r", 10), ("b", 20), ("c", 20), ("r", 20), ("r", 30)]
    assert fired == 6
    assert clock.timestamp_ns() == 30
    assert clock.timer_names == ["r"]
    assert clock.next_due_ns == 40


def test_callback_sees_the_clock_at_the_fire_time_and_the_clock_ends_at_the_target() -> None:
    clock = SimulatedClock(0)
    seen: list[int] = []
    clock.set_time_alert("x", 15, lambda ev: seen.append(clock.timestamp_ns()))
    clock.advance_time(100)
    assert seen == [15]
    assert clock.timestamp_ns() == 100


def test_repeating_timer_fires_every_interval_from_start_until_stop_inclusive() -> None:
    clock = SimulatedClock(0)
    log = Log(clock)
    clock.set_timer("t", 10, log, start_ns=100, stop_ns=140)
    clock.advance_time(1_000)
    assert log.fired == [("t", 110), ("t", 120), ("t", 130), ("t", 140)]
    assert clock.timer_names == []
    assert clock.next_due_ns == NEVER


def test_repeating_timer_stops_before_a_fire_past_the_stop_time() -> None:
    clock = SimulatedClock(0)
    log = Log(clock)
    clock.set_timer("t", 10, log, stop_ns=35)
    clock.advance_time(1_000)
    assert log.fired == [("t", 10), ("t", 20), ("t", 30)]


def test_timer_whose_first_fire_is_after_stop_never_fires() -> None:
    clock = SimulatedClock(0)
    log = Log(clock)
    try:
        clock.set_timer("t", 10, log, start_ns=0, stop_ns=5)
    except TradeloopError:
        return  # refusing the timer outright is an acceptable fix too
    clock.advance_time(100)
    assert log.fired == []


def test_repeating_timer_catches_up_every_missed_fire_in_one_advance() -> None:
    clock = SimulatedClock(0)
    log = Log(clock)
    clock.set_timer("t", 7, log)
    assert clock.advance_time(30) == 4
    assert [ts for _, ts in log.fired] == [7, 14, 21, 28]
    assert clock.next_due_ns == 35


def test_cancelled_timer_never_fires_and_its_name_is_free_again() -> None:
    clock = SimulatedClock(0)
    log = Log(clock)
    clock.set_time_alert("x", 10, log)
    clock.set_time_alert("y", 20, log)
    clock.cancel_timer("x")
    assert clock.timer_names == ["y"]
    assert clock.next_due_ns == 20
    clock.set_time_alert("x", 30, log)
    clock.advance_time(100)
    assert log.fired == [("y", 20), ("x", 30)]


def test_cancelling_an_unknown_timer_is_ignored() -> None:
    clock = SimulatedClock(0)
    clock.cancel_timer("nope")
    assert clock.timer_names == []


def test_repeating_timer_cancelled_from_its_own_callback_stops() -> None:
    clock = SimulatedClock(0)
    fired: list[int] = []

    def once_then_cancel(ev: TimeEvent) -> None:
        fired.append(ev.ts_event)
        if len(fired) == 2:
            clock.cancel_timer("t")

    clock.set_timer("t", 10, once_then_cancel)
    clock.advance_time(100)
    assert fired == [10, 20]
    assert clock.timer_names == []


def test_timer_cancelled_by_an_earlier_callback_at_the_same_time_does_not_fire() -> None:
    clock = SimulatedClock(0)
    log = Log(clock)
    clock.set_time_alert("first", 10, lambda ev: clock.cancel_timer("second"))
    clock.set_time_alert("second", 10, log)
    clock.advance_time(10)
    assert log.fired == []


def test_timer_set_inside_a_callback_fires_in_the_same_advance_when_due() -> None:
    clock = SimulatedClock(0)
    log = Log(clock)

    def chain(ev: TimeEvent) -> None:
        log(ev)
        clock.set_time_alert("late", ev.ts_event + 5, log)
        clock.set_timer("rep", 10, log, stop_ns=ev.ts_event + 30)

    clock.set_time_alert("first", 10, chain)
    clock.set_time_alert("other", 17, log)
    clock.advance_time(50)
    assert log.fired == [("first", 10), ("late", 15), ("other", 17), ("rep", 20), ("rep", 30), ("rep", 40)]


def test_alert_can_be_set_again_from_its_own_callback() -> None:
    clock = SimulatedClock(0)
    fired: list[int] = []

    def again(ev: TimeEvent) -> None:
        fired.append(ev.ts_event)
        if ev.ts_event < 30:
            clock.set_time_alert("a", ev.ts_event + 10, again)

    clock.set_time_alert("a", 10, again)
    clock.advance_time(100)
    assert fired == [10, 20, 30]


def test_duplicate_empty_or_non_positive_timers_are_rejected() -> None:
    clock = SimulatedClock(0)
    clock.set_time_alert("a", 10, lambda _: None)
    with pytest.raises(TradeloopError, match="already set"):
        clock.set_time_alert("a", 20, lambda _: None)
    with pytest.raises(TradeloopError, match="already set"):
        clock.set_timer("a", 5, lambda _: None)
    with pytest.raises(TradeloopError, match="name"):
        clock.set_time_alert("", 20, lambda _: None)
    with pytest.raises(TradeloopError, match="interval"):
        clock.set_timer("z", 0, lambda _: None)
    with pytest.raises(TradeloopError, match="interval"):
        clock.set_timer("z", -5, lambda _: None)


def test_next_due_follows_the_earliest_pending_timer() -> None:
    clock = SimulatedClock(0)
    clock.set_time_alert("late", 50, lambda _: None)
    assert clock.next_due_ns == 50
    clock.set_time_alert("early", 20, lambda _: None)
    assert clock.next_due_ns == 20
    clock.cancel_timer("early")
    assert clock.next_due_ns == 50
    clock.advance_time(50)
    assert clock.next_due_ns == NEVER


def test_set_time_moves_forward_without_firing_and_never_back() -> None:
    clock = SimulatedClock(100)
    log = Log(clock)
    clock.set_time_alert("a", 150, log)
    clock.set_time(200)
    assert clock.timestamp_ns() == 200
    assert log.fired == []
    clock.set_time(50)
    assert clock.timestamp_ns() == 200


def test_advance_to_an_earlier_time_does_not_move_the_clock_back() -> None:
    clock = SimulatedClock(100)
    assert clock.advance_time(50) == 0
    assert clock.timestamp_ns() == 100


def test_alert_in_the_past_fires_on_the_next_advance_without_moving_time_back() -> None:
    clock = SimulatedClock(100)
    log = Log(clock)
    clock.set_time_alert("past", 40, log)
    clock.advance_time(100)
    assert log.fired == [("past", 40)]
    assert log.events[0].ts_init == 100
    assert clock.timestamp_ns() == 100


@st.composite
def schedules(draw: st.DrawFn) -> tuple[list[tuple[str, int, int, int | None]], list[int]]:
    """Alerts (interval 0) and repeating timers, plus the times the clock is advanced to."""
    timers = []
    for i in range(draw(st.integers(0, 8))):
        at = draw(st.integers(0, 200))
        interval = draw(st.sampled_from([0, 0, 1, 7, 25]))
        # A stop before the first fire is a separate (reported) case; see the xfail above.
        stop = draw(st.one_of(st.none(), st.integers(at + interval, 300))) if interval else None
        timers.append((f"t{i}", at, interval, stop))
    steps = draw(st.lists(st.integers(-20, 120), min_size=1, max_size=6))
    return timers, steps


@settings(max_examples=200, deadline=None)
@given(schedules())
def test_any_schedule_fires_exactly_the_due_times_in_time_then_set_order(
    data: tuple[list[tuple[str, int, int, int | None]], list[int]],
) -> None:
    timers, steps = data
    clock = SimulatedClock(0)
    fired: list[tuple[int, str]] = []
    clock_times: list[int] = []

    def callback(ev: TimeEvent) -> None:
        fired.append((ev.ts_event, ev.name))
        clock_times.append(clock.timestamp_ns())

    for name, at, interval, stop in timers:
        if interval:
            clock.set_timer(name, interval, callback, start_ns=at, stop_ns=stop)
        else:
            clock.set_time_alert(name, at, callback)
    now = 0
    reached = -1  # the latest time any advance asked for: what is due has fired
    for step in steps:
        clock.advance_time(now + step)
        reached = max(reached, now + step)
        now = max(now, now + step)
        assert clock.timestamp_ns() == now

    # Expected: every fire time at or before the end, by time, then by the order set (a
    # repeating timer's next fire is ordered after everything already pending at that time).
    expected: list[tuple[int, int, str]] = []
    for order, (name, at, interval, stop) in enumerate(timers):
        if not interval:
            if at <= reached:
                expected.append((at, order, name))
            continue
        t = at + interval
        while t <= reached and (stop is None or t <= stop):
            expected.append((t, order, name))
            t += interval
    assert sorted(fired) == sorted((t, n) for t, _, n in expected)
    assert [t for t, _ in fired] == sorted(t for t, _ in fired)
    assert clock_times == sorted(clock_times)
    # Equal times: one-shot alerts fire in the order they were set. (A repeating timer's later
    # fires are re-queued behind whatever was pending, so only alerts have a fixed rank.)
    rank = {name: i for i, (name, _at, interval, _stop) in enumerate(timers) if not interval}
    alerts = [(t, rank[n]) for t, n in fired if n in rank]
    assert alerts == sorted(alerts)


def test_live_clock_reads_wall_time_and_fires_alerts_and_timers_on_the_loop() -> None:
    async def scenario() -> tuple[list[str], list[str]]:
        clock = LiveClock()
        before = time.time_ns()
        assert clock.timestamp_ns() >= before
        done = asyncio.Event()
        fired: list[str] = []

        def on_fire(ev: TimeEvent) -> None:
            fired.append(ev.name)
            if fired.count("rep") == 3:
                done.set()

        now = time.time_ns()
        clock.set_time_alert("alert", now - 1, on_fire)  # already due: runs on the next turn
        # Ticks 30 ms apart: a loaded machine (the suite beside a benchmark) must not fall a
        # whole tick behind, or the timer rightly skips it and fires fewer than three times.
        clock.set_timer("rep", 30_000_000, on_fire, start_ns=now, stop_ns=now + 90_000_000)
        clock.set_time_alert("cancelled", now + 60_000_000_000, on_fire)
        with pytest.raises(TradeloopError, match="already set"):
            clock.set_time_alert("cancelled", now, on_fire)
        clock.cancel_timer("cancelled")
        clock.cancel_timer("unknown")
        await asyncio.wait_for(done.wait(), timeout=10)
        await asyncio.sleep(0)
        return fired, clock.timer_names

    fired, remaining = asyncio.run(scenario())
    assert fired[0] == "alert"
    assert fired.count("rep") == 3
    assert "cancelled" not in fired
    assert remaining == []


def test_live_clock_rejects_a_non_positive_interval() -> None:
    with pytest.raises(TradeloopError, match="interval"):
        LiveClock().set_timer("x", 0, lambda _: None)


def test_a_replay_clock_starts_at_the_recorded_time_and_runs_faster() -> None:
    t0 = 1_378_000_000 * NANOS_PER_SECOND

    async def scenario() -> tuple[int, int, list[int]]:
        clock = LiveClock(start_ns=t0, speed=1_000.0)
        first = clock.timestamp_ns()
        fired: list[int] = []
        # Ten recorded seconds pass in about ten wall milliseconds.
        clock.set_time_alert("ten", t0 + 10 * NANOS_PER_SECOND, lambda e: fired.append(e.ts_event))
        await asyncio.sleep(0.05)
        return first, clock.timestamp_ns(), fired

    first, later, fired = asyncio.run(scenario())
    assert t0 <= first < t0 + NANOS_PER_SECOND
    assert later - first >= 40 * NANOS_PER_SECOND  # 50 ms of wall time x 1,000
    assert fired == [t0 + 10 * NANOS_PER_SECOND]


def test_a_live_clock_refuses_a_speed_that_is_not_positive() -> None:
    with pytest.raises(TradeloopError):
        LiveClock(speed=0)


def test_a_repeating_live_timer_that_falls_behind_skips_the_missed_ticks() -> None:
    t0 = 1_378_000_000 * NANOS_PER_SECOND

    async def scenario() -> list[int]:
        # A million times faster than the wall clock: a one-second timer is due every
        # microsecond of wall time, far more often than the loop can turn.
        clock = LiveClock(start_ns=t0, speed=1_000_000.0)
        fired: list[int] = []
        clock.set_timer("tick", NANOS_PER_SECOND, lambda e: fired.append(e.ts_event))
        await asyncio.sleep(0.05)
        clock.cancel_timer("tick")
        return fired

    fired = asyncio.run(scenario())
    assert fired == sorted(set(fired))
    assert all((ts - fired[0]) % NANOS_PER_SECOND == 0 for ts in fired)  # still on the timer's grid
    elapsed_ticks = (fired[-1] - fired[0]) // NANOS_PER_SECOND
    assert len(fired) < elapsed_ticks / 2  # missed ticks were skipped, not fired back to back
