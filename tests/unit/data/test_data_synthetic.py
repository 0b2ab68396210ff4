"""Synthetic data: deterministic per seed, valid on the instrument's grid."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from tradeloop.core.errors import ValueRangeError
from tradeloop.data import (
    DEFAULT_START_NS,
    event_probability_path,
    generate_bars,
    generate_event_contract_prices,
    generate_quotes,
    generate_trades,
    iter_bars,
)
from tradeloop.model import (
    AggressorSide,
    Bar,
    BarSpec,
    BinaryEventContract,
    Equity,
    FuturesContract,
    QuoteTick,
)

ES = FuturesContract("ES.CME")
AAPL = Equity("AAPL.XNAS")
KALSHI = BinaryEventContract("RAIN-NYC.KALSHI")
MINUTE = BarSpec.parse("1-MINUTE")


def assert_valid_bars(bars: list[Bar], tick_raw: int) -> None:
    for bar in bars:
        assert bar.low.raw <= min(bar.open.raw, bar.close.raw)
        assert bar.high.raw >= max(bar.open.raw, bar.close.raw)
        assert bar.low.raw > 0
        for p in (bar.open, bar.high, bar.low, bar.close):
            assert p.raw % tick_raw == 0
        assert bar.volume.raw > 0


def test_same_seed_gives_identical_bars_and_a_different_seed_does_not() -> None:
    a = generate_bars(ES, 500, seed=7, start_price="1640.25")
    b = generate_bars(ES, 500, seed=7, start_price="1640.25")
    c = generate_bars(ES, 500, seed=8, start_price="1640.25")
    assert a == b
    assert [x.close for x in a] != [x.close for x in c]


def test_bars_are_valid_consecutive_and_on_the_tick_grid() -> None:
    bars = generate_bars(ES, 2_000, seed=1, start_price="1640.25", volatility=0.002)
    assert_valid_bars(bars, ES.price_increment.raw)
    assert bars[0].open.raw == 1_640_250_000_000
    assert [b.ts_event for b in bars] == [
        DEFAULT_START_NS + (i + 1) * MINUTE.interval_ns for i in range(2_000)
    ]
    assert all(b.ts_init == b.ts_event and b.spec == MINUTE and b.instrument_id == ES.id for b in bars)
    assert all(later.open == earlier.close for earlier, later in itertools.pairwise(bars))
    assert len({b.close.raw for b in bars}) > 20  # the walk actually moves


def test_lazy_bars_equal_the_list_across_chunk_boundaries() -> None:
    n = 70_000  # more than one generation chunk
    lazy = iter_bars(AAPL, n, seed=3, spec=BarSpec.parse("5-SECOND"), start_ns=0)
    eager = generate_bars(AAPL, n, seed=3, spec=BarSpec.parse("5-SECOND"), start_ns=0)
    assert list(lazy) == eager
    assert all(later.open == earlier.close for earlier, later in itertools.pairwise(eager))
    assert_valid_bars(eager, AAPL.price_increment.raw)


def test_drift_moves_the_price_in_its_direction() -> None:
    up = generate_bars(AAPL, 1_000, seed=5, drift=0.001, volatility=0.0005)
    down = generate_bars(AAPL, 1_000, seed=5, drift=-0.001, volatility=0.0005)
    assert up[-1].close.raw > up[0].open.raw
    assert down[-1].close.raw < down[0].open.raw


def test_a_binary_contract_walk_stays_inside_its_band() -> None:
    bars = generate_bars(KALSHI, 3_000, seed=2, start_price="0.50", volatility=0.05)
    assert min(b.low.raw for b in bars) >= KALSHI.min_price.raw  # type: ignore[union-attr]
    assert max(b.high.raw for b in bars) <= KALSHI.max_price.raw  # type: ignore[union-attr]
    assert_valid_bars(bars, KALSHI.price_increment.raw)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n": -1}, "n must not be negative"),
        ({"volatility": -0.1}, "volatility"),
        ({"volatility": float("nan")}, "volatility"),
        ({"drift": float("inf")}, "drift"),
        ({"start_price": "1640.30"}, "not a multiple"),
        ({"start_price": "0"}, "start_price must be positive"),
        ({"start_ns": 1}, "not on a 1-MINUTE boundary"),
        ({"mean_volume": 0.5}, "mean_volume"),
    ],
)
def test_invalid_bar_parameters_are_refused(kwargs: dict[str, object], message: str) -> None:
    args: dict[str, object] = {"n": 10, "start_price": "1640.25"} | kwargs
    n = args.pop("n")
    with pytest.raises(ValueRangeError, match=message):
        generate_bars(ES, n, **args)  # type: ignore[arg-type]


def test_zero_bars_is_an_empty_list() -> None:
    assert generate_bars(ES, 0, start_price="1640.25") == []


def assert_valid_quotes(quotes: list[QuoteTick], tick_raw: int) -> None:
    for q in quotes:
        assert 0 < q.bid_price.raw < q.ask_price.raw
        assert q.bid_price.raw % tick_raw == 0
        assert q.ask_price.raw % tick_raw == 0
        assert q.bid_size.raw > 0
        assert q.ask_size.raw > 0


def test_quotes_are_deterministic_valid_and_strictly_increasing_in_time() -> None:
    a = generate_quotes(ES, 3_000, seed=4, start_price="1640.25", max_spread_ticks=3)
    assert a == generate_quotes(ES, 3_000, seed=4, start_price="1640.25", max_spread_ticks=3)
    assert a != generate_quotes(ES, 3_000, seed=5, start_price="1640.25", max_spread_ticks=3)
    assert_valid_quotes(a, ES.price_increment.raw)
    spreads = {(q.ask_price.raw - q.bid_price.raw) // ES.price_increment.raw for q in a}
    assert spreads == {1, 2, 3}
    ts = np.array([q.ts_event for q in a])
    assert ts[0] > DEFAULT_START_NS
    assert bool(np.all(np.diff(ts) > 0))


def test_trades_are_deterministic_on_grid_with_both_aggressor_sides() -> None:
    a = generate_trades(ES, 3_000, seed=9, start_price="1640.25")
    assert a == generate_trades(ES, 3_000, seed=9, start_price="1640.25")
    assert a != generate_trades(ES, 3_000, seed=10, start_price="1640.25")
    assert all(t.price.raw % ES.price_increment.raw == 0 and t.size.raw > 0 for t in a)
    assert {t.aggressor_side for t in a} == {AggressorSide.BUYER, AggressorSide.SELLER}
    ts = [t.ts_event for t in a]
    assert ts == sorted(ts)
    assert len(set(ts)) == len(ts)


def test_event_contract_quotes_stay_between_one_and_ninety_nine_cents() -> None:
    quotes = generate_event_contract_prices(KALSHI, 5_000, seed=11, probability_volatility=0.3, noise=0.05)
    assert_valid_quotes(quotes, KALSHI.price_increment.raw)
    assert min(q.bid_price.raw for q in quotes) >= 10_000_000
    assert max(q.ask_price.raw for q in quotes) <= 990_000_000
    assert [q.ts_event for q in quotes][:2] == [DEFAULT_START_NS, DEFAULT_START_NS + 60_000_000_000]
    assert quotes == generate_event_contract_prices(
        KALSHI, 5_000, seed=11, probability_volatility=0.3, noise=0.05
    )


def test_event_contract_quotes_track_a_given_true_probability() -> None:
    quotes = generate_event_contract_prices(KALSHI, 4_000, seed=1, true_probability=0.9, noise=0.01)
    mids = np.array([(q.bid_price.raw + q.ask_price.raw) / 2e9 for q in quotes])
    assert abs(float(mids.mean()) - 0.9) < 0.01


def test_event_contract_quotes_follow_a_supplied_path() -> None:
    path = np.linspace(0.05, 0.95, 1_000)
    quotes = generate_event_contract_prices(KALSHI, 1_000, seed=1, true_probability=path, noise=0.0)
    mids = np.array([(q.bid_price.raw + q.ask_price.raw) / 2e9 for q in quotes])
    assert float(np.max(np.abs(mids - path))) <= 0.011


def test_probability_path_is_seeded_and_inside_the_unit_interval() -> None:
    p = event_probability_path(10_000, seed=3, start_probability=0.2, volatility=0.2)
    assert np.array_equal(p, event_probability_path(10_000, seed=3, start_probability=0.2, volatility=0.2))
    assert not np.array_equal(
        p, event_probability_path(10_000, seed=4, start_probability=0.2, volatility=0.2)
    )
    assert bool(np.all((p > 0) & (p < 1)))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"true_probability": [0.5, 0.5]}, "true_probability has 2 values for 10 quotes"),
        ({"true_probability": 1.5}, r"must lie in \[0, 1\]"),
        ({"start_probability": 1.0}, r"inside \(0, 1\)"),
        ({"noise": -1.0}, "noise"),
        ({"interval_ns": 0}, "interval_ns"),
    ],
)
def test_invalid_event_contract_parameters_are_refused(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueRangeError, match=message):
        generate_event_contract_prices(KALSHI, 10, **kwargs)  # type: ignore[arg-type]


def test_event_contract_prices_need_a_sub_unit_tick() -> None:
    with pytest.raises(ValueRangeError, match="cannot price a probability"):
        generate_event_contract_prices(FuturesContract("XX.CME", tick="1"), 10)
