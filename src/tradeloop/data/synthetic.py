"""Seeded synthetic market data: bars, quotes, trades, and binary event-contract quotes.

Every generator is deterministic: the same arguments and ``seed`` give identical output on
every run. Each random quantity (returns, bar ranges, volumes, spreads, arrival times) has
its own stream spawned from ``numpy.random.SeedSequence(seed)``, and the data is produced in
fixed-size chunks, so the lazy ``iter_*`` form and the list form yield the same objects.

Prices follow a geometric random walk: the log price moves by ``drift + volatility * z`` per
step (``z`` standard normal), so ``volatility`` is the per-step standard deviation of log
returns (0.001 per one-minute bar is roughly 16 % a year). Each price is then snapped to the
instrument's tick grid and kept inside its price band (at least one tick).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from decimal import Decimal
from typing import Final

import numpy as np
import numpy.typing as npt

from tradeloop.core.errors import ValueRangeError
from tradeloop.data.arrays import bars_from_arrays, quote_ticks_from_arrays, trade_ticks_from_arrays
from tradeloop.model.data import Bar, BarSpec, QuoteTick, TradeTick
from tradeloop.model.enums import AggressorSide, BarAggregation
from tradeloop.model.instruments import Instrument
from tradeloop.model.objects import FIXED_SCALAR, MAX_RAW

__all__ = [
    "DEFAULT_START_NS",
    "event_probability_path",
    "generate_bars",
    "generate_event_contract_prices",
    "generate_quotes",
    "generate_trades",
    "iter_bars",
    "iter_quotes",
    "iter_trades",
]

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]

DEFAULT_START_NS: Final = 1_704_067_200_000_000_000
"""2024-01-01T00:00:00Z."""
_ONE_MINUTE: Final = BarSpec(1, BarAggregation.MINUTE)
_CHUNK: Final = 65_536
_SIDES: Final = (AggressorSide.BUYER, AggressorSide.SELLER)


def _streams(seed: int, count: int) -> list[np.random.Generator]:
    return [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(count)]


def _check_common(n: int, volatility: float, drift: float) -> None:
    if n < 0:
        raise ValueRangeError(f"n must not be negative, got {n}")
    if not (math.isfinite(volatility) and volatility >= 0):
        raise ValueRangeError(f"volatility must be a finite non-negative number, got {volatility}")
    if not math.isfinite(drift):
        raise ValueRangeError(f"drift must be finite, got {drift}")


def _check_positive(name: str, value: float) -> None:
    if not (math.isfinite(value) and value >= 1):
        raise ValueRangeError(f"{name} must be at least 1, got {value}")


def _band(instrument: Instrument) -> tuple[int, int]:
    """Lowest and highest allowed price, in ticks (the lowest is at least one tick)."""
    inc = instrument.price_increment.raw
    lo = 1
    if instrument.min_price is not None:
        lo = max(lo, -(-instrument.min_price.raw // inc))
    hi = MAX_RAW // inc
    if instrument.max_price is not None:
        hi = instrument.max_price.raw // inc
    if hi < lo:
        raise ValueRangeError(f"{instrument.id}: no positive price on the tick grid within its band")
    return lo, hi


def _start_ticks(instrument: Instrument, start_price: Decimal | str | int | float) -> int:
    price = instrument.make_price(start_price)
    if price.raw <= 0:
        raise ValueRangeError(f"start_price must be positive, got {start_price}")
    return price.raw // instrument.price_increment.raw


class _Walk:
    """A chunked geometric random walk of prices, in ticks."""

    __slots__ = ("_drift", "_hi", "_lo", "_log", "_rng", "_tick", "_vol")

    def __init__(
        self,
        rng: np.random.Generator,
        instrument: Instrument,
        start_ticks: int,
        volatility: float,
        drift: float,
    ) -> None:
        self._rng = rng
        self._tick = instrument.price_increment.raw / FIXED_SCALAR
        self._lo, self._hi = _band(instrument)
        self._log = math.log(start_ticks * self._tick)
        self._vol = volatility
        self._drift = drift

    def next(self, m: int) -> I64:
        steps = self._drift + self._vol * self._rng.standard_normal(m)
        logs = self._log + np.cumsum(steps)
        self._log = float(logs[-1])
        return np.clip(np.rint(np.exp(logs) / self._tick), self._lo, self._hi).astype(np.int64)


def _arrivals(rng: np.random.Generator, m: int, last_ns: int, mean_interval_ns: float) -> I64:
    gaps = np.maximum(1, np.rint(rng.exponential(mean_interval_ns, m))).astype(np.int64)
    return np.asarray(last_ns + np.cumsum(gaps), dtype=np.int64)


def iter_bars(
    instrument: Instrument,
    n: int,
    *,
    start_ns: int = DEFAULT_START_NS,
    spec: BarSpec = _ONE_MINUTE,
    seed: int = 0,
    start_price: Decimal | str | int | float = "100",
    volatility: float = 0.001,
    drift: float = 0.0,
    mean_volume: float = 100.0,
) -> Iterator[Bar]:
    """Lazily yield ``n`` synthetic bars; see :func:`generate_bars`."""
    _check_common(n, volatility, drift)
    _check_positive("mean_volume", mean_volume)
    interval = spec.interval_ns
    if start_ns % interval:
        raise ValueRangeError(f"start_ns {start_ns} is not on a {spec} boundary")
    prev_close = _start_ticks(instrument, start_price)
    return _bars(instrument, n, start_ns, spec, seed, prev_close, volatility, drift, mean_volume)


def _bars(
    instrument: Instrument,
    n: int,
    start_ns: int,
    spec: BarSpec,
    seed: int,
    prev_close: int,
    volatility: float,
    drift: float,
    mean_volume: float,
) -> Iterator[Bar]:
    r_walk, r_range, r_volume = _streams(seed, 3)
    walk = _Walk(r_walk, instrument, prev_close, volatility, drift)
    lo_band, hi_band = _band(instrument)
    inc = instrument.price_increment.raw
    size_inc = instrument.size_increment.raw
    interval = spec.interval_ns
    for first in range(0, n, _CHUNK):
        m = min(_CHUNK, n - first)
        close = walk.next(m)
        open_ = np.empty(m, np.int64)
        open_[0] = prev_close
        open_[1:] = close[:-1]
        prev_close = int(close[-1])
        body_hi = np.maximum(open_, close)
        body_lo = np.minimum(open_, close)
        # Wicks: a half-normal excursion beyond the body, scaled like one step's move.
        wick = np.abs(r_range.standard_normal((2, m))) * (0.5 * volatility)
        high = np.minimum(hi_band, body_hi + np.floor(body_hi * wick[0]).astype(np.int64))
        low = np.maximum(lo_band, body_lo - np.floor(body_lo * wick[1]).astype(np.int64))
        volume = 1 + r_volume.poisson(mean_volume - 1, m).astype(np.int64)
        ts = start_ns + (first + 1 + np.arange(m, dtype=np.int64)) * interval
        yield from bars_from_arrays(
            instrument, spec, ts, open_ * inc, high * inc, low * inc, close * inc, volume * size_inc
        )


def generate_bars(
    instrument: Instrument,
    n: int,
    *,
    start_ns: int = DEFAULT_START_NS,
    spec: BarSpec = _ONE_MINUTE,
    seed: int = 0,
    start_price: Decimal | str | int | float = "100",
    volatility: float = 0.001,
    drift: float = 0.0,
    mean_volume: float = 100.0,
) -> list[Bar]:
    """``n`` consecutive synthetic bars of ``spec``.

    Parameters
    ----------
    instrument:
        Sets the id, the tick grid (every price is on it) and the price band.
    n:
        Number of bars; one per interval, no gaps.
    start_ns:
        Open time of the first bar, on an interval boundary; bar ``i`` closes at
        ``start_ns + (i + 1) * spec.interval_ns`` (its ``ts_event``).
    seed:
        Same seed, same bars.
    start_price:
        Open of the first bar, on the tick grid.
    volatility, drift:
        Per-bar standard deviation and mean of the log return.
    mean_volume:
        Mean volume in size increments; every bar has at least one.

    Each bar opens at the previous close; high and low add half-normal wicks to the body.
    """
    return list(
        iter_bars(
            instrument,
            n,
            start_ns=start_ns,
            spec=spec,
            seed=seed,
            start_price=start_price,
            volatility=volatility,
            drift=drift,
            mean_volume=mean_volume,
        )
    )


def iter_quotes(
    instrument: Instrument,
    n: int,
    *,
    start_ns: int = DEFAULT_START_NS,
    seed: int = 0,
    start_price: Decimal | str | int | float = "100",
    volatility: float = 0.0002,
    drift: float = 0.0,
    mean_interval_ns: float = 1e9,
    max_spread_ticks: int = 2,
    mean_size: float = 10.0,
) -> Iterator[QuoteTick]:
    """Lazily yield ``n`` synthetic quotes; see :func:`generate_quotes`."""
    _check_common(n, volatility, drift)
    _check_positive("mean_interval_ns", mean_interval_ns)
    _check_positive("mean_size", mean_size)
    if max_spread_ticks < 1:
        raise ValueRangeError(f"max_spread_ticks must be at least 1, got {max_spread_ticks}")
    start = _start_ticks(instrument, start_price)
    return _quotes(
        instrument, n, start_ns, seed, start, volatility, drift, mean_interval_ns, max_spread_ticks, mean_size
    )


def _quotes(
    instrument: Instrument,
    n: int,
    start_ns: int,
    seed: int,
    start: int,
    volatility: float,
    drift: float,
    mean_interval_ns: float,
    max_spread_ticks: int,
    mean_size: float,
) -> Iterator[QuoteTick]:
    r_walk, r_spread, r_time, r_size = _streams(seed, 4)
    walk = _Walk(r_walk, instrument, start, volatility, drift)
    lo_band, hi_band = _band(instrument)
    max_spread = min(max_spread_ticks, hi_band - lo_band)
    if max_spread < 1:
        raise ValueRangeError(f"{instrument.id}: its price band has room for no spread")
    inc = instrument.price_increment.raw
    size_inc = instrument.size_increment.raw
    last_ns = start_ns
    for first in range(0, n, _CHUNK):
        m = min(_CHUNK, n - first)
        spread = r_spread.integers(1, max_spread + 1, m).astype(np.int64)
        bid = np.minimum(walk.next(m), hi_band - spread)
        ask = bid + spread
        ts = _arrivals(r_time, m, last_ns, mean_interval_ns)
        last_ns = int(ts[-1])
        sizes = 1 + r_size.poisson(mean_size - 1, (2, m)).astype(np.int64)
        yield from quote_ticks_from_arrays(
            instrument, ts, bid * inc, ask * inc, sizes[0] * size_inc, sizes[1] * size_inc
        )


def generate_quotes(
    instrument: Instrument,
    n: int,
    *,
    start_ns: int = DEFAULT_START_NS,
    seed: int = 0,
    start_price: Decimal | str | int | float = "100",
    volatility: float = 0.0002,
    drift: float = 0.0,
    mean_interval_ns: float = 1e9,
    max_spread_ticks: int = 2,
    mean_size: float = 10.0,
) -> list[QuoteTick]:
    """``n`` synthetic quotes: a random-walk bid with a random 1..``max_spread_ticks`` spread.

    Quotes arrive after exponential gaps of mean ``mean_interval_ns`` (at least 1 ns, so
    timestamps strictly increase) from ``start_ns``; ``volatility`` and ``drift`` are per
    quote. Sizes are at least one size increment, ``mean_size`` on average.
    """
    return list(
        iter_quotes(
            instrument,
            n,
            start_ns=start_ns,
            seed=seed,
            start_price=start_price,
            volatility=volatility,
            drift=drift,
            mean_interval_ns=mean_interval_ns,
            max_spread_ticks=max_spread_ticks,
            mean_size=mean_size,
        )
    )


def iter_trades(
    instrument: Instrument,
    n: int,
    *,
    start_ns: int = DEFAULT_START_NS,
    seed: int = 0,
    start_price: Decimal | str | int | float = "100",
    volatility: float = 0.0002,
    drift: float = 0.0,
    mean_interval_ns: float = 1e9,
    mean_size: float = 5.0,
) -> Iterator[TradeTick]:
    """Lazily yield ``n`` synthetic trades; see :func:`generate_trades`."""
    _check_common(n, volatility, drift)
    _check_positive("mean_interval_ns", mean_interval_ns)
    _check_positive("mean_size", mean_size)
    start = _start_ticks(instrument, start_price)
    return _trades(instrument, n, start_ns, seed, start, volatility, drift, mean_interval_ns, mean_size)


def _trades(
    instrument: Instrument,
    n: int,
    start_ns: int,
    seed: int,
    start: int,
    volatility: float,
    drift: float,
    mean_interval_ns: float,
    mean_size: float,
) -> Iterator[TradeTick]:
    r_walk, r_side, r_time, r_size = _streams(seed, 4)
    walk = _Walk(r_walk, instrument, start, volatility, drift)
    inc = instrument.price_increment.raw
    size_inc = instrument.size_increment.raw
    last_ns = start_ns
    for first in range(0, n, _CHUNK):
        m = min(_CHUNK, n - first)
        price = walk.next(m)
        side = r_side.integers(0, 2, m).tolist()
        ts = _arrivals(r_time, m, last_ns, mean_interval_ns)
        last_ns = int(ts[-1])
        size = 1 + r_size.poisson(mean_size - 1, m).astype(np.int64)
        yield from trade_ticks_from_arrays(
            instrument, ts, price * inc, size * size_inc, [_SIDES[a] for a in side]
        )


def generate_trades(
    instrument: Instrument,
    n: int,
    *,
    start_ns: int = DEFAULT_START_NS,
    seed: int = 0,
    start_price: Decimal | str | int | float = "100",
    volatility: float = 0.0002,
    drift: float = 0.0,
    mean_interval_ns: float = 1e9,
    mean_size: float = 5.0,
) -> list[TradeTick]:
    """``n`` synthetic trades on a random-walk price, each a random buyer or seller aggressor.

    Timing and sizes are as in :func:`generate_quotes`.
    """
    return list(
        iter_trades(
            instrument,
            n,
            start_ns=start_ns,
            seed=seed,
            start_price=start_price,
            volatility=volatility,
            drift=drift,
            mean_interval_ns=mean_interval_ns,
            mean_size=mean_size,
        )
    )


def event_probability_path(
    n: int, *, seed: int = 0, start_probability: float = 0.5, volatility: float = 0.05
) -> F64:
    """A random walk of an event's probability: Gaussian steps in log-odds space.

    The log-odds move by ``volatility * z`` per step, so the probability stays strictly
    inside (0, 1) and moves most near 0.5, as a market's belief does.
    """
    _check_common(n, volatility, 0.0)
    if not 0 < start_probability < 1:
        raise ValueRangeError(f"start_probability must be inside (0, 1), got {start_probability}")
    (rng,) = _streams(seed, 1)
    return _logit_walk(rng, n, start_probability, volatility)


def _logit_walk(rng: np.random.Generator, n: int, start_probability: float, volatility: float) -> F64:
    logit = math.log(start_probability / (1 - start_probability))
    path = logit + np.cumsum(volatility * rng.standard_normal(n))
    return np.asarray(1.0 / (1.0 + np.exp(-path)), dtype=np.float64)


def generate_event_contract_prices(
    instrument: Instrument,
    n: int,
    *,
    seed: int = 0,
    start_ns: int = DEFAULT_START_NS,
    interval_ns: int = 60_000_000_000,
    true_probability: float | Sequence[float] | F64 | None = None,
    start_probability: float = 0.5,
    probability_volatility: float = 0.05,
    noise: float = 0.02,
    max_spread_ticks: int = 2,
    mean_size: float = 100.0,
) -> list[QuoteTick]:
    """Quotes of a binary event contract around a true probability.

    Parameters
    ----------
    instrument:
        A contract priced in probability, such as ``BinaryEventContract("RAIN-NYC.KALSHI")``:
        every bid and ask lies inside its band (0.01 to 0.99 for the default contract), or
        inside ``[tick, 1 - tick]`` when the instrument sets no band.
    n:
        Number of quotes, one every ``interval_ns`` starting at ``start_ns``.
    true_probability:
        The event's probability: a constant, or a path of ``n`` values (for example from
        :func:`event_probability_path`). ``None`` draws a path with ``start_probability``
        and ``probability_volatility`` from the seed.
    noise:
        Standard deviation of the market's mispricing around the true probability.
    max_spread_ticks, mean_size:
        Spread drawn from 1..``max_spread_ticks`` ticks; sizes of mean ``mean_size``.
    """
    _check_common(n, probability_volatility, 0.0)
    if not (math.isfinite(noise) and noise >= 0):
        raise ValueRangeError(f"noise must be a finite non-negative number, got {noise}")
    if interval_ns < 1:
        raise ValueRangeError(f"interval_ns must be positive, got {interval_ns}")
    if max_spread_ticks < 1:
        raise ValueRangeError(f"max_spread_ticks must be at least 1, got {max_spread_ticks}")
    _check_positive("mean_size", mean_size)
    inc = instrument.price_increment.raw
    if inc >= FIXED_SCALAR:
        raise ValueRangeError(
            f"{instrument.id}: a tick of {instrument.price_increment} cannot price a probability"
        )
    lo = max(1, -(-instrument.min_price.raw // inc) if instrument.min_price is not None else 1)
    hi = (FIXED_SCALAR - inc) // inc if instrument.max_price is None else instrument.max_price.raw // inc
    max_spread = min(max_spread_ticks, hi - lo)
    if max_spread < 1:
        raise ValueRangeError(f"{instrument.id}: its price band has room for no spread")

    r_path, r_noise, r_spread, r_size = _streams(seed, 4)
    prob = _probabilities(n, r_path, true_probability, start_probability, probability_volatility)
    mid_ticks = (prob + noise * r_noise.standard_normal(n)) * (FIXED_SCALAR / inc)
    spread = r_spread.integers(1, max_spread + 1, n).astype(np.int64)
    bid = np.clip(np.rint(mid_ticks - spread / 2), lo, hi - spread).astype(np.int64)
    ask = bid + spread
    sizes = 1 + r_size.poisson(mean_size - 1, (2, n)).astype(np.int64)
    ts = start_ns + np.arange(n, dtype=np.int64) * interval_ns
    size_inc = instrument.size_increment.raw
    return quote_ticks_from_arrays(
        instrument, ts, bid * inc, ask * inc, sizes[0] * size_inc, sizes[1] * size_inc
    )


def _probabilities(
    n: int,
    rng: np.random.Generator,
    true_probability: float | Sequence[float] | F64 | None,
    start_probability: float,
    volatility: float,
) -> F64:
    if true_probability is None:
        if not 0 < start_probability < 1:
            raise ValueRangeError(f"start_probability must be inside (0, 1), got {start_probability}")
        return _logit_walk(rng, n, start_probability, volatility)
    if isinstance(true_probability, int | float):
        values = np.full(n, float(true_probability))
    else:
        values = np.asarray(true_probability, dtype=np.float64)
        if values.shape != (n,):
            raise ValueRangeError(f"true_probability has {values.size} values for {n} quotes")
    if not (np.all(np.isfinite(values)) and np.all((values >= 0) & (values <= 1))):
        raise ValueRangeError("true_probability values must lie in [0, 1]")
    return values
