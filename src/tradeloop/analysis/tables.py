"""``trades.csv`` and ``equity.csv``: writing them, and reading them back exactly.

Money and prices are written as plain decimal strings (never exponent notation, never a
float), timestamps as integer ns plus a derived ISO UTC column for people. Reading ignores
the derived columns, rebuilds the records (which re-validates them) and names the file, line
and column of anything it cannot use. Rows end with ``\\n`` on every platform.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterable, Sequence
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TypeVar

from tradeloop.analysis.exact import plain
from tradeloop.analysis.formatting import iso_utc
from tradeloop.analysis.records import EquityPoint, TradeRecord
from tradeloop.core.errors import DataError

__all__ = [
    "EQUITY_COLUMNS",
    "TRADE_COLUMNS",
    "read_equity_csv",
    "read_trades_csv",
    "write_equity_csv",
    "write_trades_csv",
]

TRADE_COLUMNS = (
    "position_id",
    "instrument_id",
    "strategy_id",
    "side",
    "quantity",
    "entry_ts_ns",
    "exit_ts_ns",
    "entry_time_utc",
    "exit_time_utc",
    "avg_entry_px",
    "avg_exit_px",
    "realized_pnl",
    "commissions",
    "currency",
)
EQUITY_COLUMNS = ("ts_ns", "time_utc", "equity")

_R = TypeVar("_R")


def write_trades_csv(path: Path, trades: Iterable[TradeRecord]) -> None:
    """Write one row per trade under a :data:`TRADE_COLUMNS` header."""
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(TRADE_COLUMNS)
        writer.writerows(
            (
                t.position_id,
                t.instrument_id,
                t.strategy_id,
                t.side,
                plain(t.quantity),
                t.entry_ts_ns,
                t.exit_ts_ns,
                iso_utc(t.entry_ts_ns),
                iso_utc(t.exit_ts_ns),
                plain(t.avg_entry_px),
                plain(t.avg_exit_px),
                plain(t.realized_pnl),
                plain(t.commissions),
                t.currency,
            )
            for t in trades
        )


def write_equity_csv(path: Path, equity: Iterable[EquityPoint]) -> None:
    """Write one row per equity sample under an :data:`EQUITY_COLUMNS` header."""
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(EQUITY_COLUMNS)
        writer.writerows((p.ts_ns, iso_utc(p.ts_ns), plain(p.equity)) for p in equity)


def read_trades_csv(path: Path) -> list[TradeRecord]:
    """Trades from a file written by :func:`write_trades_csv`; ``DataError`` names bad cells."""

    def build(row: _Row) -> TradeRecord:
        return TradeRecord(
            position_id=row.text("position_id"),
            instrument_id=row.text("instrument_id"),
            strategy_id=row.text("strategy_id"),
            side=row.text("side"),
            quantity=row.decimal("quantity"),
            entry_ts_ns=row.integer("entry_ts_ns"),
            exit_ts_ns=row.integer("exit_ts_ns"),
            avg_entry_px=row.decimal("avg_entry_px"),
            avg_exit_px=row.decimal("avg_exit_px"),
            realized_pnl=row.decimal("realized_pnl"),
            commissions=row.decimal("commissions"),
            currency=row.text("currency"),
        )

    return _read(path, TRADE_COLUMNS, build)


def read_equity_csv(path: Path) -> list[EquityPoint]:
    """Equity samples from a file written by :func:`write_equity_csv`."""

    def build(row: _Row) -> EquityPoint:
        return EquityPoint(row.integer("ts_ns"), row.decimal("equity"))

    return _read(path, EQUITY_COLUMNS, build)


class _Row:
    """Typed access to the cells of one CSV row by column name."""

    __slots__ = ("cells", "index")

    def __init__(self, index: dict[str, int]) -> None:
        self.index = index
        self.cells: list[str] = []

    def text(self, column: str) -> str:
        return self.cells[self.index[column]]

    def decimal(self, column: str) -> Decimal:
        text = self.text(column)
        try:
            value = Decimal(text)
        except InvalidOperation:
            raise DataError(f"column {column!r}: {text!r} is not a decimal number") from None
        if not value.is_finite():
            raise DataError(f"column {column!r}: {text!r} is not finite")
        return value

    def integer(self, column: str) -> int:
        text = self.text(column)
        try:
            return int(text)
        except ValueError:
            raise DataError(f"column {column!r}: {text!r} is not an integer") from None


def _read(path: Path, columns: Sequence[str], build: Callable[[_Row], _R]) -> list[_R]:
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        header = next(reader, None)
        if header is None:
            raise DataError(f"{path}: empty file, expected a header {','.join(columns)}")
        missing = [c for c in columns if c not in header]
        if missing:
            raise DataError(f"{path}: header lacks column(s) {', '.join(missing)}")
        row = _Row({name: header.index(name) for name in columns})
        out: list[_R] = []
        for cells in reader:
            if len(cells) != len(header):
                raise DataError(
                    f"{path}: line {reader.line_num}: {len(cells)} cells, the header has {len(header)}"
                )
            row.cells = cells
            try:
                out.append(build(row))
            except DataError as exc:
                raise DataError(f"{path}: line {reader.line_num}: {exc}") from None
        return out
