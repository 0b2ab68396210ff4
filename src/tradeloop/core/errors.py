"""The one exception tree of tradeloop.

Every error the engine raises on purpose derives from :class:`TradeloopError`, so a caller can
catch the engine's own failures without catching programming errors such as ``TypeError``.
"""

from __future__ import annotations

__all__ = [
    "BackPressureError",
    "ConfigError",
    "DataError",
    "InvalidOrderTransition",
    "InvalidStateTransition",
    "MessageRejected",
    "TradeloopError",
    "ValueRangeError",
    "VenueError",
]


class TradeloopError(Exception):
    """Base of every error raised deliberately by tradeloop."""


class ValueRangeError(TradeloopError, ValueError):
    """A value object was built from a value it cannot represent (NaN, overflow, sign)."""


class InvalidStateTransition(TradeloopError):
    """A component lifecycle trigger is not legal in the current state."""


class InvalidOrderTransition(TradeloopError):
    """An order event is not legal in the order's current status."""


class MessageRejected(TradeloopError):
    """Raised by a handler that holds authority over a message and refuses it as invalid.

    The bus then stops delivering that message to lower-priority handlers (and reports it like
    any handler failure): an order event the execution engine cannot apply must not reach the
    portfolio's ledger or a strategy.
    """


class BackPressureError(TradeloopError):
    """A bounded lane that never drops is full and the producer may not wait."""


class ConfigError(TradeloopError, ValueError):
    """A configuration file or override is invalid; the message names the key and reason."""


class DataError(TradeloopError, ValueError):
    """Market data failed validation; the message names the source and the row."""


class VenueError(TradeloopError):
    """A venue (simulated or real) refused or failed a request."""
