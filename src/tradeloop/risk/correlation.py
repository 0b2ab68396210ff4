"""Rolling correlation of returns between instruments, for the correlated-exposure limit.

Sampling
    With ``sample_seconds`` set, a clock timer samples the last price (the portfolio's mark)
    of every instrument the tracker has seen market data for, every ``sample_seconds``; in a
    backtest the simulated clock fires it. Without it, every bar close is a sample. A sample's
    return is ``price / previous price - 1``; each instrument keeps its last ``window`` returns,
    keyed by the sample time.

Correlation
    The Pearson correlation of the returns two instruments have at the same sample times among
    their last ``window`` each. It is *unknown*, and then counts as uncorrelated, while fewer
    than half the window (and at least 3) such pairs exist, or when either series is flat.
    Returns and correlations are floats: they are statistics that decide a yes or no, never
    amounts in the ledger.

Correlated exposure of instrument X
    ``|exposure of X after the order| + sum of |exposure Y|`` over the instruments Y with an
    open position whose correlation with X is at least ``threshold``. Direction is ignored on
    purpose: a long X and a short Y in correlated instruments both count in full (a hedge is
    not credited), and a negative correlation never counts. Exposures are the portfolio's
    marked values (quantity x price x multiplier).
"""

from __future__ import annotations

import math
from collections import deque

from tradeloop.core.bus import Handler, MessageBus
from tradeloop.core.clock import Clock, TimeEvent
from tradeloop.core.ids import InstrumentId
from tradeloop.model.data import Bar, QuoteTick, TradeTick
from tradeloop.portfolio.portfolio import Portfolio
from tradeloop.risk.config import CorrelationConfig

__all__ = ["PRIORITY_CORRELATION", "SAMPLE_TIMER", "CorrelatedPart", "CorrelationTracker"]

PRIORITY_CORRELATION = 450
"""Bus priority of the sampling handlers: after the portfolio has marked the price."""

SAMPLE_TIMER = "risk.correlation.sample"
"""Name of the clock timer that samples prices when ``sample_seconds`` is set."""

CorrelatedPart = tuple[InstrumentId, int, float]
"""An instrument counted in a correlated exposure: its id, its exposure raw, its correlation."""


def _pearson(pairs: list[tuple[float, float]]) -> float | None:
    """The correlation of paired values, or ``None`` when either side does not vary."""
    n = len(pairs)
    mean_x = sum(x for x, _ in pairs) / n
    mean_y = sum(y for _, y in pairs) / n
    cov = var_x = var_y = 0.0
    for x, y in pairs:
        dx = x - mean_x
        dy = y - mean_y
        cov += dx * dy
        var_x += dx * dx
        var_y += dy * dy
    if var_x <= 0.0 or var_y <= 0.0:
        return None
    return max(-1.0, min(1.0, cov / math.sqrt(var_x * var_y)))


class CorrelationTracker:
    """Samples prices and answers the correlation of two instruments' returns.

    Parameters
    ----------
    bus:
        Market data to sample (bar closes), or to learn which instruments exist (timer mode).
    clock:
        Fires the sampling timer (timer mode); a live clock needs a running loop.
    portfolio:
        Its marks are the prices sampled in timer mode, its exposures the ones summed.
    config:
        Window, sampling and (read by the risk engine) threshold and limit.
    """

    def __init__(
        self, bus: MessageBus, clock: Clock, portfolio: Portfolio, config: CorrelationConfig
    ) -> None:
        self._bus = bus
        self._clock = clock
        self._portfolio = portfolio
        self.window = config.window
        self.sample_ns = config.sample_ns
        self.min_pairs = max(3, (config.window + 1) // 2)
        self._returns: dict[InstrumentId, deque[tuple[int, float]]] = {}
        self._last: dict[InstrumentId, tuple[int, int]] = {}  # instrument -> (ts, price raw)
        self._known: dict[InstrumentId, None] = {}  # instruments to sample, in order first seen
        self._subscriptions: list[tuple[type, Handler]] = []
        if self.sample_ns is None:
            self._subscribe(Bar, self._on_bar)
        else:
            for data_type in (Bar, TradeTick, QuoteTick):
                self._subscribe(data_type, self._on_data)
            clock.set_timer(SAMPLE_TIMER, self.sample_ns, self._on_timer)

    def _subscribe(self, data_type: type, handler: Handler) -> None:
        self._bus.subscribe(data_type, handler, priority=PRIORITY_CORRELATION)
        self._subscriptions.append((data_type, handler))

    def close(self) -> None:
        """Stop sampling: unsubscribe and cancel the timer (the config was replaced)."""
        for data_type, handler in self._subscriptions:
            self._bus.unsubscribe(data_type, handler)
        self._subscriptions.clear()
        if self.sample_ns is not None:
            self._clock.cancel_timer(SAMPLE_TIMER)

    def same_sampling(self, config: CorrelationConfig) -> bool:
        """Whether ``config`` samples as this tracker does (so its history stays valid)."""
        return config.window == self.window and config.sample_ns == self.sample_ns

    # -- samples ---------------------------------------------------------------------------

    def _on_bar(self, bar: Bar) -> None:
        self.record(bar.instrument_id, bar.ts_event, bar.close.raw)

    def _on_data(self, data: Bar | TradeTick | QuoteTick) -> None:
        known = self._known
        if data.instrument_id not in known:
            known[data.instrument_id] = None

    def _on_timer(self, event: TimeEvent) -> None:
        last_price = self._portfolio.last_price_raw
        for iid in self._known:
            price = last_price(iid)
            if price is not None:
                self.record(iid, event.ts_event, price)

    def record(self, instrument_id: InstrumentId, ts_ns: int, price_raw: int) -> None:
        """Add a price sample at ``ts_ns``; a second sample at the same time is ignored."""
        last = self._last.get(instrument_id)
        self._last[instrument_id] = (ts_ns, price_raw)
        if last is None:
            return
        last_ts, last_price = last
        if ts_ns <= last_ts:
            self._last[instrument_id] = last
            return
        if last_price == 0:
            return  # no return from a zero price; the next sample starts afresh
        returns = self._returns.get(instrument_id)
        if returns is None:
            returns = self._returns[instrument_id] = deque(maxlen=self.window)
        returns.append((ts_ns, (price_raw - last_price) / abs(last_price)))

    # -- answers ---------------------------------------------------------------------------

    def returns(self, instrument_id: InstrumentId) -> list[tuple[int, float]]:
        """The instrument's last ``window`` returns as ``(sample time, return)``."""
        return list(self._returns.get(instrument_id, ()))

    def correlation(self, a: InstrumentId, b: InstrumentId) -> float | None:
        """The correlation of the two instruments' returns, or ``None`` while it is unknown."""
        ra = self._returns.get(a)
        rb = self._returns.get(b)
        if ra is None or rb is None:
            return None
        by_time = dict(rb)
        pairs = [(x, by_time[ts]) for ts, x in ra if ts in by_time]
        if len(pairs) < self.min_pairs:
            return None
        return _pearson(pairs)

    def correlated_exposure(
        self, instrument_id: InstrumentId, own_raw: int, threshold: float
    ) -> tuple[int, list[CorrelatedPart]]:
        """``own_raw`` plus the exposure of every open position correlated with the instrument.

        Returns the total and the instruments counted (with their exposure and correlation).
        """
        portfolio = self._portfolio
        total = own_raw
        parts: list[CorrelatedPart] = []
        for other in self._returns:
            if other == instrument_id:
                continue
            exposure = portfolio.exposure_raw(other)
            if not exposure:
                continue
            corr = self.correlation(instrument_id, other)
            if corr is not None and corr >= threshold:
                total += exposure
                parts.append((other, exposure, corr))
        return total, parts
