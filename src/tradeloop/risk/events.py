"""Events of the risk engine and its circuit breakers, and the operator's reset command.

Trading state: :class:`TradingStateChanged`. Denied modifications: :class:`OrderModifyDenied`.
Circuit breakers: :class:`CircuitBreakerTripped` (CRITICAL lane, it overtakes the orders
queued behind it) and :class:`CircuitBreakerReset`; an operator sends
:class:`ResetCircuitBreaker` to re-open trading after a breaker that waits for a person.
Per-instrument authorisation: :class:`TradingBlocked` and :class:`TradingAuthorized`.
"""

from __future__ import annotations

from enum import StrEnum
from typing import ClassVar

from tradeloop.core.ids import ClientOrderId, InstrumentId, StrategyId
from tradeloop.core.message import Command, Event, Lane

__all__ = [
    "CircuitBreakerReset",
    "CircuitBreakerTripped",
    "OrderModifyDenied",
    "ResetCircuitBreaker",
    "TradingAuthorized",
    "TradingBlocked",
    "TradingState",
    "TradingStateChanged",
]


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


class CircuitBreakerTripped(Event, frozen=True, kw_only=True, gc=False):
    """A circuit breaker tripped.

    ``breaker`` is its stable name (``daily_loss``, ``venue_errors``, ``store_errors``,
    ``risk_breach``, ``kill_switch``); ``action`` what it did: ``flatten`` (REDUCING, every
    position closed, entries blocked until a manual reset), ``pause_entries`` (entries blocked
    until the error rate clears) or ``halt`` (HALTED until a manual reset).
    """

    LANE: ClassVar[Lane] = Lane.CRITICAL

    breaker: str
    reason: str
    action: str


class CircuitBreakerReset(Event, frozen=True, kw_only=True, gc=False):
    """A tripped circuit breaker was reset: by an operator, or on its own (``venue_errors``)."""

    breaker: str
    reason: str


class ResetCircuitBreaker(Command, frozen=True, kw_only=True, gc=False):
    """An operator's request to reset a breaker that waits for a person (``"*"``: all of them).

    Breakers that reset on their own (``venue_errors``) ignore it.
    """

    LANE: ClassVar[Lane] = Lane.CRITICAL

    breaker: str
    reason: str


class TradingBlocked(Event, frozen=True, kw_only=True, gc=False):
    """New positions may not be opened on ``instrument_id`` (``None``: on every instrument).

    ``source`` says who blocked it (``breaker:venue_errors``, ``risk_breach``, ``kill_switch``,
    ``blackout``, ...). Orders that reduce a position and cancels still pass. Blocks from
    several sources may overlap; each is lifted by its own :class:`TradingAuthorized`.
    """

    instrument_id: InstrumentId | None
    reason: str
    source: str


class TradingAuthorized(Event, frozen=True, kw_only=True, gc=False):
    """The block of ``source`` on ``instrument_id`` (``None``: every instrument) was lifted.

    ``blocked_by`` lists the sources of the blocks that still apply to the same scope (for an
    instrument: its own blocks and those on every instrument; for ``None``: those on every
    instrument); empty when trading there is fully authorised again.
    """

    instrument_id: InstrumentId | None
    reason: str
    source: str
    blocked_by: tuple[str, ...] = ()
