"""The latest prices of every instrument, kept current from the bus.

:class:`PriceCache` is the one place the lifecycle reads "what is the market now": the best bid
and ask of the latest quote, the latest price (trade, quote mid, bar close or price snapshot,
whichever is newest) and when it was last updated. It subscribes above the portfolio and the
strategies, so anyone handling a data point reads a cache that already holds it.
"""

from __future__ import annotations

from tradeloop.core.bus import MessageBus
from tradeloop.core.clock import Clock
from tradeloop.core.ids import InstrumentId
from tradeloop.model.data import Bar, PriceSnapshot, QuoteTick, TradeTick

__all__ = ["PRIORITY_PRICE_CACHE", "PriceCache"]

PRIORITY_PRICE_CACHE = 950
"""Bus priority: after the execution engine, before the portfolio, risk and strategies."""


class PriceCache:
    """Latest bid, ask and price per instrument, subscribed to market data on the bus.

    * A :class:`~tradeloop.model.data.QuoteTick` sets bid and ask and makes the mid
      ``(bid + ask) // 2`` the latest price.
    * A :class:`~tradeloop.model.data.TradeTick` makes its price the latest price.
    * A :class:`~tradeloop.model.data.Bar` makes its close the latest price, unless a tick
      (or snapshot) at or after the bar's close time was already seen: a bar aggregated from
      ticks is published after the tick that closed it, and its close is older than that tick
      (the portfolio marks by the same rule).
    * A :class:`~tradeloop.model.data.PriceSnapshot` (the answer to a stale-price request)
      sets the latest price, and bid and ask when it carries them, unless a tick newer than
      the snapshot's ``ts_event`` was already seen (an answer that crossed the feed's return
      must not move the price back).

    Every update records its ``ts_init`` (when the data reached the node), which
    :meth:`updated_ns` and :meth:`age_ns` report. All prices are raws (value x 10**9); a quote
    mid may lie between two ticks.

    Parameters
    ----------
    bus:
        The bus to subscribe to (at :data:`PRIORITY_PRICE_CACHE`).
    clock:
        The node's clock, for :meth:`age_ns`.
    """

    __slots__ = ("_ask", "_bid", "_clock", "_last", "_tick_ts", "_updated")

    def __init__(self, bus: MessageBus, clock: Clock) -> None:
        self._clock = clock
        self._bid: dict[InstrumentId, int] = {}
        self._ask: dict[InstrumentId, int] = {}
        self._last: dict[InstrumentId, int] = {}
        self._updated: dict[InstrumentId, int] = {}
        # ts_event of the newest tick or snapshot: a bar closing no later than this is older.
        self._tick_ts: dict[InstrumentId, int] = {}
        bus.subscribe(QuoteTick, self._on_quote, priority=PRIORITY_PRICE_CACHE)
        bus.subscribe(TradeTick, self._on_trade, priority=PRIORITY_PRICE_CACHE)
        bus.subscribe(Bar, self._on_bar, priority=PRIORITY_PRICE_CACHE)
        bus.subscribe(PriceSnapshot, self._on_snapshot, priority=PRIORITY_PRICE_CACHE)

    # -- reads -----------------------------------------------------------------------------

    def bid_raw(self, instrument_id: InstrumentId) -> int | None:
        """Best bid of the latest quote, or ``None`` before the first quote."""
        return self._bid.get(instrument_id)

    def ask_raw(self, instrument_id: InstrumentId) -> int | None:
        """Best ask of the latest quote, or ``None`` before the first quote."""
        return self._ask.get(instrument_id)

    def last_raw(self, instrument_id: InstrumentId) -> int | None:
        """The newest price: trade, quote mid, bar close or snapshot; ``None`` before any."""
        return self._last.get(instrument_id)

    def updated_ns(self, instrument_id: InstrumentId) -> int | None:
        """``ts_init`` of the data that last updated the instrument, or ``None``."""
        return self._updated.get(instrument_id)

    def price_ts_ns(self, instrument_id: InstrumentId) -> int | None:
        """``ts_event`` (market time) of the newest tick or snapshot, or ``None``."""
        return self._tick_ts.get(instrument_id)

    def age_ns(self, instrument_id: InstrumentId) -> int | None:
        """Nanoseconds since the last update (clock now minus :meth:`updated_ns`), or ``None``."""
        updated = self._updated.get(instrument_id)
        return None if updated is None else self._clock.timestamp_ns() - updated

    # -- handlers (every tick passes here: keep them to a few dict stores) -------------------

    def _on_quote(self, tick: QuoteTick) -> None:
        iid = tick.instrument_id
        bid = tick.bid_price.raw
        ask = tick.ask_price.raw
        self._bid[iid] = bid
        self._ask[iid] = ask
        self._last[iid] = (bid + ask) // 2
        self._updated[iid] = tick.ts_init
        self._tick_ts[iid] = tick.ts_event

    def _on_trade(self, tick: TradeTick) -> None:
        iid = tick.instrument_id
        self._last[iid] = tick.price.raw
        self._updated[iid] = tick.ts_init
        self._tick_ts[iid] = tick.ts_event

    def _on_bar(self, bar: Bar) -> None:
        iid = bar.instrument_id
        if bar.ts_event <= self._tick_ts.get(iid, -1):
            return  # the bar holds trades older than a tick already seen
        self._last[iid] = bar.close.raw
        self._updated[iid] = bar.ts_init

    def _on_snapshot(self, snapshot: PriceSnapshot) -> None:
        iid = snapshot.instrument_id
        if snapshot.ts_event < self._tick_ts.get(iid, -1):
            return  # the market has shown a newer price since
        if snapshot.bid is not None and snapshot.ask is not None:
            self._bid[iid] = snapshot.bid.raw
            self._ask[iid] = snapshot.ask.raw
        self._last[iid] = snapshot.price.raw
        self._updated[iid] = snapshot.ts_init
        self._tick_ts[iid] = snapshot.ts_event
