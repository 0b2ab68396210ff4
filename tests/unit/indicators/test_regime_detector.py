"""The regime detector classifies synthetic markets, resists flapping and publishes changes."""

from __future__ import annotations

import math
import random
from collections.abc import Callable

import pytest

from tradeloop.core.bus import MessageBus
from tradeloop.core.clock import SimulatedClock
from tradeloop.core.errors import DataError, ValueRangeError
from tradeloop.core.ids import IdFactory, InstrumentId
from tradeloop.indicators import Regime, RegimeDetector
from tradeloop.model import Bar, BarSpec, Price, Quantity, RegimeChanged

ABC = InstrumentId("ABC.SIM")
XYZ = InstrumentId("XYZ.SIM")
DAY_NS = 86_400 * 10**9
SPEC = BarSpec.parse("1-DAY")

Hlc = tuple[float, float, float]


def make_bar(index: int, high: float, low: float, close: float, instrument: InstrumentId = ABC) -> Bar:
    ts = (index + 1) * DAY_NS

    def px(x: float) -> Price:
        return Price.from_decimal(round(x, 4), 4)

    return Bar(
        ts_event=ts,
        ts_init=ts,
        instrument_id=instrument,
        spec=SPEC,
        open=px(close),
        high=px(max(high, close)),
        low=px(min(low, close)),
        close=px(close),
        volume=Quantity.from_str("100"),
    )


def trending(rng: random.Random, n: int, start: float) -> list[Hlc]:
    """+0.4% a bar with 0.2% noise and a 0.4% daily range: steady, calm, directional."""
    out, close = [], start
    for _ in range(n):
        close *= 1 + 0.004 + rng.gauss(0, 0.002)
        half = close * 0.002
        out.append((close + half, close - half, close))
    return out


def ranging(rng: random.Random, n: int, start: float, centre: float = 100.0) -> list[Hlc]:
    """Mean-reverting around ``centre`` (AR(1), phi 0.5) with a calm range."""
    out, close = [], start
    for _ in range(n):
        close = centre + 0.5 * (close - centre) + rng.gauss(0, 0.4)
        half = close * 0.002
        out.append((close + half, close - half, close))
    return out


def volatile(rng: random.Random, n: int, start: float) -> list[Hlc]:
    """4% moves a bar and a 4% daily range."""
    out, close = [], start
    for _ in range(n):
        close *= 1 + rng.gauss(0, 0.04)
        half = close * 0.02
        out.append((close + half, close - half, close))
    return out


def run(detector: RegimeDetector, hlc: list[Hlc], start_index: int = 0) -> list[Regime]:
    """Feed the bars; return the regime after each one."""
    out = []
    for i, (high, low, close) in enumerate(hlc, start=start_index):
        detector.update_bar(make_bar(i, high, low, close))
        out.append(detector.regime)
    return out


WARMUP = 21  # default er_period 20 needs 21 closes; the ATR(14) is ready before that


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5])
@pytest.mark.parametrize(
    ("generate", "expected"),
    [
        (lambda rng: trending(rng, 120, 100.0), Regime.TRENDING),
        (lambda rng: ranging(rng, 120, 100.0), Regime.RANGING),
        (lambda rng: volatile(rng, 120, 100.0), Regime.VOLATILE),
    ],
    ids=["trending", "ranging", "volatile"],
)
def test_detector_classifies_a_synthetic_market_from_the_first_bar_after_warmup(
    generate: Callable[[random.Random], list[Hlc]], expected: Regime, seed: int
) -> None:
    detector = RegimeDetector(ABC)
    regimes = run(detector, generate(random.Random(seed)))
    assert regimes[: WARMUP - 1] == [Regime.UNKNOWN] * (WARMUP - 1)
    assert set(regimes[WARMUP - 1 :]) == {expected}


def test_detector_follows_a_market_from_ranging_to_trending_to_volatile() -> None:
    rng = random.Random(7)
    hlc = ranging(rng, 80, 100.0)
    hlc += trending(rng, 80, hlc[-1][2])
    hlc += volatile(rng, 80, hlc[-1][2])
    detector = RegimeDetector(ABC)
    changes = []
    for i, (high, low, close) in enumerate(hlc):
        changed = detector.update_bar(make_bar(i, high, low, close))
        if changed is not None:
            assert changed is detector.regime
            changes.append((i, changed))
    assert [regime for _, regime in changes] == [Regime.RANGING, Regime.TRENDING, Regime.VOLATILE]
    (first, _), (to_trend, _), (to_volatile, _) = changes
    assert first == WARMUP - 1
    assert 80 < to_trend < 110
    assert 160 < to_volatile < 180


def test_readings_are_exposed_and_nan_before_warmup() -> None:
    detector = RegimeDetector(ABC, atr_period=3, er_period=4)
    assert math.isnan(detector.volatility)
    assert math.isnan(detector.efficiency)
    run(detector, [(101, 99, 100), (102, 100, 101), (103, 101, 102), (104, 102, 103), (105, 103, 104)])
    assert detector.initialized
    assert detector.count == 5
    assert detector.efficiency == 1.0
    assert detector.volatility == pytest.approx(2.0 / 104)
    assert detector.regime is Regime.TRENDING


# With atr_period=1 the volatility reading is one bar's true range over its close, so a test
# can choose the reading of every bar. Closes stay at 100, so the efficiency ratio is 0 and a
# calm bar reads RANGING.
CALM = (100.1, 99.9, 100.0)  # 0.2% range
WILD = (103.0, 97.0, 100.0)  # 6% range
MILD = (100.75, 99.25, 100.0)  # 1.5% range


def fast_detector(**params: float) -> RegimeDetector:
    base: dict[str, float] = {"atr_period": 1, "er_period": 2, "volatility_threshold": 0.02}
    base.update(params)
    return RegimeDetector(ABC, **base)  # type: ignore[arg-type]


def test_alternating_readings_never_switch_when_two_confirming_bars_are_required() -> None:
    detector = fast_detector(confirm_bars=2)
    run(detector, [CALM] * 3)
    assert detector.regime is Regime.RANGING
    assert set(run(detector, [WILD, CALM] * 10, start_index=3)) == {Regime.RANGING}
    assert run(detector, [WILD, WILD], start_index=23) == [Regime.RANGING, Regime.VOLATILE]


def test_alternating_readings_switch_every_bar_when_no_confirmation_is_required() -> None:
    detector = fast_detector(confirm_bars=1, hysteresis=0.0)
    run(detector, [CALM] * 3)
    assert run(detector, [WILD, CALM, WILD], start_index=3) == [
        Regime.VOLATILE,
        Regime.RANGING,
        Regime.VOLATILE,
    ]


def test_an_interrupted_confirmation_starts_counting_again() -> None:
    detector = fast_detector(confirm_bars=3)
    run(detector, [CALM] * 3)
    regimes = run(detector, [WILD, WILD, CALM, WILD, WILD, WILD], start_index=3)
    assert regimes == [Regime.RANGING] * 5 + [Regime.VOLATILE]


def test_hysteresis_keeps_an_established_regime_until_the_reading_falls_through_the_lower_band() -> None:
    # Enter VOLATILE at 2%, stay down to 1% (hysteresis 0.5): a 1.5% bar keeps it volatile...
    detector = fast_detector(confirm_bars=1, hysteresis=0.5)
    run(detector, [CALM] * 3 + [WILD])
    assert detector.regime is Regime.VOLATILE
    assert run(detector, [MILD] * 5, start_index=4) == [Regime.VOLATILE] * 5
    assert run(detector, [CALM], start_index=9) == [Regime.RANGING]
    # ...but the same 1.5% bars do not enter VOLATILE from RANGING.
    assert run(detector, [MILD] * 5, start_index=10) == [Regime.RANGING] * 5


def test_without_hysteresis_the_same_reading_leaves_the_regime() -> None:
    detector = fast_detector(confirm_bars=1, hysteresis=0.0)
    run(detector, [CALM] * 3 + [WILD])
    assert run(detector, [MILD], start_index=4) == [Regime.RANGING]


def test_changes_are_published_as_regime_changed_on_the_bus() -> None:
    clock = SimulatedClock(start_ns=0)
    bus = MessageBus(clock, IdFactory(1))
    received: list[RegimeChanged] = []
    bus.subscribe(RegimeChanged, received.append)
    detector = RegimeDetector(ABC, bus=bus, clock=clock, ids=IdFactory(2))
    rng = random.Random(11)
    hlc = ranging(rng, 60, 100.0) + trending(rng, 60, 100.0)
    returned = []
    for i, (high, low, close) in enumerate(hlc):
        bar = make_bar(i, high, low, close)
        clock.set_time(bar.ts_event + 1_000)  # the detector runs a microsecond after the close
        changed = detector.update_bar(bar)
        if changed is not None:
            returned.append((bar.ts_event, changed))
    assert [r for _, r in returned] == [Regime.RANGING, Regime.TRENDING]
    assert [(e.ts_event, e.regime) for e in received] == [(ts, r.value) for ts, r in returned]
    assert [e.previous for e in received] == ["UNKNOWN", "RANGING"]
    for event in received:
        assert event.instrument_id == ABC
        assert event.ts_init == event.ts_event + 1_000
        assert event.causation_id is None
        assert event.id != event.correlation_id
    assert len({e.id for e in received} | {e.correlation_id for e in received}) == 4


def test_published_ids_are_deterministic_for_a_seeded_id_factory() -> None:
    def ids_of_run() -> list[str]:
        clock = SimulatedClock()
        bus = MessageBus(clock, IdFactory(1))
        received: list[RegimeChanged] = []
        bus.subscribe(RegimeChanged, received.append)
        detector = RegimeDetector(ABC, bus=bus, clock=clock, ids=IdFactory(5))
        run(detector, ranging(random.Random(3), 40, 100.0))
        return [e.id for e in received] + [e.correlation_id for e in received]

    first = ids_of_run()
    assert first
    assert first == ids_of_run()


def test_detector_without_a_bus_only_returns_changes() -> None:
    detector = RegimeDetector(ABC)
    regimes = run(detector, trending(random.Random(2), 30, 100.0))
    assert regimes[-1] is Regime.TRENDING


def test_reset_returns_to_unknown_and_warms_up_again() -> None:
    detector = RegimeDetector(ABC, atr_period=2, er_period=2)
    run(detector, [(101, 99, 100), (102, 100, 101), (103, 101, 102)])
    assert detector.regime is Regime.TRENDING
    detector.reset()
    assert detector.regime is Regime.UNKNOWN
    assert not detector.initialized
    assert detector.count == 0
    assert math.isnan(detector.volatility)
    assert run(detector, [(101, 99, 100), (102, 100, 101)]) == [Regime.UNKNOWN, Regime.UNKNOWN]


def test_a_bar_of_another_instrument_raises_and_is_not_folded_in() -> None:
    detector = RegimeDetector(ABC)
    with pytest.raises(DataError, match=r"XYZ\.SIM"):
        detector.update_bar(make_bar(0, 101, 99, 100, instrument=XYZ))
    assert detector.count == 0


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"atr_period": 0}, "atr_period"),
        ({"er_period": -1}, "er_period"),
        ({"confirm_bars": 0}, "confirm_bars"),
        ({"volatility_threshold": 0.0}, "volatility_threshold"),
        ({"volatility_threshold": math.nan}, "volatility_threshold"),
        ({"trend_threshold": 1.5}, "trend_threshold"),
        ({"trend_threshold": 0.0}, "trend_threshold"),
        ({"hysteresis": 1.0}, "hysteresis"),
        ({"hysteresis": -0.1}, "hysteresis"),
    ],
)
def test_invalid_parameters_raise_a_value_error_naming_the_parameter(
    params: dict[str, float], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        RegimeDetector(ABC, **params)  # type: ignore[arg-type]


def test_publishing_without_clock_or_ids_is_refused() -> None:
    clock = SimulatedClock()
    bus = MessageBus(clock, IdFactory(1))
    with pytest.raises(ValueRangeError, match="clock and ids"):
        RegimeDetector(ABC, bus=bus, ids=IdFactory(2))
    with pytest.raises(ValueRangeError, match="clock and ids"):
        RegimeDetector(ABC, bus=bus, clock=clock)


def test_regime_values_are_the_strings_carried_by_regime_changed() -> None:
    assert [r.value for r in Regime] == ["UNKNOWN", "TRENDING", "RANGING", "VOLATILE"]
    assert "ABC.SIM" in repr(RegimeDetector(ABC))
