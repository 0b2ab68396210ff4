"""TrailingStop: follows the best price since entry, on the tick grid, never backing off.

AAPL prices are cents (tick 0.01); the E-mini future has a 0.25 tick. A raw is value x 10**9.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tradeloop.core.errors import ValueRangeError
from tradeloop.lifecycle.methods import TrailingStopRule
from tradeloop.lifecycle.trailing import TrailingStop
from tradeloop.model.instruments import Instrument
from tradeloop.testkit import aapl_equity, es_future

AAPL = aapl_equity()
ES = es_future()


def px(instrument: Instrument, text: str) -> int:
    return instrument.make_price(text).raw


def pct_stop(
    *, long: bool = True, entry: str = "100.00", activation: str = "0", distance: str = "2"
) -> TrailingStop:
    rule = TrailingStopRule(activation_pct=Decimal(activation), distance_pct=Decimal(distance))
    return TrailingStop(rule, long=long, entry_raw=px(AAPL, entry), instrument=AAPL)


def atr_stop(instrument: Instrument, *, long: bool, entry: str, multiple: str = "2") -> TrailingStop:
    rule = TrailingStopRule(atr_multiple=Decimal(multiple))
    return TrailingStop(rule, long=long, entry_raw=px(instrument, entry), instrument=instrument)


def test_long_stop_waits_for_activation_then_trails_distance_below_the_peak() -> None:
    stop = pct_stop(activation="5")

    assert stop.update(px(AAPL, "104.99")) is False
    assert not stop.active
    assert stop.stop_raw is None

    assert stop.update(px(AAPL, "105.00")) is True  # +5 % reached: placed 2 % under 105
    assert stop.active
    assert stop.stop_raw == px(AAPL, "102.90")
    assert stop.peak_raw == px(AAPL, "105.00")

    assert stop.update(px(AAPL, "104.00")) is False  # a lower price never lowers the stop
    assert stop.stop_raw == px(AAPL, "102.90")

    assert stop.update(px(AAPL, "110.00")) is True
    assert stop.stop_raw == px(AAPL, "107.80")


def test_short_stop_trails_above_the_lowest_price() -> None:
    stop = pct_stop(long=False, activation="1")

    assert stop.update(px(AAPL, "99.01")) is False  # only +0.99 % for a short
    assert stop.update(px(AAPL, "98.00")) is True
    assert stop.stop_raw == px(AAPL, "99.96")  # 98 + 2 %
    assert stop.update(px(AAPL, "99.00")) is False
    assert stop.stop_raw == px(AAPL, "99.96")
    assert stop.peak_raw == px(AAPL, "98.00")


def test_stop_is_hit_at_or_beyond_it() -> None:
    long = pct_stop()
    short = pct_stop(long=False)
    assert not long.is_hit(px(AAPL, "1.00"))  # nothing placed yet: nothing to hit
    long.update(px(AAPL, "110.00"))
    short.update(px(AAPL, "90.00"))

    assert long.is_hit(px(AAPL, "107.80"))
    assert long.is_hit(px(AAPL, "107.00"))
    assert not long.is_hit(px(AAPL, "107.81"))
    assert short.is_hit(px(AAPL, "91.80"))
    assert short.is_hit(px(AAPL, "95.00"))
    assert not short.is_hit(px(AAPL, "91.79"))


def test_zero_activation_arms_at_entry_and_the_peak_starts_at_entry() -> None:
    stop = pct_stop(activation="0")
    assert stop.active
    assert stop.peak_raw == px(AAPL, "100.00")

    # The first price is a loss, yet the stop is placed 2 % under the entry, the best so far.
    assert stop.update(px(AAPL, "99.00")) is True
    assert stop.stop_raw == px(AAPL, "98.00")
    assert stop.peak_raw == px(AAPL, "100.00")


def test_stop_off_the_grid_is_rounded_away_from_the_peak() -> None:
    long = pct_stop(distance="3")
    short = pct_stop(long=False, entry="100.01", distance="3")
    long.update(px(AAPL, "100.01"))  # 100.01 x 0.97 = 97.0097: the nearest tick would be 97.01
    short.update(px(AAPL, "100.01"))  # 100.01 x 1.03 = 103.0103: the nearest tick would be 103.01

    assert long.stop_raw == px(AAPL, "97.00")
    assert short.stop_raw == px(AAPL, "103.02")


def test_atr_stop_is_not_placed_without_an_atr() -> None:
    stop = atr_stop(AAPL, long=True, entry="100.00")

    assert stop.update(px(AAPL, "101.00")) is False
    assert stop.active
    assert stop.stop_raw is None


def test_atr_stop_tightens_when_atr_shrinks_and_holds_when_it_grows() -> None:
    stop = atr_stop(AAPL, long=True, entry="100.00")
    atr = px(AAPL, "1.50")

    assert stop.update(px(AAPL, "105.00"), atr) is True
    assert stop.stop_raw == px(AAPL, "102.00")  # 105 - 2 x 1.50

    assert stop.update(px(AAPL, "104.00"), px(AAPL, "3.00")) is False  # would loosen to 99
    assert stop.stop_raw == px(AAPL, "102.00")

    assert stop.update(px(AAPL, "104.00"), px(AAPL, "1.00")) is True  # 105 - 2 x 1.00
    assert stop.stop_raw == px(AAPL, "103.00")

    assert stop.update(px(AAPL, "104.00")) is False  # ATR missing later: the stop stays
    assert stop.stop_raw == px(AAPL, "103.00")


def test_atr_stop_snaps_to_a_coarse_tick_grid_for_long_and_short() -> None:
    atr = 3_300_000_000  # 3.3 points: finer than the 0.25 tick
    long = atr_stop(ES, long=True, entry="5000.00")
    short = atr_stop(ES, long=False, entry="5000.00")

    long.update(px(ES, "5000.00"), atr)  # 5000 - 6.6 = 4993.4 -> down to 4993.25
    short.update(px(ES, "5000.00"), atr)  # 5000 + 6.6 = 5006.6 -> up to 5006.75

    assert long.stop_raw == px(ES, "4993.25")
    assert short.stop_raw == px(ES, "5006.75")


def test_bad_inputs_are_refused_with_the_reason() -> None:
    rule = TrailingStopRule(distance_pct=Decimal(2))
    with pytest.raises(ValueRangeError, match="positive entry price"):
        TrailingStop(rule, long=True, entry_raw=0, instrument=AAPL)
    stop = atr_stop(AAPL, long=True, entry="100.00")
    with pytest.raises(ValueRangeError, match="ATR must not be negative"):
        stop.update(px(AAPL, "100.00"), -1)


# -- properties ----------------------------------------------------------------------------

ticks = st.integers(min_value=1, max_value=40_000)  # prices in ticks of the instrument
atrs = st.one_of(st.none(), st.integers(min_value=0, max_value=2_000))  # ATR in ticks, or unknown


@st.composite
def rules(draw: st.DrawFn) -> TrailingStopRule:
    activation = Decimal(draw(st.integers(min_value=0, max_value=3_000))) / 100
    if draw(st.booleans()):
        distance = Decimal(draw(st.integers(min_value=1, max_value=10_000))) / 1_000
        return TrailingStopRule(activation_pct=activation, distance_pct=distance)
    multiple = Decimal(draw(st.integers(min_value=1, max_value=5_000))) / 1_000
    return TrailingStopRule(activation_pct=activation, atr_multiple=multiple)


@given(
    rule=rules(),
    long=st.booleans(),
    instrument=st.sampled_from([AAPL, ES]),
    entry=ticks,
    path=st.lists(st.tuples(ticks, atrs), min_size=1, max_size=60),
)
def test_stop_never_moves_against_the_position_stays_on_grid_and_behind_the_peak(
    rule: TrailingStopRule,
    long: bool,
    instrument: Instrument,
    entry: int,
    path: list[tuple[int, int | None]],
) -> None:
    tick = instrument.price_increment.raw
    stop = TrailingStop(rule, long=long, entry_raw=entry * tick, instrument=instrument)
    previous_stop = None
    previous_peak = stop.peak_raw
    for price_ticks, atr_ticks in path:
        moved = stop.update(price_ticks * tick, None if atr_ticks is None else atr_ticks * tick // 3)
        current, peak = stop.stop_raw, stop.peak_raw

        assert moved == (current != previous_stop)
        assert (peak >= previous_peak) if long else (peak <= previous_peak)
        if current is not None:
            assert stop.active
            assert current % tick == 0
            assert current <= peak if long else current >= peak
            if previous_stop is not None:
                assert current >= previous_stop if long else current <= previous_stop
        else:
            assert previous_stop is None  # once placed, a stop never disappears
        previous_stop, previous_peak = current, peak
