"""Vectorised, exact parsing of decimal numbers and timestamps out of Arrow columns.

Numbers never pass through a binary float: a decimal string is split into its integer and
fraction digits by one regular expression over the whole column, and each part is cast to
``int64`` by Arrow, so ``"0.1"`` becomes exactly ``100_000_000`` at nine decimals. Rows that
the fast path cannot take (exponent notation, more digits than fit) go through
:class:`decimal.Decimal` one by one; they are rare in market data.

Each parser returns per-row values plus a status code, never raising for bad cells: the
loaders decide whether a bad row is an error or a skip, and name file, row and column.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Final, Literal

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from tradeloop.model.objects import MAX_RAW

__all__ = [
    "EPOCH_DIGITS",
    "EpochUnit",
    "INEXACT",
    "INVALID",
    "MISSING",
    "OK",
    "OVERFLOW",
    "ParsedColumn",
    "is_number_type",
    "is_time_type",
    "parse_fixed",
    "parse_timestamps",
]

I64 = npt.NDArray[np.int64]
U8 = npt.NDArray[np.uint8]
Bools = npt.NDArray[np.bool_]

OK: Final = 0
MISSING: Final = 1
"""Null, empty, or NaN."""
INVALID: Final = 2
"""Not a number / not a timestamp (also infinities, and ambiguous local times)."""
INEXACT: Final = 3
"""A number with more decimals than the requested scale (kept as a Decimal for rounding)."""
OVERFLOW: Final = 4
"""A number whose scaled value does not fit a signed 64-bit integer; for timestamps, an instant
outside int64 nanoseconds (1677-09-21..2262-04-11)."""

EpochUnit = Literal["s", "ms", "us", "ns"]
EPOCH_DIGITS: Final[dict[str, int]] = {"s": 9, "ms": 6, "us": 3, "ns": 0}
"""Decimal digits that turn a count of the unit into nanoseconds."""
_UNIT_NS: Final = {unit: 10**d for unit, d in EPOCH_DIGITS.items()}
_DAY_NS: Final = 86_400 * 10**9
_HALF_RANGE: Final = 2**62
"""Far enough from both ends of int64 that a time-zone offset (under a day) cannot cross it."""

_NUMBER = r"^(?P<sign>[+-]?)(?P<int>\d*)(?:\.(?P<frac>\d*))?$"
# What the exact Decimal path accepts. Decimal itself also reads "1_000", non-ASCII digits
# and "Infinity"; none of those is a number in a data file.
_STRICT_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?", re.ASCII)
# Arrow's string-to-decimal cast (pyarrow 26) is wrong outside a narrow domain: it wraps
# silently past 38 - scale integer digits, reads some long texts ("1640.25" and 46 zeros)
# and "1e-1000" as 0, and crashes the process on "1e-999999999". Columns whose every cell
# is at most 29 bytes with no exponent stay where it is exact (checked against Decimal on
# random texts); the rest take the regular-expression path.
_DECIMAL_CAST_MAX_CHARS: Final = 29
_DECIMAL_CAST_MAX_DIGITS: Final = 38 - _DECIMAL_CAST_MAX_CHARS
_MISSING_WORDS = pa.array(["", "nan", "na", "null", "none", "n/a"])
# Arrow's ISO-8601 cast accepts these shapes; anything else is rejected up front so that a
# column full of garbage is not bisected row by row. Text is upper-cased first: ISO 8601
# allows a lowercase "t" and "z", which Arrow's parser does not.
_ISO = (
    r"^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}(?::\d{2}(?::\d{2}(?:\.\d{1,9})?)?)?)?"
    r"(?:Z|[+-]\d{2}(?::?\d{2})?)?$"
)
# An offset only counts after a time of day: the "-01" ending "2024-01-01" is the day.
_ZONE = r"[T ]\d{2}(?::\d{2}(?::\d{2}(?:\.\d{1,9})?)?)?(?:Z|[+-]\d{2}(?::?\d{2})?)$"


@dataclass(slots=True)
class ParsedColumn:
    """Per-row results: ``values`` is meaningful where ``status == OK``."""

    values: I64
    status: U8
    inexact: dict[int, Decimal] = field(default_factory=dict)
    """Row index -> exact value, for rows with status ``INEXACT``."""


def is_number_type(t: pa.DataType) -> bool:
    """Whether :func:`parse_fixed` reads columns of Arrow type ``t``."""
    return bool(
        pa.types.is_integer(t)
        or pa.types.is_floating(t)
        or pa.types.is_decimal(t)
        or pa.types.is_string(t)
        or pa.types.is_large_string(t)
        or pa.types.is_null(t)
    )


def is_time_type(t: pa.DataType) -> bool:
    """Whether :func:`parse_timestamps` reads columns of Arrow type ``t``."""
    return bool(pa.types.is_timestamp(t) or pa.types.is_date(t) or is_number_type(t))


def _as_array(col: pa.Array | pa.ChunkedArray) -> pa.Array:
    if isinstance(col, pa.ChunkedArray):
        return col.combine_chunks() if col.num_chunks != 1 else col.chunk(0)
    return col


def _np_bool(arr: pa.Array | pa.ChunkedArray) -> Bools:
    return np.asarray(_as_array(arr).fill_null(False).to_numpy(zero_copy_only=False), dtype=np.bool_)


def _np_i64(arr: pa.Array | pa.ChunkedArray) -> I64:
    return np.asarray(_as_array(arr).fill_null(0).to_numpy(zero_copy_only=False), dtype=np.int64)


def _missing_mask(text: pa.Array) -> Bools:
    """Null, blank, or a NaN/NA spelling; ``text`` is already trimmed."""
    lowered = pc.utf8_lower(text)
    return _np_bool(pc.is_in(lowered, value_set=_MISSING_WORDS)) | _np_bool(text.is_null())


def parse_fixed(col: pa.Array | pa.ChunkedArray, digits: int) -> ParsedColumn:
    """Parse a column exactly into integers scaled by ``10**digits``.

    Strings are read as decimals (``"1640.25"``, ``"-3"``, ``".5"``, ``"1e3"``); integer columns
    are scaled; float columns are read through their shortest round-trip text, so a float
    ``0.1`` means the decimal ``0.1``; decimal columns are exact.
    """
    arr = _as_array(col)
    n = len(arr)
    t = arr.type
    if pa.types.is_null(t):
        return ParsedColumn(np.zeros(n, np.int64), np.full(n, MISSING, np.uint8))
    if pa.types.is_integer(t):
        return _parse_integers(arr, digits)
    if pa.types.is_floating(t) or pa.types.is_decimal(t):
        # Arrow prints floats in shortest round-trip form ("0.1", "1e+22"), so the string path
        # recovers the decimal the float was written from. NaN prints as "nan" (missing).
        arr = pc.cast(arr, pa.string())
    return _parse_strings(arr, digits)


def _parse_integers(arr: pa.Array, digits: int) -> ParsedColumn:
    n = len(arr)
    status = np.zeros(n, np.uint8)
    status[_np_bool(arr.is_null())] = MISSING
    if pa.types.is_uint64(arr.type):
        big = _np_bool(pc.greater(arr, pa.scalar(MAX_RAW, pa.uint64())))
        status[big & (status == OK)] = OVERFLOW
        # The replacement must be a uint64 too: an int64 0 makes Arrow cast the whole column
        # to int64 first, which fails on the very values being replaced.
        arr = pc.if_else(pa.array(big), pa.scalar(0, pa.uint64()), arr)
    ints = _np_i64(pc.cast(arr, pa.int64()))
    scale = 10**digits
    limit = MAX_RAW // scale
    status[((ints > limit) | (ints < -limit)) & (status == OK)] = OVERFLOW
    values = np.where(status == OK, ints, 0) * np.int64(scale)
    return ParsedColumn(values.astype(np.int64), status)


def _try_decimal_cast(arr: pa.Array, digits: int) -> ParsedColumn | None:
    """The fastest exact path: Arrow's own decimal parser, for columns with no odd cell.

    A decimal128 holds the unscaled integer in two 64-bit words; when the high word is just
    the sign extension of the low one, the low word is the exact scaled value. Any cell
    Arrow cannot parse exactly (blank, NaN, padded, too many decimals) makes the whole cast
    fail, and the caller takes the per-row path instead; so do columns outside the domain
    where Arrow's parser is known to be exact (see ``_DECIMAL_CAST_MAX_CHARS``).
    """
    if digits > _DECIMAL_CAST_MAX_DIGITS or len(arr) == 0:
        return None
    longest = pc.max(pc.binary_length(arr)).as_py()
    if longest is not None and longest > _DECIMAL_CAST_MAX_CHARS:
        return None
    if pc.any(pc.match_substring(arr, "e")).as_py() or pc.any(pc.match_substring(arr, "E")).as_py():
        return None
    try:
        dec = pc.cast(arr, pa.decimal128(38, digits))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    n = len(dec)
    words = np.frombuffer(dec.buffers()[1], dtype=np.int64).reshape(-1, 2)[dec.offset : dec.offset + n]
    low = words[:, 0].copy()
    high = words[:, 1]
    status = np.zeros(n, np.uint8)
    status[(high != (low >> 63)) | (low == np.iinfo(np.int64).min)] = OVERFLOW
    status[_np_bool(dec.is_null())] = MISSING
    low[status != OK] = 0
    return ParsedColumn(low, status)


def _parse_strings(arr: pa.Array, digits: int) -> ParsedColumn:
    fast_all = _try_decimal_cast(arr, digits)
    if fast_all is not None:
        return fast_all
    n = len(arr)
    text = pc.utf8_trim_whitespace(arr)
    missing = _missing_mask(text)
    parts = pc.extract_regex(text, _NUMBER)
    matched = _np_bool(parts.is_valid())
    sign = parts.field("sign")
    int_text = parts.field("int")
    frac_raw = parts.field("frac")
    # Trailing zeros carry no value: "1640.2500000000" stays on the fast path.
    frac_text = pc.utf8_rtrim(frac_raw, characters="0")
    int_len = _np_i64(pc.utf8_length(int_text))
    frac_len = _np_i64(pc.utf8_length(frac_text))
    has_digit = (int_len > 0) | (_np_i64(pc.utf8_length(frac_raw)) > 0)
    fits = int_len <= 18
    if digits == 0:
        # Nineteen digits fit an int64 up to its maximum; equal-length digit strings compare
        # like the numbers they spell.
        fits |= (int_len == 19) & _np_bool(pc.less_equal(int_text, str(MAX_RAW)))
    fast = matched & has_digit & fits & (frac_len <= digits) & ~missing
    fast_arr = pa.array(fast)

    int_safe = pc.if_else(fast_arr, pc.utf8_lpad(int_text, width=1, padding="0"), "0")
    ints = _np_i64(pc.cast(int_safe, pa.int64()))
    if digits:
        frac_safe = pc.if_else(fast_arr, pc.utf8_rpad(frac_text, width=digits, padding="0"), "0")
        fracs = _np_i64(pc.cast(frac_safe, pa.int64()))
    else:
        fracs = np.zeros(n, np.int64)
    scale = 10**digits
    limit_int, limit_frac = divmod(MAX_RAW, scale)
    overflow = fast & ((ints > limit_int) | ((ints == limit_int) & (fracs > limit_frac)))
    ok = fast & ~overflow
    values = np.where(ok, ints, 0) * np.int64(scale) + np.where(ok, fracs, 0)
    negative = _np_bool(pc.equal(sign, "-"))
    values = np.where(negative, -values, values).astype(np.int64)

    status = np.full(n, OK, np.uint8)
    status[missing] = MISSING
    status[overflow] = OVERFLOW
    parsed = ParsedColumn(values, status)
    slow = np.flatnonzero(~fast & ~missing)
    if slow.size:
        _parse_slow(text.take(pa.array(slow)).to_pylist(), slow, digits, parsed)
    return parsed


def _parse_slow(texts: list[str | None], rows: I64, digits: int, out: ParsedColumn) -> None:
    """The exact Decimal path for the rows the vectorised path cannot take.

    The exponent is shifted directly rather than by Decimal arithmetic, which rounds to the
    context's 28 digits (it would read ``"1640.25000...0001"`` as 1640.25). Exponents past
    Decimal's own limits (``"1e-99999999999999999999"``) make the text not a number.
    """
    for row, text in zip(rows.tolist(), texts, strict=True):
        if text is None or _STRICT_NUMBER.fullmatch(text) is None:
            out.status[row] = INVALID
            continue
        try:
            dec = Decimal(text)
            sign, coefficient, exponent = dec.as_tuple()
            scaled = Decimal((sign, coefficient, int(exponent) + digits))
            too_big = scaled.copy_abs() > MAX_RAW
            whole = not too_big and scaled == scaled.to_integral_value()
        except (ArithmeticError, ValueError):
            out.status[row] = INVALID
            continue
        if too_big:
            out.status[row] = OVERFLOW
        elif whole:
            out.values[row] = int(scaled)
            out.status[row] = OK
        else:
            out.status[row] = INEXACT
            out.inexact[row] = dec


def _robust(arr: pa.Array, fn: Callable[[pa.Array], pa.Array]) -> tuple[I64, Bools]:
    """Apply an all-or-nothing Arrow kernel, isolating the rows it fails on by bisection.

    Arrow casts raise for the whole array when one value is bad; halving the failing range
    finds the bad rows in ``O(bad * log n)`` kernel calls and keeps the good ones.
    """
    n = len(arr)
    values = np.zeros(n, np.int64)
    ok = np.zeros(n, np.bool_)
    stack = [(0, n)]
    while stack:
        lo, hi = stack.pop()
        if lo >= hi:
            continue
        try:
            result = fn(arr.slice(lo, hi - lo))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, ValueError):
            if hi - lo > 1:
                mid = (lo + hi) // 2
                stack.append((mid, hi))
                stack.append((lo, mid))
            continue
        values[lo:hi] = _np_i64(pc.cast(result, pa.int64()))
        ok[lo:hi] = True
    return values, ok


def _caster(target: pa.DataType) -> Callable[[pa.Array], pa.Array]:
    def cast(a: pa.Array) -> pa.Array:
        return pc.cast(a, target)

    return cast


def _temporal_ns(arr: pa.Array) -> tuple[I64, Bools]:
    """Nanoseconds of an Arrow timestamp or date column, and which rows fit in int64.

    Arrow's own cast to nanoseconds fails for the whole column on a single value before
    1677-09-21 or after 2262-04-11; checking the bounds on the stored counts makes that an
    invalid row instead, without bisecting.
    """
    t = arr.type
    if pa.types.is_timestamp(t):
        scale = _UNIT_NS[t.unit]
        counts = _np_i64(pc.cast(arr, pa.int64()))
    elif pa.types.is_date32(t):
        scale = _DAY_NS
        counts = _np_i64(pc.cast(arr, pa.int32()))
    else:  # date64: milliseconds
        scale = _UNIT_NS["ms"]
        counts = _np_i64(pc.cast(arr, pa.int64()))
    ok = (counts >= -(2**63 // scale)) & (counts <= (2**63 - 1) // scale)
    return np.where(ok, counts, 0) * np.int64(scale), ok


def _localize(values: I64, ok: Bools, tz: str | None) -> tuple[Bools, Bools]:
    """Read ``values[ok]`` (naive nanoseconds) as wall-clock times in ``tz``, in place.

    Returns which rows are still good, and which of the others fell outside int64
    nanoseconds. A wall time that a DST change skips or repeats has no single instant; one
    within the zone's offset of 1677-09-21 or 2262-04-11 may have none that fits, and Arrow's
    ``assume_timezone`` then wraps silently to the other end of the range. Those are found
    by their sign flipping (no offset moves a time across half the range).
    """
    outside = np.zeros(len(ok), np.bool_)
    if tz is None or tz.upper() == "UTC" or not ok.any():
        return ok, outside
    good = np.flatnonzero(ok)
    wall = values[good]
    naive = pc.cast(pa.array(wall), pa.timestamp("ns"))
    local, local_ok = _robust(
        naive, lambda a: pc.assume_timezone(a, tz, ambiguous="raise", nonexistent="raise")
    )
    wrapped = local_ok & (
        ((wall > _HALF_RANGE) & (local < -_HALF_RANGE)) | ((wall < -_HALF_RANGE) & (local > _HALF_RANGE))
    )
    values[good] = np.where(wrapped, 0, local)
    still = ok.copy()
    still[good] = local_ok & ~wrapped
    outside[good] = wrapped
    return still, outside


def parse_timestamps(
    col: pa.Array | pa.ChunkedArray, *, tz: str | None, epoch_unit: EpochUnit | None
) -> ParsedColumn:
    """Parse a column into integer nanoseconds since the Unix epoch (UTC).

    * Arrow timestamp and date columns: used as they are; naive ones are wall-clock in ``tz``.
    * ``epoch_unit`` given: the values (integers, or decimal text such as ``"1378054800.083"``)
      count that unit since the epoch; ``tz`` does not apply.
    * Otherwise strings in ISO-8601 form: an explicit ``Z`` or ``+hh:mm`` offset wins, naive
      times are wall-clock in ``tz`` (UTC when ``None``).

    Numeric columns without ``epoch_unit`` are rejected by the caller (their unit is a guess).
    Rows whose instant lies outside int64 nanoseconds have status ``OVERFLOW`` (as far as it
    can be told apart: ISO text past the range is ``INVALID``); other bad rows ``INVALID``.
    """
    arr = _as_array(col)
    n = len(arr)
    t = arr.type
    if pa.types.is_timestamp(t) or pa.types.is_date(t):
        status = np.zeros(n, np.uint8)
        status[_np_bool(arr.is_null())] = MISSING
        values, fits = _temporal_ns(arr)
        status[~fits & (status == OK)] = OVERFLOW
        ok = fits
        if not (pa.types.is_timestamp(t) and t.tz is not None):
            ok, outside = _localize(values, fits, tz)
            status[outside & (status == OK)] = OVERFLOW
        status[~ok & (status == OK)] = INVALID
        return ParsedColumn(values, status)
    if epoch_unit is not None:
        parsed = parse_fixed(arr, EPOCH_DIGITS[epoch_unit])
        # A fraction of a nanosecond is not a time tradeloop can hold.
        parsed.status[parsed.status == INEXACT] = INVALID
        parsed.inexact.clear()
        return parsed
    return _parse_iso(arr, tz)


def _parse_iso(arr: pa.Array, tz: str | None) -> ParsedColumn:
    n = len(arr)
    text = pc.ascii_upper(pc.utf8_trim_whitespace(pc.cast(arr, pa.string())))
    missing = _missing_mask(text)
    shaped = _np_bool(pc.match_substring_regex(text, _ISO)) & ~missing
    zoned = shaped & _np_bool(pc.match_substring_regex(text, _ZONE))
    naive = shaped & ~zoned
    status = np.full(n, INVALID, np.uint8)
    status[missing] = MISSING
    values = np.zeros(n, np.int64)
    for mask, target in ((naive, pa.timestamp("ns")), (zoned, pa.timestamp("ns", tz="UTC"))):
        rows = np.flatnonzero(mask)
        if not rows.size:
            continue
        subset = text.take(pa.array(rows))
        got, ok = _robust(subset, _caster(target))
        if target.tz is None:
            ok, outside = _localize(got, ok, tz)
            status[rows[outside]] = OVERFLOW
        values[rows[ok]] = got[ok]
        status[rows[ok]] = OK
    return ParsedColumn(values, status)
