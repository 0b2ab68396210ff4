"""The packaged sample: real E-mini S&P 500 futures trades, 2013-09-01 to 2013-09-03.

500,000 trades from the MIT-licensed ``mlfinpy`` 0.1.2 package (see
``tradeloop/sample_data/LICENSE-mlfinpy.txt``), converted by ``scripts/make_sample_data.py``
into ``es_trades_2013-09.parquet`` with columns ``ts_event`` (int64 ns), ``price_raw``
(int64, price times ``10**9``) and ``size`` (int64 contracts), in the source's order.

Timezone: the source timestamps carry no zone and are stored *as written*, read as UTC.
The session opens at 17:00 on Sunday 2013-09-01, which is when CME Globex opens in US
Central time, so the wall-clock times are most likely Chicago time (CDT, UTC-5): the true
UTC instant is five hours later. Bars and intraday logic see the clock as written.
"""

from __future__ import annotations

from importlib.resources import files
from typing import Final

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from tradeloop.core.errors import DataError
from tradeloop.data.aggregation import aggregate_trades_to_bars
from tradeloop.data.arrays import trade_ticks_from_arrays
from tradeloop.model.data import Bar, BarSpec, TradeTick
from tradeloop.model.enums import BarAggregation
from tradeloop.model.instruments import FuturesContract, Instrument
from tradeloop.model.objects import FIXED_SCALAR

__all__ = [
    "SAMPLE_ROWS",
    "SAMPLE_TRADES_FILE",
    "load_sample_bars",
    "load_sample_trades",
    "sample_instrument",
]

SAMPLE_TRADES_FILE: Final = "es_trades_2013-09.parquet"
SAMPLE_ROWS: Final = 500_000
_ONE_MINUTE: Final = BarSpec(1, BarAggregation.MINUTE)


def sample_instrument() -> Instrument:
    """The sample's instrument: ``ES.CME``, 0.25 tick, 50 USD a point."""
    return FuturesContract("ES.CME")


def _read_sample() -> pa.Table:
    resource = files("tradeloop.sample_data").joinpath(SAMPLE_TRADES_FILE)
    try:
        with resource.open("rb") as fh:
            return pq.read_table(fh, columns=["ts_event", "price_raw", "size"])
    except (OSError, pa.ArrowException) as exc:
        raise DataError(f"packaged sample {SAMPLE_TRADES_FILE} cannot be read: {exc}") from exc


def load_sample_trades() -> list[TradeTick]:
    """The 500,000 sample trades for :func:`sample_instrument`, in the source's order.

    Many trades share a timestamp (one aggressive order filling several resting ones); their
    order is the source file's.
    """
    table = _read_sample()
    ts = table.column("ts_event").to_numpy()
    if ts.size > 1 and bool(np.any(ts[1:] < ts[:-1])):
        raise DataError(f"packaged sample {SAMPLE_TRADES_FILE}: timestamps are out of order")
    price = table.column("price_raw").to_numpy()
    size = table.column("size").to_numpy().astype(np.int64) * FIXED_SCALAR
    return trade_ticks_from_arrays(sample_instrument(), ts, price, size)


def load_sample_bars(spec: BarSpec = _ONE_MINUTE) -> list[Bar]:
    """Time bars of the sample trades (see :mod:`tradeloop.data.aggregation` for conventions)."""
    return aggregate_trades_to_bars(load_sample_trades(), sample_instrument(), spec)
