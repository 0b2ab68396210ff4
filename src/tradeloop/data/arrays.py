"""Build market-data objects from column arrays of raw integers, fast.

Loaders, the synthetic generators and the packaged sample all end here. Market data repeats
a few hundred distinct prices and sizes over millions of rows, so each distinct raw becomes
one shared immutable :class:`Price` / :class:`Quantity` (validated once), and the rows are
built in one comprehension that only indexes into those.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Final, TypeVar

import numpy as np
import numpy.typing as npt

from tradeloop.core.errors import DataError
from tradeloop.core.ids import InstrumentId
from tradeloop.model.data import Bar, BarSpec, QuoteTick, TradeTick
from tradeloop.model.enums import AggressorSide
from tradeloop.model.instruments import Instrument
from tradeloop.model.objects import Price, Quantity

__all__ = ["bars_from_arrays", "quote_ticks_from_arrays", "trade_ticks_from_arrays"]

I64 = npt.NDArray[np.int64]
ArrayLike = I64 | Sequence[int]
T = TypeVar("T")


_I64_MIN: Final = -(2**63)
_I64_END: Final = 2**63
"""One past the largest int64 (exact as a float, unlike the largest itself)."""


def _column(values: ArrayLike, n: int | None, name: str) -> I64:
    """``values`` as int64, refusing what NumPy's cast would wrap, truncate or guess."""
    arr = np.asarray(values)
    if arr.dtype != np.int64:
        arr = _to_int64(arr, name)
    if arr.ndim != 1 or (n is not None and arr.shape[0] != n):
        raise DataError(f"{name}: expected a 1-d array of {n} integers, got shape {arr.shape}")
    return arr


def _is_integer(x: object) -> bool:
    return isinstance(x, int | np.integer) and not isinstance(x, bool | np.bool_)


def _to_int64(arr: npt.NDArray[Any], name: str) -> I64:
    """``arr`` as int64 when every element is an integer that fits; else the first that is not."""
    kind = arr.dtype.kind
    if arr.size == 0 and kind in "iufb":
        return np.zeros(arr.shape, np.int64)
    if kind == "i":
        return arr.astype(np.int64)
    if kind == "u":
        bad = arr > np.uint64(2**63 - 1)
    elif kind == "f":
        with np.errstate(invalid="ignore"):
            bad = ~np.isfinite(arr) | (arr != np.floor(arr)) | (arr < _I64_MIN) | (arr >= _I64_END)
    elif kind == "O":
        # Python integers too large for NumPy's own integer types (or a mix of types).
        flat = [not (_is_integer(x) and _I64_MIN <= int(x) < _I64_END) for x in arr.reshape(-1).tolist()]
        bad = np.asarray(flat, np.bool_).reshape(arr.shape)
    else:
        raise DataError(f"{name}: expected integers, got an array of {arr.dtype}")
    if bad.any():
        at = tuple(int(k) for k in np.argwhere(bad)[0])
        where = at[0] if len(at) == 1 else at
        raise DataError(f"{name}[{where}]: {arr.item(at)!r} is not an integer that fits int64")
    return arr.astype(np.int64)


def _interned(raws: I64, make: Callable[[int], T]) -> tuple[list[T], list[int]]:
    uniq, inverse = np.unique(raws, return_inverse=True)
    return [make(r) for r in uniq.tolist()], inverse.reshape(-1).tolist()


def _prices(instrument: Instrument, raws: I64, what: str) -> tuple[list[Price], list[int]]:
    inc = instrument.price_increment.raw
    pp = instrument.price_precision

    def make(raw: int) -> Price:
        if raw <= 0 or raw % inc:
            raise DataError(
                f"{instrument.id}: {what} raw {raw} is not a positive multiple of the tick "
                f"{instrument.price_increment}"
            )
        return Price(raw, pp)

    return _interned(raws, make)


def _sizes(instrument: Instrument, raws: I64, what: str) -> tuple[list[Quantity], list[int]]:
    inc = instrument.size_increment.raw
    sp = instrument.size_precision

    def make(raw: int) -> Quantity:
        if raw < 0 or raw % inc:
            raise DataError(
                f"{instrument.id}: {what} raw {raw} is not a non-negative multiple of "
                f"{instrument.size_increment}"
            )
        return Quantity(raw, sp)

    return _interned(raws, make)


def trade_ticks_from_arrays(
    instrument: Instrument,
    ts_event: ArrayLike,
    price_raw: ArrayLike,
    size_raw: ArrayLike,
    aggressor_side: Sequence[AggressorSide] | None = None,
) -> list[TradeTick]:
    """Trade ticks from equal-length columns (raws are values times ``10**9``).

    ``ts_init`` equals ``ts_event``. Each distinct price must be positive and on the tick
    grid, each distinct size non-negative and on the size grid.

    Raises
    ------
    DataError
        On a length mismatch or a price or size off its grid.
    """
    ts = _column(ts_event, None, "ts_event")
    n = ts.shape[0]
    prices, pi = _prices(instrument, _column(price_raw, n, "price_raw"), "price")
    sizes, si = _sizes(instrument, _column(size_raw, n, "size_raw"), "size")
    iid: InstrumentId = instrument.id
    if aggressor_side is None:
        return [
            TradeTick(ts_event=t, ts_init=t, instrument_id=iid, price=prices[a], size=sizes[b])
            for t, a, b in zip(ts.tolist(), pi, si, strict=True)
        ]
    if len(aggressor_side) != n:
        raise DataError(f"aggressor_side: expected {n} values, got {len(aggressor_side)}")
    return [
        TradeTick(ts_event=t, ts_init=t, instrument_id=iid, price=prices[a], size=sizes[b], aggressor_side=s)
        for t, a, b, s in zip(ts.tolist(), pi, si, aggressor_side, strict=True)
    ]


def quote_ticks_from_arrays(
    instrument: Instrument,
    ts_event: ArrayLike,
    bid_raw: ArrayLike,
    ask_raw: ArrayLike,
    bid_size_raw: ArrayLike,
    ask_size_raw: ArrayLike,
) -> list[QuoteTick]:
    """Quote ticks from equal-length raw columns; see :func:`trade_ticks_from_arrays`."""
    ts = _column(ts_event, None, "ts_event")
    n = ts.shape[0]
    both = np.concatenate([_column(bid_raw, n, "bid_raw"), _column(ask_raw, n, "ask_raw")])
    prices, pi = _prices(instrument, both, "quote price")
    both_sizes = np.concatenate(
        [_column(bid_size_raw, n, "bid_size_raw"), _column(ask_size_raw, n, "ask_size_raw")]
    )
    sizes, si = _sizes(instrument, both_sizes, "quote size")
    iid: InstrumentId = instrument.id
    return [
        QuoteTick(
            ts_event=t,
            ts_init=t,
            instrument_id=iid,
            bid_price=prices[b],
            ask_price=prices[a],
            bid_size=sizes[bs],
            ask_size=sizes[as_],
        )
        for t, b, a, bs, as_ in zip(ts.tolist(), pi[:n], pi[n:], si[:n], si[n:], strict=True)
    ]


def bars_from_arrays(
    instrument: Instrument,
    spec: BarSpec,
    ts_event: ArrayLike,
    open_raw: ArrayLike,
    high_raw: ArrayLike,
    low_raw: ArrayLike,
    close_raw: ArrayLike,
    volume_raw: ArrayLike,
) -> list[Bar]:
    """Bars from equal-length raw columns; ``ts_event`` is each bar's close time.

    Raises
    ------
    DataError
        On a length mismatch, a price or volume off its grid, or a bar whose open or close
        is outside ``[low, high]``.
    """
    ts = _column(ts_event, None, "ts_event")
    n = ts.shape[0]
    o = _column(open_raw, n, "open_raw")
    h = _column(high_raw, n, "high_raw")
    lo = _column(low_raw, n, "low_raw")
    c = _column(close_raw, n, "close_raw")
    bad = np.flatnonzero((h < lo) | (o < lo) | (o > h) | (c < lo) | (c > h))
    if bad.size:
        i = int(bad[0])
        raise DataError(
            f"{instrument.id}: bar {i} (ts_event {int(ts[i])}) has open {int(o[i])}, high {int(h[i])}, "
            f"low {int(lo[i])}, close {int(c[i])} (raws): not a valid OHLC"
        )
    ohlc = np.concatenate([o, h, lo, c])
    prices, pi = _prices(instrument, ohlc, "bar price")
    vols, vi = _sizes(instrument, _column(volume_raw, n, "volume_raw"), "volume")
    iid: InstrumentId = instrument.id
    return [
        Bar(
            ts_event=t,
            ts_init=t,
            instrument_id=iid,
            spec=spec,
            open=prices[a],
            high=prices[b],
            low=prices[c],
            close=prices[d],
            volume=vols[e],
        )
        for t, a, b, c, d, e in zip(
            ts.tolist(), pi[:n], pi[n : 2 * n], pi[2 * n : 3 * n], pi[3 * n :], vi, strict=True
        )
    ]
