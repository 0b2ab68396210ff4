"""Market data in: a streaming feed or a polled source, with new-candle detection.

Streaming
    ``stream`` is a factory of async iterators of market data (an ``async def`` generator
    function). Each start of the service calls it again, so a restart reconnects. Every item
    is handed to ``deliver`` (a live node passes the bus's ``publish``). An exception from the
    feed crashes the service's task, and the orchestrator restarts it with backoff. A feed
    that ends (a replayed recording) ends the task normally: :attr:`MarketDataService.exhausted`.

Polling
    ``poll`` is called every ``poll_interval_s``; the items it returns are delivered in order.
    A poll answer repeats what the last one said more often than not, so an item equal to the
    last one delivered of its kind and instrument, or older than it, is dropped (counted as
    ``duplicates``). A failed poll is counted and the service reads DEGRADED; only
    ``max_poll_errors`` failures in a row crash it (a restart, reconnecting the client).

New candles
    For each configured instrument and :class:`~tradeloop.model.data.BarSpec`, a
    :class:`~tradeloop.data.aggregation.TimeBarAggregator` builds bars from trade ticks (or
    quote mid prices, ``bars_from="quotes"``) and each completed bar is delivered after the tick
    that completed it, as the backtest's data router does. A bar completes when the first
    tick of a later interval arrives; with a ``clock`` it also completes when the clock passes
    the end of its interval (checked every ``bar_check_interval_s``), so a quiet market still
    gets its candle on time. A tick stamped before a bar that already closed on time is still
    delivered, but not folded into a bar (``late_ticks``). The aggregators outlive restarts:
    a reconnect does not cut the bar being built.

Do not configure bars here for what strategies subscribe to through the runtime's data
router: it builds those from the same ticks, and the bars would arrive twice.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Literal

from tradeloop.core.clock import Clock
from tradeloop.core.errors import DataError, TradeloopError
from tradeloop.core.ids import InstrumentId
from tradeloop.core.message import Data
from tradeloop.data.aggregation import TimeBarAggregator
from tradeloop.model.data import Bar, BarSpec, QuoteTick, TradeTick
from tradeloop.model.instruments import Instrument
from tradeloop.runtime.services.service import HealthReport, Service

__all__ = ["MarketDataService"]

_log = logging.getLogger("tradeloop.services.market_data")

_YIELD_EVERY = 256
"""Items a stream may deliver before its task lets the other tasks run."""


def _seconds(label: str, value: float) -> float:
    ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or value <= 0:
        raise TradeloopError(f"MarketDataService: {label} must be a finite number > 0, got {value!r}")
    return float(value)


class MarketDataService(Service):
    """Delivers market data from a streaming feed or a polled source, and builds candles.

    Parameters
    ----------
    deliver:
        Called with every item and every completed bar, in order.
    stream:
        Factory of the streaming feed (exactly one of ``stream`` and ``poll``).
    poll:
        The polled source: returns the items since the last poll.
    poll_interval_s:
        Seconds between polls.
    max_poll_errors:
        Failed polls in a row that crash the service.
    instruments:
        Instruments to build bars of (with ``bar_specs``).
    bar_specs:
        Timeframes to build, such as ``"1-MINUTE"``, for every instrument of ``instruments``.
    bars_from:
        Build bars from ``"trades"`` or from ``"quotes"`` (mid prices).
    clock:
        With a clock, bars also close when it passes the end of their interval.
    bar_check_interval_s:
        Seconds between those checks.
    stale_after_s:
        Health reads DEGRADED after this long without data (``None``: never).
    name, depends_on:
        As for every :class:`~tradeloop.runtime.services.service.Service`.

    Raises
    ------
    TradeloopError
        If not exactly one of ``stream`` and ``poll`` is given, bar specs come without
        instruments, or a number is out of range.
    """

    def __init__(
        self,
        deliver: Callable[[Data], None],
        *,
        stream: Callable[[], AsyncIterator[Data]] | None = None,
        poll: Callable[[], Awaitable[Sequence[Data]]] | None = None,
        poll_interval_s: float = 1.0,
        max_poll_errors: int = 3,
        instruments: Iterable[Instrument] = (),
        bar_specs: Iterable[BarSpec | str] = (),
        bars_from: Literal["trades", "quotes"] = "trades",
        clock: Clock | None = None,
        bar_check_interval_s: float = 0.25,
        stale_after_s: float | None = None,
        name: str = "market-data",
        depends_on: Iterable[str] = (),
    ) -> None:
        super().__init__(name, depends_on=depends_on)
        if (stream is None) == (poll is None):
            raise TradeloopError(f"MarketDataService {name}: give exactly one of stream and poll")
        if isinstance(max_poll_errors, bool) or not isinstance(max_poll_errors, int) or max_poll_errors < 1:
            raise TradeloopError(
                f"MarketDataService: max_poll_errors must be an int >= 1, got {max_poll_errors!r}"
            )
        if bars_from not in ("trades", "quotes"):
            raise TradeloopError(
                f"MarketDataService: bars_from must be 'trades' or 'quotes', got {bars_from!r}"
            )
        self._deliver = deliver
        self._stream = stream
        self._poll = poll
        self._poll_interval_s = _seconds("poll_interval_s", poll_interval_s)
        self._max_poll_errors = max_poll_errors
        self._bar_check_s = _seconds("bar_check_interval_s", bar_check_interval_s)
        self._stale_after_s = None if stale_after_s is None else _seconds("stale_after_s", stale_after_s)
        self._clock = clock
        specs = tuple(dict.fromkeys(BarSpec.parse(s) if isinstance(s, str) else s for s in bar_specs))
        chosen = {i.id: i for i in instruments}
        if specs and not chosen:
            raise TradeloopError(f"MarketDataService {name}: bar_specs need the instruments to build bars of")
        self._bar_kind: type[Data] = TradeTick if bars_from == "trades" else QuoteTick
        self._aggregators: dict[InstrumentId, tuple[TimeBarAggregator, ...]] = (
            {
                iid: tuple(TimeBarAggregator(instrument, spec, self._bar_closed) for spec in specs)
                for iid, instrument in chosen.items()
            }
            if specs
            else {}
        )
        self._last: dict[tuple[type, object], Data] = {}  # polling: last item per kind and instrument
        self._finished = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._last_data_at: float | None = None
        self._up_since: float | None = None
        self._poll_failures = 0
        self._last_poll_error = ""
        self.delivered = 0
        """Items delivered (bars included)."""
        self.bars = 0
        """Bars built here and delivered."""
        self.errors = 0
        """Feed failures and failed polls."""
        self.polls = 0
        self.duplicates = 0
        self.late_ticks = 0

    @property
    def mode(self) -> Literal["streaming", "polling"]:
        return "streaming" if self._stream is not None else "polling"

    @property
    def bar_specs(self) -> tuple[BarSpec, ...]:
        for aggs in self._aggregators.values():
            return tuple(a.spec for a in aggs)
        return ()

    @property
    def exhausted(self) -> bool:
        """Whether the streaming feed ended."""
        return self._finished.is_set()

    async def wait_exhausted(self) -> None:
        """Return once the streaming feed has ended."""
        await self._finished.wait()

    # -- the task --------------------------------------------------------------------------

    async def on_start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._up_since = self._loop.time()
        self._poll_failures = 0

    async def run(self) -> None:
        feed = asyncio.create_task(self._consume(), name=f"{self.name}.feed")
        if self._clock is None or not self._aggregators:
            await feed
            return
        closer = asyncio.create_task(self._close_bars_on_time(self._clock), name=f"{self.name}.bars")
        try:
            done, _ = await asyncio.wait({feed, closer}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (feed, closer):
                task.cancel()
            await asyncio.wait({feed, closer})
        for task in done:
            task.result()  # the first error (the feed's or the closer's) crashes the service

    async def _consume(self) -> None:
        if self._stream is not None:
            handle = self._handle
            try:
                count = 0
                async for item in self._stream():
                    handle(item)
                    count += 1
                    if not count % _YIELD_EVERY:
                        # A feed that never waits (a replay at full speed) must not starve the
                        # other tasks of the loop, the bus's drain among them.
                        await asyncio.sleep(0)
            except Exception:
                self.errors += 1
                raise
            self._finished.set()
            _log.info("%s: the feed ended after %d items", self.name, self.delivered)
            return
        await self._poll_forever()

    async def _poll_forever(self) -> None:
        assert self._poll is not None
        loop = asyncio.get_running_loop()
        next_at = loop.time()
        while True:
            try:
                items = await self._poll()
            except Exception as exc:
                self.errors += 1
                self._poll_failures += 1
                self._last_poll_error = f"{type(exc).__name__}: {exc}"
                if self._poll_failures >= self._max_poll_errors:
                    raise
                _log.warning("%s: poll failed (%d in a row): %r", self.name, self._poll_failures, exc)
            else:
                self.polls += 1
                self._poll_failures = 0
                for item in items:
                    if self._fresh(item):
                        self._handle(item)
            next_at += self._poll_interval_s
            now = loop.time()
            if next_at < now:
                next_at = now  # a slow poll: poll again at once, never in a burst
            await asyncio.sleep(next_at - now)

    def _fresh(self, item: Data) -> bool:
        key = (type(item), getattr(item, "instrument_id", None))
        last = self._last.get(key)
        if last is not None and (item.ts_event < last.ts_event or item == last):
            self.duplicates += 1
            return False
        self._last[key] = item
        return True

    async def _close_bars_on_time(self, clock: Clock) -> None:
        while True:
            await asyncio.sleep(self._bar_check_s)
            now = clock.timestamp_ns()
            for aggs in self._aggregators.values():
                for agg in aggs:
                    agg.on_time(now)

    # -- per item --------------------------------------------------------------------------

    def _handle(self, item: Data) -> None:
        self._deliver(item)
        self.delivered += 1
        assert self._loop is not None  # set by on_start, before run
        self._last_data_at = self._loop.time()
        if type(item) is self._bar_kind and self._aggregators:
            aggs = self._aggregators.get(item.instrument_id)  # type: ignore[attr-defined]
            if aggs:
                for agg in aggs:
                    try:
                        if isinstance(item, TradeTick):
                            agg.handle_trade_tick(item)
                        elif isinstance(item, QuoteTick):
                            agg.handle_quote_tick(item)
                    except DataError as exc:
                        # Stamped before a bar that already closed on time: delivered, not folded in.
                        self.late_ticks += 1
                        _log.debug("%s: %s", self.name, exc)

    def _bar_closed(self, bar: Bar) -> None:
        self.bars += 1
        self._deliver(bar)
        self.delivered += 1

    # -- health and metrics ----------------------------------------------------------------

    async def health(self) -> HealthReport:
        if self.exhausted:
            return HealthReport.ok("the feed ended")
        if self._poll_failures:
            return HealthReport.degraded(
                f"{self._poll_failures} failed poll{'s' if self._poll_failures > 1 else ''} in a row: "
                f"{self._last_poll_error}"
            )
        limit = self._stale_after_s
        if limit is not None:
            now = asyncio.get_running_loop().time()
            since = self._last_data_at if self._last_data_at is not None else self._up_since
            if since is not None and now - since >= limit:
                return HealthReport.degraded(f"no market data for {now - since:.1f} s (limit {limit:g} s)")
        return HealthReport.ok()

    def metrics(self) -> Mapping[str, float | int]:
        found: dict[str, float | int] = {
            "delivered": self.delivered,
            "bars": self.bars,
            "errors": self.errors,
            "late_ticks": self.late_ticks,
            "exhausted": int(self.exhausted),
        }
        if self._poll is not None:
            found["polls"] = self.polls
            found["duplicates"] = self.duplicates
            found["poll_failures_in_a_row"] = self._poll_failures
        if self._last_data_at is not None and self._loop is not None:
            found["last_data_age_s"] = self._loop.time() - self._last_data_at
        return found
