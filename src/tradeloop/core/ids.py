"""Typed identifiers.

Identifiers are ``typing.NewType`` aliases of ``str``: the type checker keeps an
``InstrumentId`` apart from a ``StrategyId``, while at run time they are plain strings, so
they hash fast as dict keys on the hot path and encode natively with msgspec. Validation
happens where identifiers enter the system (:func:`instrument_id`, config, loaders).
"""

from __future__ import annotations

import random
from typing import NewType

from tradeloop.core.errors import ValueRangeError

__all__ = [
    "AccountId",
    "ClientOrderId",
    "IdFactory",
    "InstrumentId",
    "PositionId",
    "StrategyId",
    "TradeId",
    "TraderId",
    "Venue",
    "VenueOrderId",
    "instrument_id",
    "split_instrument_id",
]

InstrumentId = NewType("InstrumentId", str)
"""``SYMBOL.VENUE``, for example ``ESU3.CME`` or ``BTCUSDT.BINANCE``."""
Venue = NewType("Venue", str)
StrategyId = NewType("StrategyId", str)
TraderId = NewType("TraderId", str)
AccountId = NewType("AccountId", str)
ClientOrderId = NewType("ClientOrderId", str)
VenueOrderId = NewType("VenueOrderId", str)
PositionId = NewType("PositionId", str)
TradeId = NewType("TradeId", str)


def instrument_id(value: str) -> InstrumentId:
    """Validate ``SYMBOL.VENUE`` and return it as an :data:`InstrumentId`.

    Raises
    ------
    ValueRangeError
        If the value has no venue part, or an empty symbol or venue.
    """
    symbol, sep, venue = value.rpartition(".")
    if not sep or not symbol or not venue or any(c.isspace() for c in value):
        raise ValueRangeError(f"invalid instrument id {value!r}: expected 'SYMBOL.VENUE'")
    return InstrumentId(value)


def split_instrument_id(value: InstrumentId) -> tuple[str, Venue]:
    """Return ``(symbol, venue)`` of an instrument id."""
    symbol, _, venue = value.rpartition(".")
    return symbol, Venue(venue)


_CLEAR = ~((0xF000 << 64) | (0xC000 << 48)) & ((1 << 128) - 1)
_SET = (0x4000 << 64) | (0x8000 << 48)


class IdFactory:
    """Mints message ids (UUID4 text) from a seeded generator.

    Seeded, it makes a backtest's ids, and so its event log, identical run after run.
    Unseeded (live), it draws from the operating system's entropy.
    """

    __slots__ = ("_rng",)

    def __init__(self, seed: int | None = None) -> None:
        self._rng: random.Random = random.Random(seed) if seed is not None else random.SystemRandom()

    def new_id(self) -> str:
        """Return a new UUID4 string (version and variant bits set as RFC 4122 says)."""
        # bytes.hex() is the cheapest way to 32 hex digits (a quarter faster than "%032x").
        h = ((self._rng.getrandbits(128) & _CLEAR) | _SET).to_bytes(16, "big").hex()
        return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
