"""Loading trades, quotes and bars from CSV and Parquet: exactness, formats, validation."""

from __future__ import annotations

import gzip
import lzma
import tempfile
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tradeloop.core.errors import DataError
from tradeloop.data import (
    LoadResult,
    load_bars,
    load_quote_ticks,
    load_trade_ticks,
)
from tradeloop.model import (
    BarSpec,
    BinaryEventContract,
    CryptoSpot,
    FuturesContract,
    FxPair,
    Price,
    Quantity,
)

ES = FuturesContract("ES.CME")
FX = FxPair("EURUSD.SIM", tick="0.00001", lot="1")
BTC = CryptoSpot("BTCUSDT.BINANCE", tick="0.01", lot="0.000001")
MINUTE = BarSpec.parse("1-MINUTE")
T0 = 1_378_054_800_083_000_000  # 2013-09-01T17:00:00.083Z


def write_csv(path: Path, text: str) -> Path:
    path.write_text(text.lstrip("\n"), encoding="utf-8")
    return path


def write_parquet(path: Path, columns: dict[str, pa.Array | list[object]]) -> Path:
    pq.write_table(pa.table(columns), path)
    return path


def trades_csv(tmp_path: Path, body: str, name: str = "trades.csv") -> Path:
    return write_csv(tmp_path / name, "timestamp,price,size\n" + body.lstrip("\n"))


# --- exact values -------------------------------------------------------------------------


def test_trade_prices_from_csv_are_exact_raws_when_values_are_not_binary_fractions(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "fx.csv",
        """
timestamp,price,size
2024-01-01 00:00:00,0.1,1
2024-01-01 00:00:01,0.2,2
2024-01-01 00:00:02,0.3,3
2024-01-01 00:00:03,1.10001,4
""",
    )
    ticks = load_trade_ticks(path, FX).data
    assert [t.price for t in ticks] == [
        Price(100_000_000, 5),
        Price(200_000_000, 5),
        Price(300_000_000, 5),
        Price(1_100_010_000, 5),
    ]
    # 0.1 + 0.2 == 0.3 exactly: no binary-float drift anywhere on the way.
    assert ticks[0].price.raw + ticks[1].price.raw == ticks[2].price.raw
    assert [t.size for t in ticks] == [Quantity.from_int(k) for k in (1, 2, 3, 4)]


def test_float_parquet_column_means_the_decimal_it_was_written_from(tmp_path: Path) -> None:
    path = write_parquet(
        tmp_path / "fx.parquet",
        {
            "timestamp": ["2024-01-01T00:00:00", "2024-01-01T00:00:01"],
            "price": pa.array([0.1, 1.23457], pa.float64()),
            "size": pa.array([1.0, 2.0], pa.float64()),
        },
    )
    ticks = load_trade_ticks(path, FX).data
    assert [t.price.raw for t in ticks] == [100_000_000, 1_234_570_000]
    assert [t.size.raw for t in ticks] == [1_000_000_000, 2_000_000_000]


def test_decimal_and_integer_parquet_columns_load_exactly(tmp_path: Path) -> None:
    path = write_parquet(
        tmp_path / "btc.parquet",
        {
            "timestamp": ["2024-01-01T00:00:00", "2024-01-01T00:00:01"],
            "price": pa.array([Decimal("42000.01"), Decimal("42000.10")], pa.decimal128(12, 2)),
            "size": pa.array([Decimal("0.000001"), Decimal("1.5")], pa.decimal128(12, 6)),
        },
    )
    ticks = load_trade_ticks(path, BTC).data
    assert [str(t.price) for t in ticks] == ["42000.01", "42000.10"]
    assert [str(t.size) for t in ticks] == ["0.000001", "1.500000"]


def test_sizes_sum_exactly_when_fractional(tmp_path: Path) -> None:
    path = trades_csv(tmp_path, "2024-01-01,100.00,0.1\n2024-01-01,100.00,0.2\n")
    a, b = load_trade_ticks(path, BTC).data
    assert a.size.raw + b.size.raw == Quantity.from_str("0.3").raw


def test_trailing_zeros_and_whitespace_and_exponent_are_accepted(tmp_path: Path) -> None:
    path = trades_csv(
        tmp_path, "2024-01-01, 1640.2500000000 ,1\n2024-01-01,1.64050e3,2\n2024-01-01,+1640,3\n"
    )
    prices = [str(t.price) for t in load_trade_ticks(path, ES).data]
    assert prices == ["1640.25", "1640.50", "1640.00"]


FINE = CryptoSpot("FINE.SIM", tick="0.000001", lot="0.001")
spellings = st.sampled_from(
    [lambda d: f"{d:f}", lambda d: f"{d:e}", lambda d: f" {d:f}000 ", lambda d: f"+{d:f}"]
)


@settings(max_examples=60, deadline=None)
@given(
    values=st.lists(
        st.decimals(min_value=Decimal("0.000001"), max_value=Decimal("99999999"), places=6),
        min_size=1,
        max_size=25,
    ),
    spell=spellings,
    with_bad_cell=st.booleans(),
)
def test_any_on_grid_decimal_loads_to_its_exact_raw(
    values: list[Decimal], spell: object, with_bad_cell: bool
) -> None:
    # A bad cell sends the whole column down the per-row path; both paths must agree.
    lines = [f"2024-01-01,{spell(v)},1" for v in values]  # type: ignore[operator]
    if with_bad_cell:
        lines.append("2024-01-01,oops,1")
    with tempfile.TemporaryDirectory() as tmp:
        path = trades_csv(Path(tmp), "\n".join(lines) + "\n")
        result = load_trade_ticks(path, FINE, on_error="skip")
    assert [t.price.raw for t in result.data] == [int(v.scaleb(9)) for v in values]
    assert result.skipped == ({"invalid_number": 1} if with_bad_cell else {})


def test_result_reports_rows_and_source_and_no_skips(tmp_path: Path) -> None:
    path = trades_csv(tmp_path, "2024-01-01,1640.25,1\n")
    result = load_trade_ticks(path, ES)
    assert isinstance(result, LoadResult)
    assert (result.rows, result.skipped, result.skipped_total, result.source) == (1, {}, 0, str(path))
    tick = result.data[0]
    assert tick.instrument_id == "ES.CME"
    assert tick.ts_init == tick.ts_event


def test_header_only_file_loads_nothing(tmp_path: Path) -> None:
    path = trades_csv(tmp_path, "")
    result = load_trade_ticks(path, ES)
    assert (result.data, result.rows) == ([], 0)


def test_gzip_compressed_csv_loads(tmp_path: Path) -> None:
    path = tmp_path / "trades.csv.gz"
    path.write_bytes(gzip.compress(b"timestamp,price,size\n2024-01-01,1640.25,3\n"))
    assert [t.size.raw for t in load_trade_ticks(path, ES).data] == [3_000_000_000]


# --- timestamps ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2013-09-01 17:00:00.083", T0),
        ("2013-09-01T17:00:00.083", T0),
        ("2013-09-01T17:00:00.083Z", T0),
        ("2013-09-01T19:00:00.083+02:00", T0),
        ("2013-09-01T12:00:00.083-05:00", T0),
        ("2013-09-01T17:00:00.083000001", T0 + 1),
        ("2013-09-01", T0 - 17 * 3600 * 10**9 - 83_000_000),
    ],
)
def test_iso_timestamps_parse_to_utc_nanoseconds(tmp_path: Path, text: str, expected: int) -> None:
    path = trades_csv(tmp_path, f"{text},1640.25,1\n")
    assert load_trade_ticks(path, ES).data[0].ts_event == expected


def test_naive_timestamps_are_read_in_the_given_zone_and_offsets_still_win(tmp_path: Path) -> None:
    path = trades_csv(tmp_path, "2013-09-01 12:00:00.083,1640.25,1\n2013-09-01T17:00:00.083Z,1640.25,1\n")
    ticks = load_trade_ticks(path, ES, tz="America/Chicago").data
    assert [t.ts_event for t in ticks] == [T0, T0]


@pytest.mark.parametrize(
    ("unit", "text"),
    [
        ("s", "1378054800"),
        ("s", "1378054800.083"),
        ("ms", "1378054800083"),
        ("us", "1378054800083000"),
        ("ns", "1378054800083000000"),
    ],
)
def test_epoch_numbers_parse_exactly_in_each_unit(tmp_path: Path, unit: str, text: str) -> None:
    path = trades_csv(tmp_path, f"{text},1640.25,1\n")
    expected = T0 if text != "1378054800" else T0 - 83_000_000
    assert load_trade_ticks(path, ES, epoch_unit=unit).data[0].ts_event == expected  # type: ignore[arg-type]


def test_large_string_and_categorical_parquet_columns_load(tmp_path: Path) -> None:
    path = write_parquet(
        tmp_path / "t.parquet",
        {
            "timestamp": pa.array(["2024-01-01", "2024-01-02"], pa.large_string()),
            "price": pa.array(["1640.25", "nan"], pa.large_string()),
            "size": pa.array(["1", "2"]).dictionary_encode(),
        },
    )
    result = load_trade_ticks(path, ES, on_error="skip")
    assert result.skipped == {"missing": 1}
    assert [(str(t.price), str(t.size)) for t in result.data] == [("1640.25", "1")]


def test_integer_epoch_parquet_column_uses_the_unit(tmp_path: Path) -> None:
    path = write_parquet(
        tmp_path / "t.parquet",
        {
            "ts": pa.array([1_378_054_800_083], pa.int64()),
            "price": ["1640.25"],
            "size": pa.array([1], pa.int64()),
        },
    )
    result = load_trade_ticks(path, ES, columns={"timestamp": "ts"}, epoch_unit="ms")
    assert result.data[0].ts_event == T0


def test_integer_timestamps_without_epoch_unit_are_refused_with_a_hint(tmp_path: Path) -> None:
    path = write_parquet(
        tmp_path / "t.parquet",
        {"timestamp": pa.array([1_378_054_800_083], pa.int64()), "price": ["1640.25"], "size": ["1"]},
    )
    with pytest.raises(DataError, match="epoch_unit") as info:
        load_trade_ticks(path, ES)
    assert str(path) in str(info.value)


@pytest.mark.parametrize("tz", [None, "UTC"])
def test_arrow_timestamp_columns_are_used_directly(tmp_path: Path, tz: str | None) -> None:
    path = write_parquet(
        tmp_path / "t.parquet",
        {
            "timestamp": pa.array([T0 // 1000], pa.timestamp("us", tz=tz)),
            "price": ["1640.25"],
            "size": ["1"],
        },
    )
    assert load_trade_ticks(path, ES).data[0].ts_event == T0


def test_unknown_time_zone_is_a_clear_error(tmp_path: Path) -> None:
    path = trades_csv(tmp_path, "2024-01-01,1640.25,1\n")
    with pytest.raises(DataError, match="unknown time zone 'Mars/Olympus'"):
        load_trade_ticks(path, ES, tz="Mars/Olympus")


# --- columns and formats ------------------------------------------------------------------


def test_default_column_spellings_match_case_insensitively(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "es.csv", "DateTime,Price,Volume\n2013-09-01 17:00:00.083,1640.25,8\n")
    tick = load_trade_ticks(path, ES).data[0]
    assert (tick.ts_event, str(tick.price), str(tick.size)) == (T0, "1640.25", "8")


def test_mapped_columns_are_used_and_other_columns_ignored(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "q.csv", "when,b,a,bs,as,venue\n2024-01-01,1640.00,1640.25,3,4,CME\n")
    quote = load_quote_ticks(
        path, ES, columns={"timestamp": "when", "bid": "b", "ask": "a", "bid_size": "bs", "ask_size": "as"}
    ).data[0]
    assert (str(quote.bid_price), str(quote.ask_price), str(quote.bid_size), str(quote.ask_size)) == (
        "1640.00",
        "1640.25",
        "3",
        "4",
    )


def test_missing_column_error_names_file_field_and_available_columns(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "t.csv", "timestamp,px,size\n2024-01-01,1,1\n")
    with pytest.raises(DataError, match=r"no column for 'price'.*\['timestamp', 'px', 'size'\]") as info:
        load_trade_ticks(path, ES)
    assert str(path) in str(info.value)


def test_mapping_to_an_absent_column_is_an_error(tmp_path: Path) -> None:
    path = trades_csv(tmp_path, "2024-01-01,1640.25,1\n")
    with pytest.raises(DataError, match="column 'px' \\(mapped to 'price'\\) is not in the file"):
        load_trade_ticks(path, ES, columns={"price": "px"})


def test_mapping_an_unknown_field_is_an_error(tmp_path: Path) -> None:
    path = trades_csv(tmp_path, "2024-01-01,1640.25,1\n")
    with pytest.raises(DataError, match="unknown field"):
        load_trade_ticks(path, ES, columns={"prize": "price"})


def test_unknown_extension_requires_file_format(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "trades.dat", "timestamp,price,size\n2024-01-01,1640.25,1\n")
    with pytest.raises(DataError, match="file_format"):
        load_trade_ticks(path, ES)
    assert len(load_trade_ticks(path, ES, file_format="csv").data) == 1


def test_missing_file_and_empty_file_are_data_errors(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no such file"):
        load_trade_ticks(tmp_path / "nope.csv", ES)
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(DataError, match="empty file"):
        load_trade_ticks(empty, ES)


def test_corrupt_parquet_is_a_data_error_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "bad.parquet"
    path.write_bytes(b"not parquet at all")
    with pytest.raises(DataError, match="not a readable Parquet file") as info:
        load_trade_ticks(path, ES)
    assert str(path) in str(info.value)


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_a_needed_column_name_given_twice_is_ambiguous_not_silently_resolved(
    tmp_path: Path, fmt: str
) -> None:
    if fmt == "csv":
        path = write_csv(tmp_path / "t.csv", "timestamp,price,size,price\n2024-01-01,1640.25,1,9999\n")
    else:
        path = tmp_path / "t.parquet"
        columns = [pa.array(["2024-01-01"]), pa.array(["1640.25"]), pa.array(["1"]), pa.array(["9999"])]
        pq.write_table(pa.Table.from_arrays(columns, names=["timestamp", "price", "size", "price"]), path)
    with pytest.raises(
        DataError, match="column name 'price' is ambiguous: the header has it 2 times"
    ) as info:
        load_trade_ticks(path, ES)
    assert str(info.value).startswith(f"{path}: ")


def test_a_column_name_given_twice_is_fine_when_it_is_not_read(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "t.csv", "timestamp,price,size,note,note\n2024-01-01,1640.25,1,a,b\n")
    assert [str(t.price) for t in load_trade_ticks(path, ES).data] == ["1640.25"]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            "timestamp,price,size,caf\xe9\n2024-01-01,1640.25,1,x\n".encode("latin-1"),
            "header line is not UTF-8",
        ),
        ("timestamp,price,size\n2024-01-01,1640.25,1\n".encode("utf-16"), "is UTF-16 text"),
        ("timestamp,price,size\n2024-01-01,1640.25,1\n".encode("utf-32"), "is UTF-32 text"),
        (gzip.compress(b"timestamp,price,size\n"), "holds gzip-compressed data.*name it \\*\\.csv\\.gz"),
        (lzma.compress(b"timestamp,price,size\n"), "holds xz-compressed data.*decompress it first"),
    ],
)
def test_a_file_that_is_not_utf8_text_is_a_data_error_naming_it(
    tmp_path: Path, data: bytes, message: str
) -> None:
    path = tmp_path / "t.csv"
    path.write_bytes(data)
    with pytest.raises(DataError, match=message) as info:
        load_trade_ticks(path, ES)
    assert str(info.value).startswith(f"{path}: ")


@pytest.mark.parametrize("name", ["t.csv.gz", "t.csv.bz2", "t.csv.zst"])
def test_a_compressed_name_on_plain_text_is_a_data_error_naming_the_file(tmp_path: Path, name: str) -> None:
    path = write_csv(tmp_path / name, "timestamp,price,size\n2024-01-01,1640.25,1\n")
    with pytest.raises(DataError, match="cannot read the file \\(is it compressed as its name says\\?\\)"):
        load_trade_ticks(path, ES)


def test_xz_compressed_csv_is_refused_rather_than_read_as_text(tmp_path: Path) -> None:
    # Arrow does not decompress .xz; it would read the compressed bytes as the header.
    path = tmp_path / "t.csv.xz"
    path.write_bytes(lzma.compress(b"timestamp,price,size\n2024-01-01,1640.25,1\n"))
    with pytest.raises(DataError, match="holds xz-compressed data"):
        load_trade_ticks(path, ES)


def test_a_directory_is_a_data_error(tmp_path: Path) -> None:
    folder = tmp_path / "trades.csv"
    folder.mkdir()
    with pytest.raises(DataError, match="is a directory, not a file"):
        load_trade_ticks(folder, ES)


@pytest.mark.parametrize("name", ["t.csv", "t.csv.gz"])
def test_a_value_that_is_not_utf8_names_its_data_row_and_column(tmp_path: Path, name: str) -> None:
    text = "timestamp,price,size\n2024-01-01,1640.25,1\nmalformed\n2024-01-02,1640\xe9,1\n".encode("latin-1")
    path = tmp_path / name
    path.write_bytes(gzip.compress(text) if name.endswith(".gz") else text)
    with pytest.raises(
        DataError, match=r"data row 3, column 'price': b'1640\\xe9' is not UTF-8 text; save the file as UTF-8"
    ) as info:
        load_trade_ticks(path, ES, on_error="skip")
    assert str(info.value).startswith(f"{path}: ")


@pytest.mark.parametrize("name", ["t.csv", "t.csv.gz"])
def test_a_header_without_a_final_line_break_loads_no_rows(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    text = b"timestamp,price,size"
    path.write_bytes(gzip.compress(text) if name.endswith(".gz") else text)
    result = load_trade_ticks(path, ES)
    assert (result.data, result.rows) == ([], 0)


def test_a_last_row_without_a_final_line_break_loads(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "t.csv", "timestamp,price,size\n2024-01-01,1640.25,1")
    assert len(load_trade_ticks(path, ES).data) == 1


# --- validation: one bad row each ---------------------------------------------------------

GOOD = "2024-01-01 00:00:00,1640.25,1\n"


@pytest.mark.parametrize(
    ("bad_line", "column", "reason", "detail"),
    [
        ("2024-01-01 00:00:01,,1", "price", "missing", "empty or NaN"),
        ("2024-01-01 00:00:01,NaN,1", "price", "missing", "empty or NaN"),
        ("2024-01-01 00:00:01,1640.25,", "size", "missing", "empty or NaN"),
        ("2024-01-01 00:00:01,abc,1", "price", "invalid_number", "'abc' is not a number"),
        ("2024-01-01 00:00:01,inf,1", "price", "invalid_number", "'inf' is not a number"),
        ("2024-01-01 00:00:01,0,1", "price", "non_positive_price", "price '0' is not positive"),
        ("2024-01-01 00:00:01,-1640.25,1", "price", "non_positive_price", "not positive"),
        ("2024-01-01 00:00:01,1640.25,-2", "size", "negative_size", "size '-2' is negative"),
        ("2024-01-01 00:00:01,1640.30,1", "price", "off_grid", "not a multiple of the tick size 0.25"),
        ("2024-01-01 00:00:01,1640.2500000001,1", "price", "off_grid", "tick size"),
        ("2024-01-01 00:00:01,1640.25,1.5", "size", "off_grid", "size increment 1"),
        ("yesterday,1640.25,1", "timestamp", "invalid_timestamp", "cannot read 'yesterday'"),
        ("2024-13-01 00:00:00,1640.25,1", "timestamp", "invalid_timestamp", "as a timestamp"),
        ("1704067200,1640.25,1", "timestamp", "invalid_timestamp", "pass epoch_unit"),
        (",1640.25,1", "timestamp", "missing", "empty or NaN"),
        ("2023-12-31 23:59:59,1640.25,1", "timestamp", "out_of_order", "earlier than"),
    ],
)
def test_bad_trade_row_raises_naming_file_row_column_and_reason(
    tmp_path: Path, bad_line: str, column: str, reason: str, detail: str
) -> None:
    path = trades_csv(tmp_path, GOOD + bad_line + "\n" + "2024-01-01 00:00:02,1640.50,1\n")
    with pytest.raises(DataError) as info:
        load_trade_ticks(path, ES)
    message = str(info.value)
    assert message.startswith(f"{path}: data row 2, column '{column}': {reason}: ")
    assert detail in message


def test_error_reports_the_earliest_bad_row_in_file_order(tmp_path: Path) -> None:
    path = trades_csv(
        tmp_path,
        GOOD
        + "2024-01-01 00:00:01,1640.25,1\n"
        + "2024-01-01 00:00:02,1640.25,-1\n"  # row 3: negative size
        + "2024-01-01 00:00:03,oops,1\n",  # row 4: invalid number (checked earlier per column)
    )
    with pytest.raises(DataError, match=r"data row 3, column 'size': negative_size"):
        load_trade_ticks(path, ES)


def test_malformed_csv_line_raises_naming_row_and_text(tmp_path: Path) -> None:
    path = trades_csv(tmp_path, GOOD + "2024-01-01 00:00:01,1640.25\n" + GOOD)
    with pytest.raises(DataError, match=r"data row 2: malformed: line '2024-01-01 00:00:01,1640.25'") as info:
        load_trade_ticks(path, ES)
    assert str(path) in str(info.value)


def test_nonexistent_local_time_in_the_zone_is_an_invalid_timestamp(tmp_path: Path) -> None:
    # 02:30 on 2024-03-10 does not exist in New York (clocks jump from 02:00 to 03:00).
    path = trades_csv(tmp_path, "2024-03-10 01:30:00,1640.25,1\n2024-03-10 02:30:00,1640.25,1\n")
    with pytest.raises(DataError, match="data row 2, column 'timestamp': invalid_timestamp"):
        load_trade_ticks(path, ES, tz="America/New_York")


def test_price_outside_the_instrument_band_is_out_of_range(tmp_path: Path) -> None:
    contract = BinaryEventContract("RAIN.KALSHI")
    path = trades_csv(tmp_path, "2024-01-01,0.50,1\n2024-01-01,1.00,1\n")
    with pytest.raises(DataError, match=r"data row 2, column 'price': out_of_range: .*0\.01\.\.0\.99"):
        load_trade_ticks(path, contract)


@pytest.mark.parametrize(
    ("prices", "sizes", "row", "column", "reason"),
    [
        ([1640.25, None, 1640.5], [1, 1, 1], 2, "price", "missing"),
        ([1640.25, 1640.5, float("nan")], [1, 1, 1], 3, "price", "missing"),
        ([1640.25, 1640.5, 1640.5], [1, 1, -3], 3, "size", "negative_size"),
    ],
)
def test_parquet_rows_with_null_nan_or_negative_values_are_reported_by_row(
    tmp_path: Path, prices: list[float | None], sizes: list[int], row: int, column: str, reason: str
) -> None:
    path = write_parquet(
        tmp_path / "t.parquet",
        {
            "timestamp": ["2024-01-01T00:00:00", "2024-01-01T00:00:01", "2024-01-01T00:00:02"],
            "price": pa.array(prices, pa.float64()),
            "size": pa.array(sizes, pa.int64()),
        },
    )
    with pytest.raises(DataError, match=rf"data row {row}, column '{column}': {reason}") as info:
        load_trade_ticks(path, ES)
    assert str(path) in str(info.value)


def test_out_of_order_parquet_epoch_row_is_reported(tmp_path: Path) -> None:
    path = write_parquet(
        tmp_path / "t.parquet",
        {"ts": pa.array([3, 5, 4, 6], pa.int64()), "price": ["1640.25"] * 4, "size": ["1"] * 4},
    )
    with pytest.raises(
        DataError,
        match=r"data row 3, column 'ts': out_of_order: timestamp 1970-01-01T00:00:04\.000000000Z "
        r"\(4000000000 ns\) is earlier than 1970-01-01T00:00:05",
    ):
        load_trade_ticks(path, ES, columns={"timestamp": "ts"}, epoch_unit="s")


# --- ordering and duplicates --------------------------------------------------------------


def test_equal_timestamps_and_identical_trades_are_kept_in_file_order(tmp_path: Path) -> None:
    path = trades_csv(
        tmp_path,
        "2013-09-01 17:00:00.083,1640.25,8\n"
        "2013-09-01 17:00:00.083,1640.25,1\n"
        "2013-09-01 17:00:00.083,1640.25,8\n",
    )
    ticks = load_trade_ticks(path, ES).data
    assert [t.size.raw // 10**9 for t in ticks] == [8, 1, 8]
    assert {t.ts_event for t in ticks} == {T0}


def test_duplicate_trades_are_rejected_only_when_asked(tmp_path: Path) -> None:
    path = trades_csv(
        tmp_path,
        "2024-01-01,1640.25,8\n2024-01-01,1640.25,1\n2024-01-01,1640.25,8\n",
    )
    with pytest.raises(
        DataError, match=r"data row 3, column 'timestamp': duplicate: exact duplicate of data row 1"
    ):
        load_trade_ticks(path, ES, check_duplicates=True)
    result = load_trade_ticks(path, ES, check_duplicates=True, on_error="skip")
    assert (len(result.data), result.skipped) == (2, {"duplicate": 1})


# --- skip mode ----------------------------------------------------------------------------


def test_skip_mode_drops_bad_rows_and_counts_each_reason(tmp_path: Path) -> None:
    path = trades_csv(
        tmp_path,
        "2024-01-01 00:00:00,1640.25,1\n"  # kept
        "2024-01-01 00:00:01,,1\n"  # missing
        "2024-01-01 00:00:02,1640.30,1\n"  # off grid
        "2024-01-01 00:00:03,1640.25,-1\n"  # negative size
        "later,1640.25,1\n"  # invalid timestamp
        "2024-01-01 00:00:04,1640.50,2\n"  # kept
        "2024-01-01 00:00:04,0,2\n"  # non-positive price
        "2024-01-01 00:00:01,1640.50,2\n"  # out of order
        "2024-01-01 00:00:05,1640.75\n"  # malformed
        "2024-01-01 00:00:05,1640.75,3\n",  # kept
    )
    result = load_trade_ticks(path, ES, on_error="skip")
    assert [str(t.price) for t in result.data] == ["1640.25", "1640.50", "1640.75"]
    assert result.skipped == {
        "malformed": 1,
        "missing": 1,
        "invalid_timestamp": 1,
        "non_positive_price": 1,
        "negative_size": 1,
        "off_grid": 1,
        "out_of_order": 1,
    }
    assert result.rows == 10
    assert result.skipped_total == 7


def test_skipped_rows_do_not_cause_false_out_of_order_errors(tmp_path: Path) -> None:
    # The bad row's timestamp is far ahead; skipping it must not make later rows look late.
    path = trades_csv(
        tmp_path,
        "2024-01-01 00:00:00,1640.25,1\n2024-01-02 00:00:00,bad,1\n2024-01-01 00:00:01,1640.25,1\n",
    )
    result = load_trade_ticks(path, ES, on_error="skip")
    assert (len(result.data), result.skipped) == (2, {"invalid_number": 1})


def test_invalid_on_error_value_is_refused(tmp_path: Path) -> None:
    path = trades_csv(tmp_path, GOOD)
    with pytest.raises(DataError, match="on_error"):
        load_trade_ticks(path, ES, on_error="ignore")  # type: ignore[arg-type]


# --- rounding -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1640.30", "1640.25"),
        ("1640.375", "1640.50"),  # exactly half: to the even tick (6562)
        ("1640.125", "1640.00"),  # exactly half: to the even tick (6560)
        ("1640.1250000000001", "1640.25"),  # just above half, beyond nine decimals
        ("1640.25", "1640.25"),
    ],
)
def test_round_to_tick_rounds_prices_half_to_even(tmp_path: Path, text: str, expected: str) -> None:
    path = trades_csv(tmp_path, f"2024-01-01,{text},1\n")
    assert str(load_trade_ticks(path, ES, round_to_tick=True).data[0].price) == expected


def test_round_to_tick_does_not_round_sizes(tmp_path: Path) -> None:
    path = trades_csv(tmp_path, "2024-01-01,1640.30,1.5\n")
    with pytest.raises(DataError, match="column 'size': off_grid"):
        load_trade_ticks(path, ES, round_to_tick=True)


# --- quotes -------------------------------------------------------------------------------


def test_quotes_load_and_crossed_quotes_are_rejected(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "q.csv",
        """
timestamp,bid,ask,bid_size,ask_size
2024-01-01 00:00:00,1640.00,1640.25,10,12
2024-01-01 00:00:01,1640.25,1640.25,1,1
2024-01-01 00:00:02,1640.50,1640.25,1,1
""",
    )
    with pytest.raises(
        DataError, match=r"data row 3, column 'bid': crossed_quote: bid '1640.50' is above ask"
    ):
        load_quote_ticks(path, ES)
    result = load_quote_ticks(path, ES, on_error="skip")
    assert result.skipped == {"crossed_quote": 1}
    first, locked = result.data
    assert (first.bid_price, first.ask_price) == (Price.from_str("1640.00"), Price.from_str("1640.25"))
    assert (first.bid_size, first.ask_size) == (Quantity.from_int(10), Quantity.from_int(12))
    assert locked.bid_price == locked.ask_price


# --- bars ---------------------------------------------------------------------------------

BAR_HEADER = "timestamp,open,high,low,close,volume\n"


def bars_csv(tmp_path: Path, body: str) -> Path:
    return write_csv(tmp_path / "bars.csv", BAR_HEADER + body.lstrip("\n"))


def test_bars_load_with_close_time_convention_by_default(tmp_path: Path) -> None:
    path = bars_csv(tmp_path, "2024-01-01 00:01:00,100.00,101.00,99.00,100.50,1200\n")
    bar = load_bars(path, ES, MINUTE).data[0]
    assert bar.ts_event == bar.ts_init == 1_704_067_260_000_000_000
    assert (str(bar.open), str(bar.high), str(bar.low), str(bar.close), str(bar.volume)) == (
        "100.00",
        "101.00",
        "99.00",
        "100.50",
        "1200",
    )
    assert bar.spec == MINUTE


def test_open_labelled_bars_are_shifted_to_their_close_time(tmp_path: Path) -> None:
    path = bars_csv(tmp_path, "2024-01-01 00:00:00,100.00,101.00,99.00,100.50,1200\n")
    bar = load_bars(path, ES, MINUTE, bar_timestamp="open").data[0]
    assert bar.ts_event == 1_704_067_260_000_000_000


def test_open_labelled_bar_shifted_past_2262_is_an_invalid_timestamp_not_wrapped(tmp_path: Path) -> None:
    path = bars_csv(
        tmp_path,
        "9223371976854775807,100.00,101.00,99.00,100.50,1\n9223371976854775808,100.00,101.00,99.00,100.50,1\n",
    )
    with pytest.raises(
        DataError,
        match=r"data row 2, column 'timestamp': invalid_timestamp: 9223371976854775808 plus the bar interval "
        r"\(60000000000 ns\) is outside 1677-09-21",
    ):
        load_bars(path, ES, MINUTE, bar_timestamp="open", epoch_unit="ns")
    result = load_bars(path, ES, MINUTE, bar_timestamp="open", epoch_unit="ns", on_error="skip")
    assert [b.ts_event for b in result.data] == [2**63 - 1]
    assert result.skipped == {"invalid_timestamp": 1}


@pytest.mark.parametrize(
    ("line", "column", "detail"),
    [
        ("2024-01-01 00:02:00,100.00,99.00,101.00,100.00,5", "high", "high below low"),
        ("2024-01-01 00:02:00,102.00,101.00,99.00,100.00,5", "open", "open outside [low, high]"),
        ("2024-01-01 00:02:00,100.00,101.00,99.00,98.00,5", "close", "close outside [low, high]"),
    ],
)
def test_inconsistent_ohlc_bar_is_rejected_naming_the_column(
    tmp_path: Path, line: str, column: str, detail: str
) -> None:
    path = bars_csv(tmp_path, "2024-01-01 00:01:00,100.00,101.00,99.00,100.50,1200\n" + line + "\n")
    with pytest.raises(DataError) as info:
        load_bars(path, ES, MINUTE)
    message = str(info.value)
    assert message.startswith(f"{path}: data row 2, column '{column}': invalid_ohlc: {detail}")


def test_duplicate_bars_are_rejected_by_default_and_skippable(tmp_path: Path) -> None:
    line = "2024-01-01 00:01:00,100.00,101.00,99.00,100.50,1200\n"
    path = bars_csv(tmp_path, line + line + "2024-01-01 00:02:00,100.50,101.00,99.00,100.00,7\n")
    with pytest.raises(
        DataError, match="data row 2, column 'timestamp': duplicate: exact duplicate of data row 1"
    ):
        load_bars(path, ES, MINUTE)
    result = load_bars(path, ES, MINUTE, on_error="skip")
    assert (len(result.data), result.skipped) == (2, {"duplicate": 1})
    assert len(load_bars(path, ES, MINUTE, check_duplicates=False).data) == 3


def test_bars_with_equal_timestamps_but_different_values_are_not_duplicates(tmp_path: Path) -> None:
    path = bars_csv(
        tmp_path,
        "2024-01-01 00:01:00,100.00,101.00,99.00,100.50,1200\n"
        "2024-01-01 00:01:00,100.00,101.00,99.00,100.50,1201\n",
    )
    assert len(load_bars(path, ES, MINUTE).data) == 2


def test_negative_bar_volume_is_rejected(tmp_path: Path) -> None:
    path = bars_csv(tmp_path, "2024-01-01 00:01:00,100.00,101.00,99.00,100.50,-1\n")
    with pytest.raises(DataError, match="data row 1, column 'volume': negative_size"):
        load_bars(path, ES, MINUTE)


def test_invalid_bar_timestamp_option_is_refused(tmp_path: Path) -> None:
    path = bars_csv(tmp_path, "2024-01-01 00:01:00,100.00,101.00,99.00,100.50,1\n")
    with pytest.raises(DataError, match="bar_timestamp"):
        load_bars(path, ES, MINUTE, bar_timestamp="middle")  # type: ignore[arg-type]


def test_bars_load_from_parquet_with_typed_columns(tmp_path: Path) -> None:
    path = write_parquet(
        tmp_path / "bars.parquet",
        {
            "time": pa.array([0, 60], pa.int64()),
            "Open": pa.array([100.0, 100.5]),
            "High": pa.array([101.0, 101.0]),
            "Low": pa.array([99.0, 99.25]),
            "Close": pa.array([100.5, 100.0]),
            "Volume": pa.array([10, 20], pa.int64()),
        },
    )
    bars = load_bars(path, ES, MINUTE, bar_timestamp="open", epoch_unit="s").data
    assert [b.ts_event for b in bars] == [60 * 10**9, 120 * 10**9]
    assert [str(b.low) for b in bars] == ["99.00", "99.25"]
    assert [b.volume.raw for b in bars] == [10 * 10**9, 20 * 10**9]


def test_every_public_name_of_the_data_package_resolves() -> None:
    import tradeloop.data as data

    assert sorted(data.__all__) == sorted(set(data.__all__))
    for name in data.__all__:
        assert getattr(data, name) is not None
