"""Indicators and the market regime of every instrument, kept up to date from bars on the bus.

For each instrument whose bars of the configured spec pass on the bus, the service keeps a
:class:`~tradeloop.indicators.regime.RegimeDetector` (which publishes
:class:`~tradeloop.model.events.RegimeChanged` when the regime switches; strategies receive it
as ``on_regime_changed``) and one of each configured indicator. It subscribes above the
strategies' priority, so a strategy handling a bar reads indicators that already include it.
State survives a restart of the service: a restart re-subscribes, it does not forget history.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass

from tradeloop.core.bus import MessageBus
from tradeloop.core.clock import Clock
from tradeloop.core.errors import TradeloopError, ValueRangeError
from tradeloop.core.ids import IdFactory, InstrumentId
from tradeloop.indicators.base import Indicator
from tradeloop.indicators.regime import Regime, RegimeDetector
from tradeloop.model.data import Bar, BarSpec
from tradeloop.runtime.services.service import Service

__all__ = ["PRIORITY_INDICATORS", "IndicatorService", "RegimeSettings"]

_log = logging.getLogger("tradeloop.services.indicators")

PRIORITY_INDICATORS = 100
"""Bus priority of the indicator service: after the portfolio and aggregation, before strategies (0)."""


@dataclass(frozen=True, slots=True)
class RegimeSettings:
    """Parameters of every instrument's :class:`~tradeloop.indicators.regime.RegimeDetector`.

    Raises
    ------
    ValueRangeError
        If a value is out of the detector's range (checked when the settings are built).
    """

    atr_period: int = 14
    er_period: int = 20
    volatility_threshold: float = 0.02
    trend_threshold: float = 0.3
    hysteresis: float = 0.2
    confirm_bars: int = 3

    def __post_init__(self) -> None:
        RegimeDetector(InstrumentId("CHECK.SETTINGS"), **asdict(self))  # raises on a bad value


class IndicatorService(Service):
    """Keeps indicators and a regime detector per instrument from the bars on the bus.

    Parameters
    ----------
    bus, clock, ids:
        The bus the bars come from and ``RegimeChanged`` goes to; the clock and ids stamp it.
    spec:
        The bars to read (``None``: bars of every spec; give one when several timeframes run,
        or every bar of every timeframe is folded into the same indicators).
    indicators:
        Indicator factories by name (``{"atr": lambda: AverageTrueRange(14)}``); each
        instrument gets its own instance of each.
    regime:
        Regime detector parameters.
    instruments:
        Only these instruments (``None``: every instrument whose bars pass).
    name, depends_on:
        As for every :class:`~tradeloop.runtime.services.service.Service`.
    """

    def __init__(
        self,
        bus: MessageBus,
        clock: Clock,
        ids: IdFactory,
        *,
        spec: BarSpec | str | None = None,
        indicators: Mapping[str, Callable[[], Indicator]] | None = None,
        regime: RegimeSettings | None = None,
        instruments: Iterable[InstrumentId] | None = None,
        name: str = "indicators",
        depends_on: Iterable[str] = (),
    ) -> None:
        super().__init__(name, depends_on=depends_on)
        self._bus = bus
        self._clock = clock
        self._ids = ids
        self._spec = BarSpec.parse(spec) if isinstance(spec, str) else spec
        self._factories = dict(indicators or {})
        self._regime = regime or RegimeSettings()
        self._only = frozenset(instruments) if instruments is not None else None
        self._detectors: dict[InstrumentId, RegimeDetector] = {}
        self._indicators: dict[InstrumentId, dict[str, Indicator]] = {}
        self.bars = 0
        """Bars folded in."""
        self.regime_changes = 0
        self.errors = 0
        """Bars an indicator refused (a non-finite value, say); the others still took them."""
        self.last_error = ""

    # -- lifecycle -------------------------------------------------------------------------

    async def on_start(self) -> None:
        self._bus.subscribe(Bar, self._on_bar, priority=PRIORITY_INDICATORS)

    async def on_stop(self) -> None:
        self._bus.unsubscribe(Bar, self._on_bar)

    # -- the bar handler (hot path) --------------------------------------------------------

    def _on_bar(self, bar: Bar) -> None:
        if self._spec is not None and bar.spec != self._spec:
            return
        iid = bar.instrument_id
        detector = self._detectors.get(iid)
        if detector is None:
            if self._only is not None and iid not in self._only:
                return
            detector = self._track(iid)
        self.bars += 1
        try:
            if detector.update_bar(bar) is not None:
                self.regime_changes += 1
        except ValueRangeError as exc:
            self._refused(exc)
        for indicator in self._indicators[iid].values():
            try:
                indicator.update_bar(bar)
            except ValueRangeError as exc:
                self._refused(exc)

    def _track(self, iid: InstrumentId) -> RegimeDetector:
        detector = RegimeDetector(
            iid, bus=self._bus, clock=self._clock, ids=self._ids, **asdict(self._regime)
        )
        self._detectors[iid] = detector
        self._indicators[iid] = {name: make() for name, make in self._factories.items()}
        return detector

    def _refused(self, exc: ValueRangeError) -> None:
        self.errors += 1
        self.last_error = str(exc)
        _log.warning("%s: %s", self.name, exc)

    # -- reads -----------------------------------------------------------------------------

    @property
    def instruments(self) -> list[InstrumentId]:
        """Instruments with indicators, in the order their first bar came."""
        return list(self._detectors)

    def regime(self, instrument_id: InstrumentId) -> Regime:
        """The instrument's regime (UNKNOWN before its first bars)."""
        detector = self._detectors.get(instrument_id)
        return detector.regime if detector is not None else Regime.UNKNOWN

    def detector(self, instrument_id: InstrumentId) -> RegimeDetector | None:
        return self._detectors.get(instrument_id)

    def indicator(self, instrument_id: InstrumentId, name: str) -> Indicator | None:
        """The instrument's indicator ``name`` (``None`` before its first bar).

        Raises
        ------
        TradeloopError
            If no indicator of that name is configured.
        """
        if name not in self._factories:
            known = ", ".join(self._factories) or "none"
            raise TradeloopError(f"{self.name}: no indicator {name!r} is configured (indicators: {known})")
        found = self._indicators.get(instrument_id)
        return found[name] if found is not None else None

    # -- health and metrics ----------------------------------------------------------------

    def metrics(self) -> Mapping[str, float | int]:
        counts = dict.fromkeys(Regime, 0)
        for detector in self._detectors.values():
            counts[detector.regime] += 1
        return {
            "bars": self.bars,
            "instruments": len(self._detectors),
            "regime_changes": self.regime_changes,
            "errors": self.errors,
            **{f"instruments_{regime.value.lower()}": n for regime, n in counts.items()},
        }
