"""Messages of the position lifecycle: entries, exits, trailing stops and price requests.

One correlation id runs through a position's entry: the strategy's ``EdgeDetected`` opens it
and every message that follows (``EntryRejected``, ``SubmitOrder``, ``OrderSubmitted``, the
fills, ``PositionOpened``) carries it. An exit opens its own correlation with
``ExitTriggered``; its orders, escalations and ``ExitCompleted`` or ``ExitFailed`` follow it.
"""

from __future__ import annotations

from enum import IntEnum, StrEnum
from typing import ClassVar

from tradeloop.core.ids import ClientOrderId, InstrumentId, PositionId, StrategyId
from tradeloop.core.message import Command, Event, Lane
from tradeloop.model.enums import OrderSide
from tradeloop.model.objects import Price, Quantity

__all__ = [
    "EXIT_PRIORITY",
    "EdgeDetected",
    "EntryAbandoned",
    "EntryRejected",
    "ExitCompleted",
    "ExitEscalated",
    "ExitFailed",
    "ExitPriority",
    "ExitReason",
    "ExitTriggered",
    "PriceRequested",
    "TrailingStopMoved",
]


class ExitPriority(IntEnum):
    """How urgent an exit is; a lower value wins (as with bus lanes)."""

    CRITICAL = 0
    HIGH = 1
    MEDIUM = 2
    LOW = 3


class ExitReason(StrEnum):
    """Why a position is being closed. Each reason has one priority (:data:`EXIT_PRIORITY`)."""

    KILL_SWITCH = "KILL_SWITCH"
    MANUAL_CLOSE = "MANUAL_CLOSE"
    STOP_LOSS = "STOP_LOSS"
    CIRCUIT_BREAKER = "CIRCUIT_BREAKER"
    TRAILING_STOP = "TRAILING_STOP"
    EXPIRY = "EXPIRY"
    MARKET_CLOSE = "MARKET_CLOSE"
    LIQUIDITY = "LIQUIDITY"
    PROFIT_TARGET = "PROFIT_TARGET"
    SCALE_OUT = "SCALE_OUT"
    VOLATILITY = "VOLATILITY"
    MAX_HOLDING = "MAX_HOLDING"
    EDGE_DECAY = "EDGE_DECAY"


EXIT_PRIORITY: dict[ExitReason, ExitPriority] = {
    ExitReason.KILL_SWITCH: ExitPriority.CRITICAL,
    ExitReason.MANUAL_CLOSE: ExitPriority.CRITICAL,
    ExitReason.STOP_LOSS: ExitPriority.CRITICAL,
    ExitReason.CIRCUIT_BREAKER: ExitPriority.CRITICAL,
    ExitReason.TRAILING_STOP: ExitPriority.HIGH,
    ExitReason.EXPIRY: ExitPriority.HIGH,
    ExitReason.MARKET_CLOSE: ExitPriority.HIGH,
    ExitReason.LIQUIDITY: ExitPriority.HIGH,
    ExitReason.PROFIT_TARGET: ExitPriority.MEDIUM,
    ExitReason.SCALE_OUT: ExitPriority.MEDIUM,
    ExitReason.VOLATILITY: ExitPriority.MEDIUM,
    ExitReason.MAX_HOLDING: ExitPriority.LOW,
    ExitReason.EDGE_DECAY: ExitPriority.LOW,
}
"""The priority of each exit reason (the table of the position lifecycle issue)."""


class EdgeDetected(Event, frozen=True, kw_only=True, gc=False):
    """A strategy sees an edge on an instrument and asks to enter under ``method``.

    ``edge`` is a fraction (``0.07`` = 7 %): for an event contract, the model probability
    minus the price. ``price`` is the reference price the edge was measured against; the entry
    limit is built from it. ``win_probability`` and ``payoff_ratio`` feed Kelly sizing; for an
    event contract bought at ``c`` the payoff ratio is ``(1 - c) / c`` and is derived when
    omitted. A later ``EdgeDetected`` for an instrument with an open position updates the
    edge the position is watched with (the edge-decay exit).
    """

    strategy_id: StrategyId
    instrument_id: InstrumentId
    side: OrderSide
    edge: float
    confidence: float
    method: str
    price: Price | None = None
    win_probability: float | None = None
    payoff_ratio: float | None = None


class EntryRejected(Event, frozen=True, kw_only=True, gc=False):
    """An edge did not lead to an entry; ``reason`` is ``"<check>: <details>"``."""

    strategy_id: StrategyId
    instrument_id: InstrumentId
    method: str
    reason: str


class EntryAbandoned(Event, frozen=True, kw_only=True, gc=False):
    """An entry order did not fill within the method's attempts and was canceled."""

    strategy_id: StrategyId
    instrument_id: InstrumentId
    method: str
    attempts: int
    filled: Quantity
    reason: str


class ExitTriggered(Event, frozen=True, kw_only=True, gc=False):
    """An exit condition fired for a position; the exit executor acts on it.

    ``quantity`` is what to close (all of the position, or a scale-out level's share).
    ``detail`` says what was measured (``"P&L -15.20% <= -15%"``).
    """

    strategy_id: StrategyId
    instrument_id: InstrumentId
    position_id: PositionId
    method: str
    reason: ExitReason
    priority: ExitPriority
    quantity: Quantity
    detail: str


class ExitEscalated(Event, frozen=True, kw_only=True, gc=False):
    """An exit placed (step 1) or re-placed (step 2, ...) its order."""

    strategy_id: StrategyId
    instrument_id: InstrumentId
    position_id: PositionId
    reason: ExitReason
    step: int
    style: str
    client_order_id: ClientOrderId
    price: Price | None
    remaining: Quantity


class ExitCompleted(Event, frozen=True, kw_only=True, gc=False):
    """An exit's quantity is filled."""

    strategy_id: StrategyId
    instrument_id: InstrumentId
    position_id: PositionId
    reason: ExitReason
    steps: int


class ExitFailed(Event, frozen=True, kw_only=True, gc=False):
    """An exit failed every step; the position stays open with ``remaining`` not closed."""

    strategy_id: StrategyId
    instrument_id: InstrumentId
    position_id: PositionId
    reason: ExitReason
    remaining: Quantity
    detail: str


class TrailingStopMoved(Event, frozen=True, kw_only=True, gc=False):
    """A position's trailing stop moved (only ever in the position's favour)."""

    LANE: ClassVar[Lane] = Lane.LOW

    strategy_id: StrategyId
    instrument_id: InstrumentId
    position_id: PositionId
    stop: Price
    peak: Price


class PriceRequested(Command, frozen=True, kw_only=True, gc=False):
    """The cached price of an instrument is stale: ask the data source for a fresh one.

    The runtime answers by publishing current market data for the instrument (in a backtest,
    the simulated venue's latest price, stamped now).
    """

    instrument_id: InstrumentId
    reason: str
