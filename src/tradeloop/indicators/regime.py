"""Market regime detection: trending, ranging or volatile, from bars.

Rules, evaluated on every bar once the inputs are warmed up:

1. ``volatility = ATR(atr_period) / |close|``. At or above ``volatility_threshold`` the bar
   reads VOLATILE (a zero close reads VOLATILE: no scale to judge the range against).
2. Otherwise ``efficiency = EfficiencyRatio(er_period)`` of the closes (net move over path
   length, 0..1). At or above ``trend_threshold`` the bar reads TRENDING.
3. Otherwise RANGING.

Two guards keep the regime from flapping around a threshold:

* Band hysteresis: to *stay* VOLATILE or TRENDING the reading only has to remain above
  ``threshold * (1 - hysteresis)``; entering needs the full threshold.
* Confirmation: a new reading must repeat on ``confirm_bars`` consecutive bars before the
  regime switches. The very first regime after warm-up (from UNKNOWN) is taken at once, as
  there is no established regime to protect.

``volatility_threshold`` is per bar, so it depends on the bar interval: 2% suits daily bars of
a volatile asset, minute bars want far less.
"""

from __future__ import annotations

import math
from enum import StrEnum

from tradeloop.core.bus import MessageBus
from tradeloop.core.clock import Clock
from tradeloop.core.errors import DataError, ValueRangeError
from tradeloop.core.ids import IdFactory, InstrumentId
from tradeloop.indicators.atr import AverageTrueRange
from tradeloop.indicators.base import check_period
from tradeloop.indicators.efficiency_ratio import EfficiencyRatio
from tradeloop.model.data import Bar
from tradeloop.model.events import RegimeChanged

__all__ = ["Regime", "RegimeDetector"]


class Regime(StrEnum):
    """Market regime of one instrument."""

    UNKNOWN = "UNKNOWN"
    TRENDING = "TRENDING"
    RANGING = "RANGING"
    VOLATILE = "VOLATILE"


def _check_number(name: str, value: float, low: float, high: float, bounds: str) -> float:
    """Return ``value`` as a float if it is a finite real in ``bounds``, else raise."""
    ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or not low <= value <= high:
        raise ValueRangeError(f"RegimeDetector: {name} must be a number in {bounds}, got {value!r}")
    return float(value)


class RegimeDetector:
    """Classifies an instrument's bars as TRENDING, RANGING or VOLATILE (module docs: rules).

    Parameters
    ----------
    instrument_id:
        The instrument whose bars this detector reads; a bar of another one raises.
    bus, clock, ids:
        When ``bus`` is given, every change is published there as
        :class:`~tradeloop.model.events.RegimeChanged`, stamped by ``clock`` and with ids from
        ``ids`` (both then required, so a backtest's event log stays deterministic).
    atr_period:
        ATR period of the volatility reading (default 14).
    er_period:
        Efficiency-ratio period of the trend reading (default 20).
    volatility_threshold:
        ATR as a fraction of the close at which a bar reads VOLATILE (default 0.02).
    trend_threshold:
        Efficiency ratio, in (0, 1], at which a bar reads TRENDING (default 0.3).
    hysteresis:
        Fraction, in [0, 1), a reading may fall below a threshold before the regime it
        established is left (default 0.2).
    confirm_bars:
        Consecutive bars a new reading needs before the regime switches (default 3).

    Raises
    ------
    ValueRangeError
        If a parameter is out of range, or ``bus`` is given without ``clock`` and ``ids``.
    """

    __slots__ = (
        "_atr",
        "_confirm_bars",
        "_er",
        "_instrument_id",
        "_params",
        "_pending",
        "_pending_count",
        "_publisher",
        "_regime",
        "_trend_enter",
        "_trend_stay",
        "_vol_enter",
        "_vol_stay",
        "_volatility",
    )

    def __init__(
        self,
        instrument_id: InstrumentId,
        *,
        bus: MessageBus | None = None,
        clock: Clock | None = None,
        ids: IdFactory | None = None,
        atr_period: int = 14,
        er_period: int = 20,
        volatility_threshold: float = 0.02,
        trend_threshold: float = 0.3,
        hysteresis: float = 0.2,
        confirm_bars: int = 3,
    ) -> None:
        check_period("RegimeDetector", "atr_period", atr_period)
        check_period("RegimeDetector", "er_period", er_period)
        check_period("RegimeDetector", "confirm_bars", confirm_bars)
        tiny = math.ulp(0.0)
        vol = _check_number("volatility_threshold", volatility_threshold, tiny, math.inf, "(0, inf)")
        trend = _check_number("trend_threshold", trend_threshold, tiny, 1.0, "(0, 1]")
        hyst = _check_number("hysteresis", hysteresis, 0.0, 1.0 - math.ulp(1.0), "[0, 1)")
        self._instrument_id = instrument_id
        self._publisher: tuple[MessageBus, Clock, IdFactory] | None = None
        if bus is not None:
            if clock is None or ids is None:
                raise ValueRangeError("RegimeDetector: publishing on a bus needs both clock and ids")
            self._publisher = (bus, clock, ids)
        self._atr = AverageTrueRange(atr_period)
        self._er = EfficiencyRatio(er_period)
        self._vol_enter = vol
        self._vol_stay = vol * (1.0 - hyst)
        self._trend_enter = trend
        self._trend_stay = trend * (1.0 - hyst)
        self._confirm_bars = confirm_bars
        self._params = (atr_period, er_period, vol, trend, hyst, confirm_bars)
        self._regime = Regime.UNKNOWN
        self._pending = Regime.UNKNOWN
        self._pending_count = 0
        self._volatility = math.nan

    @property
    def instrument_id(self) -> InstrumentId:
        return self._instrument_id

    @property
    def regime(self) -> Regime:
        """The current regime (UNKNOWN until warmed up)."""
        return self._regime

    @property
    def initialized(self) -> bool:
        """Whether both readings are warmed up."""
        return self._atr.initialized and self._er.initialized

    @property
    def volatility(self) -> float:
        """Latest ATR / |close| (``nan`` until the ATR is warmed up)."""
        return self._volatility

    @property
    def efficiency(self) -> float:
        """Latest efficiency ratio (``nan`` until warmed up)."""
        return self._er.value

    @property
    def count(self) -> int:
        """Bars folded in since construction or reset."""
        return self._er.count

    def update_bar(self, bar: Bar) -> Regime | None:
        """Fold in one bar; return the new regime if it changed on this bar, else ``None``.

        Raises
        ------
        DataError
            If the bar belongs to another instrument (nothing is folded in).
        """
        if bar.instrument_id != self._instrument_id:
            raise DataError(f"RegimeDetector for {self._instrument_id} got a bar of {bar.instrument_id}")
        close = bar.close.as_double()
        atr = self._atr
        er = self._er
        atr.update(bar.high.as_double(), bar.low.as_double(), close)
        er.update(close)
        if atr.initialized:
            self._volatility = atr.value / abs(close) if close != 0.0 else math.inf
        if not er.initialized or not atr.initialized:
            return None
        current = self._regime
        if self._volatility >= (self._vol_stay if current is Regime.VOLATILE else self._vol_enter):
            reading = Regime.VOLATILE
        elif er.value >= (self._trend_stay if current is Regime.TRENDING else self._trend_enter):
            reading = Regime.TRENDING
        else:
            reading = Regime.RANGING
        if reading is current:
            self._pending_count = 0
            return None
        if current is not Regime.UNKNOWN:
            if reading is self._pending:
                self._pending_count += 1
            else:
                self._pending = reading
                self._pending_count = 1
            if self._pending_count < self._confirm_bars:
                return None
        self._regime = reading
        self._pending_count = 0
        if self._publisher is not None:
            self._publish(self._publisher, bar, reading, current)
        return reading

    def _publish(
        self, publisher: tuple[MessageBus, Clock, IdFactory], bar: Bar, new: Regime, old: Regime
    ) -> None:
        bus, clock, ids = publisher
        bus.publish(
            RegimeChanged(
                id=ids.new_id(),
                correlation_id=ids.new_id(),
                causation_id=None,
                ts_event=bar.ts_event,
                ts_init=clock.timestamp_ns(),
                instrument_id=self._instrument_id,
                regime=new.value,
                previous=old.value,
            )
        )

    def reset(self) -> None:
        """Forget every bar: back to UNKNOWN (publishes nothing)."""
        self._atr.reset()
        self._er.reset()
        self._regime = Regime.UNKNOWN
        self._pending = Regime.UNKNOWN
        self._pending_count = 0
        self._volatility = math.nan

    def __repr__(self) -> str:
        atr_p, er_p, vol, trend, hyst, confirm = self._params
        return (
            f"RegimeDetector({self._instrument_id!r}, atr_period={atr_p}, er_period={er_p}, "
            f"volatility_threshold={vol}, trend_threshold={trend}, hysteresis={hyst}, "
            f"confirm_bars={confirm}, regime={self._regime.value})"
        )
