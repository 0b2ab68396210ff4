"""Events of the risk engine: trading state changes and denied modifications."""

from __future__ import annotations

from enum import StrEnum

from tradeloop.core.ids import ClientOrderId, InstrumentId, StrategyId
from tradeloop.core.message import Event

__all__ = ["OrderModifyDenied", "TradingState", "TradingStateChanged"]


class TradingState(StrEnum):
    """What the risk engine lets through."""

    ACTIVE = "ACTIVE"
    """Every order that passes the limits."""
    REDUCING = "REDUCING"
    """Only orders that reduce a position (and cancels)."""
    HALTED = "HALTED"
    """Nothing but cancels."""


class TradingStateChanged(Event, frozen=True, kw_only=True, gc=False):
    """The risk engine's trading state moved from ``previous`` to ``state``."""

    state: TradingState
    previous: TradingState
    reason: str


class OrderModifyDenied(Event, frozen=True, kw_only=True, gc=False):
    """The risk engine refused a ``ModifyOrder``; the order itself is unchanged.

    Not an order event: the order never saw the request, so its state machine does not move.
    """

    strategy_id: StrategyId
    instrument_id: InstrumentId
    client_order_id: ClientOrderId
    reason: str
