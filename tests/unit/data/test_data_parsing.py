"""Edge cases of reading numbers and timestamps: never a silent change, never a crash."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tradeloop.core.errors import DataError
from tradeloop.data import load_trade_ticks
from tradeloop.model import CryptoSpot, FuturesContract

ES = FuturesContract("ES.CME")
BTC = CryptoSpot("BTCUSDT.BINANCE", tick="0.01", lot="0.000001")
JAN1 = 1_704_067_200_000_000_000  # 2024-01-01T00:00:00Z


def trades_csv(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "trades.csv"
    path.write_text("timestamp,price,size\n" + body, encoding="utf-8")
    return path


def trades_parquet(tmp_path: Path, stamps: pa.Array) -> Path:
    path = tmp_path / "trades.parquet"
    n = len(stamps)
    pq.write_table(pa.table({"timestamp": stamps, "price": ["1640.25"] * n, "size": ["1"] * n}), path)
    return path


# --- Arrow timestamp columns --------------------------------------------------------------


@pytest.mark.parametrize(
    ("stamps", "shown"),
    [
        (pa.array([dt.datetime(2024, 1, 1), dt.datetime(2300, 1, 1)], pa.timestamp("us")), "2300-01-01"),
        (
            pa.array([dt.datetime(2024, 1, 1), dt.datetime(1600, 1, 1)], pa.timestamp("ms", tz="UTC")),
            "1600-01-01",
        ),
        (pa.array([dt.date(2024, 1, 1), dt.date(3000, 1, 1)], pa.date32()), "3000-01-01"),
    ],
)
def test_arrow_timestamp_outside_the_nanosecond_range_is_an_invalid_row_naming_file_row_and_column(
    tmp_path: Path, stamps: pa.Array, shown: str
) -> None:
    path = trades_parquet(tmp_path, stamps)
    with pytest.raises(DataError) as info:
        load_trade_ticks(path, ES)
    assert str(info.value).startswith(f"{path}: data row 2, column 'timestamp': invalid_timestamp: {shown}")
    assert "outside 1677-09-21..2262-04-11" in str(info.value)
    result = load_trade_ticks(path, ES, on_error="skip")
    assert result.skipped == {"invalid_timestamp": 1}
    assert [t.ts_event for t in result.data] == [JAN1]


def test_naive_arrow_timestamps_in_a_zone_keep_their_good_rows_beside_an_out_of_range_one(
    tmp_path: Path,
) -> None:
    stamps = pa.array(
        [dt.datetime(2023, 12, 31, 18), dt.datetime(2300, 1, 1), dt.datetime(2023, 12, 31, 19)],
        pa.timestamp("us"),
    )
    path = trades_parquet(tmp_path, stamps)
    result = load_trade_ticks(path, ES, tz="America/Chicago", on_error="skip")
    assert result.skipped == {"invalid_timestamp": 1}
    assert [t.ts_event for t in result.data] == [JAN1, JAN1 + 3600 * 10**9]
    with pytest.raises(DataError, match=r"data row 2, .*: 2300-01-01 00:00:00 is outside 1677-09-21"):
        load_trade_ticks(path, ES, tz="America/Chicago")


def test_naive_arrow_timestamp_that_a_clock_change_skips_is_an_invalid_row(tmp_path: Path) -> None:
    stamps = pa.array([dt.datetime(2024, 3, 10, 1, 30), dt.datetime(2024, 3, 10, 2, 30)], pa.timestamp("s"))
    path = trades_parquet(tmp_path, stamps)
    with pytest.raises(
        DataError,
        match=r"data row 2, column 'timestamp': invalid_timestamp: 2024-03-10 02:30:00 is skipped or "
        r"repeated by a clock change in America/New_York$",
    ):
        load_trade_ticks(path, ES, tz="America/New_York")


# --- ISO text -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    ["2024-01-01T00:00:00z", "2024-01-01t00:00:00Z", "2024-01-01t00:00:00.000z", "2024-01-01 00:00z"],
)
def test_lowercase_t_and_z_in_iso_timestamps_read_as_utc(tmp_path: Path, text: str) -> None:
    path = trades_csv(tmp_path, f"{text},1640.25,1\n")
    assert [t.ts_event for t in load_trade_ticks(path, ES, tz="Asia/Tokyo").data] == [JAN1]


# --- numbers ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text", ["1_640.25", "1640.2_5", "1640e0_0", "\u0661\u0666\u0664\u0660.25", "Infinity"]
)
def test_text_that_only_python_reads_as_a_number_is_an_invalid_number(tmp_path: Path, text: str) -> None:
    path = trades_csv(tmp_path, f"2024-01-01,1640.25,1\n2024-01-01,{text},1\n")
    with pytest.raises(DataError, match=rf"data row 2, column 'price': invalid_number: '{text}' is not a"):
        load_trade_ticks(path, ES)


@pytest.mark.parametrize(
    "text",
    [
        "1640.25" + "0" * 30 + "1",
        "1.64025" + "0" * 30 + "1e3",
        "0" * 30 + "1640.2500000000000000000000001",
    ],
)
def test_long_decimal_text_is_never_rounded_to_fit(tmp_path: Path, text: str) -> None:
    # Exact value 1640.25000...01: off the 0.25 grid, and rounding to the tick gives 1640.25.
    path = trades_csv(tmp_path, f"2024-01-01,{text},1\n")
    with pytest.raises(DataError, match="data row 1, column 'price': off_grid"):
        load_trade_ticks(path, ES)
    assert [str(t.price) for t in load_trade_ticks(path, ES, round_to_tick=True).data] == ["1640.25"]


@pytest.mark.parametrize("zeros", [46, 100])
def test_long_trailing_zeros_in_every_cell_are_read_exactly(tmp_path: Path, zeros: int) -> None:
    # pyarrow 26's own decimal cast reads both cells as 0.
    pad = "0" * zeros
    path = trades_csv(tmp_path, f"2024-01-01,1640.25{pad},1\n2024-01-01,1640.50{pad},2\n")
    assert [str(t.price) for t in load_trade_ticks(path, ES).data] == ["1640.25", "1640.50"]


@pytest.mark.parametrize("size", ["1e-1000", "1e-999999999", "1E-30"])
def test_sizes_with_large_negative_exponents_are_off_grid_not_zero(tmp_path: Path, size: str) -> None:
    path = trades_csv(tmp_path, f"2024-01-01,1640.25,{size}\n")
    with pytest.raises(DataError, match=rf"data row 1, column 'size': off_grid: size '{size}'"):
        load_trade_ticks(path, ES)


@pytest.mark.parametrize("price", ["1e999999", "1e999999999999999999", "1e-99999999999999999999"])
def test_exponents_past_every_limit_are_invalid_numbers(tmp_path: Path, price: str) -> None:
    path = trades_csv(tmp_path, f"2024-01-01,{price},1\n")
    result = load_trade_ticks(path, ES, on_error="skip")
    assert (result.data, result.skipped) == ([], {"invalid_number": 1})


def test_huge_integer_parts_overflow_instead_of_wrapping(tmp_path: Path) -> None:
    path = trades_csv(tmp_path, "2024-01-01,6524706900592922446962913702858.75,1\n")
    with pytest.raises(DataError, match="data row 1, column 'price': invalid_number"):
        load_trade_ticks(path, ES)


def test_float_parquet_sizes_printed_with_exponents_load_exactly(tmp_path: Path) -> None:
    path = tmp_path / "btc.parquet"
    table = {
        "timestamp": ["2024-01-01", "2024-01-01"],
        "price": pa.array([42000.01, 1e-2], pa.float64()),
        "size": pa.array([1e-05, 2.5e-06], pa.float64()),
    }
    pq.write_table(pa.table(table), path)
    result = load_trade_ticks(path, BTC, on_error="skip")
    assert [(str(t.price), str(t.size)) for t in result.data] == [("42000.01", "0.000010")]
    assert result.skipped == {"off_grid": 1}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1640.125" + "0" * 80 + "1", "1640.25"),  # a hair above the half tick
        ("1640.125" + "0" * 80, "1640.00"),  # exactly half: to even
        ("1640.375" + "0" * 200, "1640.50"),
    ],
)
def test_round_to_tick_decides_half_ticks_on_every_digit(tmp_path: Path, text: str, expected: str) -> None:
    path = trades_csv(tmp_path, f"2024-01-01,{text},1\n")
    assert [str(t.price) for t in load_trade_ticks(path, ES, round_to_tick=True).data] == [expected]
