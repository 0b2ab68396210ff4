"""Market data: :class:`QuoteTick`, :class:`TradeTick`, :class:`Bar`, :class:`PriceSnapshot`."""

from __future__ import annotations

import msgspec

from tradeloop.core.clock import NANOS_PER_SECOND
from tradeloop.core.errors import ValueRangeError
from tradeloop.core.ids import InstrumentId
from tradeloop.core.message import Data
from tradeloop.model.enums import AggressorSide, BarAggregation
from tradeloop.model.objects import Price, Quantity

__all__ = ["Bar", "BarSpec", "PriceSnapshot", "QuoteTick", "TradeTick"]


class BarSpec(msgspec.Struct, frozen=True, array_like=True, gc=False):
    """How a bar was aggregated: ``step`` units of ``aggregation`` (``1-MINUTE``)."""

    step: int
    aggregation: BarAggregation

    def __post_init__(self) -> None:
        if self.step < 1:
            raise ValueRangeError(f"bar step must be positive, got {self.step}")

    @property
    def interval_ns(self) -> int:
        unit = {
            BarAggregation.SECOND: 1,
            BarAggregation.MINUTE: 60,
            BarAggregation.HOUR: 3600,
            BarAggregation.DAY: 86400,
        }[self.aggregation]
        return self.step * unit * NANOS_PER_SECOND

    @classmethod
    def parse(cls, text: str) -> BarSpec:
        """``"1-MINUTE"``, ``"5-SECOND"``, ``"1-HOUR"``."""
        step, _, agg = text.partition("-")
        try:
            return cls(int(step), BarAggregation(agg.upper()))
        except (ValueError, KeyError):
            raise ValueRangeError(f"invalid bar spec {text!r}: expected e.g. '1-MINUTE'") from None

    def __str__(self) -> str:
        return f"{self.step}-{self.aggregation.value}"


class QuoteTick(Data, frozen=True, kw_only=True, gc=False):
    """Best bid and ask."""

    instrument_id: InstrumentId
    bid_price: Price
    ask_price: Price
    bid_size: Quantity
    ask_size: Quantity


class TradeTick(Data, frozen=True, kw_only=True, gc=False):
    """One trade printed by the venue."""

    instrument_id: InstrumentId
    price: Price
    size: Quantity
    aggressor_side: AggressorSide = AggressorSide.NO_AGGRESSOR
    trade_id: str = ""


class Bar(Data, frozen=True, kw_only=True, gc=False):
    """An OHLCV bar. ``ts_event`` is the bar's close time."""

    instrument_id: InstrumentId
    spec: BarSpec
    open: Price
    high: Price
    low: Price
    close: Price
    volume: Quantity


class PriceSnapshot(Data, frozen=True, kw_only=True, gc=False):
    """The current price of an instrument, fetched on request (not a trade, not a new quote).

    The answer to a stale-price request: ``price`` is the latest known price, ``bid`` and
    ``ask`` the latest quote when there is one. ``ts_event`` is when that price was last
    seen on the market, ``ts_init`` when the snapshot was taken. Nothing matches against a
    snapshot and no bar is built from it; it only refreshes price caches and marks.
    """

    instrument_id: InstrumentId
    price: Price
    bid: Price | None = None
    ask: Price | None = None
