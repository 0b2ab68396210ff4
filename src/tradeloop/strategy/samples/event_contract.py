"""Binary event contracts: trade the gap between a model's probability and the market's price.

The model's probability of the event comes from a :class:`~tradeloop.data.ProbabilitySeries`:
in a YAML config, a CSV or Parquet file of ``(timestamp, probability)`` rows named by
``probabilities`` (read when the strategy is built, so a bad file fails before the run); in
Python, a series passed to the constructor (for example ``generate_event_contract(...).model``).
A file, unlike a seed that regenerates a synthetic model, serves any market data and any model
(a forecast exported from a notebook, a recorded live model) and never silently disagrees with
the data it is replayed against.

``EventContractSeries.write_quotes_csv`` and ``ProbabilitySeries.write_csv`` turn a generated
market into the two files such a config reads::

    data:
      source: csv
      kind: quotes
      path: quotes.csv
      instrument: {id: RAIN.SIM, type: event_contract, expiry: "2024-01-08T00:00:00Z"}
    strategies:
      - class: tradeloop.strategy.samples:EventContractEdge
        config:
          instrument_id: RAIN.SIM
          method: event_edge          # a method of lifecycle.methods
          probabilities: model.csv
          signal_interval_seconds: 60
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Literal

from pydantic import Field

from tradeloop.core.clock import NANOS_PER_SECOND
from tradeloop.core.errors import TradeloopError
from tradeloop.data.event_contracts import ProbabilitySeries, load_probabilities
from tradeloop.model.data import QuoteTick
from tradeloop.model.enums import OrderSide
from tradeloop.model.instruments import AssetClass
from tradeloop.strategy.config import StrategyConfig
from tradeloop.strategy.strategy import Strategy

__all__ = ["EventContractEdge", "EventContractEdgeConfig"]

_EDGE_DIGITS = 9
"""Edges are rounded to the fixed-point precision: 0.60 - 0.55 is 0.05, not 0.04999999999999993,
so a method's ``min_edge_pct: 5`` treats it as the 5 % it is."""


class EventContractEdgeConfig(StrategyConfig):
    """Settings of :class:`EventContractEdge`.

    Parameters
    ----------
    instrument_id:
        The binary event contract to trade.
    method:
        The lifecycle method (``lifecycle.methods``) that checks, sizes, enters and exits;
        required here, since every entry goes through the lifecycle's entry flow.
    probabilities:
        CSV or Parquet file of the model's probabilities, one row per update; ``None`` when
        the series is passed to the constructor instead.
    timestamp_column, probability_column, timestamp_unit:
        Its columns, and ``iso`` for ISO-8601 times or ``s``/``ms``/``us``/``ns`` for epoch
        counts (as ``data.timestamp_unit``).
    max_probability_age_seconds:
        Ignore a model value older than this (no signal until the next update); ``None``
        uses the latest value however old.
    signal_interval_seconds:
        At most one signal per this many seconds; ``0`` signals on every quote.
    allow_short:
        Also sell YES when the bid is above the model's probability.
    confidence:
        The confidence attached to every signal (the method's ``min_confidence`` checks it).
    """

    instrument_id: str
    method: str = Field(min_length=1)
    probabilities: Path | None = None
    timestamp_column: str = "timestamp"
    probability_column: str = "probability"
    timestamp_unit: Literal["iso", "s", "ms", "us", "ns"] = "iso"
    max_probability_age_seconds: Decimal | None = Field(None, gt=0)
    signal_interval_seconds: Decimal = Field(Decimal(60), ge=0)
    allow_short: bool = False
    confidence: float = Field(1.0, ge=0, le=1)


class EventContractEdge(Strategy):
    """Signal an edge whenever the model's probability of the event beats the market's price.

    On each quote, with ``p`` the model's latest probability: buying YES at the ask ``a`` has
    the edge ``p - a``; selling YES at the bid ``b`` (only with ``allow_short``) has
    ``b - p``. A positive edge becomes ``signal_edge`` with the side, the edge, the price it
    was measured against, the win probability (``p`` for a buy, ``1 - p`` for a sell) and the
    payoff ratio (``(1 - a) / a`` for a buy, ``b / (1 - b)`` for a sell); the lifecycle's entry
    flow then applies the method's minimum edge, sizes the entry and places it.

    While the strategy holds a position in the contract it keeps signalling on the position's
    side, with the same edge measure, also once that edge is zero or negative: those signals
    update the edge the lifecycle watches the position with, so an edge-decay exit can fire.
    Signals are at most one per ``signal_interval_seconds``; no signal is sent at or after
    the contract's expiry, before the first model value, or on a value older than
    ``max_probability_age_seconds``.
    """

    def __init__(
        self, config: EventContractEdgeConfig, probabilities: ProbabilitySeries | None = None
    ) -> None:
        super().__init__(config)
        self.cfg = config
        if (probabilities is None) == (config.probabilities is None):
            raise TradeloopError(
                f"{self.id}: give the model's probabilities either as the 'probabilities' file "
                "of the config or as a ProbabilitySeries to the constructor (exactly one)"
            )
        if probabilities is None:
            assert config.probabilities is not None
            unit = config.timestamp_unit
            probabilities = load_probabilities(
                config.probabilities,
                timestamp_column=config.timestamp_column,
                probability_column=config.probability_column,
                epoch_unit=None if unit == "iso" else unit,
            )
        self.probabilities = probabilities
        self._interval_ns = int(config.signal_interval_seconds * NANOS_PER_SECOND)
        age = config.max_probability_age_seconds
        self._max_age_ns = None if age is None else int(age * NANOS_PER_SECOND)
        self._expiry_ns: int | None = None
        self._last_signal_ns: int | None = None

    def on_start(self) -> None:
        instrument = self.instrument(self.cfg.instrument_id)
        if instrument.asset_class is not AssetClass.EVENT_CONTRACT:
            raise TradeloopError(
                f"{self.id}: {instrument.id} is a {instrument.asset_class.value} instrument, "
                "not a binary event contract"
            )
        self._expiry_ns = instrument.expiry_ns
        self.subscribe_quote_ticks(instrument.id)

    def on_quote_tick(self, tick: QuoteTick) -> None:
        now = self.clock.timestamp_ns()
        last = self._last_signal_ns
        if last is not None and now - last < self._interval_ns:
            return
        if self._expiry_ns is not None and now >= self._expiry_ns:
            return
        p = self.probabilities.at(now, max_age_ns=self._max_age_ns)
        if p is None:
            return
        position = self.position(tick.instrument_id)
        net = position.net_raw if position is not None else 0
        ask = tick.ask_price.as_double()
        bid = tick.bid_price.as_double()
        if ask <= 0.0 or bid >= 1.0:
            return  # not a price of a probability: no payoff ratio to speak of
        buy_edge = round(p - ask, _EDGE_DIGITS)
        sell_edge = round(bid - p, _EDGE_DIGITS)
        if net > 0 or (net == 0 and buy_edge > 0):
            side, edge, price, win, payoff = OrderSide.BUY, buy_edge, tick.ask_price, p, (1.0 - ask) / ask
        elif net < 0 or (net == 0 and self.cfg.allow_short and sell_edge > 0):
            side, edge, price, win, payoff = (
                OrderSide.SELL,
                sell_edge,
                tick.bid_price,
                1.0 - p,
                bid / (1.0 - bid),
            )
        else:
            return
        self._last_signal_ns = now
        self.signal_edge(
            tick.instrument_id,
            side,
            edge=edge,
            confidence=self.cfg.confidence,
            price=price,
            win_probability=win,
            payoff_ratio=payoff,
        )

    def on_reset(self) -> None:
        self._last_signal_ns = None
