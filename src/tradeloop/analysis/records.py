"""The records a finished run hands to the analysis layer.

The engine builds these at the end of a run: :class:`EquityPoint` samples of account equity,
one :class:`TradeRecord` per closed round-trip position, and :class:`RunInfo` describing the
run. They are frozen ``msgspec`` structs (cheap to build by the million) that check their own
invariants when built, so statistics and reports never meet a NaN, a negative quantity or an
exit before its entry.
"""

from __future__ import annotations

import math
from decimal import Decimal

import msgspec

from tradeloop.core.errors import DataError

__all__ = ["SIDES", "EquityPoint", "RunInfo", "TradeRecord"]

SIDES = frozenset({"LONG", "SHORT"})


def _finite(value: object, what: str) -> None:
    # Checked by hand: msgspec validates types only when decoding, not on construction.
    if not isinstance(value, Decimal):
        raise DataError(f"{what} must be a Decimal, got {type(value).__name__}")
    if not value.is_finite():
        raise DataError(f"{what} must be finite, got {value}")


def _int(value: object, what: str) -> None:
    if type(value) is not int:
        raise DataError(f"{what} must be an int (ns), got {type(value).__name__}")


class EquityPoint(msgspec.Struct, frozen=True, gc=False):
    """Account equity ``equity`` (in the account currency) at ``ts_ns`` (Unix ns, UTC)."""

    ts_ns: int
    equity: Decimal

    def __post_init__(self) -> None:
        _int(self.ts_ns, "EquityPoint.ts_ns")
        _finite(self.equity, f"EquityPoint.equity at ts_ns={self.ts_ns}")


class TradeRecord(msgspec.Struct, frozen=True, gc=False):
    """One round-trip position, from its first fill until it was flat.

    ``realized_pnl`` is net of ``commissions``; both are in ``currency``. ``side`` is
    ``"LONG"`` or ``"SHORT"``; ``quantity`` is the peak absolute size, always positive.
    """

    position_id: str
    instrument_id: str
    strategy_id: str
    side: str
    quantity: Decimal
    entry_ts_ns: int
    exit_ts_ns: int
    avg_entry_px: Decimal
    avg_exit_px: Decimal
    realized_pnl: Decimal
    commissions: Decimal
    currency: str

    def __post_init__(self) -> None:
        where = f"TradeRecord {self.position_id!r}"
        for name in ("position_id", "instrument_id", "strategy_id", "currency"):
            value = getattr(self, name)
            # Printable: a line break or carriage return would split its CSV row.
            if not isinstance(value, str) or not value or not value.isprintable():
                raise DataError(f"{where}: {name} must be a non-empty printable string, got {value!r}")
        if self.side not in SIDES:
            raise DataError(f"{where}: side must be LONG or SHORT, got {self.side!r}")
        for name in ("quantity", "avg_entry_px", "avg_exit_px", "realized_pnl", "commissions"):
            _finite(getattr(self, name), f"{where}: {name}")
        if self.quantity <= 0:
            raise DataError(f"{where}: quantity must be positive, got {self.quantity}")
        _int(self.entry_ts_ns, f"{where}: entry_ts_ns")
        _int(self.exit_ts_ns, f"{where}: exit_ts_ns")
        if self.exit_ts_ns < self.entry_ts_ns:
            raise DataError(f"{where}: exit_ts_ns {self.exit_ts_ns} is before entry_ts_ns {self.entry_ts_ns}")


class RunInfo(msgspec.Struct, frozen=True):
    """What was run: identity, period, money, configuration digest and run counters.

    ``config_summary`` maps setting names to display strings; ``messages`` maps a message
    kind to how many were processed; ``wall_seconds`` is the run's wall time (it varies
    between otherwise identical runs, so determinism of a report holds for equal inputs).
    """

    run_id: str
    strategy: str
    instruments: list[str]
    start_ns: int
    end_ns: int
    starting_balance: Decimal
    currency: str
    config_summary: dict[str, str]
    event_log_hash: str | None
    messages: dict[str, int]
    wall_seconds: float

    def __post_init__(self) -> None:
        where = f"RunInfo {self.run_id!r}"
        _int(self.start_ns, f"{where}: start_ns")
        _int(self.end_ns, f"{where}: end_ns")
        if self.end_ns < self.start_ns:
            raise DataError(f"{where}: end_ns {self.end_ns} is before start_ns {self.start_ns}")
        _finite(self.starting_balance, f"{where}: starting_balance")
        if not self.currency:
            raise DataError(f"{where}: currency must be non-empty")
        for key, count in self.messages.items():
            if type(count) is not int or count < 0:
                raise DataError(f"{where}: messages[{key!r}] must be a count >= 0, got {count!r}")
        if not (math.isfinite(self.wall_seconds) and self.wall_seconds >= 0.0):
            raise DataError(f"{where}: wall_seconds must be >= 0, got {self.wall_seconds!r}")
