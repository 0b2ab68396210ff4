"""Edge cases of reading numbers and timestamps: never a silent change, never a crash."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tradeloop.core.errors import DataError
from tradeloop.data import (
    bars_from_arrays,
    load_trade_ticks,
    quote_ticks_from_arrays,
    trade_ticks_from_arrays,
)
from tradeloop.model import BarSpec, CryptoSpot, FuturesContract, FxPair

ES = FuturesContract("ES.CME")
BTC = CryptoSpot("BTCUSDT.BINANCE", tick="0.01", lot="0.000001")
FX = FxPair("EURUSD.SIM", tick="0.00001", lot="1")
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


@pytest.mark.parametrize(
    ("stamps", "tz", "shown"),
    [
        (
            pa.array([dt.datetime(2024, 1, 1), dt.datetime(2262, 4, 11, 23)], pa.timestamp("us")),
            "America/New_York",
            "2262-04-11 23:00:00",
        ),
        # Python's datetime cannot show this one: NumPy's ISO text stands in.
        (
            pa.array([JAN1, -(2**63) + 1000], pa.timestamp("ns")),
            "Asia/Tokyo",
            "1677-09-21T00:12:43.145225192",
        ),
    ],
)
def test_naive_arrow_timestamp_that_its_zone_moves_past_the_nanosecond_range_is_invalid_not_wrapped(
    tmp_path: Path, stamps: pa.Array, tz: str, shown: str
) -> None:
    # Arrow's assume_timezone wraps such times silently to the other end of the range.
    path = trades_parquet(tmp_path, stamps)
    with pytest.raises(DataError) as info:
        load_trade_ticks(path, ES, tz=tz)
    message = str(info.value)
    assert message.startswith(
        f"{path}: data row 2, column 'timestamp': invalid_timestamp: {shown} is outside"
    )
    assert message.endswith(f"(int64 nanoseconds) as a time in {tz}")
    result = load_trade_ticks(path, ES, tz=tz, on_error="skip")
    assert result.skipped == {"invalid_timestamp": 1}
    assert len(result.data) == 1


@pytest.mark.parametrize(
    ("seconds", "shown"), [(-(10**11), "-1199-02-15T14:13:20"), (10**12, "33658-09-27T01:46:40")]
)
def test_arrow_timestamp_outside_pythons_datetime_range_is_an_invalid_row_not_a_crash(
    tmp_path: Path, seconds: int, shown: str
) -> None:
    path = trades_parquet(tmp_path, pa.array([JAN1 // 10**9, seconds], pa.timestamp("s")))
    expected = rf"data row 2, column 'timestamp': invalid_timestamp: {re.escape(shown)}.* is outside 1677"
    with pytest.raises(DataError, match=expected):
        load_trade_ticks(path, ES)
    assert load_trade_ticks(path, ES, on_error="skip").skipped == {"invalid_timestamp": 1}


def test_naive_nanosecond_timestamp_that_a_clock_change_skips_is_shown_to_the_nanosecond(
    tmp_path: Path,
) -> None:
    # Python's datetime holds microseconds: the message must not fail on the last three digits.
    gap = 1_710_037_800_000_000_001  # 2024-03-10 02:30:00.000000001, skipped in New York
    path = trades_parquet(tmp_path, pa.array([gap - 3600 * 10**9, gap], pa.timestamp("ns")))
    with pytest.raises(
        DataError, match=r"data row 2, .*: 2024-03-10T02:30:00.000000001 is skipped or repeated by a clock"
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


@pytest.mark.parametrize(
    ("text", "tz"), [("2262-04-11 23:00:00", "America/New_York"), ("1677-09-21 00:30:00", "Asia/Tokyo")]
)
def test_local_iso_time_that_its_zone_moves_past_the_nanosecond_range_is_invalid_not_wrapped(
    tmp_path: Path, text: str, tz: str
) -> None:
    path = trades_csv(tmp_path, f"2024-01-01,1640.25,1\n{text},1640.25,1\n")
    with pytest.raises(
        DataError,
        match=rf"data row 2, column 'timestamp': invalid_timestamp: '{text}' is outside "
        rf"1677-09-21\.\.2262-04-11 \(int64 nanoseconds\) as a time in {tz}$",
    ):
        load_trade_ticks(path, ES, tz=tz)
    result = load_trade_ticks(path, ES, tz=tz, on_error="skip")
    assert (len(result.data), result.skipped) == (1, {"invalid_timestamp": 1})


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


def test_uint64_parquet_size_past_int64_is_an_invalid_number_not_a_crash(tmp_path: Path) -> None:
    path = tmp_path / "trades.parquet"
    table = {
        "timestamp": pa.array([JAN1, JAN1 + 1], pa.timestamp("ns")),
        "price": [1640.25, 1640.25],
        "size": pa.array([1, 2**64 - 1], pa.uint64()),
    }
    pq.write_table(pa.table(table), path)
    with pytest.raises(DataError, match=r"data row 2, column 'size': invalid_number: 18446744073709551615"):
        load_trade_ticks(path, ES)
    result = load_trade_ticks(path, ES, on_error="skip")
    assert (len(result.data), result.skipped) == (1, {"invalid_number": 1})


def test_uint64_parquet_epoch_past_int64_is_an_invalid_timestamp_not_a_crash(tmp_path: Path) -> None:
    path = tmp_path / "trades.parquet"
    table = {"timestamp": pa.array([JAN1, 2**64 - 1], pa.uint64()), "price": [1640.25] * 2, "size": [1] * 2}
    pq.write_table(pa.table(table), path)
    with pytest.raises(
        DataError,
        match=r"data row 2, column 'timestamp': invalid_timestamp: 18446744073709551615 ns since the epoch "
        r"is outside 1677-09-21",
    ):
        load_trade_ticks(path, ES, epoch_unit="ns")


@pytest.mark.parametrize("price", ["9223372036.854775807", "-9223372036.854775807"])
def test_round_to_tick_past_the_int64_range_is_an_invalid_number_not_a_wrapped_price(
    tmp_path: Path, price: str
) -> None:
    # The nearest tick to the largest raw lies past it; rounding must not wrap to the other sign.
    path = trades_csv(tmp_path, f"2024-01-01,1.00001,1\n2024-01-01,{price},1\n")
    with pytest.raises(
        DataError, match=rf"data row 2, column 'price': invalid_number: price '{price}' rounded to the tick"
    ):
        load_trade_ticks(path, FX, round_to_tick=True)
    result = load_trade_ticks(path, FX, round_to_tick=True, on_error="skip")
    assert ([str(t.price) for t in result.data], result.skipped) == (["1.00001"], {"invalid_number": 1})


# --- array constructors -------------------------------------------------------------------

PRICE = 1_640_250_000_000  # 1640.25
ONE = 1_000_000_000


@pytest.mark.parametrize(
    ("stamps", "shown"),
    [
        (np.array([1, 2**64 - 1], np.uint64), r"ts_event\[1\]: 18446744073709551615"),
        (np.array([np.nan, 1.0]), r"ts_event\[0\]: nan"),
        (np.array([1.0, np.inf]), r"ts_event\[1\]: inf"),
        (np.array([1.0, 1.5]), r"ts_event\[1\]: 1\.5"),
        (np.array([1.0, 2.0**63]), r"ts_event\[1\]: 9\.223372036854776e\+18"),
        ([1, 2**64], r"ts_event\[1\]: 18446744073709551616"),
    ],
)
def test_array_constructors_refuse_timestamps_that_are_not_int64_instead_of_wrapping(
    stamps: object, shown: str
) -> None:
    with pytest.raises(DataError, match=rf"{shown} is not an integer that fits int64"):
        trade_ticks_from_arrays(ES, stamps, [PRICE] * 2, [ONE] * 2)  # type: ignore[arg-type]


def test_array_constructors_refuse_raws_that_are_not_int64_in_every_column() -> None:
    huge = np.array([PRICE, 2**63], np.uint64)
    with pytest.raises(DataError, match=r"ask_raw\[1\]: 9223372036854775808"):
        quote_ticks_from_arrays(ES, [1, 2], [PRICE] * 2, huge, [ONE] * 2, [ONE] * 2)  # type: ignore[arg-type]
    with pytest.raises(DataError, match=r"volume_raw\[0\]: nan"):
        bars_from_arrays(
            ES, BarSpec.parse("1-MINUTE"), [1], [PRICE], [PRICE], [PRICE], [PRICE], np.array([np.nan])
        )
    with pytest.raises(DataError, match="size_raw: expected integers, got an array of <U1"):
        trade_ticks_from_arrays(ES, [1], [PRICE], np.array(["1"]))


def test_array_constructors_accept_exact_integers_of_any_dtype() -> None:
    expected = trade_ticks_from_arrays(ES, np.array([1, 2], np.int64), [PRICE] * 2, [ONE] * 2)
    for stamps in (np.array([1, 2], np.uint64), np.array([1.0, 2.0]), np.array([1, 2], np.int32), [1, 2]):
        assert trade_ticks_from_arrays(ES, stamps, [PRICE] * 2, [ONE] * 2) == expected  # type: ignore[arg-type]
    assert trade_ticks_from_arrays(ES, [], [], []) == []
