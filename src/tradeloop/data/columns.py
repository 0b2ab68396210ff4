"""Reading a CSV or Parquet file into the columns a loader needs.

A loader asks for logical fields (``timestamp``, ``price``...). Each is found in the file
under the name the caller mapped it to, or else under the first default spelling present
(exact match first, then ignoring case). A needed column whose name appears twice is an
error, not a guess. Only the needed columns are read; CSV columns are read as text so that
numbers are parsed exactly (see :mod:`tradeloop.data.parsing`).

CSV files are UTF-8 text, optionally compressed (Arrow decompresses ``.gz``, ``.bz2``, ``.zst``
and ``.lz4`` by name). Their first block is looked at before Arrow reads them, so that what it
would misread or report without context (a directory, UTF-16 text, compressed data under
another name) is a :class:`~tradeloop.core.errors.DataError` naming the file; a value that is
not UTF-8 is one naming its data row and column.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Literal

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.parquet as pq

from tradeloop.core.errors import DataError

__all__ = ["DEFAULT_COLUMNS", "FileFormat", "Frame", "cell_value", "read_csv_columns", "read_frame"]

FileFormat = Literal["csv", "parquet"]

DEFAULT_COLUMNS: Final[Mapping[str, tuple[str, ...]]] = {
    "timestamp": ("timestamp", "datetime", "ts_event", "time", "date"),
    "price": ("price", "last", "trade_price"),
    "size": ("size", "volume", "quantity", "qty"),
    "bid": ("bid", "bid_price", "bid_px"),
    "ask": ("ask", "ask_price", "ask_px", "offer"),
    "bid_size": ("bid_size", "bid_qty", "bid_sz"),
    "ask_size": ("ask_size", "ask_qty", "ask_sz", "offer_size"),
    "open": ("open", "o"),
    "high": ("high", "h"),
    "low": ("low", "l"),
    "close": ("close", "c"),
    "volume": ("volume", "vol", "v", "size"),
}
"""Logical field -> spellings tried in order when the caller does not map the field."""


@dataclass(frozen=True, slots=True)
class Frame:
    """The needed columns of one file, keyed by logical field."""

    source: str
    columns: dict[str, pa.ChunkedArray]
    names: dict[str, str]
    """Logical field -> column name in the file (for messages)."""
    rows: int
    row_numbers: npt.NDArray[np.int64] | None
    malformed: list[tuple[int, str]]

    def cell(self, field: str, index: int) -> object:
        """The value of ``field`` at parsed row ``index`` as read from the file."""
        return cell_value(self.columns[field], index)


def cell_value(col: pa.Array | pa.ChunkedArray, index: int) -> object:
    """The value at ``index`` as a Python object, for messages.

    A timestamp or date that Python's ``datetime`` cannot hold (outside years 1..9999, or
    nanoseconds that are not whole microseconds) is shown as NumPy's ISO text instead.
    """
    scalar = col[index]
    try:
        return scalar.as_py()
    except (OverflowError, ValueError):
        t = scalar.type
        if pa.types.is_timestamp(t):
            unit, count, zone = t.unit, scalar.cast(pa.int64()).as_py(), " UTC" if t.tz else ""
        elif pa.types.is_date32(t):
            unit, count, zone = "D", scalar.cast(pa.int32()).as_py(), ""
        elif pa.types.is_date64(t):
            unit, count, zone = "ms", scalar.cast(pa.int64()).as_py(), ""
        else:
            raise
        return f"{np.datetime64(count, unit)}{zone}"


def _detect_format(path: Path, file_format: FileFormat | None) -> FileFormat:
    if file_format is not None:
        if file_format not in ("csv", "parquet"):
            raise DataError(f"{path}: unknown file_format {file_format!r}; use 'csv' or 'parquet'")
        return file_format
    name = path.name.lower()
    if name.endswith((".parquet", ".pq")):
        return "parquet"
    if ".csv" in name or name.endswith(".txt"):
        return "csv"
    raise DataError(f"{path}: cannot tell the file format from its name; pass file_format='csv' or 'parquet'")


def _resolve(
    source: str, available: Sequence[str], fields: Sequence[str], mapping: Mapping[str, str]
) -> dict[str, str]:
    unknown = sorted(set(mapping) - set(DEFAULT_COLUMNS))
    if unknown:
        raise DataError(f"{source}: unknown field(s) {unknown} in columns; known: {sorted(DEFAULT_COLUMNS)}")
    lowered: dict[str, str] = {}
    for name in available:
        lowered.setdefault(name.lower(), name)
    names: dict[str, str] = {}
    taken: set[str] = set()
    for field in fields:
        if field in mapping:
            wanted = mapping[field]
            if wanted not in available:
                raise DataError(
                    f"{source}: column {wanted!r} (mapped to {field!r}) is not in the file; "
                    f"columns are {list(available)}"
                )
            names[field] = wanted
            taken.add(wanted)
            continue
        for spelling in DEFAULT_COLUMNS[field]:
            hit = spelling if spelling in available else lowered.get(spelling.lower())
            # One file column feeds one field: "size" may be a bar's volume, but not twice.
            if hit is not None and hit not in taken and hit not in mapping.values():
                names[field] = hit
                taken.add(hit)
                break
        else:
            raise DataError(
                f"{source}: no column for {field!r} (tried {list(DEFAULT_COLUMNS[field])}); "
                f"columns are {list(available)}; map it with columns={{{field!r}: '<name>'}}"
            )
    _check_unique(source, available, names)
    return names


def _check_unique(source: str, available: Sequence[str], names: Mapping[str, str]) -> None:
    for field, name in names.items():
        count = list(available).count(name)
        if count > 1:
            what = "" if field == name else f" for {field!r}"
            raise DataError(
                f"{source}: column name {name!r} is ambiguous: the header has it {count} times; "
                f"rename the columns so that the one to read{what} is unique"
            )


_Resolver = Callable[[str, Sequence[str]], dict[str, str]]


def read_frame(
    path: str | os.PathLike[str],
    fields: Sequence[str],
    columns: Mapping[str, str] | None,
    file_format: FileFormat | None,
) -> Frame:
    """Read ``fields`` of a CSV or Parquet file.

    Raises
    ------
    DataError
        If the format is unknown, a field has no column, or the file cannot be parsed.
    """
    p = Path(path)
    source = str(path)
    fmt = _detect_format(p, file_format)
    if not p.exists():
        raise DataError(f"{source}: no such file")
    mapping = dict(columns or {})

    def resolve(src: str, available: Sequence[str]) -> dict[str, str]:
        return _resolve(src, available, fields, mapping)

    if fmt == "parquet":
        return _read_parquet(p, source, resolve)
    return _read_csv(p, source, resolve)


def read_csv_columns(path: Path, names: Sequence[str]) -> Frame:
    """Read the CSV columns called exactly ``names`` (the frame's fields are the names).

    The file must exist. Raises :class:`DataError` as :func:`read_frame` does, and for a
    name that is not a column: ``no column 'x'; columns are [...]``.
    """
    source = str(path)

    def resolve(src: str, available: Sequence[str]) -> dict[str, str]:
        for name in names:
            if name not in available:
                raise DataError(f"{src}: no column {name!r}; columns are {list(available)}")
        found = {name: name for name in names}
        _check_unique(src, available, found)
        return found

    return _read_csv(path, source, resolve)


def _read_parquet(p: Path, source: str, resolve: _Resolver) -> Frame:
    try:
        schema = pq.read_schema(p)
    except (pa.ArrowException, OSError) as exc:
        raise DataError(f"{source}: not a readable Parquet file: {exc}") from exc
    names = resolve(source, schema.names)
    try:
        table = pq.read_table(p, columns=list(dict.fromkeys(names.values())))
    except (pa.ArrowException, OSError) as exc:
        raise DataError(f"{source}: cannot read Parquet data: {exc}") from exc
    cols = {field: _decoded(table.column(name)) for field, name in names.items()}
    return Frame(source, cols, names, table.num_rows, None, [])


def _decoded(col: pa.ChunkedArray) -> pa.ChunkedArray:
    # Categorical columns (pandas writes them as dictionaries) are read as their values.
    if pa.types.is_dictionary(col.type):
        return col.cast(col.type.value_type)
    return col


_SNIFF_BYTES: Final = 1 << 16
_BYTE_ORDER_MARKS: Final = (
    (b"\xff\xfe\x00\x00", "UTF-32"),
    (b"\x00\x00\xfe\xff", "UTF-32"),
    (b"\xff\xfe", "UTF-16"),
    (b"\xfe\xff", "UTF-16"),
)
_COMPRESSED: Final = (
    (re.compile(rb"\x1f\x8b"), "gzip", ".gz"),
    (re.compile(rb"BZh[1-9]1AY&SY"), "bzip2", ".bz2"),
    (re.compile(rb"\x28\xb5\x2f\xfd"), "zstd", ".zst"),
    (re.compile(rb"\x04\x22\x4d\x18"), "lz4", ".lz4"),
    (re.compile(rb"\xfd7zXZ\x00"), "xz", None),
    (re.compile(rb"PK\x03\x04"), "zip", None),
    (re.compile(rb"7z\xbc\xaf\x27\x1c"), "7z", None),
)
"""Magic numbers of compressed data, and the extension under which Arrow decompresses it."""

_CsvInput = str | bytes
"""A CSV file's path, or (for a header line without a line break) its text with one added."""


def _csv_input(p: Path, source: str) -> _CsvInput:
    """Check the start of a CSV file (decompressed as Arrow will) and say what Arrow should read.

    Arrow reports a file whose only line has no line break as empty; such a file is small, and
    its text is handed over with the line break added.
    """
    if p.is_dir():
        raise DataError(f"{source}: is a directory, not a file")
    try:
        with pa.input_stream(str(p), compression="detect") as stream:
            head = bytes(stream.read(_SNIFF_BYTES))
    except (pa.ArrowException, OSError) as exc:
        compressed = p.name.lower().endswith((".gz", ".bz2", ".zst", ".lz4"))
        check = " (is it compressed as its name says?)" if compressed else ""
        raise DataError(f"{source}: cannot read the file{check}: {exc}") from exc
    for mark, encoding in _BYTE_ORDER_MARKS:
        if head.startswith(mark):
            raise DataError(f"{source}: is {encoding} text (byte-order mark); CSV files must be UTF-8")
    for magic, kind, extension in _COMPRESSED:
        if magic.match(head):
            fix = f"name it *.csv{extension}" if extension else "decompress it first"
            raise DataError(
                f"{source}: holds {kind}-compressed data, which is not read under this name; {fix}"
            )
    if len(head) < _SNIFF_BYTES and not re.search(rb"[\r\n]", head) and head.strip():
        return head + b"\n"
    return str(p)


def _arrow_input(src: _CsvInput) -> str | pa.BufferReader:
    return pa.BufferReader(src) if isinstance(src, bytes) else src


def _csv_header(src: _CsvInput, source: str) -> list[str]:
    try:
        # Only the header matters here; bad lines are reported by the full read.
        reader = pcsv.open_csv(
            _arrow_input(src),
            read_options=pcsv.ReadOptions(block_size=1 << 16),
            parse_options=pcsv.ParseOptions(invalid_row_handler=lambda _row: "skip"),
        )
        names = list(reader.schema.names)
        reader.close()
    except UnicodeDecodeError as exc:
        raise DataError(
            f"{source}: the header line is not UTF-8 text ({exc}); save the file as UTF-8"
        ) from exc
    except pa.ArrowInvalid as exc:
        if "Empty CSV file" in str(exc):
            raise DataError(f"{source}: empty file (no header line)") from exc
        raise DataError(f"{source}: cannot read the CSV header: {exc}") from exc
    except (pa.ArrowException, OSError) as exc:
        raise DataError(f"{source}: cannot read the CSV header: {exc}") from exc
    return names


def _read_csv(p: Path, source: str, resolve: _Resolver) -> Frame:
    src = _csv_input(p, source)
    names = resolve(source, _csv_header(src, source))
    wanted = list(dict.fromkeys(names.values()))
    bad: list[tuple[int | None, str]] = []

    def on_invalid(row: pcsv.InvalidRow) -> str:
        bad.append((row.number, row.text))
        return "skip"

    def read(threads: bool, as_bytes: bool = False) -> pa.Table:
        bad.clear()
        text_type = pa.binary() if as_bytes else pa.string()
        return pcsv.read_csv(
            _arrow_input(src),
            read_options=pcsv.ReadOptions(use_threads=threads),
            parse_options=pcsv.ParseOptions(invalid_row_handler=on_invalid),
            convert_options=pcsv.ConvertOptions(
                column_types=dict.fromkeys(wanted, text_type),
                include_columns=wanted,
                strings_can_be_null=False,
            ),
        )

    try:
        table = read(True)
        if bad:
            # Line numbers of bad lines are only known to a single-threaded reader.
            table = read(False)
    except pa.ArrowInvalid as exc:
        if "UTF8" in str(exc):
            # Arrow names neither row nor column (it counts columns in its own way); read
            # the cells as bytes to find the first that is not UTF-8 text.
            raw = _frame(read(False, as_bytes=True), source, names, bad)
            _raise_first_non_utf8(raw)
        raise DataError(f"{source}: cannot parse CSV: {exc}") from exc
    except (pa.ArrowException, OSError) as exc:
        raise DataError(f"{source}: cannot read CSV: {exc}") from exc
    return _frame(table, source, names, bad)


def _frame(
    table: pa.Table, source: str, names: dict[str, str], bad: Sequence[tuple[int | None, str]]
) -> Frame:
    malformed = [((number or 0) - 1, text) for number, text in bad]
    row_numbers = None
    if malformed:
        # Parsed row i is the i-th data row that was not dropped.
        total = table.num_rows + len(malformed)
        all_rows = np.arange(1, total + 1, dtype=np.int64)
        dropped = np.asarray([row for row, _ in malformed], dtype=np.int64) - 1
        row_numbers = np.delete(all_rows, dropped[(dropped >= 0) & (dropped < total)])
    cols = {field: table.column(name) for field, name in names.items()}
    return Frame(source, cols, names, table.num_rows, row_numbers, malformed)


def _raise_first_non_utf8(frame: Frame) -> None:
    """Raise for the earliest cell of ``frame`` (read as binary) that is not UTF-8 text."""
    first: tuple[int, str] | None = None
    for field, col in frame.columns.items():
        try:
            col.cast(pa.string())
            continue
        except pa.ArrowInvalid:
            pass
        for index, cell in enumerate(col.to_pylist()):
            try:
                cell.decode("utf-8")
            except UnicodeDecodeError:
                if first is None or index < first[0]:
                    first = (index, field)
                break
    if first is None:
        return
    index, field = first
    row = index + 1 if frame.row_numbers is None else int(frame.row_numbers[index])
    raise DataError(
        f"{frame.source}: data row {row}, column {frame.names[field]!r}: "
        f"{frame.columns[field][index].as_py()!r} is not UTF-8 text; save the file as UTF-8"
    )
