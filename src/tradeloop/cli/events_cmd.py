"""``tradeloop events``: query a node's event store, print or export the records.

Filters combine (every given one must hold): a ``ts_event`` range, message types, one order
(its stream ``order-<id>``: the submit, every order event and fill), one position (its stream
``position-<id>``) or one correlation id - the whole causal chain of one trading cycle, in
sequence order. Records print one a line: sequence number, time (UTC), type, stream, ids and a
short summary. ``--export`` writes them instead, as JSON Lines (one object per record, the
message's fields decoded) or Parquet (the record's columns and the message as JSON text).

The store is opened only after checking it is one (a ``records`` table), so pointing the command
at another SQLite file - a backtest's ``events.sqlite`` log, say - changes nothing in it.
"""

from __future__ import annotations

import difflib
import os
import sqlite3
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import msgspec
import typer
from rich.console import Console
from rich.markup import escape

from tradeloop.core.errors import TradeloopError
from tradeloop.core.message import Message, message_types
from tradeloop.model.commands import SubmitOrder
from tradeloop.model.data import Bar, QuoteTick, TradeTick
from tradeloop.model.events import OrderFilled
from tradeloop.model.objects import Money, Price, Quantity
from tradeloop.store.port import ReadFilter, StoredEvent
from tradeloop.store.sqlite_store import SqliteEventStore

__all__ = [
    "events_app",
    "export_records",
    "format_ns",
    "message_fields",
    "ArchiveOpt",
    "open_event_store",
    "parse_time",
    "summary",
]

_out = Console(emoji=False)  # user text such as ":x:" is printed as written
_err = Console(stderr=True, emoji=False)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_BASE_FIELDS = frozenset({"ts_event", "ts_init", "id", "correlation_id", "causation_id"})
_SUMMARY_WIDTH = 110
_PARQUET_BATCH = 50_000


events_app = typer.Typer(
    name="events",
    subcommand_metavar="",  # one command, no subcommands: no "COMMAND [ARGS]" in its usage
    invoke_without_command=True,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    # Options may follow the store path (a group takes none after its arguments by default).
    context_settings={"allow_interspersed_args": True},
)


def fail(message: str) -> typer.Exit:
    """One ``error:`` line on stderr and exit code 2 (escaped: paths may hold ``[...]``)."""
    _err.print(f"[bold red]error:[/] {escape(message)}", highlight=False, markup=True, soft_wrap=True)
    return typer.Exit(code=2)


# -- shared with ``tradeloop replay`` -----------------------------------------------------------


def parse_time(text: str, option: str) -> int:
    """UNIX nanoseconds from ISO-8601 (``2024-01-02``, ``2024-01-02T09:30:00Z``, an offset; a
    time without a zone is UTC) or from an integer of nanoseconds; ``option`` names the flag."""
    stripped = text.strip()
    if stripped.lstrip("-").isdigit():
        return int(stripped)
    try:
        dt = datetime.fromisoformat(stripped.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise TradeloopError(
            f"{option}: not an ISO-8601 time or integer nanoseconds: {text!r} (e.g. 2024-01-02T09:30:00Z)"
        ) from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return (dt - _EPOCH) // timedelta(microseconds=1) * 1_000


def format_ns(ts: int) -> str:
    """``2024-01-02T09:30:00.000000000Z``: UTC with every nanosecond."""
    seconds, nanos = divmod(ts, 1_000_000_000)
    return (_EPOCH + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%S") + f".{nanos:09d}Z"


ArchiveOpt = Annotated[
    Path | None,
    typer.Option("--archive", help="The store's archive folder, if retention moved old records there."),
]


def open_event_store(path: Path, archive: Path | None = None) -> SqliteEventStore:
    """Open an existing SQLite event store (with its archive folder, if it has one), refusing
    a missing file or one that is no store."""
    if not path.exists():
        raise TradeloopError(f"{path}: no such event store file")
    if not path.is_file():
        raise TradeloopError(f"{path}: not a file")
    try:
        probe = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
        try:
            found = probe.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'records'"
            ).fetchone()
        finally:
            probe.close()
    except sqlite3.Error as exc:
        raise TradeloopError(f"{path}: not an event store ({exc})") from None
    if found is None:
        raise TradeloopError(
            f"{path}: not an event store (no records table; a backtest's events.sqlite is a run log)"
        )
    if archive is not None and not archive.is_dir():
        raise TradeloopError(f"--archive: {archive}: no such folder")
    return SqliteEventStore(path, archive_dir=archive)


def check_types(types: list[str]) -> frozenset[str]:
    """The type names, each registered; an unknown one raises naming the closest known ones."""
    known = message_types()
    for name in types:
        if name not in known:
            close = difflib.get_close_matches(name, list(known), n=3)
            hint = f" (did you mean {', '.join(close)}?)" if close else ""
            raise TradeloopError(f"--type: unknown message type {name!r}{hint}")
    return frozenset(types)


# -- rendering ---------------------------------------------------------------------------------


def _plain(value: Any) -> Any:
    """Value objects as exact text (``"1640.25"``, ``"2.05 USD"``), structs as field maps."""
    if isinstance(value, Price | Quantity | Money):
        return str(value)
    if isinstance(value, msgspec.Struct):
        return {name: _plain(getattr(value, name)) for name in value.__struct_fields__}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def message_fields(message: Message) -> dict[str, Any]:
    """Every field of ``message`` as JSON-ready builtins (money, prices and sizes as exact text)."""
    fields = {name: _plain(getattr(message, name)) for name in message.__struct_fields__}
    result: dict[str, Any] = msgspec.to_builtins(fields)
    return result


def _text(value: Any) -> str:
    if isinstance(value, Enum):
        return str(value.value)
    if isinstance(value, Price | Quantity | Money):
        return str(value)
    if isinstance(value, msgspec.Struct):
        return "{" + " ".join(f"{k}={_text(getattr(value, k))}" for k in value.__struct_fields__) + "}"
    return str(value)


def _submit(m: SubmitOrder) -> str:
    o = m.order
    px = f" @ {o.price}" if o.price is not None else ""
    trg = f" trigger {o.trigger_price}" if o.trigger_price is not None else ""
    return f"{o.client_order_id} {o.side.value} {o.quantity} {o.instrument_id} {o.order_type.value}{px}{trg}"


def _fill(m: OrderFilled) -> str:
    return (
        f"{m.client_order_id} {m.order_side.value} {m.last_qty} @ {m.last_px} "
        f"fee {m.commission} trade {m.trade_id}"
    )


def _bar(m: Bar) -> str:
    return f"{m.instrument_id} {m.spec} O {m.open} H {m.high} L {m.low} C {m.close} V {m.volume}"


def _quote(m: QuoteTick) -> str:
    return f"{m.instrument_id} {m.bid_size} @ {m.bid_price} / {m.ask_price} x {m.ask_size}"


def _trade(m: TradeTick) -> str:
    return f"{m.instrument_id} {m.size} @ {m.price}"


_SUMMARIES: dict[type, Callable[[Any], str]] = {
    SubmitOrder: _submit,
    OrderFilled: _fill,
    Bar: _bar,
    QuoteTick: _quote,
    TradeTick: _trade,
}


def summary(message: Message) -> str:
    """A short line about ``message``: its own fields (ids and times aside), shortened. An
    order's or position's id leads; the strategy is then left out (the id names it)."""
    render = _SUMMARIES.get(type(message))
    if render is not None:
        text = render(message)
    else:
        names = [n for n in message.__struct_fields__ if n not in _BASE_FIELDS]
        lead = next((n for n in ("client_order_id", "position_id") if n in names), None)
        parts = [] if lead is None else [str(getattr(message, lead))]
        skip = {lead, "strategy_id"} if lead is not None else set()
        parts += [
            f"{name}={_text(value)}"
            for name in names
            if name not in skip and (value := getattr(message, name)) is not None
        ]
        text = " ".join(parts)
    return text if len(text) <= _SUMMARY_WIDTH else text[: _SUMMARY_WIDTH - 1] + "…"


def _short(value: str | None) -> str:
    # The last eight characters: the ids of one node share their front (see IdFactory) and
    # differ at the end.
    return value[-8:] if value else "-"


def record_line(record: StoredEvent) -> str:
    """One printed line: seq, time, type, stream, ids (message and cause short, the full
    correlation id to query with ``--correlation``) and the summary."""
    ids = (
        f"id={_short(record.message_id)} cause={_short(record.causation_id)} corr={record.correlation_id}"
        if record.message_id is not None
        else "-"
    )
    return (
        f"{record.seq:>8}  {format_ns(record.ts_event)}  {record.type_name:<22} {record.stream_id:<30} "
        f"{ids}  {summary(record.decode())}"
    )


# -- export ------------------------------------------------------------------------------------


def _record_row(record: StoredEvent) -> dict[str, Any]:
    return {
        "seq": record.seq,
        "ts_event": record.ts_event,
        "ts_init": record.ts_init,
        "type": record.type_name,
        "stream_id": record.stream_id,
        "version": record.version,
        "message_id": record.message_id,
        "correlation_id": record.correlation_id,
        "causation_id": record.causation_id,
    }


def export_records(records: Iterator[StoredEvent], path: Path) -> int:
    """Write ``records`` to ``path`` (``.jsonl``/``.ndjson``: JSON Lines; ``.parquet``);
    returns how many were written."""
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".ndjson"):
        write = _export_jsonl
    elif suffix == ".parquet":
        write = _export_parquet
    else:
        raise TradeloopError(f"--export: {path.name}: give a .jsonl or .parquet file name")
    # Written beside the target and moved over it only when complete: a read that fails half
    # way (a damaged record) leaves an existing file as it was, and no partial export.
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    try:
        count = write(records, partial)
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
    return count


def _export_jsonl(records: Iterator[StoredEvent], path: Path) -> int:
    encode = msgspec.json.Encoder().encode
    count = 0
    with path.open("wb") as out:
        for record in records:
            row = _record_row(record)
            row["message"] = message_fields(record.decode())
            out.write(encode(row))
            out.write(b"\n")
            count += 1
    return count


def _export_parquet(records: Iterator[StoredEvent], path: Path) -> int:
    import pyarrow as pa  # a second to import: only when exporting
    import pyarrow.parquet as pq

    schema = pa.schema(
        [
            ("seq", pa.int64()),
            ("ts_event", pa.int64()),
            ("ts_init", pa.int64()),
            ("type", pa.string()),
            ("stream_id", pa.string()),
            ("version", pa.int64()),
            ("message_id", pa.string()),
            ("correlation_id", pa.string()),
            ("causation_id", pa.string()),
            ("message", pa.string()),
        ]
    )
    encode = msgspec.json.Encoder().encode
    count = 0
    batch: list[dict[str, Any]] = []
    with pq.ParquetWriter(path, schema) as writer:
        for record in records:
            row = _record_row(record)
            row["message"] = encode(message_fields(record.decode())).decode()
            batch.append(row)
            if len(batch) >= _PARQUET_BATCH:
                writer.write_table(pa.Table.from_pylist(batch, schema=schema))
                count += len(batch)
                batch = []
        # An empty export still gets a valid file with the schema.
        writer.write_table(pa.Table.from_pylist(batch, schema=schema))
        count += len(batch)
    return count


# -- the command -------------------------------------------------------------------------------


def _limited(records: Iterator[StoredEvent], limit: int | None) -> Iterator[StoredEvent]:
    if limit is None:
        yield from records
        return
    for i, record in enumerate(records):
        if i >= limit:
            return
        yield record


@events_app.callback()
def events(
    store: Annotated[Path, typer.Argument(metavar="STORE", help="The node's SQLite event store.")],
    from_: Annotated[
        str | None, typer.Option("--from", help="From this time (ISO-8601, UTC if no zone; inclusive).")
    ] = None,
    to: Annotated[str | None, typer.Option("--to", help="Up to this time (exclusive).")] = None,
    type_: Annotated[
        list[str] | None, typer.Option("--type", help="Only this message type (repeatable): OrderFilled.")
    ] = None,
    order: Annotated[
        str | None, typer.Option("--order", help="Only the records of one order (client order id).")
    ] = None,
    position: Annotated[
        str | None, typer.Option("--position", help="Only the records of one position (position id).")
    ] = None,
    correlation: Annotated[
        str | None,
        typer.Option("--correlation", help="Only one correlation id: the whole causal chain of a trade."),
    ] = None,
    limit: Annotated[int | None, typer.Option("--limit", min=1, help="At most this many records.")] = None,
    export: Annotated[
        Path | None, typer.Option("--export", help="Write the records to a .jsonl or .parquet file instead.")
    ] = None,
    archive: ArchiveOpt = None,
) -> None:
    """Print (or export) the stored records that match every filter given, in sequence order."""
    try:
        from_ts = parse_time(from_, "--from") if from_ is not None else None
        to_ts = parse_time(to, "--to") if to is not None else None
        if from_ts is not None and to_ts is not None and to_ts <= from_ts:
            raise TradeloopError(f"--to ({to}) must be after --from ({from_})")
        if order is not None and position is not None:
            raise TradeloopError("give one of --order and --position, not both")
        types = check_types(type_) if type_ else None
        if export is not None and export.suffix.lower() not in (".jsonl", ".ndjson", ".parquet"):
            raise TradeloopError(f"--export: {export.name}: give a .jsonl or .parquet file name")
        stream = (
            f"order-{order}"
            if order is not None
            else f"position-{position}"
            if position is not None
            else None
        )
        where = ReadFilter(
            from_ts=from_ts, to_ts=to_ts, types=types, stream_id=stream, correlation_id=correlation
        )
        with open_event_store(store, archive) as event_store:
            records = _limited(event_store.read(where), limit)
            if export is not None:
                count = export_records(records, export)
                _out.print(f"exported {count:,} records to {export}", highlight=False, markup=False)
                return
            count = 0
            for record in records:
                typer.echo(record_line(record))
                count += 1
    except TradeloopError as exc:
        raise fail(str(exc)) from None
    except OSError as exc:
        raise fail(f"{exc.strerror or exc}: {exc.filename or ''}".rstrip(": ")) from None
    _err.print(f"{count:,} records", highlight=False, markup=False)
