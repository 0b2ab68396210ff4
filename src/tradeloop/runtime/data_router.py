"""Serves strategies' market-data subscriptions from what the run has.

Bars a strategy asks for are delivered as they are when the run has bars of that instrument
and spec; otherwise they are aggregated from the instrument's trade ticks (or quote mid
prices) by a :class:`~tradeloop.data.aggregation.TimeBarAggregator`, whose bars are published
on the bus like any other data. A bar closes when the first tick of a later interval arrives
(and a final, incomplete bar is not emitted at the end of the data).
"""

from __future__ import annotations

from tradeloop.core.bus import MessageBus
from tradeloop.core.errors import TradeloopError
from tradeloop.core.ids import InstrumentId
from tradeloop.data.aggregation import TimeBarAggregator
from tradeloop.model.data import Bar, BarSpec, QuoteTick, TradeTick
from tradeloop.model.instruments import Instrument

__all__ = ["DataRouter", "PRIORITY_AGGREGATION"]

PRIORITY_AGGREGATION = 800
"""Aggregators see a tick after the portfolio and before strategies."""


class DataRouter:
    """The runtime's :class:`~tradeloop.strategy.strategy.DataSubscriber`."""

    def __init__(self, bus: MessageBus, instruments: dict[InstrumentId, Instrument]) -> None:
        self._bus = bus
        self._instruments = instruments
        self._available: set[tuple[type, InstrumentId, BarSpec | None]] = set()
        self._trade_aggs: dict[InstrumentId, list[TimeBarAggregator]] = {}
        self._quote_aggs: dict[InstrumentId, list[TimeBarAggregator]] = {}
        self._subscribed: set[tuple[InstrumentId, BarSpec]] = set()

    def declare(self, kind: type, instrument_id: InstrumentId, spec: BarSpec | None = None) -> None:
        """Tell the router the run carries data of this kind (called as data is added)."""
        self._available.add((kind, instrument_id, spec))

    def subscribe_bars(self, instrument_id: InstrumentId, spec: BarSpec) -> None:
        if (instrument_id, spec) in self._subscribed or (Bar, instrument_id, spec) in self._available:
            self._subscribed.add((instrument_id, spec))
            return
        instrument = self._instruments.get(instrument_id)
        if instrument is None:
            raise TradeloopError(f"bars requested for unknown instrument {instrument_id}")
        if (TradeTick, instrument_id, None) in self._available:
            agg = TimeBarAggregator(instrument, spec, self._bus.publish)
            self._trade_aggs.setdefault(instrument_id, []).append(agg)
            self._bus.subscribe(TradeTick, self._on_trade, priority=PRIORITY_AGGREGATION)
        elif (QuoteTick, instrument_id, None) in self._available:
            agg = TimeBarAggregator(instrument, spec, self._bus.publish)
            self._quote_aggs.setdefault(instrument_id, []).append(agg)
            self._bus.subscribe(QuoteTick, self._on_quote, priority=PRIORITY_AGGREGATION)
        else:
            have = sorted(f"{k.__name__} {i}{' ' + str(s) if s else ''}" for k, i, s in self._available)
            raise TradeloopError(
                f"no data to serve {spec} bars of {instrument_id}: the run has {', '.join(have) or 'no data'}"
            )
        self._subscribed.add((instrument_id, spec))

    def subscribe_trade_ticks(self, instrument_id: InstrumentId) -> None:
        if (TradeTick, instrument_id, None) not in self._available:
            raise TradeloopError(f"the run has no trade ticks of {instrument_id}")

    def subscribe_quote_ticks(self, instrument_id: InstrumentId) -> None:
        if (QuoteTick, instrument_id, None) not in self._available:
            raise TradeloopError(f"the run has no quote ticks of {instrument_id}")

    def _on_trade(self, tick: TradeTick) -> None:
        aggs = self._trade_aggs.get(tick.instrument_id)
        if aggs:
            for agg in aggs:
                agg.handle_trade_tick(tick)

    def _on_quote(self, tick: QuoteTick) -> None:
        aggs = self._quote_aggs.get(tick.instrument_id)
        if aggs:
            for agg in aggs:
                agg.handle_quote_tick(tick)
