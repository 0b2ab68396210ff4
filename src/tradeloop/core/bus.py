"""The message bus: one single-threaded reactor draining four priority lanes.

Publishing appends a message to the lane its class names (``Message.LANE``); the reactor
always takes the next message from the highest non-empty lane and hands it to every handler
subscribed to its type or to one of its base classes, in handler priority order (highest
first; the portfolio sees a fill before any strategy). A handler that raises is isolated: the
error is counted, logged with the message's correlation id and published as
:class:`~tradeloop.core.message.HandlerFailed`; the other handlers still run, unless it
raised :class:`~tradeloop.core.errors.MessageRejected` (an authority refusing the message),
which stops its delivery to lower-priority handlers.

Lane policies when a lane is at capacity (ARCHITECTURE.md):

* CRITICAL - unbounded: never dropped, never blocks.
* HIGH - never dropped. A producer outside the reactor waits: the bus drains first. A handler
  cannot wait for its own reactor, so its message is queued past capacity and counted
  (``high_overflows``).
* NORMAL - conflates: the newest message per ``(type, instrument[, bar spec])`` replaces the
  queued one,
  counted in ``conflated``; per-instrument order is preserved.
* LOW - drops the oldest, counted in ``dropped``.

With ``auto_drain`` (the default, used by backtests) a publish from outside the reactor runs
the reactor until every lane is empty before it returns ("run to completion"). A live node
turns it off and drains from its own task.

Handler timing (:meth:`MessageBus.set_handler_timer`) is opt-in and costs nothing while it is
off: instead of a check per message, setting a timer swaps every resolved handler (and
endpoint) for a timing wrapper, and clearing it swaps the plain handlers back. The dispatch
loops never change, so a publish bound early (``publish = bus.publish``) is timed as well.
"""

from __future__ import annotations

import logging
import re
import time
import weakref
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tradeloop.core.clock import Clock
from tradeloop.core.errors import MessageRejected
from tradeloop.core.ids import IdFactory
from tradeloop.core.message import Command, Event, HandlerFailed, Lane, Message

__all__ = ["BusStats", "Handler", "HandlerTimer", "LaneCapacity", "MessageBus"]

Handler = Callable[[Any], None]
"""A synchronous message handler. Hot-path handlers never ``await``."""

HandlerTimer = Callable[[Handler, Message, int], None]
"""Receives a handler, the message it handled and how long it took (ns, ``perf_counter_ns``)."""

_log = logging.getLogger("tradeloop.bus")

_latest_bus: weakref.ref[MessageBus] | None = None


def dispatching_message() -> Message | None:
    """The message the newest bus (a process runs one node) is dispatching, or ``None``: the
    structured logs take a line's correlation id from it when none is bound."""
    bus = None if _latest_bus is None else _latest_bus()
    return None if bus is None else bus.dispatching


_ADDRESS = re.compile(r"0x[0-9a-fA-F]{4,}")
"""Memory addresses (from default reprs) differ between runs; error texts drop them."""
_CRITICAL = Lane.CRITICAL
_HIGH = Lane.HIGH
_NORMAL = Lane.NORMAL


@dataclass(frozen=True, slots=True)
class LaneCapacity:
    """Per-lane capacities (messages). CRITICAL is always unbounded."""

    high: int = 100_000
    normal: int = 100_000
    low: int = 10_000

    def __post_init__(self) -> None:
        for name in ("high", "normal", "low"):
            if getattr(self, name) < 1:
                raise ValueError(f"lane capacity {name} must be at least 1")


@dataclass(frozen=True, slots=True)
class BusStats:
    """A snapshot of the bus counters."""

    published: dict[str, int]
    handler_errors: int
    conflated: int
    dropped: int
    high_overflows: int
    queued: dict[str, int]


class _Route:
    """The resolved handlers of one concrete message type, and how often it was published."""

    __slots__ = ("count", "handlers")

    def __init__(self, handlers: tuple[Handler, ...]) -> None:
        self.handlers = handlers
        self.count = 0


class _Subscription:
    __slots__ = ("handler", "priority", "seq")

    def __init__(self, handler: Handler, priority: int, seq: int) -> None:
        self.handler = handler
        self.priority = priority
        self.seq = seq


class MessageBus:
    """Publish/subscribe by message type, plus point-to-point endpoints.

    Parameters
    ----------
    clock:
        Time source for the events the bus publishes itself.
    id_factory:
        Mints ids for the bus's own events (seed it for deterministic runs).
    capacity:
        Lane capacities.
    history_size:
        How many of the latest dispatched messages :attr:`history` keeps (0 keeps none).
    auto_drain:
        Run to completion on every publish from outside the reactor.
    """

    def __init__(
        self,
        clock: Clock,
        id_factory: IdFactory,
        *,
        capacity: LaneCapacity | None = None,
        history_size: int = 1_000,
        auto_drain: bool = True,
    ) -> None:
        cap = capacity or LaneCapacity()
        self._clock = clock
        self._ids = id_factory
        self._critical: deque[Message] = deque()
        self._high: deque[Message] = deque()
        self._normal: deque[Message] = deque()
        self._low: deque[Message] = deque()
        self._conflating: dict[tuple[type, object, object], Message] = {}
        self._cap_high = cap.high
        self._cap_normal = cap.normal
        self._cap_low = cap.low
        self._subs: dict[type, list[_Subscription]] = {}
        self._routes: dict[type, _Route] = {}
        self._endpoints: dict[str, Handler] = {}
        self._recorders: list[Callable[[Message], None]] = []
        self._recorder: Callable[[Message], None] | None = None
        self._timer: HandlerTimer | None = None
        self._timer_every = 1
        self._timed: dict[Handler, Handler] = {}  # plain handler -> its timing wrapper
        self._plain_endpoints: dict[str, Handler] = {}
        self._sub_seq = 0
        self._draining = False
        self._stranded = False  # an error escaped the reactor with messages still queued
        self.dispatching: Message | None = None
        """The message whose handlers are running (``None`` between dispatches): what a log
        line written by a handler belongs to (:func:`dispatching_message`)."""
        global _latest_bus
        _latest_bus = weakref.ref(self)
        self._auto_drain = auto_drain
        self.history: deque[Message] | None = deque(maxlen=history_size) if history_size else None
        self.handler_errors = 0
        self.conflated = 0
        self.dropped = 0
        self.high_overflows = 0

    # -- subscriptions -------------------------------------------------------------------

    def subscribe(self, msg_type: type, handler: Handler, *, priority: int = 0) -> None:
        """Call ``handler`` for every message of ``msg_type`` or a subclass of it.

        Higher ``priority`` runs first; equal priorities run in subscription order.
        """
        subs = self._subs.setdefault(msg_type, [])
        if any(s.handler == handler for s in subs):
            return
        self._sub_seq += 1
        subs.append(_Subscription(handler, priority, self._sub_seq))
        self._reroute()

    def unsubscribe(self, msg_type: type, handler: Handler) -> None:
        """Stop calling ``handler`` for ``msg_type``; unknown pairs are ignored."""
        subs = self._subs.get(msg_type)
        if subs:
            subs[:] = [s for s in subs if s.handler != handler]
            self._reroute()

    def has_subscribers(self, msg_type: type) -> bool:
        """Whether any handler would receive a message of ``msg_type``."""
        return bool(self._route(msg_type).handlers)

    def _resolve(self, msg_type: type) -> tuple[Handler, ...]:
        found = [s for base in msg_type.__mro__ for s in self._subs.get(base, ())]
        found.sort(key=lambda s: (-s.priority, s.seq))
        # A handler subscribed to a type and to one of its bases gets each message once, at
        # its most urgent subscription.
        # (By equality, not hashing: a handler may be an unhashable callable; routes are
        # resolved on (un)subscribe only.)
        unique: list[_Subscription] = []
        for sub in found:
            if all(sub.handler != kept.handler for kept in unique):
                unique.append(sub)
        found = unique
        timer = self._timer
        if timer is None:
            return tuple(s.handler for s in found)
        return tuple(self._timed_handler(s.handler, timer) for s in found)

    def _reroute(self) -> None:
        # Keep each route's counter; only its handlers change.
        for msg_type, route in self._routes.items():
            route.handlers = self._resolve(msg_type)

    def _route(self, msg_type: type) -> _Route:
        route = self._routes.get(msg_type)
        if route is None:
            route = _Route(self._resolve(msg_type))
            self._routes[msg_type] = route
        return route

    def register_endpoint(self, endpoint: str, handler: Handler) -> None:
        """Register the single handler of a point-to-point endpoint."""
        if endpoint in self._endpoints:
            raise ValueError(f"endpoint {endpoint!r} is already registered")
        self._plain_endpoints[endpoint] = handler
        timer = self._timer
        self._endpoints[endpoint] = handler if timer is None else self._timed_handler(handler, timer)

    # -- handler timing --------------------------------------------------------------------

    def set_handler_timer(self, callback: HandlerTimer | None, *, sample_every: int = 1) -> None:
        """Time handlers with ``time.perf_counter_ns`` and report each sample to ``callback``.

        Every ``sample_every``-th call of each handler (subscribed or endpoint) is timed and
        reported as ``callback(handler, message, duration_ns)``; a call that raises is timed
        too. ``None`` turns timing off. While off, dispatch is exactly as fast as without the
        hook: the timer wraps the resolved handlers instead of adding a check per message.
        Setting a new timer replaces the old one and restarts the sampling counts.

        Parameters
        ----------
        callback:
            Called on the reactor's thread right after the sampled handler returns; it
            should be cheap (a histogram observation) and must not raise (an error from it
            would be reported as a failure of the handler). ``None`` removes the timer.
        sample_every:
            Time one call in this many per handler (1 times every call).

        Raises
        ------
        ValueError
            If ``sample_every`` is less than 1.
        """
        if isinstance(sample_every, bool) or not isinstance(sample_every, int) or sample_every < 1:
            raise ValueError(f"sample_every must be an integer of at least 1, got {sample_every!r}")
        self._timer = callback
        self._timer_every = sample_every
        self._timed = {}
        self._reroute()
        self._endpoints = {
            name: handler if callback is None else self._timed_handler(handler, callback)
            for name, handler in self._plain_endpoints.items()
        }

    @property
    def handler_timer(self) -> HandlerTimer | None:
        """The callback set by :meth:`set_handler_timer`, or ``None`` when timing is off."""
        return self._timer

    def _timed_handler(self, handler: Handler, timer: HandlerTimer) -> Handler:
        """The timing wrapper of ``handler`` (one per handler, so its sample count is shared)."""
        try:
            wrapper = self._timed.get(handler)
        except TypeError:  # an unhashable callable: it gets a wrapper (and a count) per route
            return self._wrap(handler, timer)
        if wrapper is None:
            wrapper = self._timed[handler] = self._wrap(handler, timer)
        return wrapper

    def _wrap(self, handler: Handler, timer: HandlerTimer) -> Handler:
        every = self._timer_every
        clock = time.perf_counter_ns
        if every == 1:

            def timed(msg: Message) -> None:
                start = clock()
                try:
                    handler(msg)
                finally:
                    timer(handler, msg, clock() - start)

        else:
            countdown = 0  # the first call is sampled, then every ``every``-th
            reload = every - 1

            def timed(msg: Message) -> None:
                nonlocal countdown
                if countdown:
                    countdown -= 1
                    handler(msg)
                    return
                countdown = reload
                start = clock()
                try:
                    handler(msg)
                finally:
                    timer(handler, msg, clock() - start)

        # A failure report names the handler, never the wrapper (the event log stays the same
        # with timing on or off).
        timed.__qualname__ = getattr(handler, "__qualname__", type(handler).__qualname__)
        timed.__name__ = getattr(handler, "__name__", timed.__qualname__)
        return timed

    def add_recorder(self, recorder: Callable[[Message], None]) -> None:
        """Hand every dispatched or sent message to ``recorder`` first (the event log)."""
        self._recorders.append(recorder)
        self._recorder = self._recorders[0] if len(self._recorders) == 1 else self._record_all

    def _record_all(self, msg: Message) -> None:
        for recorder in self._recorders:
            recorder(msg)

    # -- publishing ------------------------------------------------------------------------

    def publish(self, msg: Message) -> None:
        """Queue ``msg`` on its lane; with auto-drain, run the reactor to completion."""
        if self._draining or not self._auto_drain:
            # Published by a handler: append inline while the lane has room (the order path
            # publishes six messages per order); full lanes apply their policy in _enqueue.
            lane = msg.LANE
            if lane is _HIGH:
                if len(self._high) < self._cap_high:
                    self._high.append(msg)
                    return
            elif lane is _NORMAL:
                if len(self._normal) < self._cap_normal and not self._conflating:
                    self._normal.append(msg)
                    return
            elif lane is _CRITICAL:
                self._critical.append(msg)
                return
            elif len(self._low) < self._cap_low:
                self._low.append(msg)
                return
            self._enqueue(msg)
            return
        if self._stranded:
            # An error escaped the reactor and left messages queued: this one goes behind
            # them, in lane order, not first.
            self._stranded = False
            self._enqueue(msg)
            self.drain()
            return
        # Outside the reactor with auto-drain every lane is empty: dispatch at once, then
        # drain what the handlers queued. This is the per-tick path, so the dispatch of
        # ``_run`` is repeated inline here rather than paying for its loop set-up.
        self._draining = True
        try:
            route = self._routes.get(type(msg)) or self._route(type(msg))
            route.count += 1
            if self._recorder is not None:
                self._recorder(msg)
            if self.history is not None:
                self.history.append(msg)
            self.dispatching = msg
            for handler in route.handlers:
                try:
                    handler(msg)
                except MessageRejected as exc:
                    self._handler_failed(handler, msg, exc)
                    break  # refused by an authority: lower-priority handlers never see it
                except Exception as exc:  # noqa: BLE001 - isolation is the point
                    self._handler_failed(handler, msg, exc)
            if self._critical or self._high or self._normal or self._conflating or self._low:
                self._run(None)
        except BaseException:
            self._stranded = True  # what the handlers queued is still there (see above)
            raise
        finally:
            self._draining = False
            self.dispatching = None

    def _enqueue(self, msg: Message) -> None:
        lane = msg.LANE
        if lane == Lane.NORMAL:
            normal = self._normal
            if len(normal) < self._cap_normal and not self._conflating:
                normal.append(msg)
                return
            # Latest per (type, instrument, bar spec): bars of two timeframes never replace
            # each other. Only reached under overload, so getattr's cost does not matter.
            key = (type(msg), getattr(msg, "instrument_id", None), getattr(msg, "spec", None))
            if key in self._conflating:
                self.conflated += 1
                del self._conflating[key]  # re-insert so the newest sits last
            self._conflating[key] = msg
        elif lane == Lane.HIGH:
            if len(self._high) >= self._cap_high:
                if not self._draining:
                    self.drain()
                else:
                    self.high_overflows += 1
            self._high.append(msg)
        elif lane == Lane.CRITICAL:
            self._critical.append(msg)
        else:
            low = self._low
            if len(low) >= self._cap_low:
                low.popleft()
                self.dropped += 1
            low.append(msg)

    def emit(
        self,
        message_type: type[Event] | type[Command],
        /,
        *,
        correlation_id: str | None = None,
        causation_id: str | None = None,
        **fields: Any,
    ) -> str:
        """Build a command or event stamped now with a fresh id, publish it, return its id.

        ``correlation_id`` defaults to a new one (the message starts its own chain).
        """
        ids = self._ids
        msg_id = ids.new_id()
        now = self._clock.timestamp_ns()
        self.publish(
            message_type(
                id=msg_id,
                correlation_id=correlation_id if correlation_id is not None else ids.new_id(),
                causation_id=causation_id,
                ts_event=now,
                ts_init=now,
                **fields,
            )
        )
        return msg_id

    def send(self, endpoint: str, msg: Message, *, forward: bool = False) -> None:
        """Deliver ``msg`` to the endpoint's handler now (within the current reactor step).

        A new message is counted, recorded and kept in history like a published one. With
        ``forward=True`` the message was already published (a command the risk engine passes
        on to execution) and is delivered only, so the event log holds it once.
        """
        handler = self._endpoints.get(endpoint)
        if handler is None:
            raise KeyError(f"no handler is registered for endpoint {endpoint!r}")
        if not forward:
            self._route(type(msg)).count += 1
            if self._recorder is not None:
                self._recorder(msg)
            if self.history is not None:
                self.history.append(msg)
        try:
            handler(msg)
        except Exception as exc:  # noqa: BLE001 - isolation is the point
            self._handler_failed(handler, msg, exc)  # delivered at once outside the reactor

    def drain(self) -> None:
        """Run the reactor until every lane is empty (no-op when called from a handler)."""
        if self._draining:
            return
        self._draining = True
        try:
            self._run(None)
        except BaseException:
            self._stranded = True
            raise
        finally:
            self._draining = False
            self.dispatching = None

    def _run(self, first: Message | None) -> None:
        """Dispatch ``first`` (if given), then drain the lanes, highest first."""
        critical, high, normal, low = self._critical, self._high, self._normal, self._low
        conflating = self._conflating
        routes = self._routes
        history = self.history
        recorder = self._recorder
        msg = first
        while True:
            if msg is None:
                if critical:
                    msg = critical.popleft()
                elif high:
                    msg = high.popleft()
                elif normal:
                    msg = normal.popleft()
                elif conflating:
                    msg = conflating.pop(next(iter(conflating)))
                elif low:
                    msg = low.popleft()
                else:
                    return
            route = routes.get(type(msg)) or self._route(type(msg))
            route.count += 1
            if recorder is not None:
                recorder(msg)
            if history is not None:
                history.append(msg)
            self.dispatching = msg
            for handler in route.handlers:
                try:
                    handler(msg)
                except MessageRejected as exc:
                    self._handler_failed(handler, msg, exc)
                    break  # refused by an authority: lower-priority handlers never see it
                except Exception as exc:  # noqa: BLE001 - isolation is the point
                    self._handler_failed(handler, msg, exc)
            msg = None

    def _handler_failed(self, handler: Handler, msg: Message, exc: Exception) -> None:
        self.report_failure(
            getattr(handler, "__qualname__", type(handler).__qualname__),
            getattr(type(msg), "TYPE_NAME", None) or type(msg).__name__,
            exc,
            correlation_id=getattr(msg, "correlation_id", None),
            causation_id=getattr(msg, "id", None),
            publish=not isinstance(msg, HandlerFailed),  # never loop on the failure report itself
        )

    def report_failure(
        self,
        handler: str,
        message_type: str,
        exc: Exception,
        *,
        correlation_id: str | None = None,
        causation_id: str | None = None,
        publish: bool = True,
    ) -> None:
        """Count, log and publish (as ``HandlerFailed``) an error a callback raised.

        For callbacks the bus does not call itself (timers, lifecycle hooks), so they are
        isolated the same way as bus handlers. The error text never holds memory addresses:
        the event log of a rerun must be identical.
        """
        self.handler_errors += 1
        _log.error(
            "handler %s failed on %s (correlation_id=%s): %r",
            handler,
            message_type,
            correlation_id,
            exc,
            exc_info=exc,
            extra={"correlation_id": correlation_id},  # a field of its own in structured logs
        )
        if not publish:
            return
        now = self._clock.timestamp_ns()
        self._enqueue(
            HandlerFailed(
                id=self._ids.new_id(),
                correlation_id=correlation_id or self._ids.new_id(),
                causation_id=causation_id,
                ts_event=now,
                ts_init=now,
                handler=handler,
                message_type=message_type,
                error=_ADDRESS.sub("0x?", f"{type(exc).__name__}: {exc}"),
            )
        )
        if self._auto_drain and not self._draining:
            self.drain()

    # -- introspection ---------------------------------------------------------------------

    @property
    def is_draining(self) -> bool:
        """Whether the reactor is dispatching right now."""
        return self._draining

    def queued(self) -> dict[Lane, int]:
        """Messages waiting per lane."""
        return {
            Lane.CRITICAL: len(self._critical),
            Lane.HIGH: len(self._high),
            Lane.NORMAL: len(self._normal) + len(self._conflating),
            Lane.LOW: len(self._low),
        }

    def count(self, msg_type: type) -> int:
        """How many messages of exactly ``msg_type`` were dispatched or sent."""
        route = self._routes.get(msg_type)
        return route.count if route is not None else 0

    def stats(self) -> BusStats:
        """A snapshot of every counter (per-type counts by stable type name)."""
        published: dict[str, int] = {}
        for t, route in self._routes.items():
            if route.count:
                name = getattr(t, "TYPE_NAME", t.__name__)
                published[name] = published.get(name, 0) + route.count
        return BusStats(
            published=dict(sorted(published.items())),
            handler_errors=self.handler_errors,
            conflated=self.conflated,
            dropped=self.dropped,
            high_overflows=self.high_overflows,
            queued={lane.name: n for lane, n in self.queued().items()},
        )
