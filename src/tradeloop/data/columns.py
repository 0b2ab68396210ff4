"""Reading a CSV or Parquet file into the columns a loader needs.

A loader asks for logical fields (``timestamp``, ``price``...). Each is found in the file
under the name the caller mapped it to, or else under the first default spelling present
(exact match first, then ignoring case). Only the needed columns are read; CSV columns are
read as text so that numbers are parsed exactly (see :mod:`tradeloop.data.parsing`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Literal

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.parquet as pq

from tradeloop.core.errors import DataError

__all__ = ["DEFAULT_COLUMNS", "FileFormat", "Frame", "read_frame"]

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
        return self.columns[field][index].as_py()


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
    return names


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
    if fmt == "parquet":
        return _read_parquet(p, source, fields, mapping)
    return _read_csv(p, source, fields, mapping)


def _read_parquet(p: Path, source: str, fields: Sequence[str], mapping: Mapping[str, str]) -> Frame:
    try:
        schema = pq.read_schema(p)
    except (pa.ArrowException, OSError) as exc:
        raise DataError(f"{source}: not a readable Parquet file: {exc}") from exc
    names = _resolve(source, schema.names, fields, mapping)
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


def _csv_header(p: Path, source: str) -> list[str]:
    try:
        # Only the header matters here; bad lines are reported by the full read.
        reader = pcsv.open_csv(
            p,
            read_options=pcsv.ReadOptions(block_size=1 << 16),
            parse_options=pcsv.ParseOptions(invalid_row_handler=lambda _row: "skip"),
        )
    except pa.ArrowInvalid as exc:
        if "Empty CSV file" in str(exc):
            raise DataError(f"{source}: empty file (no header line)") from exc
        raise DataError(f"{source}: cannot read the CSV header: {exc}") from exc
    names = list(reader.schema.names)
    reader.close()
    return names


def _read_csv(p: Path, source: str, fields: Sequence[str], mapping: Mapping[str, str]) -> Frame:
    names = _resolve(source, _csv_header(p, source), fields, mapping)
    wanted = list(dict.fromkeys(names.values()))
    convert = pcsv.ConvertOptions(
        column_types={name: pa.string() for name in wanted},
        include_columns=wanted,
        strings_can_be_null=False,
    )
    bad: list[tuple[int | None, str]] = []

    def on_invalid(row: pcsv.InvalidRow) -> str:
        bad.append((row.number, row.text))
        return "skip"

    def read(threads: bool) -> pa.Table:
        bad.clear()
        return pcsv.read_csv(
            p,
            read_options=pcsv.ReadOptions(use_threads=threads),
            parse_options=pcsv.ParseOptions(invalid_row_handler=on_invalid),
            convert_options=convert,
        )

    try:
        table = read(True)
        if bad:
            # Line numbers of bad lines are only known to a single-threaded reader.
            table = read(False)
    except pa.ArrowInvalid as exc:
        raise DataError(f"{source}: cannot parse CSV: {exc}") from exc
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
