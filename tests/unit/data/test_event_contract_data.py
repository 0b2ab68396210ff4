"""Event-contract markets: seeded, on the 0.01 grid, resolving at expiry, with a real model edge;
probability series: lookups, validation, files."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tradeloop.core.errors import DataError, ValueRangeError
from tradeloop.data import (
    EventContractSeries,
    ProbabilitySeries,
    generate_event_contract,
    load_probabilities,
    load_quote_ticks,
)
from tradeloop.model import AggressorSide, BinaryEventContract, FuturesContract, QuoteTick, TradeTick
from tradeloop.model.instruments import Instrument

START = 1_704_067_200_000_000_000
MINUTE = 60_000_000_000
CENT = 10_000_000  # one tick (0.01) in raw units


def contract(points: int, *, interval_ns: int = MINUTE) -> Instrument:
    """A contract that expires exactly at the last of ``points`` points from ``START``."""
    return BinaryEventContract("RAIN.KALSHI", expiry_ns=START + (points - 1) * interval_ns)


def generate(points: int, **kwargs: object) -> EventContractSeries:
    return generate_event_contract(contract(points), points, start_ns=START, interval_ns=MINUTE, **kwargs)  # type: ignore[arg-type]


def mids(quotes: list[QuoteTick]) -> np.ndarray:
    return np.array([(q.bid_price.raw + q.ask_price.raw) / 2e9 for q in quotes])


def spreads_in_ticks(quotes: list[QuoteTick]) -> np.ndarray:
    return np.array([(q.ask_price.raw - q.bid_price.raw) // CENT for q in quotes])


# -- determinism -------------------------------------------------------------------------------


def test_the_same_seed_gives_the_same_market_model_and_outcome() -> None:
    a = generate(2_000, seed=5, trade_probability=0.2)
    b = generate(2_000, seed=5, trade_probability=0.2)
    assert a.data == b.data
    assert a.latent == b.latent
    assert a.model == b.model
    assert a.outcome == b.outcome


def test_a_different_seed_gives_a_different_path() -> None:
    a = generate(2_000, seed=5)
    b = generate(2_000, seed=6)
    assert a.model != b.model
    assert [q.bid_price for q in a.quotes] != [q.bid_price for q in b.quotes]


def test_turning_trades_on_leaves_the_quotes_and_the_model_unchanged() -> None:
    quiet = generate(3_000, seed=2)
    busy = generate(3_000, seed=2, trade_probability=0.3)
    assert busy.quotes == quiet.quotes
    assert busy.model == quiet.model
    assert quiet.trades == []
    assert 700 < len(busy.trades) < 1_100


# -- validity ----------------------------------------------------------------------------------


def test_quotes_are_on_the_cent_grid_inside_the_band_one_per_interval() -> None:
    series = generate(20_000, seed=1, true_probability=0.5)
    quotes = series.quotes
    assert len(quotes) == 20_000
    assert [q.ts_event for q in quotes] == [START + i * MINUTE for i in range(20_000)]
    for q in quotes:
        assert CENT <= q.bid_price.raw < q.ask_price.raw <= 99 * CENT
        assert q.bid_price.raw % CENT == 0
        assert q.ask_price.raw % CENT == 0
        assert q.bid_size.raw > 0
        assert q.ask_size.raw > 0
        assert q.ts_init == q.ts_event
    assert np.array_equal(series.model.timestamps, [q.ts_event for q in quotes])
    assert np.array_equal(series.latent.timestamps, series.model.timestamps)


@settings(max_examples=25)
@given(
    seed=st.integers(0, 2**32),
    p=st.floats(0.01, 0.99),
    noise=st.floats(0.0, 3.0),
    max_spread=st.integers(1, 5),
    wide=st.integers(6, 120),
)
def test_any_parameters_keep_quotes_inside_the_band(
    seed: int, p: float, noise: float, max_spread: int, wide: int
) -> None:
    series = generate(
        300,
        seed=seed,
        true_probability=p,
        market_noise=noise,
        max_spread_ticks=max_spread,
        wide_spread_ticks=wide,
        wide_probability=0.05,
    )
    for q in series.quotes:
        assert CENT <= q.bid_price.raw < q.ask_price.raw <= 99 * CENT
    assert np.all((series.model.values > 0) & (series.model.values < 1))


def test_the_spread_is_a_few_ticks_and_sometimes_widens() -> None:
    series = generate(20_000, seed=3, true_probability=0.5, max_spread_ticks=3, wide_spread_ticks=12)
    quotes = series.quotes
    spreads = spreads_in_ticks(quotes)
    assert np.mean(spreads <= 3) > 0.9
    wide = spreads > 3
    assert wide.sum() > 100  # the liquidity droughts happen...
    assert spreads.max() <= 12
    runs = np.flatnonzero(np.diff(wide.astype(int)) == 1)
    assert len(runs) > 20  # ...as separate episodes, not once
    sizes = np.array([q.bid_size.raw for q in quotes])
    assert sizes[wide].mean() < sizes[~wide].mean() / 3  # and the book thins out during them


def test_no_wide_spreads_without_droughts() -> None:
    series = generate(5_000, seed=3, max_spread_ticks=2, wide_probability=0.0)
    assert spreads_in_ticks(series.quotes).max() <= 2


def test_trades_print_at_their_quotes_bid_or_ask_between_quotes() -> None:
    series = generate(2_000, seed=9, trade_probability=0.25)
    data = series.data
    assert [d.ts_init for d in data] == sorted(d.ts_init for d in data)
    assert type(data[0]) is QuoteTick
    for before, item in itertools.pairwise(data):
        if isinstance(item, TradeTick):
            assert isinstance(before, QuoteTick)
            assert item.ts_event == before.ts_event + MINUTE // 2
            expected = before.ask_price if item.aggressor_side is AggressorSide.BUYER else before.bid_price
            assert item.price == expected
            assert item.size.raw > 0
    sides = {t.aggressor_side for t in series.trades}
    assert sides == {AggressorSide.BUYER, AggressorSide.SELLER}


# -- resolution and edge -----------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(12))
def test_the_price_converges_to_the_outcome_at_expiry(seed: int) -> None:
    series = generate(500, seed=seed)
    last = series.quotes[-1]
    assert series.latent.values[-1] == (1.0 if series.outcome else 0.0)
    if series.outcome:
        assert last.ask_price.raw == 99 * CENT
        assert last.bid_price.raw >= 96 * CENT
    else:
        assert last.bid_price.raw == CENT
        assert last.ask_price.raw <= 4 * CENT


def test_the_probability_drifts_to_the_outcome_as_expiry_nears() -> None:
    windows = [(0, 40), (200, 240), (360, 400), (392, 400)]  # the start ... the last 2 % of the life
    distance_per_window: list[list[float]] = [[] for _ in windows]
    for seed in range(40):
        series = generate(400, seed=seed)
        distance = np.abs(series.latent.values - (1.0 if series.outcome else 0.0))
        for found, (a, b) in zip(distance_per_window, windows, strict=True):
            found.append(float(distance[a:b].mean()))
    mean_distance = [np.mean(d) for d in distance_per_window]
    assert mean_distance == sorted(mean_distance, reverse=True)
    assert mean_distance[0] > 0.3
    assert mean_distance[-1] < 0.1


def test_outcomes_happen_as_often_as_the_true_probability_says() -> None:
    outcomes = [generate(20, seed=seed, true_probability=0.3).outcome for seed in range(600)]
    assert 0.25 < np.mean(outcomes) < 0.35


@pytest.mark.parametrize("outcome", [True, False])
def test_a_forced_outcome_is_where_the_market_ends(outcome: bool) -> None:
    for seed in range(10):
        series = generate(300, seed=seed, true_probability=0.5, outcome=outcome)
        assert series.outcome is outcome
        assert bool(mids(series.quotes[-1:])[0] > 0.5) is outcome


def test_the_model_is_closer_to_the_truth_than_the_market() -> None:
    series = generate(20_000, seed=4, true_probability=0.5, market_noise=0.3, model_noise=0.1)
    latent = series.latent.values
    model_error = np.abs(series.model.values - latent).mean()
    market_error = np.abs(mids(series.quotes) - latent).mean()
    assert model_error < 0.03
    assert model_error < market_error / 2


def test_the_market_mispricing_persists_for_a_while() -> None:
    series = generate(20_000, seed=4, true_probability=0.5, mispricing_half_life=30.0)
    gap = mids(series.quotes) - series.latent.values
    assert np.corrcoef(gap[:-10], gap[10:])[0, 1] > 0.5


def test_without_noise_the_model_is_the_latent_probability() -> None:
    series = generate(1_000, seed=8, model_noise=0.0)
    assert np.allclose(series.model.values, series.latent.values, atol=1e-8)


# -- argument errors ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"count": 0}, "count must be at least 1"),
        ({"interval_ns": 0}, "interval_ns must be positive"),
        ({"start_ns": START + 100 * MINUTE}, "is not before the expiry"),
        ({"count": 101}, "falls after the expiry"),
        ({"true_probability": 1.0}, "true_probability must lie strictly inside"),
        ({"true_probability": 0.0}, "true_probability must lie strictly inside"),
        ({"true_probability": float("nan")}, "true_probability"),
        ({"market_noise": -0.1}, "market_noise"),
        ({"model_noise": float("inf")}, "model_noise"),
        ({"mispricing_half_life": 0.0}, "mispricing_half_life"),
        ({"max_spread_ticks": 0}, "max_spread_ticks must be at least 1"),
        ({"max_spread_ticks": 5, "wide_spread_ticks": 5}, "wide_spread_ticks"),
        ({"wide_probability": 1.5}, "wide_probability"),
        ({"wide_duration": 0.5}, "wide_duration"),
        ({"mean_size": 0.0}, "mean_size"),
        ({"trade_probability": -0.1}, "trade_probability"),
    ],
)
def test_invalid_arguments_are_refused_naming_the_argument(kwargs: dict[str, object], message: str) -> None:
    args: dict[str, object] = {"count": 100, "start_ns": START, "interval_ns": MINUTE} | kwargs
    count = args.pop("count")
    with pytest.raises(ValueRangeError, match=message):
        generate_event_contract(contract(100), count, **args)  # type: ignore[arg-type]


def test_a_contract_without_an_expiry_is_refused() -> None:
    with pytest.raises(ValueRangeError, match="has no expiry_ns"):
        generate_event_contract(BinaryEventContract("RAIN.KALSHI"), 10)


def test_an_instrument_that_cannot_price_a_probability_is_refused() -> None:
    whole_points = FuturesContract("XX.CME", tick="1", expiry_ns=START + 10 * MINUTE)
    with pytest.raises(ValueRangeError, match="cannot price a probability"):
        generate_event_contract(whole_points, 5, start_ns=START)


def test_a_hundred_thousand_points_are_generated_in_one_call() -> None:
    series = generate(100_000, seed=1, trade_probability=0.05)
    assert len(series.quotes) == 100_000
    assert len(series.model) == 100_000


# -- probability series ------------------------------------------------------------------------


def test_a_lookup_gives_the_latest_value_at_or_before_the_time() -> None:
    series = ProbabilitySeries([100, 200, 300], [0.2, 0.5, 0.7])
    assert series.at(99) is None
    assert series.at(100) == 0.2
    assert series.at(250) == 0.5
    assert series.at(10_000) == 0.7
    assert series.at(250, max_age_ns=50) == 0.5
    assert series.at(251, max_age_ns=50) is None
    assert len(series) == 3


@pytest.mark.parametrize(
    ("timestamps", "values", "message"),
    [
        ([1, 2], [0.5], "one probability per timestamp"),
        ([1, 2, 3], [0.5, 1.2, 0.3], r"point 1: probability 1\.2 is not within 0\.\.1"),
        ([1, 2], [0.5, float("nan")], "point 1: probability nan"),
        ([1, 3, 3], [0.1, 0.2, 0.3], "point 2: time 3 does not come after"),
    ],
)
def test_an_invalid_series_is_refused(timestamps: list[int], values: list[float], message: str) -> None:
    with pytest.raises(ValueRangeError, match=message):
        ProbabilitySeries(timestamps, values)


def test_a_series_arrays_are_read_only() -> None:
    series = ProbabilitySeries([1, 2], [0.1, 0.2])
    with pytest.raises(ValueError, match="read-only"):
        series.values[0] = 0.9


def test_a_written_model_series_reads_back_equal(tmp_path: Path) -> None:
    model = generate(3_000, seed=12).model
    path = model.write_csv(tmp_path / "model.csv")
    assert load_probabilities(path) == model


def test_written_quotes_load_back_as_the_same_quotes(tmp_path: Path) -> None:
    series = generate(2_000, seed=12, trade_probability=0.1)
    path = series.write_quotes_csv(tmp_path / "quotes.csv")
    assert load_quote_ticks(path, series.instrument).data == series.quotes


def test_probabilities_load_from_parquet_with_epoch_times_and_other_column_names(tmp_path: Path) -> None:
    path = tmp_path / "model.parquet"
    pq.write_table(pa.table({"ts": [1_000, 2_000], "p_yes": [0.25, 0.75]}), path)
    series = load_probabilities(path, timestamp_column="ts", probability_column="p_yes", epoch_unit="s")
    assert series == ProbabilitySeries([1_000 * 10**9, 2_000 * 10**9], [0.25, 0.75])


@pytest.mark.parametrize(
    ("text", "kwargs", "message"),
    [
        ("time,probability\n2024-01-01T00:00:00Z,0.5\n", {}, "no column 'timestamp'"),
        ("timestamp,probability\n2024-01-01T00:00:00Z,0.5\nyesterday,0.6\n", {}, "row 2: timestamp"),
        (
            "timestamp,probability\n2024-01-01T00:00:00Z,0.5\n2024-01-01T00:01:00Z,high\n",
            {},
            "row 2: probability",
        ),
        (
            "timestamp,probability\n2024-01-01T00:00:00Z,0.5\n2024-01-01T00:01:00Z,1.5\n",
            {},
            "row 2: probability 1.5",
        ),
        (
            "timestamp,probability\n2024-01-01T00:01:00Z,0.5\n2024-01-01T00:00:00Z,0.6\n",
            {},
            "row 2: time .* does not come after",
        ),
        (
            "timestamp,probability\n1704067200,0.5\n",
            {"file_format": "parquet"},
            "cannot read the parquet file",
        ),
    ],
)
def test_a_bad_probability_file_is_refused_naming_the_row(
    tmp_path: Path, text: str, kwargs: dict[str, object], message: str
) -> None:
    path = tmp_path / "model.csv"
    path.write_text(text)
    with pytest.raises(DataError, match=message):
        load_probabilities(path, **kwargs)  # type: ignore[arg-type]


def test_numeric_times_need_their_epoch_unit(tmp_path: Path) -> None:
    path = tmp_path / "model.parquet"
    pq.write_table(pa.table({"timestamp": [1_704_067_200], "probability": [0.5]}), path)
    with pytest.raises(DataError, match="give their epoch unit"):
        load_probabilities(path)
    assert load_probabilities(path, epoch_unit="s").at(START) == 0.5
    text = tmp_path / "model.csv"
    text.write_text("timestamp,probability\n1704067200000,0.5\n")
    with pytest.raises(DataError, match=r"row 1: timestamp '1704067200000' .* give epoch_unit"):
        load_probabilities(text)
    assert load_probabilities(text, epoch_unit="ms").at(START) == 0.5


def test_a_missing_or_unnamed_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no such file"):
        load_probabilities(tmp_path / "nope.csv")
    with pytest.raises(DataError, match="cannot tell the file format"):
        load_probabilities(tmp_path / "model.json")


def test_a_malformed_probability_line_is_refused_naming_its_row(tmp_path: Path) -> None:
    path = tmp_path / "model.csv"
    path.write_text("timestamp,probability\n2024-01-01T00:00:00Z,0.5\n2024-01-01T00:01:00Z\n")
    with pytest.raises(DataError, match=r"row 2: line '2024-01-01T00:01:00Z' does not have the header's"):
        load_probabilities(path)


def test_probabilities_padded_with_spaces_are_read_as_the_market_data_loaders_read_them(
    tmp_path: Path,
) -> None:
    path = tmp_path / "model.csv"
    path.write_text("timestamp,probability\n2024-01-01T00:00:00Z,0.5\n2024-01-01T00:01:00Z, 0.6 \n")
    assert load_probabilities(path).values.tolist() == [0.5, 0.6]


@pytest.mark.parametrize("cell", ["", "1_0", "0.6x"])
def test_a_probability_that_is_not_a_number_is_refused_naming_its_row(tmp_path: Path, cell: str) -> None:
    # Python's float() reads "1_0"; the row must still be named, not the column as a whole.
    path = tmp_path / "model.csv"
    path.write_text(
        f"timestamp,probability\n2024-01-01T00:00:00Z,0.5\n2024-01-01T00:01:00Z,{cell}\n"
        "2024-01-01T00:02:00Z,oops\n"
    )
    with pytest.raises(DataError, match=rf"row 2: probability '{cell}' is not a number"):
        load_probabilities(path)


def test_a_bool_probability_column_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "model.parquet"
    stamps = pa.array([START, START + MINUTE], pa.timestamp("ns", tz="UTC"))
    pq.write_table(pa.table({"timestamp": stamps, "probability": [True, False]}), path)
    with pytest.raises(DataError, match="column 'probability' has type bool, which cannot hold numbers"):
        load_probabilities(path)


def test_a_probability_time_outside_pythons_datetime_range_is_refused_naming_its_row(tmp_path: Path) -> None:
    path = tmp_path / "model.parquet"
    stamps = pa.array([START // 10**9, -(10**11)], pa.timestamp("s"))
    pq.write_table(pa.table({"timestamp": stamps, "probability": [0.5, 0.6]}), path)
    with pytest.raises(
        DataError,
        match=r"row 2: timestamp '-1199-02-15T14:13:20.*' is not a valid timestamp \(outside 1677-09-21",
    ):
        load_probabilities(path)


def test_a_uint64_epoch_past_int64_is_refused_naming_its_row(tmp_path: Path) -> None:
    path = tmp_path / "model.parquet"
    stamps = pa.array([START, 2**64 - 1], pa.uint64())
    pq.write_table(pa.table({"timestamp": stamps, "probability": [0.5, 0.6]}), path)
    with pytest.raises(DataError, match=r"row 2: timestamp 18446744073709551615 is not a valid timestamp"):
        load_probabilities(path, epoch_unit="ns")
