"""Binary event contracts: a seeded market that resolves at expiry, and probability series.

:func:`generate_event_contract` simulates one binary event from ``start_ns`` to the
contract's expiry. The event is ``W(1) > c`` for a standard Brownian motion ``W`` on the
event's life scaled to ``[0, 1]``, with ``c`` set so that the event's probability at the start
is ``true_probability``. The *latent* probability at a point is then the exact conditional
probability ``Phi((W(t) - c) / sqrt(1 - t))``: a martingale that is calibrated at every
point and is pulled to 0 or 1 as the expiry nears, the way a well-informed price behaves.

The market quotes that probability with a persistent mispricing (an AR(1) process in
log-odds, so an edge lasts a while and then decays) and a spread of a few ticks that widens
now and then (episodes of thin liquidity). The *model* probability is the latent one plus
independent noise in log-odds: a real but imperfect edge over the market when the model's
noise is smaller than the market's. Every random quantity has its own stream spawned from
``numpy.random.SeedSequence(seed)``, so the same arguments give the same series, and turning
trades on does not change the quotes.

:class:`ProbabilitySeries` holds ``(time, probability)`` points and answers "the latest value
at or before ``t``"; :func:`load_probabilities` reads one from a CSV or Parquet file, and
:meth:`ProbabilitySeries.write_csv` writes one that it reads back exactly.
"""

from __future__ import annotations

import bisect
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from statistics import NormalDist
from typing import Final

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from tradeloop.core.errors import DataError, ValueRangeError
from tradeloop.data.arrays import quote_ticks_from_arrays, trade_ticks_from_arrays
from tradeloop.data.columns import FileFormat, Frame, _detect_format, cell_value, read_csv_columns
from tradeloop.data.parsing import (
    EPOCH_DIGITS,
    OK,
    OVERFLOW,
    EpochUnit,
    is_number_type,
    is_time_type,
    parse_timestamps,
)
from tradeloop.model.data import QuoteTick, TradeTick
from tradeloop.model.enums import AggressorSide
from tradeloop.model.instruments import Instrument
from tradeloop.model.objects import FIXED_SCALAR

__all__ = [
    "EventContractSeries",
    "ProbabilitySeries",
    "generate_event_contract",
    "load_probabilities",
]

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]

_START_NS: Final = 1_704_067_200_000_000_000
"""2024-01-01T00:00:00Z (as ``DEFAULT_START_NS`` of :mod:`tradeloop.data.synthetic`)."""
_ONE_MINUTE_NS: Final = 60_000_000_000
_EPS: Final = 1e-9
"""Probabilities are clipped to ``[_EPS, 1 - _EPS]`` before taking log-odds (about +-20.7)."""
_WIDE_SIZE_FACTOR: Final = 0.1
"""Displayed size shrinks to a tenth while the spread is wide: liquidity is thin."""
_STD_NORMAL: Final = NormalDist()
_erfc = np.frompyfunc(math.erfc, 1, 1)


# -- probability series --------------------------------------------------------------------


def _series_problem(ts: I64, values: F64) -> tuple[int, str] | None:
    """The first bad point of a series (its index and what is wrong), or ``None``."""
    bad = np.flatnonzero(~(np.isfinite(values) & (values >= 0.0) & (values <= 1.0)))
    if bad.size:
        i = int(bad[0])
        return i, f"probability {float(values[i])!r} is not within 0..1"
    back = np.flatnonzero(np.diff(ts) <= 0)
    if back.size:
        i = int(back[0]) + 1
        return i, f"time {int(ts[i])} does not come after the previous point's {int(ts[i - 1])}"
    return None


class ProbabilitySeries:
    """Probabilities of an event over time, in strictly increasing time order.

    Parameters
    ----------
    timestamps:
        UNIX nanoseconds, strictly increasing.
    probabilities:
        One value in ``[0, 1]`` per timestamp.

    Raises
    ------
    ValueRangeError
        On a length mismatch, a value outside ``[0, 1]`` (or NaN), or a time that does not
        come after the one before it.
    """

    __slots__ = ("_ts", "_ts_list", "_values", "_values_list")

    def __init__(self, timestamps: Sequence[int] | I64, probabilities: Sequence[float] | F64) -> None:
        ts = np.array(timestamps, dtype=np.int64)
        values = np.array(probabilities, dtype=np.float64)
        if ts.ndim != 1 or values.shape != ts.shape:
            raise ValueRangeError(
                f"a probability series needs one probability per timestamp, got {values.size} "
                f"probabilities for {ts.size} timestamps"
            )
        problem = _series_problem(ts, values)
        if problem is not None:
            raise ValueRangeError(f"probability series point {problem[0]}: {problem[1]}")
        ts.flags.writeable = False
        values.flags.writeable = False
        self._ts = ts
        self._values = values
        # Plain lists: bisect on a list is several times faster than numpy per single lookup.
        self._ts_list: list[int] = ts.tolist()
        self._values_list: list[float] = values.tolist()

    @property
    def timestamps(self) -> I64:
        """The times (read-only)."""
        return self._ts

    @property
    def values(self) -> F64:
        """The probabilities (read-only)."""
        return self._values

    def __len__(self) -> int:
        return len(self._ts_list)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ProbabilitySeries):
            return NotImplemented
        return np.array_equal(self._ts, other._ts) and np.array_equal(self._values, other._values)

    def __repr__(self) -> str:
        if not self._ts_list:
            return "ProbabilitySeries(empty)"
        return f"ProbabilitySeries({len(self)} points, {self._ts_list[0]}..{self._ts_list[-1]})"

    def at(self, ts_ns: int, *, max_age_ns: int | None = None) -> float | None:
        """The latest probability at or before ``ts_ns``.

        ``None`` before the first point, or when the latest point is more than
        ``max_age_ns`` older than ``ts_ns``.
        """
        i = bisect.bisect_right(self._ts_list, ts_ns) - 1
        if i < 0 or (max_age_ns is not None and ts_ns - self._ts_list[i] > max_age_ns):
            return None
        return self._values_list[i]

    def write_csv(self, path: str | os.PathLike[str]) -> Path:
        """Write ``timestamp,probability`` rows: ISO-8601 UTC times to the nanosecond and
        shortest round-trip decimals, so :func:`load_probabilities` reads back an equal series.
        """
        out = Path(path)
        times = np.datetime_as_string(self._ts.astype("datetime64[ns]"), unit="ns", timezone="UTC")
        rows = "".join(f"{t},{v!r}\n" for t, v in zip(times.tolist(), self._values_list, strict=True))
        out.write_text("timestamp,probability\n" + rows, encoding="ascii")
        return out


def _read_columns(path: Path, fmt: FileFormat, names: tuple[str, str]) -> Frame:
    if fmt == "csv":
        # Text: timestamps are parsed by tradeloop's own rules, as for market data.
        return read_csv_columns(path, names)
    try:
        available = pq.read_schema(path).names
    except (pa.ArrowException, OSError) as exc:
        raise DataError(f"{path}: cannot read the {fmt} file: {exc}") from exc
    for name in names:
        if name not in available:
            raise DataError(f"{path}: no column {name!r}; columns are {available}")
    try:
        table = pq.read_table(path, columns=list(names))
    except (pa.ArrowException, OSError) as exc:
        raise DataError(f"{path}: cannot read the {fmt} file: {exc}") from exc
    columns = {name: table.column(name) for name in names}
    return Frame(str(path), columns, {name: name for name in names}, table.num_rows, None, [])


def _floats(col: pa.ChunkedArray) -> tuple[F64, int | None]:
    """The column as floats, and the index of the first cell that is not a number (if any).

    Text is trimmed first, as the market-data loaders read ``" 0.6"`` as ``0.6``. Arrow's cast
    fails for the whole column on one bad cell; the shortest failing prefix, found by
    bisection, ends at the first one.
    """
    if pa.types.is_string(col.type) or pa.types.is_large_string(col.type):
        col = pc.utf8_trim_whitespace(col)

    def floats(part: pa.ChunkedArray) -> F64:
        return np.asarray(pc.cast(part, pa.float64()).to_numpy(zero_copy_only=False), dtype=np.float64)

    try:
        return floats(col), None
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        pass
    good, bad = 0, len(col)  # the prefix of length ``good`` casts, the one of length ``bad`` not
    while bad - good > 1:
        mid = (good + bad) // 2
        try:
            floats(col.slice(0, mid))
            good = mid
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            bad = mid
    return np.full(len(col), np.nan), good


def load_probabilities(
    path: str | os.PathLike[str],
    *,
    timestamp_column: str = "timestamp",
    probability_column: str = "probability",
    epoch_unit: EpochUnit | None = None,
    tz: str | None = None,
    file_format: FileFormat | None = None,
) -> ProbabilitySeries:
    """Read a :class:`ProbabilitySeries` from a CSV or Parquet file.

    Parameters
    ----------
    path:
        The file; its format comes from the name (``.csv``, ``.parquet``) unless
        ``file_format`` says.
    timestamp_column, probability_column:
        Column names.
    epoch_unit:
        ``None`` for ISO-8601 times (or Arrow timestamp columns); ``"s"``, ``"ms"``,
        ``"us"`` or ``"ns"`` for counts since the Unix epoch. Same rules as the market-data
        loaders (:mod:`tradeloop.data.loaders`).
    tz:
        Zone of naive ISO times (UTC when ``None``).

    Raises
    ------
    DataError
        Naming the file and the (1-based) data row: a missing column, a time that cannot be
        parsed or does not come after the previous row's, or a probability that is not a
        number within ``0..1``.
    """
    p = Path(path)
    fmt = _detect_format(p, file_format)
    if not p.exists():
        raise DataError(f"{p}: no such file")
    frame = _read_columns(p, fmt, (timestamp_column, probability_column))
    ts_col = frame.columns[timestamp_column]
    prob_col = frame.columns[probability_column]
    if epoch_unit is not None and epoch_unit not in EPOCH_DIGITS:
        raise DataError(f"{p}: epoch_unit {epoch_unit!r} is not one of {sorted(EPOCH_DIGITS)}")
    for name, col, ok, what in (
        (timestamp_column, ts_col, is_time_type, "timestamps"),
        (probability_column, prob_col, is_number_type, "numbers"),
    ):
        if not ok(col.type):
            raise DataError(f"{p}: column {name!r} has type {col.type}, which cannot hold {what}")
    t = ts_col.type
    if (pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t)) and epoch_unit is None:
        raise DataError(
            f"{p}: column {timestamp_column!r} holds numbers ({t}); give their epoch unit (s, ms, us or ns)"
        )

    def row_of(index: int) -> int:
        return index + 1 if frame.row_numbers is None else int(frame.row_numbers[index])

    # The earliest row with a problem of its own wins; ordering is checked once all rows read.
    problems = [
        (row, f"line {text!r} does not have the header's number of fields") for row, text in frame.malformed
    ]
    parsed = parse_timestamps(ts_col, tz=tz, epoch_unit=epoch_unit)
    bad = np.flatnonzero(parsed.status != OK)
    if bad.size:
        i = int(bad[0])
        if parsed.status[i] == OVERFLOW:
            hint = " (outside 1677-09-21..2262-04-11, int64 nanoseconds)"
        elif pa.types.is_timestamp(t) or pa.types.is_date(t):
            hint = f" (skipped or repeated by a clock change in {tz})"
        elif epoch_unit is None:
            hint = " (ISO-8601 expected; give epoch_unit for counts since the epoch)"
        else:
            hint = ""
        problems.append(
            (row_of(i), f"{timestamp_column} {cell_value(ts_col, i)!r} is not a valid timestamp{hint}")
        )
    values, unreadable = _floats(prob_col)
    if unreadable is not None:
        problems.append(
            (row_of(unreadable), f"{probability_column} {prob_col[unreadable].as_py()!r} is not a number")
        )
    if problems:
        row, message = min(problems, key=lambda problem: problem[0])
        raise DataError(f"{p}: row {row}: {message}")
    problem = _series_problem(parsed.values, values)
    if problem is not None:
        raise DataError(f"{p}: row {row_of(problem[0])}: {problem[1]}")
    return ProbabilitySeries(parsed.values, values)


# -- the generator ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, eq=False)
class EventContractSeries:
    """A generated event-contract market.

    Attributes
    ----------
    instrument:
        The contract the data is for.
    data:
        Quotes (one per point) and, when asked for, trades, in ``ts_init`` order.
    latent:
        The event's true probability at each point (the quotes' times).
    model:
        The model's estimate at each point: what a strategy uses as its fair value.
    outcome:
        ``True`` if the event happened (a YES contract settles at 1.00), else ``False``.
    """

    instrument: Instrument
    data: list[QuoteTick | TradeTick]
    latent: ProbabilitySeries
    model: ProbabilitySeries
    outcome: bool

    @property
    def quotes(self) -> list[QuoteTick]:
        return [d for d in self.data if type(d) is QuoteTick]

    @property
    def trades(self) -> list[TradeTick]:
        return [d for d in self.data if type(d) is TradeTick]

    def write_quotes_csv(self, path: str | os.PathLike[str]) -> Path:
        """Write the quotes as ``timestamp,bid,ask,bid_size,ask_size`` (ISO-8601 UTC times),
        the layout :func:`tradeloop.data.load_quote_ticks` reads with its defaults.
        """
        out = Path(path)
        quotes = self.quotes
        ts = np.fromiter((q.ts_event for q in quotes), dtype=np.int64, count=len(quotes))
        times = np.datetime_as_string(ts.astype("datetime64[ns]"), unit="ns", timezone="UTC").tolist()
        rows = "".join(
            f"{t},{q.bid_price},{q.ask_price},{q.bid_size},{q.ask_size}\n"
            for t, q in zip(times, quotes, strict=True)
        )
        out.write_text("timestamp,bid,ask,bid_size,ask_size\n" + rows, encoding="ascii")
        return out


def _check_finite(name: str, value: float, *, low: float, high: float = math.inf) -> None:
    if not (math.isfinite(value) and low <= value <= high):
        upper = "" if high == math.inf else f" and at most {high}"
        raise ValueRangeError(f"{name} must be a finite number of at least {low}{upper}, got {value}")


def _norm_cdf(x: F64) -> F64:
    return np.asarray(0.5 * _erfc(-x / math.sqrt(2.0)), dtype=np.float64)


def _logit(p: F64) -> F64:
    q = np.clip(p, _EPS, 1.0 - _EPS)
    return np.asarray(np.log(q / (1.0 - q)), dtype=np.float64)


def _sigmoid(x: F64) -> F64:
    return np.asarray(1.0 / (1.0 + np.exp(-x)), dtype=np.float64)


def _ar1(rng: np.random.Generator, n: int, sigma: float, half_life: float) -> F64:
    """A stationary AR(1) path of standard deviation ``sigma`` whose shocks halve in ``half_life`` steps."""
    phi = 0.5 ** (1.0 / half_life)
    shocks = rng.standard_normal(n)
    shocks[1:] *= math.sqrt(1.0 - phi * phi)
    out: list[float] = []
    level = 0.0
    for i, shock in enumerate((sigma * shocks).tolist()):
        level = shock if i == 0 else phi * level + shock
        out.append(level)
    return np.asarray(out, dtype=np.float64)


def _wide_regime(
    rng: np.random.Generator, n: int, probability: float, duration: float
) -> npt.NDArray[np.bool_]:
    """Which points fall in a wide-spread episode: a two-state Markov chain of run lengths."""
    wide = np.zeros(n, dtype=np.bool_)
    if probability <= 0.0:
        return wide
    i = 0
    while i < n:
        i += int(rng.geometric(probability))  # calm points until an episode starts
        length = int(rng.geometric(1.0 / duration))
        wide[i : i + length] = True
        i += length
    return wide


def _latent_path(
    rng_path: np.random.Generator,
    rng_outcome: np.random.Generator,
    tau: F64,
    p0: float,
    outcome: bool | None,
) -> tuple[F64, bool]:
    """The conditional probability of ``W(1) > c`` at times ``tau`` (fractions of the life)."""
    # The event W(1) > c has probability 1 - Phi(c) = p0.
    q = min(max(1.0 - p0, _EPS), 1.0 - _EPS)
    c = _STD_NORMAL.inv_cdf(q)
    yes = rng_outcome.random() >= q if outcome is None else outcome
    v = 1.0 - rng_outcome.random()  # in (0, 1]
    # W(1) drawn from the side of c the outcome lies on, then a Brownian bridge to it.
    u = q + v * (1.0 - q) if yes else v * q
    w_end = _STD_NORMAL.inv_cdf(min(max(u, 1e-15), 1.0 - 1e-15))
    if yes and w_end <= c:  # only when rounding put a tiny probability on the boundary
        w_end = math.nextafter(c, math.inf)
    elif not yes and w_end > c:
        w_end = c
    steps = np.diff(tau, prepend=0.0)
    free = np.cumsum(np.sqrt(steps) * rng_path.standard_normal(tau.size))
    free_end = free[-1] + math.sqrt(max(0.0, 1.0 - tau[-1])) * rng_path.standard_normal()
    w = free + tau * (w_end - free_end)
    remaining = 1.0 - tau
    latent = np.where(w > c, 1.0, 0.0)
    live = remaining > 0.0
    latent[live] = _norm_cdf((w[live] - c) / np.sqrt(remaining[live]))
    return latent, bool(yes)


def generate_event_contract(
    instrument: Instrument,
    count: int,
    *,
    start_ns: int = _START_NS,
    interval_ns: int = _ONE_MINUTE_NS,
    seed: int = 0,
    true_probability: float | None = None,
    outcome: bool | None = None,
    market_noise: float = 0.3,
    mispricing_half_life: float = 30.0,
    model_noise: float = 0.1,
    max_spread_ticks: int = 3,
    wide_spread_ticks: int = 12,
    wide_probability: float = 0.005,
    wide_duration: float = 10.0,
    mean_size: float = 100.0,
    trade_probability: float = 0.0,
) -> EventContractSeries:
    """A seeded binary event-contract market that resolves at the instrument's expiry.

    Parameters
    ----------
    instrument:
        A contract priced in probability with an ``expiry_ns``, such as
        ``BinaryEventContract("RAIN-NYC.KALSHI", expiry_ns=...)``. Bids and asks lie on its
        tick grid inside its band (0.01..0.99 for a binary contract).
    count:
        Number of points: a quote every ``interval_ns`` from ``start_ns``; the last one at
        or before the expiry.
    seed:
        Same arguments and seed, same series.
    true_probability:
        The event's probability at ``start_ns``, strictly inside (0, 1). ``None`` draws it
        uniformly from 0.1..0.9.
    outcome:
        Forces the outcome (the path is then drawn given it); ``None`` draws it, YES with
        probability ``true_probability``.
    market_noise, mispricing_half_life:
        The market's mispricing: an AR(1) process in log-odds of this standard deviation,
        whose shocks halve in this many points.
    model_noise:
        Standard deviation of the model's error in log-odds, independent at each point.
    max_spread_ticks:
        Spread of calm points: 1..``max_spread_ticks`` ticks.
    wide_spread_ticks, wide_probability, wide_duration:
        Liquidity droughts: each calm point starts one with ``wide_probability``; it lasts
        ``wide_duration`` points on average, with spreads of ``max_spread_ticks + 1`` to
        ``wide_spread_ticks`` ticks and a tenth of the usual size.
    mean_size:
        Mean displayed size (in size increments) of calm quotes; every quote shows at least one.
    trade_probability:
        Chance that a trade prints half an interval after a point, at the ask (a buyer
        aggressor) or the bid (a seller), equally likely. ``0`` gives quotes only.

    Returns
    -------
    EventContractSeries
        The data, the latent and model probabilities at each quote's time, and the outcome.

    Raises
    ------
    ValueRangeError
        For an argument out of range, an instrument without an expiry or without room for a
        spread in its band, or points that would run past the expiry.
    """
    expiry = instrument.expiry_ns
    if expiry is None:
        raise ValueRangeError(
            f"{instrument.id}: has no expiry_ns; the event resolves at the contract's expiry"
        )
    if count < 1:
        raise ValueRangeError(f"count must be at least 1, got {count}")
    if interval_ns < 1:
        raise ValueRangeError(f"interval_ns must be positive, got {interval_ns}")
    if start_ns >= expiry:
        raise ValueRangeError(f"start_ns {start_ns} is not before the expiry {expiry} of {instrument.id}")
    last_ns = start_ns + (count - 1) * interval_ns
    if last_ns > expiry:
        raise ValueRangeError(
            f"the last of {count} points, at {last_ns}, falls after the expiry {expiry} of "
            f"{instrument.id}; lower count or interval_ns"
        )
    if true_probability is not None and not (
        math.isfinite(true_probability) and 0.0 < true_probability < 1.0
    ):
        raise ValueRangeError(f"true_probability must lie strictly inside (0, 1), got {true_probability}")
    _check_finite("market_noise", market_noise, low=0.0)
    _check_finite("model_noise", model_noise, low=0.0)
    if not (math.isfinite(mispricing_half_life) and mispricing_half_life > 0):
        raise ValueRangeError(f"mispricing_half_life must be positive, got {mispricing_half_life}")
    if max_spread_ticks < 1:
        raise ValueRangeError(f"max_spread_ticks must be at least 1, got {max_spread_ticks}")
    _check_finite("wide_probability", wide_probability, low=0.0, high=1.0)
    if wide_probability > 0 and wide_spread_ticks <= max_spread_ticks:
        raise ValueRangeError(
            f"wide_spread_ticks ({wide_spread_ticks}) must exceed max_spread_ticks ({max_spread_ticks}); "
            "set wide_probability=0 for no wide spreads"
        )
    _check_finite("wide_duration", wide_duration, low=1.0)
    _check_finite("mean_size", mean_size, low=1.0)
    _check_finite("trade_probability", trade_probability, low=0.0, high=1.0)
    inc = instrument.price_increment.raw
    if inc >= FIXED_SCALAR:
        raise ValueRangeError(
            f"{instrument.id}: a tick of {instrument.price_increment} cannot price a probability"
        )
    lo = 1 if instrument.min_price is None else max(1, -(-instrument.min_price.raw // inc))
    hi = (FIXED_SCALAR - inc) // inc if instrument.max_price is None else instrument.max_price.raw // inc
    if hi - lo < 1:
        raise ValueRangeError(f"{instrument.id}: its price band has room for no spread")

    (r_start, r_path, r_outcome, r_market, r_model, r_spread, r_regime, r_size, r_trade) = [
        np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(9)
    ]
    p0 = float(r_start.uniform(0.1, 0.9)) if true_probability is None else true_probability
    ts = start_ns + np.arange(count, dtype=np.int64) * interval_ns
    tau = (ts - start_ns).astype(np.float64) / float(expiry - start_ns)
    latent, yes = _latent_path(r_path, r_outcome, tau, p0, outcome)
    log_odds = _logit(latent)
    market = _sigmoid(log_odds + _ar1(r_market, count, market_noise, mispricing_half_life))
    model = _sigmoid(log_odds + model_noise * r_model.standard_normal(count))

    # Draw both spreads everywhere so that the regime does not shift the other streams.
    wide = _wide_regime(r_regime, count, wide_probability, wide_duration)
    calm_spread = r_spread.integers(1, max_spread_ticks + 1, count)
    wide_spread = r_spread.integers(
        max_spread_ticks + 1, max(wide_spread_ticks, max_spread_ticks + 1) + 1, count
    )
    spread = np.minimum(np.where(wide, wide_spread, calm_spread), hi - lo).astype(np.int64)
    mid = market * (FIXED_SCALAR / inc)
    bid = np.clip(np.rint(mid - spread / 2.0).astype(np.int64), lo, hi - spread)
    ask = bid + spread
    lam = np.where(wide, (mean_size - 1.0) * _WIDE_SIZE_FACTOR, mean_size - 1.0)
    sizes = 1 + r_size.poisson(lam, (2, count)).astype(np.int64)
    size_inc = instrument.size_increment.raw
    quotes = quote_ticks_from_arrays(
        instrument, ts, bid * inc, ask * inc, sizes[0] * size_inc, sizes[1] * size_inc
    )

    data: list[QuoteTick | TradeTick] = list(quotes)
    if trade_probability > 0:
        data = _with_trades(
            instrument, quotes, r_trade, ts, bid, ask, interval_ns // 2, expiry, trade_probability, mean_size
        )
    return EventContractSeries(
        instrument=instrument,
        data=data,
        latent=ProbabilitySeries(ts, latent),
        model=ProbabilitySeries(ts, model),
        outcome=yes,
    )


def _with_trades(
    instrument: Instrument,
    quotes: list[QuoteTick],
    rng: np.random.Generator,
    ts: I64,
    bid: I64,
    ask: I64,
    offset_ns: int,
    expiry_ns: int,
    probability: float,
    mean_size: float,
) -> list[QuoteTick | TradeTick]:
    n = ts.size
    prints = (rng.random(n) < probability) & (ts + offset_ns <= expiry_ns)
    buyer = rng.random(n) < 0.5
    size = 1 + rng.poisson((mean_size - 1.0) * 0.2, n).astype(np.int64)
    at = np.flatnonzero(prints)
    price = np.where(buyer, ask, bid)[at] * instrument.price_increment.raw
    sides = [AggressorSide.BUYER if b else AggressorSide.SELLER for b in buyer[at].tolist()]
    trades = trade_ticks_from_arrays(
        instrument, ts[at] + offset_ns, price, size[at] * instrument.size_increment.raw, sides
    )
    # Each trade sits between its point's quote and the next one (after the quote on a tie).
    merged: list[QuoteTick | TradeTick] = []
    k = 0
    for j, i in enumerate(at.tolist()):
        merged.extend(quotes[k : i + 1])
        merged.append(trades[j])
        k = i + 1
    merged.extend(quotes[k:])
    return merged
