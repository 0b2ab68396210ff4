"""Clocks: the only place tradeloop reads time from.

Components receive a :class:`Clock` and never call ``time.time()``. A backtest runs on a
:class:`SimulatedClock` that the engine moves from event to event, firing due timers in
timestamp order (ties broken by the order the timers were set), so a run is deterministic.
Paper and live runs use a :class:`LiveClock` whose timers are scheduled on the asyncio loop.
"""

from __future__ import annotations

import asyncio
import heapq
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from tradeloop.core.errors import TradeloopError

__all__ = [
    "Clock",
    "LiveClock",
    "SimulatedClock",
    "TimeEvent",
    "TimerCallback",
    "NANOS_PER_SECOND",
    "NANOS_PER_MILLI",
    "NANOS_PER_MICRO",
]

NANOS_PER_SECOND = 1_000_000_000
NANOS_PER_MILLI = 1_000_000
NANOS_PER_MICRO = 1_000


@dataclass(frozen=True, slots=True)
class TimeEvent:
    """A timer or alert fired at ``ts_event`` (the scheduled time)."""

    name: str
    ts_event: int
    ts_init: int


TimerCallback = Callable[[TimeEvent], None]


class Clock(Protocol):
    """What components may ask of time."""

    def timestamp_ns(self) -> int:
        """Nanoseconds since the Unix epoch, now."""
        ...

    def set_time_alert(self, name: str, at_ns: int, callback: TimerCallback) -> None:
        """Call ``callback`` once when the clock reaches ``at_ns``."""
        ...

    def set_timer(
        self,
        name: str,
        interval_ns: int,
        callback: TimerCallback,
        start_ns: int | None = None,
        stop_ns: int | None = None,
    ) -> None:
        """Call ``callback`` every ``interval_ns`` from ``start_ns`` (default now) until ``stop_ns``."""
        ...

    def cancel_timer(self, name: str) -> None:
        """Cancel a timer or alert by name; unknown names are ignored."""
        ...

    @property
    def timer_names(self) -> list[str]:
        """Names of the active timers and alerts, sorted."""
        ...


@dataclass(order=True, slots=True)
class _Scheduled:
    fire_at: int
    seq: int
    name: str = field(compare=False)
    interval_ns: int = field(compare=False)
    stop_ns: int | None = field(compare=False)
    callback: TimerCallback = field(compare=False)
    cancelled: bool = field(default=False, compare=False)


def _first_fire(
    name: str, interval_ns: int, now_ns: int, start_ns: int | None, stop_ns: int | None
) -> int | None:
    """When a repeating timer first fires, or ``None`` when no fire falls in [start, stop]."""
    if interval_ns <= 0:
        raise TradeloopError(f"timer {name!r}: interval must be positive, got {interval_ns}")
    first = (now_ns if start_ns is None else start_ns) + interval_ns
    return None if stop_ns is not None and first > stop_ns else first


def _check_name(name: str, active: Mapping[str, object]) -> None:
    if not name:
        raise TradeloopError("a timer needs a name")
    if name in active:
        raise TradeloopError(f"timer {name!r} is already set")


class SimulatedClock:
    """A clock that moves only when told, for backtests and tests.

    ``advance_time(to_ns)`` fires every timer due at or before ``to_ns`` in time order and
    leaves the clock at ``to_ns``. Time never moves backwards.
    """

    __slots__ = ("_active", "_heap", "_now", "_seq", "next_due_ns")

    def __init__(self, start_ns: int = 0) -> None:
        self._now = start_ns
        self._heap: list[_Scheduled] = []
        self._active: dict[str, _Scheduled] = {}
        self._seq = 0
        self.next_due_ns: int = 2**63 - 1
        """Time of the earliest pending timer; the engine's loop compares against it."""

    def timestamp_ns(self) -> int:
        return self._now

    def set_time(self, ts_ns: int) -> None:
        """Move to ``ts_ns`` without firing timers (callers check :attr:`next_due_ns` first)."""
        if ts_ns > self._now:
            self._now = ts_ns

    def set_time_alert(self, name: str, at_ns: int, callback: TimerCallback) -> None:
        self._schedule(name, at_ns, 0, None, callback)

    def set_timer(
        self,
        name: str,
        interval_ns: int,
        callback: TimerCallback,
        start_ns: int | None = None,
        stop_ns: int | None = None,
    ) -> None:
        first = _first_fire(name, interval_ns, self._now, start_ns, stop_ns)
        if first is not None:
            self._schedule(name, first, interval_ns, stop_ns, callback)

    def _schedule(
        self, name: str, at_ns: int, interval_ns: int, stop_ns: int | None, callback: TimerCallback
    ) -> None:
        _check_name(name, self._active)
        self._seq += 1
        item = _Scheduled(at_ns, self._seq, name, interval_ns, stop_ns, callback)
        self._active[name] = item
        heapq.heappush(self._heap, item)
        self._refresh_next()

    def cancel_timer(self, name: str) -> None:
        item = self._active.pop(name, None)
        if item is not None:
            item.cancelled = True
            self._refresh_next()

    @property
    def timer_names(self) -> list[str]:
        return sorted(self._active)

    def _refresh_next(self) -> None:
        heap = self._heap
        while heap and heap[0].cancelled:
            heapq.heappop(heap)
        self.next_due_ns = heap[0].fire_at if heap else 2**63 - 1

    def advance_time(self, to_ns: int) -> int:
        """Fire every timer due at or before ``to_ns`` in order; return how many fired."""
        fired = 0
        heap = self._heap
        try:
            while heap and heap[0].fire_at <= to_ns:
                item = heapq.heappop(heap)
                if item.cancelled:
                    continue
                fire_at = item.fire_at
                if fire_at > self._now:
                    self._now = fire_at
                nxt = fire_at + item.interval_ns
                if item.interval_ns and (item.stop_ns is None or nxt <= item.stop_ns):
                    self._seq += 1
                    item.fire_at = nxt
                    item.seq = self._seq
                    heapq.heappush(heap, item)
                else:
                    self._active.pop(item.name, None)
                fired += 1
                item.callback(TimeEvent(item.name, fire_at, self._now))
            if to_ns > self._now:
                self._now = to_ns
        finally:
            self._refresh_next()  # consistent even when a callback raised
        return fired


class LiveClock:
    """Wall-clock time; timers run on the asyncio loop that is running when they are set.

    ``LiveClock()`` is the wall clock. ``LiveClock(start_ns=t0, speed=60)`` is a replay
    clock: it reads ``t0`` now and runs ``speed`` times faster than the wall clock from
    there, so a recorded session replays "live" at its own timestamps, an hour a minute;
    timers fire when the replayed time reaches them.
    """

    __slots__ = ("_active", "_origin", "_speed", "_wall0")

    def __init__(self, *, start_ns: int | None = None, speed: float = 1.0) -> None:
        if not (speed > 0 and math.isfinite(speed)):
            raise TradeloopError(f"clock speed must be a positive number, got {speed}")
        self._active: dict[str, asyncio.TimerHandle] = {}
        self._wall0 = time.time_ns()
        self._origin = self._wall0 if start_ns is None else start_ns
        self._speed = speed

    @property
    def speed(self) -> float:
        return self._speed

    def timestamp_ns(self) -> int:
        if self._speed == 1.0:
            return self._origin + (time.time_ns() - self._wall0)
        return self._origin + int((time.time_ns() - self._wall0) * self._speed)

    def delay_seconds(self, at_ns: int) -> float:
        """Wall seconds until this clock reads ``at_ns`` (0 if it already has)."""
        return max(0.0, (at_ns - self.timestamp_ns()) / self._speed / NANOS_PER_SECOND)

    def set_time_alert(self, name: str, at_ns: int, callback: TimerCallback) -> None:
        _check_name(name, self._active)
        loop = asyncio.get_running_loop()

        def fire() -> None:
            self._active.pop(name, None)
            callback(TimeEvent(name, at_ns, self.timestamp_ns()))

        self._active[name] = loop.call_later(self.delay_seconds(at_ns), fire)

    def set_timer(
        self,
        name: str,
        interval_ns: int,
        callback: TimerCallback,
        start_ns: int | None = None,
        stop_ns: int | None = None,
    ) -> None:
        _check_name(name, self._active)
        first = _first_fire(name, interval_ns, self.timestamp_ns(), start_ns, stop_ns)
        if first is None:
            return
        loop = asyncio.get_running_loop()

        def schedule(at_ns: int) -> None:
            self._active[name] = loop.call_later(self.delay_seconds(at_ns), fire, at_ns)

        def fire(at_ns: int) -> None:
            nxt = at_ns + interval_ns
            now = self.timestamp_ns()
            if nxt <= now:
                # Behind (a busy loop, a fast replay): skip the missed ticks rather than fire
                # them back to back; the next one is the first of the timer's grid after now.
                nxt += (now - nxt) // interval_ns * interval_ns + interval_ns
            if stop_ns is None or nxt <= stop_ns:
                schedule(nxt)
            else:
                self._active.pop(name, None)
            callback(TimeEvent(name, at_ns, self.timestamp_ns()))

        schedule(first)

    def cancel_timer(self, name: str) -> None:
        handle = self._active.pop(name, None)
        if handle is not None:
            handle.cancel()

    @property
    def timer_names(self) -> list[str]:
        return sorted(self._active)
