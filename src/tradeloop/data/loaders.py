"""Load trade ticks, quote ticks and bars from CSV or Parquet files.

Conventions
-----------
* **Rows** are numbered from 1 for the first data row (the line after a CSV header; blank
  lines are skipped and not counted). Errors name the file, that row, the column and the
  reason. A CSV line with the wrong number of fields is a ``malformed`` row.
* **Timestamps** are ISO-8601 text (``2013-09-01 17:00:00.083``, ``...T17:00:00Z``,
  ``...+02:00``; a lowercase ``t`` or ``z`` is fine), Arrow timestamp/date columns, or, with
  ``epoch_unit``, counts of seconds, milliseconds, microseconds or nanoseconds since the Unix
  epoch (integers or exact decimal text such as ``"1378054800.083"``). Naive times are UTC
  unless ``tz`` names their zone; an explicit offset always wins. Output is integer
  nanoseconds, ``ts_init == ts_event``, so times before 1677-09-21 or after 2262-04-11 are
  ``invalid_timestamp`` rows.
* **Bars** carry their close time in tradeloop. Pass ``bar_timestamp="open"`` for files that
  label each bar by its open time (most vendor exports do): the loader then adds the bar
  interval. Reading open-labelled bars as close-labelled would let a backtest see each bar
  one interval before it completed.
* **Prices and sizes** are parsed exactly from their decimal text (ASCII digits, optional sign,
  point and exponent; ``1_000`` is not a number), never through a float, and must lie on
  the instrument's price and size grids. ``round_to_tick=True`` rounds prices
  (not sizes) half-to-even onto the tick grid instead of rejecting them.
* **Order**: timestamps must not decrease; equal timestamps are allowed and keep file order.
  The ``out_of_order`` rows are the fewest whose removal leaves the rest in order (earlier
  rows are kept when the choice is even), so one mistyped timestamp costs one row: a row
  dated after the rows that follow it "jumps ahead", one dated before the rows above it is
  "earlier than" them.
* **Files**: CSV is UTF-8 text, plain or compressed as its name says (``.csv.gz``...). A
  needed column whose name appears twice is an error, as is a file that is not UTF-8 text
  (named by data row and column when only some values are not; in skip mode too).
* ``on_error="raise"`` (default) raises :class:`~tradeloop.core.errors.DataError` for the
  earliest bad row; ``"skip"`` drops bad rows and counts them per reason in
  :attr:`LoadResult.skipped` (keys from :data:`~tradeloop.data.validation.SKIP_REASONS`).
"""

from __future__ import annotations

import os
import zoneinfo
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal, localcontext
from typing import Generic, Literal, TypeVar

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from tradeloop.core.errors import DataError
from tradeloop.data import validation as v
from tradeloop.data.arrays import bars_from_arrays, quote_ticks_from_arrays, trade_ticks_from_arrays
from tradeloop.data.columns import FileFormat, Frame, read_frame
from tradeloop.data.parsing import (
    EPOCH_DIGITS,
    INEXACT,
    INVALID,
    MISSING,
    OK,
    OVERFLOW,
    EpochUnit,
    ParsedColumn,
    is_number_type,
    is_time_type,
    parse_fixed,
    parse_timestamps,
)
from tradeloop.model.data import Bar, BarSpec, QuoteTick, TradeTick
from tradeloop.model.instruments import Instrument
from tradeloop.model.objects import FIXED_PRECISION, MAX_RAW

__all__ = [
    "BarTimestamp",
    "LoadResult",
    "load_bars",
    "load_quote_ticks",
    "load_trade_ticks",
]

I64 = npt.NDArray[np.int64]
Bools = npt.NDArray[np.bool_]
T = TypeVar("T")
BarTimestamp = Literal["open", "close"]
_NS_RANGE = "1677-09-21..2262-04-11 (int64 nanoseconds)"


@dataclass(frozen=True, slots=True)
class LoadResult(Generic[T]):
    """What a loader read.

    Attributes
    ----------
    data:
        The loaded objects in file order.
    skipped:
        Rows dropped per reason (only with ``on_error="skip"``; empty otherwise).
    rows:
        Data rows in the file, loaded or skipped.
    source:
        The file read.
    """

    data: list[T]
    skipped: dict[str, int]
    rows: int
    source: str

    @property
    def skipped_total(self) -> int:
        return sum(self.skipped.values())


def _check_on_error(path: str | os.PathLike[str], on_error: str) -> None:
    if on_error not in ("raise", "skip"):
        raise DataError(f"{path}: on_error must be 'raise' or 'skip', got {on_error!r}")


def _round_to_increment(raws: I64, increment: int) -> tuple[I64, Bools]:
    """Round raw values half-to-even onto multiples of ``increment`` (vectorised).

    Returns the rounded values and which of them do not fit int64 (their value is then 0):
    near the ends of the range the nearest multiple can lie past them.
    """
    q = np.floor_divide(raws, increment)
    # Modulo 2**64 the remainder is exact even where q * increment itself wraps.
    twice = 2 * (raws - q * increment)
    steps = q + ((twice > increment) | ((twice == increment) & (q % 2 == 1)))
    outside = (steps > MAX_RAW // increment) | (steps < -(2**63 // increment))
    return np.asarray(np.where(outside, 0, steps) * increment, dtype=np.int64), outside


def _round_decimal(value: Decimal, increment: int) -> int:
    with localcontext() as ctx:
        # Enough digits that neither the shift nor the division rounds before the final
        # half-to-even step: "1640.125" followed by 80 zeros and a 1 is above the half tick.
        ctx.prec = len(value.as_tuple().digits) + 40
        steps = (value.scaleb(FIXED_PRECISION) / Decimal(increment)).quantize(
            Decimal(1), rounding=ROUND_HALF_EVEN
        )
    return int(steps) * increment


class _Reader:
    """Turns the columns of one :class:`Frame` into validated raw arrays."""

    __slots__ = ("checks", "frame", "instrument", "round_to_tick")

    def __init__(self, frame: Frame, instrument: Instrument, round_to_tick: bool) -> None:
        self.frame = frame
        self.instrument = instrument
        self.round_to_tick = round_to_tick
        self.checks = v.RowChecks(frame.source, frame.rows, frame.row_numbers, frame.malformed)

    def text(self, field: str) -> Callable[[int], object]:
        frame = self.frame
        return lambda i: frame.cell(field, i)

    def _column_type(self, field: str, ok: Callable[[pa.DataType], bool], what: str) -> pa.ChunkedArray:
        col = self.frame.columns[field]
        if not ok(col.type):
            raise DataError(
                f"{self.frame.source}: column {self.frame.names[field]!r} has type {col.type}, "
                f"which cannot hold {what}"
            )
        return col

    def timestamps(self, field: str, tz: str | None, epoch_unit: EpochUnit | None) -> I64:
        src = self.frame.source
        name = self.frame.names[field]
        col = self._column_type(field, is_time_type, "timestamps")
        if epoch_unit is not None and epoch_unit not in EPOCH_DIGITS:
            raise DataError(f"{src}: epoch_unit {epoch_unit!r} is not one of {sorted(EPOCH_DIGITS)}")
        t = col.type
        numeric = pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t)
        if numeric and epoch_unit is None:
            raise DataError(
                f"{src}: column {name!r} holds numbers ({t}); pass epoch_unit='s', 'ms', 'us' or 'ns'"
            )
        if tz is not None:
            try:
                zoneinfo.ZoneInfo(tz)
            except (zoneinfo.ZoneInfoNotFoundError, ValueError):
                raise DataError(f"{src}: unknown time zone {tz!r}") from None
        parsed = parse_timestamps(col, tz=tz, epoch_unit=epoch_unit)
        status = parsed.status
        text = self.text(field)
        checks = self.checks
        checks.flag(status == MISSING, v.MISSING, name, lambda i: f"empty or NaN ({text(i)!r})")
        naive = not (pa.types.is_timestamp(t) and t.tz is not None) and epoch_unit is None
        zone = f" as a time in {tz}" if naive and tz is not None and tz.upper() != "UTC" else ""
        if pa.types.is_timestamp(t) or pa.types.is_date(t):

            def describe(i: int) -> str:
                # Only two things fail for a typed column; the status tells which.
                if status[i] == OVERFLOW:
                    return f"{text(i)} is outside {_NS_RANGE}{zone}"
                return f"{text(i)} is skipped or repeated by a clock change in {tz}"

        else:
            hint = "" if epoch_unit else "; for epoch numbers pass epoch_unit"
            unit = f" {epoch_unit} since the epoch" if epoch_unit else ""

            def describe(i: int) -> str:
                if status[i] == OVERFLOW:
                    return f"{text(i)!r}{unit} is outside {_NS_RANGE}{zone}"
                return f"cannot read {text(i)!r} as a timestamp{hint if str(text(i)).isdigit() else ''}"

        checks.flag(status != OK, v.INVALID_TIMESTAMP, name, describe)
        return parsed.values

    def shift_timestamps(self, ts: I64, by: int) -> I64:
        """``ts + by`` (``by >= 0``); a row that would pass 2262-04-11 is ``invalid_timestamp``."""
        late = ts > MAX_RAW - by
        text = self.text("timestamp")
        self.checks.flag(
            late,
            v.INVALID_TIMESTAMP,
            self.frame.names["timestamp"],
            lambda i: f"{text(i)} plus the bar interval ({by} ns) is outside {_NS_RANGE}",
        )
        return np.asarray(ts + np.where(late, 0, by), dtype=np.int64)

    def _numbers(self, field: str) -> ParsedColumn:
        col = self._column_type(field, is_number_type, "numbers")
        parsed = parse_fixed(col, FIXED_PRECISION)
        name = self.frame.names[field]
        text = self.text(field)
        status = parsed.status
        self.checks.flag(status == MISSING, v.MISSING, name, lambda i: f"empty or NaN ({text(i)!r})")
        self.checks.flag(
            (status == INVALID) | (status == OVERFLOW),
            v.INVALID_NUMBER,
            name,
            lambda i: f"{text(i)!r} is not a number in range",
        )
        return parsed

    def prices(self, field: str) -> I64:
        parsed = self._numbers(field)
        inst = self.instrument
        inc = inst.price_increment.raw
        values = parsed.values
        status = parsed.status
        name = self.frame.names[field]
        text = self.text(field)
        if self.round_to_tick:
            ok = status == OK
            values[ok], outside = _round_to_increment(values[ok], inc)
            rounded_out = np.zeros(len(values), np.bool_)
            rounded_out[np.flatnonzero(ok)[outside]] = True
            self.checks.flag(
                rounded_out,
                v.INVALID_NUMBER,
                name,
                lambda i: f"price {text(i)!r} rounded to the tick {inst.price_increment} is out of range",
            )
            status[rounded_out] = OVERFLOW
            for row, dec in parsed.inexact.items():
                rounded = _round_decimal(dec, inc)
                if abs(rounded) <= MAX_RAW:
                    values[row] = rounded
                    status[row] = OK
            parsed.inexact.clear()
        ok = status == OK
        inexact_nonpos = np.zeros(len(values), np.bool_)
        for row, dec in parsed.inexact.items():
            inexact_nonpos[row] = dec <= 0
        self.checks.flag(
            (ok & (values <= 0)) | inexact_nonpos,
            v.NON_POSITIVE_PRICE,
            name,
            lambda i: f"price {text(i)!r} is not positive",
        )
        self.checks.flag(
            (ok & (values % inc != 0)) | (status == INEXACT),
            v.OFF_GRID,
            name,
            lambda i: f"price {text(i)!r} is not a multiple of the tick size {inst.price_increment}",
        )
        out = np.zeros(len(values), np.bool_)
        if inst.min_price is not None:
            out |= values < inst.min_price.raw
        if inst.max_price is not None:
            out |= values > inst.max_price.raw
        self.checks.flag(
            ok & out,
            v.OUT_OF_RANGE,
            name,
            lambda i: f"price {text(i)!r} is outside {inst.id}'s range {inst.min_price}..{inst.max_price}",
        )
        return values

    def sizes(self, field: str) -> I64:
        parsed = self._numbers(field)
        inst = self.instrument
        inc = inst.size_increment.raw
        values = parsed.values
        status = parsed.status
        name = self.frame.names[field]
        text = self.text(field)
        ok = status == OK
        inexact_neg = np.zeros(len(values), np.bool_)
        for row, dec in parsed.inexact.items():
            inexact_neg[row] = dec < 0
        self.checks.flag(
            (ok & (values < 0)) | inexact_neg,
            v.NEGATIVE_SIZE,
            name,
            lambda i: f"size {text(i)!r} is negative",
        )
        self.checks.flag(
            (ok & (values % inc != 0)) | (status == INEXACT),
            v.OFF_GRID,
            name,
            lambda i: f"size {text(i)!r} is not a multiple of the size increment {inst.size_increment}",
        )
        return values

    def finish(
        self, ts: I64, fields: Sequence[I64], check_duplicates: bool, on_error: v.OnError
    ) -> tuple[Bools, dict[str, int]]:
        ts_name = self.frame.names["timestamp"]
        self.checks.check_order(ts, ts_name)
        if check_duplicates:
            self.checks.check_duplicates(ts, fields, ts_name)
        return self.checks.finish(on_error)


def load_trade_ticks(
    path: str | os.PathLike[str],
    instrument: Instrument,
    *,
    columns: Mapping[str, str] | None = None,
    file_format: FileFormat | None = None,
    tz: str | None = None,
    epoch_unit: EpochUnit | None = None,
    round_to_tick: bool = False,
    on_error: v.OnError = "raise",
    check_duplicates: bool = False,
) -> LoadResult[TradeTick]:
    """Load trades (``timestamp``, ``price``, ``size``) for ``instrument``.

    Parameters
    ----------
    path:
        A ``.csv`` (optionally compressed, e.g. ``.csv.gz``) or ``.parquet`` file.
    instrument:
        Sets the instrument id and the price and size grids.
    columns:
        Logical field -> column name, for fields whose column is not one of the default
        spellings in :data:`~tradeloop.data.columns.DEFAULT_COLUMNS`.
    file_format:
        ``"csv"`` or ``"parquet"`` when the file name does not tell.
    tz:
        IANA zone of naive timestamps (default UTC).
    epoch_unit:
        ``"s"``, ``"ms"``, ``"us"`` or ``"ns"`` when timestamps are epoch numbers.
    round_to_tick:
        Round prices half-to-even onto the tick grid instead of rejecting them.
    on_error:
        ``"raise"`` for the earliest bad row, or ``"skip"`` bad rows and count them.
    check_duplicates:
        Reject rows equal in timestamp, price and size to an earlier row. Off by default:
        identical trades in the same millisecond are common and real.

    Raises
    ------
    DataError
        Naming file, data row and column, for the first bad row (``on_error="raise"``), or
        for a problem with the file as a whole (missing column, unreadable file).
    """
    _check_on_error(path, on_error)
    frame = read_frame(path, ("timestamp", "price", "size"), columns, file_format)
    reader = _Reader(frame, instrument, round_to_tick)
    ts = reader.timestamps("timestamp", tz, epoch_unit)
    price = reader.prices("price")
    size = reader.sizes("size")
    keep, skipped = reader.finish(ts, (price, size), check_duplicates, on_error)
    data = trade_ticks_from_arrays(instrument, ts[keep], price[keep], size[keep])
    return LoadResult(data, skipped, frame.rows + len(frame.malformed), frame.source)


def load_quote_ticks(
    path: str | os.PathLike[str],
    instrument: Instrument,
    *,
    columns: Mapping[str, str] | None = None,
    file_format: FileFormat | None = None,
    tz: str | None = None,
    epoch_unit: EpochUnit | None = None,
    round_to_tick: bool = False,
    on_error: v.OnError = "raise",
    check_duplicates: bool = False,
) -> LoadResult[QuoteTick]:
    """Load quotes (``timestamp``, ``bid``, ``ask``, ``bid_size``, ``ask_size``).

    Parameters are those of :func:`load_trade_ticks`. A quote whose bid is above its ask
    (crossed) is a bad row; a locked quote (bid equal to ask) is accepted.
    """
    _check_on_error(path, on_error)
    frame = read_frame(path, ("timestamp", "bid", "ask", "bid_size", "ask_size"), columns, file_format)
    reader = _Reader(frame, instrument, round_to_tick)
    ts = reader.timestamps("timestamp", tz, epoch_unit)
    bid = reader.prices("bid")
    ask = reader.prices("ask")
    bid_size = reader.sizes("bid_size")
    ask_size = reader.sizes("ask_size")
    bid_text = reader.text("bid")
    ask_text = reader.text("ask")
    reader.checks.flag(
        bid > ask,
        v.CROSSED_QUOTE,
        frame.names["bid"],
        lambda i: f"bid {bid_text(i)!r} is above ask {ask_text(i)!r}",
    )
    keep, skipped = reader.finish(ts, (bid, ask, bid_size, ask_size), check_duplicates, on_error)
    data = quote_ticks_from_arrays(instrument, ts[keep], bid[keep], ask[keep], bid_size[keep], ask_size[keep])
    return LoadResult(data, skipped, frame.rows + len(frame.malformed), frame.source)


def load_bars(
    path: str | os.PathLike[str],
    instrument: Instrument,
    spec: BarSpec,
    *,
    bar_timestamp: BarTimestamp = "close",
    columns: Mapping[str, str] | None = None,
    file_format: FileFormat | None = None,
    tz: str | None = None,
    epoch_unit: EpochUnit | None = None,
    round_to_tick: bool = False,
    on_error: v.OnError = "raise",
    check_duplicates: bool = True,
) -> LoadResult[Bar]:
    """Load OHLCV bars (``timestamp``, ``open``, ``high``, ``low``, ``close``, ``volume``).

    Parameters
    ----------
    spec:
        The bars' aggregation, such as ``BarSpec.parse("1-MINUTE")``.
    bar_timestamp:
        Whether the file's timestamp is each bar's ``"close"`` (tradeloop's convention, the
        default) or its ``"open"`` (the loader adds ``spec.interval_ns``).
    check_duplicates:
        Reject a bar equal in timestamp and every field to an earlier one (on by default).

    Other parameters are those of :func:`load_trade_ticks`. A bar whose high is below its
    low, or whose open or close is outside ``[low, high]``, is a bad row (``invalid_ohlc``).
    """
    if bar_timestamp not in ("open", "close"):
        raise DataError(f"{path}: bar_timestamp must be 'open' or 'close', got {bar_timestamp!r}")
    _check_on_error(path, on_error)
    fields = ("timestamp", "open", "high", "low", "close", "volume")
    frame = read_frame(path, fields, columns, file_format)
    reader = _Reader(frame, instrument, round_to_tick)
    ts = reader.timestamps("timestamp", tz, epoch_unit)
    o = reader.prices("open")
    h = reader.prices("high")
    lo = reader.prices("low")
    c = reader.prices("close")
    vol = reader.sizes("volume")
    names = frame.names
    text = reader.text

    def ohlc(i: int) -> str:
        return (
            f"open {text('open')(i)!r}, high {text('high')(i)!r}, low {text('low')(i)!r}, "
            f"close {text('close')(i)!r} are not consistent"
        )

    checks = reader.checks
    checks.flag(h < lo, v.INVALID_OHLC, names["high"], lambda i: f"high below low: {ohlc(i)}")
    checks.flag(
        (o < lo) | (o > h), v.INVALID_OHLC, names["open"], lambda i: f"open outside [low, high]: {ohlc(i)}"
    )
    checks.flag(
        (c < lo) | (c > h), v.INVALID_OHLC, names["close"], lambda i: f"close outside [low, high]: {ohlc(i)}"
    )
    if bar_timestamp == "open":
        ts = reader.shift_timestamps(ts, spec.interval_ns)
    keep, skipped = reader.finish(ts, (o, h, lo, c, vol), check_duplicates, on_error)
    data = bars_from_arrays(instrument, spec, ts[keep], o[keep], h[keep], lo[keep], c[keep], vol[keep])
    return LoadResult(data, skipped, frame.rows + len(frame.malformed), frame.source)
