"""Matching: when a working order triggers or fills against one data point, and at what price.

The matcher holds the working orders of each instrument (:class:`WorkingBook`) and walks each
data point through them. It decides *what happens* (a trigger, a trailing-stop move, a fill of
so much at such a price as maker or taker, a cancel of an immediate order's remainder) and
tells a :class:`MatchSink` (the exchange), which keeps the ledger and publishes the events.
The rules themselves are documented in :mod:`tradeloop.venues.simulated.exchange`.

Nothing here publishes: the exchange buffers the events of a data point and publishes them
after matching, so a handler that reacts to a fill by sending a command never re-enters a walk.
"""

from __future__ import annotations

from typing import Final, Protocol

from tradeloop.core.ids import InstrumentId
from tradeloop.model.data import Bar, QuoteTick, TradeTick
from tradeloop.model.enums import TimeInForce
from tradeloop.model.instruments import Instrument
from tradeloop.model.objects import FIXED_SCALAR
from tradeloop.venues.simulated.working_order import (
    MODE_LIMIT,
    MODE_MARKET,
    MODE_STOP_LIMIT,
    MODE_TRAILING,
    WorkingOrder,
)

__all__ = ["MatchSink", "OrderMatcher", "WorkingBook"]

_BPS: Final = 10_000
_IMMEDIATE: Final = (TimeInForce.IOC, TimeInForce.FOK)


class MatchSink(Protocol):
    """What the matcher asks of the exchange."""

    def ledger_cap(self, order: WorkingOrder, px_raw: int, qty_raw: int, taker: bool) -> int:
        """The part of ``qty_raw`` the account can carry at ``px_raw`` (at most ``qty_raw``)."""
        ...

    def fill(self, order: WorkingOrder, qty_raw: int, px_raw: int, taker: bool) -> None:
        """Book and report a fill."""
        ...

    def trigger(self, order: WorkingOrder) -> None:
        """Report that a stop triggered."""
        ...

    def trigger_moved(self, order: WorkingOrder) -> None:
        """Report that a trailing stop's trigger moved."""
        ...

    def cancel(self, order: WorkingOrder) -> None:
        """Cancel what is left of an order on the venue's own initiative."""
        ...


class WorkingBook:
    """The working orders of one instrument, oldest first."""

    __slots__ = ("instrument", "orders")

    def __init__(self, instrument: Instrument) -> None:
        self.instrument = instrument
        self.orders: list[WorkingOrder] = []


def _may_act_in_bar(o: WorkingOrder, low: int, high: int) -> bool:
    """Cheap pre-check: can anything happen to ``o`` inside ``[low, high]``?"""
    mode = o.mode
    if mode == MODE_MARKET or o.taker_pending or o.immediate_pending:
        return True
    if mode == MODE_LIMIT:
        return low <= o.price_raw if o.is_buy else high >= o.price_raw
    if mode == MODE_TRAILING:
        if not o.has_best:
            return True
        if o.is_buy:
            return high >= o.trigger_raw or low < o.best_raw
        return low <= o.trigger_raw or high > o.best_raw
    return high >= o.trigger_raw if o.is_buy else low <= o.trigger_raw


class OrderMatcher:
    """Walks data points through the working orders of their instrument.

    Parameters
    ----------
    sink:
        Receives triggers, fills and cancels.
    participation_raw:
        Max volume participation at the fixed-point scale, or 0 for none.
    slippage_ticks:
        Ticks against the taker on market-like fills.
    never_fill_limits:
        Fault: limit orders never fill.
    """

    __slots__ = ("_dp", "_never_fill_limits", "_participation_raw", "_sink", "_slippage_ticks", "books")

    def __init__(
        self, sink: MatchSink, *, participation_raw: int, slippage_ticks: int, never_fill_limits: bool
    ) -> None:
        self.books: dict[InstrumentId, WorkingBook] = {}
        self._sink = sink
        self._participation_raw = participation_raw
        self._slippage_ticks = slippage_ticks
        self._never_fill_limits = never_fill_limits
        self._dp = 0  # data-point sequence: an order fills at most once per data point

    # -- membership ------------------------------------------------------------------------

    def add(self, order: WorkingOrder) -> None:
        book = self.books.get(order.instrument_id)
        if book is None:
            book = self.books[order.instrument_id] = WorkingBook(order.instrument)
        book.orders.append(order)

    def discard(self, order: WorkingOrder) -> None:
        """Forget a closed order; an instrument without working orders leaves :attr:`books`."""
        book = self.books.get(order.instrument_id)
        if book is None:
            return
        try:
            book.orders.remove(order)
        except ValueError:
            return
        if not book.orders:
            del self.books[order.instrument_id]

    # -- data points -----------------------------------------------------------------------

    def match_bar(self, book: WorkingBook, bar: Bar) -> None:
        """Walk the bar O-H-L-C or O-L-H-C (whichever extreme is nearer the open comes first)."""
        self._dp += 1
        low = bar.low.raw
        high = bar.high.raw
        actors: list[WorkingOrder] | None = None
        for o in book.orders:
            if _may_act_in_bar(o, low, high):
                if actors is None:
                    actors = [o]
                else:
                    actors.append(o)
        if actors is None:
            return  # the common case: resting orders the bar does not reach
        cap = self._cap(book.instrument, bar.volume.raw)
        op = bar.open.raw
        first, second = (high, low) if high - op < op - low else (low, high)
        self._walk(actors, op, True, cap)
        self._walk(actors, first, False, cap)
        self._walk(actors, second, False, cap)
        self._walk(actors, bar.close.raw, False, cap)

    def match_quote(self, book: WorkingBook, tick: QuoteTick) -> None:
        """Buys meet the ask (and its size), sells the bid."""
        self._dp += 1
        ask = tick.ask_price.raw
        bid = tick.bid_price.raw
        inst = book.instrument
        buy_cap = self._cap(inst, tick.ask_size.raw)
        sell_cap = self._cap(inst, tick.bid_size.raw)
        at_point = self._at_point
        for o in tuple(book.orders):
            if o.is_open:
                if o.is_buy:
                    at_point(o, ask, True, False, True, buy_cap)
                else:
                    at_point(o, bid, True, False, True, sell_cap)

    def match_trade(self, book: WorkingBook, tick: TradeTick) -> None:
        """Both sides meet the trade price; the trade's size caps participation."""
        self._dp += 1
        px = tick.price.raw
        cap = self._cap(book.instrument, tick.size.raw)
        at_point = self._at_point
        for o in tuple(book.orders):
            if o.is_open:
                at_point(o, px, True, False, True, cap)

    def _cap(self, inst: Instrument, size_raw: int) -> int:
        """Per-order fill cap of one data point (-1: none), rounded down to the lot size."""
        if not self._participation_raw:
            return -1
        return inst.round_qty_raw_down(size_raw * self._participation_raw // FIXED_SCALAR)

    def _walk(self, actors: list[WorkingOrder], px: int, first: bool, cap: int) -> None:
        at_point = self._at_point
        for o in actors:
            if o.is_open:
                # Bars: only the open is a gap; the other points are reached continuously.
                at_point(o, px, first, first, first, cap)

    # -- one order at one price ------------------------------------------------------------

    def _at_point(
        self, o: WorkingOrder, px: int, first: bool, limit_gap: bool, stop_gap: bool, cap: int
    ) -> None:
        """Let ``o`` meet price ``px``.

        ``first``: the first price of a data point (market orders fill only there).
        ``limit_gap``: a resting limit crossed here fills at ``px`` (price improvement), not at
        its limit. ``stop_gap``: a stop triggered here fills at ``px`` (the worse price), not
        at its trigger.
        """
        if o.last_fill_dp == self._dp:
            return
        mode = o.mode
        is_buy = o.is_buy
        if mode == MODE_MARKET:
            if first:
                self._fill(o, self._slipped(o, px), True, cap)
            return
        if mode == MODE_LIMIT:
            limit = o.price_raw
            crosses = px <= limit if is_buy else px >= limit
            if o.taker_pending or o.immediate_pending:
                # Marketable on arrival (or immediate): takes liquidity at the better price, and
                # stays a taker while it crosses (a remainder the volume cap held back takes the
                # next point too); only a point that no longer crosses makes it rest as a maker.
                if crosses:
                    self._fill(o, px, True, cap)
                else:
                    o.taker_pending = False
                    if o.immediate_pending:
                        o.immediate_pending = False
                        self._sink.cancel(o)
                return
            if crosses:
                self._fill(o, px if limit_gap else limit, False, cap)
            return
        if mode == MODE_TRAILING:
            self.trail(o, px)
        trigger = o.trigger_raw
        if (px < trigger) if is_buy else (px > trigger):
            return
        self._sink.trigger(o)
        market = px if stop_gap else trigger
        if o.time_in_force in _IMMEDIATE:
            o.immediate_pending = True
        if mode == MODE_STOP_LIMIT:
            o.mode = MODE_LIMIT
            limit = o.price_raw
            if (market <= limit) if is_buy else (market >= limit):
                o.taker_pending = True  # marketable once triggered: a taker while it crosses
                self._fill(o, market, True, cap)
            elif o.immediate_pending:
                o.immediate_pending = False
                self._sink.cancel(o)
            return
        o.mode = MODE_MARKET
        self._fill(o, self._slipped(o, market), True, cap)

    def _fill(self, o: WorkingOrder, px: int, taker: bool, cap: int) -> None:
        inst = o.instrument
        # Every fill price stays inside the instrument's band (an event contract trades
        # 0.01..0.99 even when a quote or print shows 0.00 or 1.00), slipped or not.
        if inst.max_price is not None and px > inst.max_price.raw:
            px = inst.max_price.raw
        elif inst.min_price is not None and px < inst.min_price.raw:
            px = inst.min_price.raw
        leaves = o.quantity_raw - o.filled_raw
        qty = leaves
        if 0 <= cap < qty:
            qty = cap
        frac_cap = o.frac_cap_raw
        if frac_cap and frac_cap < qty:
            qty = frac_cap
        if self._never_fill_limits and o.mode == MODE_LIMIT:
            qty = 0
        sink = self._sink
        allowed = sink.ledger_cap(o, px, qty, taker) if qty else 0
        short_by_ledger = allowed < qty
        immediate = o.immediate_pending
        if immediate:
            o.immediate_pending = False
            if o.time_in_force is TimeInForce.FOK and allowed < leaves:
                sink.cancel(o)
                return
        if allowed > 0:
            o.last_fill_dp = self._dp
            sink.fill(o, allowed, px, taker)
        if o.is_open and (immediate or short_by_ledger):
            sink.cancel(o)

    def _slipped(self, o: WorkingOrder, px: int) -> int:
        ticks = self._slippage_ticks
        if not ticks:
            return px
        inst = o.instrument
        return px + ticks * inst.price_increment.raw if o.is_buy else px - ticks * inst.price_increment.raw

    # -- trailing stops --------------------------------------------------------------------

    @staticmethod
    def trail_trigger(o: WorkingOrder, best_raw: int) -> int:
        """The trigger ``o``'s offset puts behind ``best_raw``, snapped away from the market."""
        offset = abs(best_raw) * o.trailing_offset // _BPS if o.trailing_bps else o.trailing_offset
        inst = o.instrument
        if o.is_buy:
            return inst.round_price_raw(best_raw + offset, up=True)
        return inst.round_price_raw(best_raw - offset, up=False)

    def trail(self, o: WorkingOrder, px: int) -> None:
        """Move the best price and, if that improves the trigger, the trigger."""
        if o.has_best and ((px >= o.best_raw) if o.is_buy else (px <= o.best_raw)):
            return
        o.best_raw = px
        o.has_best = True
        new = self.trail_trigger(o, px)
        if (new < o.trigger_raw) if o.is_buy else (new > o.trigger_raw):
            o.trigger_raw = new
            self._sink.trigger_moved(o)
