"""Tick-to-bar aggregation on fixed time intervals.

Conventions
-----------
* Intervals are aligned to the Unix epoch (so daily bars run from UTC midnight to midnight).
  A tick at time ``ts`` belongs to the interval ``[start, start + interval)`` holding it, and
  that bar's ``ts_event`` (and ``ts_init``) is the interval's end, its close time. A tick
  stamped exactly on a boundary therefore opens the next bar.
* A bar is emitted when the first tick of a later interval arrives, when the clock passes
  the boundary (:meth:`TimeBarAggregator.on_time`), or on :meth:`TimeBarAggregator.flush`
  (end of data: the last, possibly partial, bar still carries its interval's close time).
* An interval without ticks produces no bar: gaps stay gaps, nothing is forward-filled.
* Trade bars use trade prices and sum trade sizes exactly. Quote bars use the mid price,
  kept exact at one more decimal than the instrument's tick (``(bid + ask) / 2`` of two
  prices on a 0.25 grid is a multiple of 0.125); quotes carry no traded volume, so the
  volume of a quote bar is zero.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Final

from tradeloop.core.clock import TimeEvent
from tradeloop.core.errors import DataError
from tradeloop.core.ids import InstrumentId
from tradeloop.model.data import Bar, BarSpec, QuoteTick, TradeTick
from tradeloop.model.instruments import Instrument
from tradeloop.model.objects import FIXED_PRECISION, Price, Quantity

__all__ = ["TimeBarAggregator", "aggregate_quotes_to_bars", "aggregate_trades_to_bars"]

_NONE: Final = 0
_TRADES: Final = 1
_QUOTES: Final = 2
_MIN_TS: Final = -(2**63)


class TimeBarAggregator:
    """Builds time bars from a stream of trade ticks or of quote ticks.

    Parameters
    ----------
    instrument:
        The instrument whose ticks are fed; other instruments' ticks are rejected.
    spec:
        Bar interval, such as ``BarSpec.parse("1-MINUTE")``.
    on_bar:
        Called with each completed bar, in time order.

    Notes
    -----
    One aggregator takes either trades or quotes, not both (their bars are priced
    differently). Ticks must arrive in non-decreasing time order, and never earlier than the
    close of a bar already emitted; a late tick raises :class:`DataError` rather than being
    folded silently into the wrong bar. To close bars on time when the market is quiet,
    drive :meth:`on_time_event` from a clock timer at the bar interval.
    """

    __slots__ = (
        "_active",
        "_close",
        "_close_ns",
        "_high",
        "_instrument_id",
        "_interval",
        "_kind",
        "_last_ts",
        "_low",
        "_on_bar",
        "_open",
        "_precision",
        "_quote_precision",
        "_size_precision",
        "_spec",
        "_trade_precision",
        "_volume",
    )

    def __init__(self, instrument: Instrument, spec: BarSpec, on_bar: Callable[[Bar], None]) -> None:
        self._instrument_id: InstrumentId = instrument.id
        self._spec = spec
        self._interval = spec.interval_ns
        self._on_bar = on_bar
        self._size_precision = instrument.size_precision
        self._trade_precision = instrument.price_precision
        self._quote_precision = min(instrument.price_precision + 1, FIXED_PRECISION)
        self._precision = instrument.price_precision
        self._kind = _NONE
        self._active = False
        self._close_ns = 0
        self._last_ts = _MIN_TS
        self._open = 0
        self._high = 0
        self._low = 0
        self._close = 0
        self._volume = 0

    @property
    def spec(self) -> BarSpec:
        return self._spec

    @property
    def pending_close_ns(self) -> int | None:
        """Close time of the bar being built, or ``None`` when no bar is open."""
        return self._close_ns if self._active else None

    def _lock(self, kind: int, iid: InstrumentId) -> None:
        if iid != self._instrument_id:
            raise DataError(f"bar aggregator for {self._instrument_id} was fed a tick of {iid}")
        if self._kind == _NONE:
            self._kind = kind
            self._precision = self._trade_precision if kind == _TRADES else self._quote_precision
            return
        if self._kind != kind:
            fed = "trades" if self._kind == _TRADES else "quotes"
            raise DataError(f"bar aggregator for {self._instrument_id} builds bars from {fed}; cannot mix")

    def handle_trade_tick(self, tick: TradeTick) -> None:
        """Fold one trade into the current bar (emitting the previous bar on a new interval)."""
        if self._kind != _TRADES or tick.instrument_id != self._instrument_id:
            self._lock(_TRADES, tick.instrument_id)
        self._update(tick.ts_event, tick.price.raw, tick.size.raw)

    def handle_quote_tick(self, tick: QuoteTick) -> None:
        """Fold one quote's mid price into the current bar."""
        if self._kind != _QUOTES or tick.instrument_id != self._instrument_id:
            self._lock(_QUOTES, tick.instrument_id)
        total = tick.bid_price.raw + tick.ask_price.raw
        mid = total >> 1
        # Only at nine decimals can the sum be odd; round the half to even there.
        if total & 1 and mid & 1:
            mid += 1
        self._update(tick.ts_event, mid, 0)

    def _update(self, ts: int, price: int, size: int) -> None:
        if ts < self._last_ts:
            self._late(ts)
        self._last_ts = ts
        if self._active:
            if ts < self._close_ns:
                if price > self._high:
                    self._high = price
                elif price < self._low:
                    self._low = price
                self._close = price
                self._volume += size
                return
            self._emit()
        interval = self._interval
        self._close_ns = (ts // interval + 1) * interval
        self._open = self._high = self._low = self._close = price
        self._volume = size
        self._active = True

    def _late(self, ts: int) -> None:
        raise DataError(
            f"bar aggregator for {self._instrument_id}: tick at {ts} ns arrived after {self._last_ts} ns "
            "(ticks must be in time order and not older than an emitted bar)"
        )

    def on_time(self, ts_ns: int) -> None:
        """The clock reached ``ts_ns``: emit the current bar if its interval has ended."""
        if self._active and ts_ns >= self._close_ns:
            self._emit()

    def on_time_event(self, event: TimeEvent) -> None:
        """Timer callback form of :meth:`on_time`."""
        self.on_time(event.ts_event)

    def flush(self) -> None:
        """Emit the current bar now, complete or not (end of data)."""
        if self._active:
            self._emit()

    def _emit(self) -> None:
        close_ns = self._close_ns
        p = self._precision
        bar = Bar(
            ts_event=close_ns,
            ts_init=close_ns,
            instrument_id=self._instrument_id,
            spec=self._spec,
            open=Price(self._open, p),
            high=Price(self._high, p),
            low=Price(self._low, p),
            close=Price(self._close, p),
            volume=Quantity(self._volume, self._size_precision),
        )
        self._active = False
        if close_ns > self._last_ts:
            self._last_ts = close_ns
        self._on_bar(bar)


def aggregate_trades_to_bars(ticks: Iterable[TradeTick], instrument: Instrument, spec: BarSpec) -> list[Bar]:
    """Time bars of ``ticks`` (in time order), the last one included even if partial.

    Raises
    ------
    DataError
        If a tick is out of order or belongs to another instrument.
    """
    bars: list[Bar] = []
    agg = TimeBarAggregator(instrument, spec, bars.append)
    handle = agg.handle_trade_tick
    for tick in ticks:
        handle(tick)
    agg.flush()
    return bars


def aggregate_quotes_to_bars(ticks: Iterable[QuoteTick], instrument: Instrument, spec: BarSpec) -> list[Bar]:
    """Mid-price time bars of ``ticks`` (in time order), the last one included even if partial."""
    bars: list[Bar] = []
    agg = TimeBarAggregator(instrument, spec, bars.append)
    handle = agg.handle_quote_tick
    for tick in ticks:
        handle(tick)
    agg.flush()
    return bars
