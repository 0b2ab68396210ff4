"""State reconstruction: the orders, positions and account a node derives from its event store.

A :class:`Projection` is the part of a node that only *follows* events - an
:class:`~tradeloop.execution.engine.ExecutionEngine` as the order cache and a
:class:`~tradeloop.portfolio.portfolio.Portfolio` with its account - on a bus of its own and a
:class:`~tradeloop.core.clock.SimulatedClock`, without strategies, risk or venues. Fed the stored
messages in sequence order it arrives at exactly the state the live node had, because the very
same components apply the very same messages in the same order:

* ``SubmitOrder`` registers an order; every order event moves it (an event the order refuses -
  a duplicate fill, an overfill - is refused here too, so it never reaches the ledger);
* ``OrderFilled`` moves positions and cash; bars, trades and quotes mark positions to market.

Everything else in the log (position and account events the portfolio itself published, risk
and lifecycle events) is derived or irrelevant to this state and is skipped without decoding.
:class:`ProjectionState` is an exact, comparable summary; :func:`state_of` builds it from any
execution engine and portfolio, so a live kernel and a rebuilt projection compare with ``==``.

Snapshots
---------
:meth:`Projection.snapshot` serialises the projection: a pickle of its components whose messages
and order specs are written in bulk with msgspec, zstd-compressed, behind a header with a format
version, the tradeloop version and a fingerprint of the components' attribute layout. It is
**same-version only**: restoring one written by another tradeloop version, or by components whose
fields changed, raises :class:`SnapshotError` - rebuild without the snapshot then (it is only a
cache of the log). Snapshots are read from the node's own store and are trusted like the store
itself: never restore a snapshot from an untrusted source (unpickling can run code).
:func:`rebuild` with ``snapshot_name`` restores the latest snapshot and replays only the records
after it.
"""

from __future__ import annotations

import dataclasses
import gc
import io
import json
import pickle
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import msgspec
import zstandard

from tradeloop import __version__
from tradeloop.core.bus import MessageBus
from tradeloop.core.clock import NANOS_PER_SECOND, SimulatedClock
from tradeloop.core.errors import TradeloopError
from tradeloop.core.ids import AccountId, IdFactory, InstrumentId
from tradeloop.core.message import Message, message_types
from tradeloop.execution.engine import ExecutionEngine
from tradeloop.model.account import Account
from tradeloop.model.commands import OrderSpec, SubmitOrder
from tradeloop.model.data import Bar, QuoteTick, TradeTick
from tradeloop.model.events import AccountStateChanged, OrderEvent, OrderFilled, OrderSubmitted
from tradeloop.model.instruments import Equity, Instrument
from tradeloop.model.objects import Money, Price, Quantity
from tradeloop.model.orders import Order
from tradeloop.model.position import Position
from tradeloop.portfolio.portfolio import Portfolio
from tradeloop.store.port import EventStore, ReadFilter, StoredEvent

__all__ = [
    "SNAPSHOT_FORMAT",
    "OrderState",
    "PositionState",
    "Projection",
    "ProjectionError",
    "ProjectionState",
    "SnapshotError",
    "find_account_id",
    "rebuild",
    "state_of",
]

SNAPSHOT_FORMAT = 1
"""Version of the snapshot layout; a snapshot of another format is refused."""

_MAGIC = b"TLPROJ\n"
_PROGRESS_STEP = 1 << 13

ProgressCallback = Callable[[int, int], None]
"""Called with (sequence number reached, last sequence number of the store)."""


class ProjectionError(TradeloopError):
    """A record cannot be projected (out of order, or for an instrument the projection lacks)."""


class SnapshotError(TradeloopError):
    """A snapshot cannot be restored (another format or version, another configuration)."""


# -- the comparable state ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OrderState:
    """One order as its events left it."""

    client_order_id: str
    strategy_id: str
    instrument_id: str
    side: str
    order_type: str
    status: str
    quantity: Quantity
    filled_qty: Quantity
    avg_px: Decimal | None
    venue_order_id: str | None


@dataclass(frozen=True, slots=True)
class PositionState:
    """One position (open or closed) as its fills left it."""

    position_id: str
    strategy_id: str
    instrument_id: str
    side: str
    quantity: Quantity
    avg_px_open: Decimal
    realized_pnl: Money
    commissions: Money
    fills: int
    ts_opened: int
    ts_closed: int | None


@dataclass(frozen=True, slots=True)
class ProjectionState:
    """An exact summary of a node's derived state; two states are equal only if every order,
    position, balance, mark and equity point is.

    ``marks`` holds the latest price per instrument (``None`` before the first);
    ``equity_curve`` the portfolio's sampled ``(ts_ns, equity raw)`` points.
    """

    account_id: str
    cash: Money
    commissions: Money
    realized_pnl: Money
    unrealized_pnl: Money
    equity: Money
    peak_equity: Money
    max_drawdown: Money
    fills: int
    marks: tuple[tuple[str, Price | None], ...]
    equity_curve: tuple[tuple[int, int], ...]
    orders: tuple[OrderState, ...]
    positions: tuple[PositionState, ...]

    @property
    def open_positions(self) -> tuple[PositionState, ...]:
        return tuple(p for p in self.positions if p.ts_closed is None)

    def differences(self, other: ProjectionState) -> list[str]:
        """What differs from ``other``, one line per field (first differing item of a list)."""
        out: list[str] = []
        for f in dataclasses.fields(self):
            mine, theirs = getattr(self, f.name), getattr(other, f.name)
            if mine == theirs:
                continue
            if isinstance(mine, tuple) and isinstance(theirs, tuple):
                if len(mine) != len(theirs):
                    out.append(f"{f.name}: {len(mine)} items vs {len(theirs)}")
                    continue
                index = next(i for i, (a, b) in enumerate(zip(mine, theirs, strict=True)) if a != b)
                out.append(f"{f.name}[{index}]: {mine[index]} vs {theirs[index]}")
            else:
                out.append(f"{f.name}: {mine} vs {theirs}")
        return out


def state_of(
    execution: ExecutionEngine, portfolio: Portfolio, instrument_ids: Iterable[InstrumentId]
) -> ProjectionState:
    """The :class:`ProjectionState` of an execution engine and a portfolio - a live kernel's
    (``state_of(kernel.execution, kernel.portfolio, kernel.instruments)``) or a projection's."""
    account = portfolio.account
    currency = account.currency
    positions = [*portfolio.positions_closed(), *portfolio.positions_open()]
    return ProjectionState(
        account_id=str(account.id),
        cash=account.cash,
        commissions=account.commissions,
        realized_pnl=Money(portfolio.realized_pnl_raw(), currency),
        unrealized_pnl=Money(portfolio.unrealized_pnl_raw(), currency),
        equity=portfolio.equity(),
        peak_equity=Money(portfolio.peak_equity_raw, currency),
        max_drawdown=Money(portfolio.max_drawdown_raw, currency),
        fills=portfolio.fills,
        marks=tuple((str(iid), portfolio.last_price(iid)) for iid in sorted(instrument_ids)),
        equity_curve=tuple(portfolio.equity_curve),
        orders=tuple(_order_state(o) for o in execution.orders()),
        positions=tuple(_position_state(p) for p in positions),
    )


def _order_state(o: Order) -> OrderState:
    venue_id = None if o.venue_order_id is None else str(o.venue_order_id)
    return OrderState(
        str(o.client_order_id), str(o.strategy_id), str(o.instrument_id), o.side.value,
        o.order_type.value, o.status.value, o.quantity, o.filled_qty, o.avg_px, venue_id,
    )  # fmt: skip


def _position_state(p: Position) -> PositionState:
    return PositionState(
        str(p.id), str(p.strategy_id), str(p.instrument_id), p.side.value, p.quantity, p.avg_px_open,
        p.realized_pnl, p.commissions, p.fill_count, p.ts_opened, p.ts_closed,
    )  # fmt: skip


# -- the projection ----------------------------------------------------------------------------


def _projected_types() -> tuple[frozenset[type[Message]], frozenset[str]]:
    """The message classes a projection applies, and every stored name (aliases too) of them."""
    wanted = (SubmitOrder, OrderEvent, Bar, TradeTick, QuoteTick)
    registry = message_types()
    names = frozenset(name for name, cls in registry.items() if issubclass(cls, wanted))
    classes = frozenset(cls for cls in registry.values() if issubclass(cls, wanted))
    return classes, names


class Projection:
    """Orders, positions and account rebuilt from stored messages (see the module docstring).

    Parameters
    ----------
    instruments:
        The instruments the node traded (the store does not hold them).
    starting_balance:
        The account's starting balance (all venues together, as the kernel adds them).
    account_id:
        The account's id (a node's is ``<VENUE>-001`` unless its venue config names one).
    equity_sample_ns:
        Spacing of equity-curve points; the node's ``report.equity_sample_seconds``.

    Attributes
    ----------
    last_seq:
        The sequence number of the last record fed (0 before the first).
    records_read, records_applied:
        Records fed to this projection since it was built or restored, and how many of them
        changed state (the rest are derived or irrelevant events, skipped undecoded).
    restored_from_seq:
        The snapshot's sequence number if the projection was restored from one, else ``None``.
    """

    def __init__(
        self,
        instruments: Iterable[Instrument],
        starting_balance: Money,
        account_id: AccountId | str,
        *,
        equity_sample_ns: int = 60 * NANOS_PER_SECOND,
    ) -> None:
        self.instruments: dict[InstrumentId, Instrument] = {i.id: i for i in instruments}
        if not self.instruments:
            raise ProjectionError("a projection needs the node's instruments; none were given")
        self.starting_balance = starting_balance
        self.account_id = AccountId(str(account_id))
        self.equity_sample_ns = equity_sample_ns
        self.clock = SimulatedClock()
        ids = IdFactory(0)  # ids of the position and account events the portfolio publishes here
        self.bus = MessageBus(self.clock, ids, history_size=0)
        self.execution = ExecutionEngine(self.bus, self.clock, ids)
        self.portfolio = Portfolio(
            self.bus,
            self.clock,
            ids,
            Account(self.account_id, starting_balance),
            self.instruments.values(),
            equity_sample_ns=equity_sample_ns,
        )
        self.last_seq = 0
        self.records_read = 0
        self.records_applied = 0
        self.restored_from_seq: int | None = None
        self.partial = False
        """Whether records were skipped by a filter (such a projection is not snapshotted)."""
        self._classes, self._names = _projected_types()

    # -- feeding -----------------------------------------------------------------------------

    def apply(self, message: Message) -> bool:
        """Apply one message in order (after moving the clock to its ``ts_init``); returns
        whether it is one the projection applies (orders, fills, market data)."""
        if type(message) not in self._classes:
            return False
        if isinstance(message, OrderFilled) and message.instrument_id not in self.instruments:
            raise ProjectionError(
                f"fill {message.trade_id} of order {message.client_order_id} is for "
                f"{message.instrument_id}, which is not among the projection's instruments "
                f"({', '.join(sorted(self.instruments))})"
            )
        self.clock.set_time(message.ts_init)
        self.bus.publish(message)
        self.records_applied += 1
        return True

    def apply_record(self, record: StoredEvent, message: Message | None = None) -> bool:
        """Feed one stored record; records must come in increasing sequence order (gaps are
        fine: a filtered read). Records the projection does not apply are not decoded;
        ``message`` is the record already decoded, if the caller has it."""
        if record.seq <= self.last_seq:
            raise ProjectionError(
                f"record {record.seq} is not after the last record fed ({self.last_seq}); "
                "feed records once, in sequence order"
            )
        applied = False
        if record.type_name in self._names:
            try:
                applied = self.apply(record.decode() if message is None else message)
            except ProjectionError as exc:
                raise ProjectionError(f"record {record.seq}: {exc}") from None
        self.last_seq = record.seq  # only once applied: a record that failed is not counted as fed
        self.records_read += 1
        return applied

    def catch_up(
        self,
        store: EventStore,
        *,
        where: ReadFilter | None = None,
        snapshot_name: str | None = None,
        snapshot_every: int | None = None,
        progress: ProgressCallback | None = None,
    ) -> int:
        """Apply the store's records after :attr:`last_seq` (that match ``where``) in order.

        With ``snapshot_name`` and ``snapshot_every``, a snapshot is saved each time
        ``snapshot_every`` more records have been read (only for an unfiltered read: a filtered
        projection is partial). Returns how many records were read.
        """
        where = where if where is not None else ReadFilter()
        filtered = _filters_records(where)
        if snapshot_every is not None:
            if isinstance(snapshot_every, bool) or not isinstance(snapshot_every, int) or snapshot_every < 1:
                raise ValueError(f"snapshot_every must be a positive integer, got {snapshot_every!r}")
            if snapshot_name is None or filtered:
                raise ValueError("snapshot_every needs a snapshot_name and an unfiltered read (a whole log)")
        self.partial = self.partial or filtered or where.from_seq > self.last_seq + 1
        last = store.last_seq()
        read_filter = dataclasses.replace(where, from_seq=max(where.from_seq, self.last_seq + 1))
        every = snapshot_every or 0
        next_snapshot = self.last_seq + every
        count = 0
        apply_record = self.apply_record
        for record in store.read(read_filter):
            apply_record(record)
            count += 1
            if every and record.seq >= next_snapshot:
                assert snapshot_name is not None
                self.save_snapshot(store, snapshot_name)
                next_snapshot = record.seq + every
            if progress is not None and not count % _PROGRESS_STEP:
                progress(record.seq, last)
        if progress is not None:
            progress(last if where.to_seq is None else min(last, where.to_seq), last)
        return count

    # -- reading -----------------------------------------------------------------------------

    def state(self) -> ProjectionState:
        """The exact summary of what the records made (see :class:`ProjectionState`)."""
        return state_of(self.execution, self.portfolio, self.instruments)

    @property
    def handler_errors(self) -> int:
        """Records a component refused or failed on (a duplicate fill refused by its order, as
        the live node refused it too)."""
        return self.bus.handler_errors

    # -- snapshots ---------------------------------------------------------------------------

    def snapshot(self) -> bytes:
        """The projection as bytes (see the module docstring: same version only, trusted)."""
        if self.partial:
            raise SnapshotError("a projection built from a filtered read is partial; it is not snapshotted")
        header = {"format": SNAPSHOT_FORMAT, "tradeloop": __version__, "layout": _layout(self)}
        header["seq"] = self.last_seq
        with _gc_paused():
            body, table = _dump(self)
        # zstd level 1: a sixth of the size for ~0.1 s on a 1,000,000-event session's projection.
        packed = zstandard.ZstdCompressor(level=1, write_checksum=True).compress(
            b"".join((len(table).to_bytes(8, "big"), table, body))
        )
        return _MAGIC + json.dumps(header, sort_keys=True).encode() + b"\n" + packed

    def __getstate__(self) -> dict[str, Any]:
        state = dict(vars(self))
        for transient in ("_classes", "_names", "records_read", "records_applied", "restored_from_seq"):
            del state[transient]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        vars(self).update(state)
        self.records_read = self.records_applied = 0
        self.restored_from_seq = self.last_seq
        self._classes, self._names = _projected_types()

    def save_snapshot(self, store: EventStore, name: str) -> None:
        """Save :meth:`snapshot` in ``store`` as the latest snapshot ``name`` (after :attr:`last_seq`)."""
        store.save_snapshot(name, self.last_seq, self.snapshot())

    @classmethod
    def restore(cls, payload: bytes, *, seq: int | None = None) -> Projection:
        """A projection from :meth:`snapshot` bytes.

        Raises
        ------
        SnapshotError
            If the bytes are no projection snapshot, or one of another format, tradeloop
            version or component layout (rebuild without the snapshot instead).
        """
        header, table, body = _split_snapshot(payload)
        if seq is not None and header.get("seq") != seq:
            raise SnapshotError(f"snapshot header says seq {header.get('seq')}, the store says {seq}")
        # Checked before unpickling: objects of another layout would restore into stale fields.
        if header.get("layout") != _layout(Projection([Equity("LAYOUT.SIM")], Money(0, "USD"), "L")):
            raise SnapshotError(
                "snapshot was written by components of another layout (a changed tradeloop build); "
                "rebuild without the snapshot"
            )
        try:
            with _gc_paused():
                projection = _load(table, body)
        except Exception as exc:  # noqa: BLE001 - any unpickling failure means the same thing here
            raise SnapshotError(f"snapshot body cannot be restored: {type(exc).__name__}: {exc}") from None
        if not isinstance(projection, cls):
            raise SnapshotError(f"snapshot holds a {type(projection).__name__}, not a projection")
        return projection

    def check_config(
        self,
        instruments: Iterable[Instrument],
        starting_balance: Money,
        account_id: str | None,
        equity_sample_ns: int,
    ) -> None:
        """Raise :class:`SnapshotError` naming what differs if this (restored) projection was
        built with other settings than the ones given."""
        given = {i.id: i for i in instruments}
        checks = (
            ("instruments", sorted(self.instruments), sorted(given), given == self.instruments),
            ("starting balance", self.starting_balance, starting_balance, None),
            ("account", self.account_id, account_id or self.account_id, None),
            ("equity sampling (ns)", self.equity_sample_ns, equity_sample_ns, None),
        )
        problems = [
            f"{name} {mine} (given {theirs}{'' if mine != theirs else ', with other settings'})"
            for name, mine, theirs, same in checks
            if not (mine == theirs if same is None else same)
        ]
        if problems:
            raise SnapshotError("the snapshot was taken with other settings: " + "; ".join(problems))


def _filters_records(where: ReadFilter) -> bool:
    """Whether ``where`` drops records in the middle of the log (only an end bound keeps a
    projection whole)."""
    conditions = (where.from_ts, where.to_ts, where.types, where.stream_id, where.correlation_id)
    return any(c is not None for c in conditions)


def _layout(projection: Projection) -> str:
    """A fingerprint of the attribute layout of the pickled components: a snapshot restores
    only into components with the same fields."""
    objects = (projection.portfolio, projection.execution, projection.bus)
    slotted = (SimulatedClock, Order, Position, Account)
    parts = [sorted(vars(o)) for o in objects] + [list(cls.__slots__) for cls in slotted]
    return "|".join(",".join(names) for names in parts)


def _split_snapshot(payload: bytes) -> tuple[dict[str, object], bytes, bytes]:
    """Header, message table and pickled body of a snapshot; checks format and version."""
    if not payload.startswith(_MAGIC):
        raise SnapshotError("not a projection snapshot (no tradeloop projection header)")
    line_end = payload.find(b"\n", len(_MAGIC))
    try:
        header = json.loads(payload[len(_MAGIC) : line_end])
    except ValueError:
        raise SnapshotError("projection snapshot header is unreadable") from None
    if not isinstance(header, dict):
        raise SnapshotError("projection snapshot header is unreadable")
    if header.get("format") != SNAPSHOT_FORMAT or header.get("tradeloop") != __version__:
        raise SnapshotError(
            f"snapshot format {header.get('format')} of tradeloop {header.get('tradeloop')}; this is "
            f"format {SNAPSHOT_FORMAT} of tradeloop {__version__}: snapshots are same-version only, "
            "rebuild without it"
        )
    try:
        packed = zstandard.ZstdDecompressor().decompress(payload[line_end + 1 :])
    except zstandard.ZstdError as exc:
        raise SnapshotError(f"projection snapshot is truncated or corrupt: {exc}") from None
    size = int.from_bytes(packed[:8], "big")
    return header, packed[8 : 8 + size], packed[8 + size :]


# Messages (most of a projection: every order keeps its events) and order specs are written in
# bulk with msgspec, one array per class; the pickle holds only their indexes. Restoring is then
# faster than unpickling each struct one by one.
_BULK_TYPES = (Message, OrderSpec)
_TABLES: ContextVar[list[list[Any]]] = ContextVar("tradeloop_snapshot_tables")


def _snapshot_ref(table: int, index: int) -> Any:
    """Resolves a bulk-written struct while a snapshot is restored."""
    return _TABLES.get()[table][index]


class _SnapshotPickler(pickle.Pickler):
    def __init__(self, file: io.BytesIO) -> None:
        super().__init__(file, protocol=pickle.HIGHEST_PROTOCOL)
        self.tables: dict[type, tuple[int, list[Any]]] = {}

    def reducer_override(self, obj: Any) -> Any:
        if not isinstance(obj, _BULK_TYPES):
            return NotImplemented
        cls = type(obj)
        entry = self.tables.get(cls)
        if entry is None:
            entry = self.tables[cls] = (len(self.tables), [])
        index, items = entry
        items.append(obj)
        # Pickle memoises the result by the object's id: a struct shared by two holders is
        # written (and restored) once.
        return _snapshot_ref, (index, len(items) - 1)


def _dump(state: object) -> tuple[bytes, bytes]:
    """The pickled body and the bulk table (classes by reference, arrays in msgpack)."""
    buffer = io.BytesIO()
    pickler = _SnapshotPickler(buffer)
    pickler.dump(state)
    encode = msgspec.msgpack.Encoder().encode
    table = [(cls, encode(items)) for cls, (_, items) in pickler.tables.items()]
    return buffer.getvalue(), pickle.dumps(table, protocol=pickle.HIGHEST_PROTOCOL)


def _load(table: bytes, body: bytes) -> Any:
    tables = [msgspec.msgpack.Decoder(list[cls]).decode(blob) for cls, blob in pickle.loads(table)]  # type: ignore[valid-type]
    token = _TABLES.set(tables)
    try:
        return pickle.loads(body)
    finally:
        _TABLES.reset(token)


@contextmanager
def _gc_paused() -> Iterator[None]:
    """No cyclic garbage collection while millions of objects are (un)pickled: each collection
    would walk all of them, which doubles the time of a large snapshot."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


# -- rebuilding --------------------------------------------------------------------------------


def rebuild(
    store: EventStore,
    *,
    instruments: Iterable[Instrument],
    starting_balance: Money,
    account_id: str | None = None,
    equity_sample_ns: int = 60 * NANOS_PER_SECOND,
    snapshot_name: str | None = None,
    snapshot_every: int | None = None,
    where: ReadFilter | None = None,
    progress: ProgressCallback | None = None,
) -> Projection:
    """Rebuild a node's orders, positions and account from its store.

    Parameters
    ----------
    store:
        The node's event store.
    instruments, starting_balance, equity_sample_ns:
        As the node was configured (see :class:`Projection`).
    account_id:
        The account's id; by default the one the store's first account or order event names
        (else ``<VENUE>-001`` of the instruments' venue, as the kernel names it).
    snapshot_name:
        Restore the latest snapshot of this name and replay only the records after it (a
        snapshot beyond ``where.to_seq`` is not used). Without a snapshot, the whole log.
    snapshot_every:
        Also save a snapshot under ``snapshot_name`` every this many records read.
    where:
        Records to replay. A bound on the end (``to_seq``) gives the state at that point; any
        other filter gives a partial projection (and cannot be combined with snapshots).
    progress:
        Called with (sequence number reached, last sequence number).

    Raises
    ------
    SnapshotError
        If the snapshot cannot be restored or was taken with other settings.
    ProjectionError
        If a record cannot be projected (a fill of an instrument not given).
    """
    instruments = list(instruments)
    where = where if where is not None else ReadFilter()
    projection: Projection | None = None
    if snapshot_name is not None:
        if _filters_records(where) or where.from_seq != 1:
            raise ValueError(
                "a snapshot holds the whole log up to its record; it cannot serve a rebuild "
                "filtered by time, type, stream, correlation or a start sequence"
            )
        loaded = store.load_snapshot(snapshot_name)
        if loaded is not None and (where.to_seq is None or loaded[0] <= where.to_seq):
            seq, payload = loaded
            projection = Projection.restore(payload, seq=seq)
            projection.check_config(instruments, starting_balance, account_id, equity_sample_ns)
    if projection is None:
        if account_id is None:
            account_id = find_account_id(store, instruments)
        projection = Projection(instruments, starting_balance, account_id, equity_sample_ns=equity_sample_ns)
    projection.catch_up(
        store, where=where, snapshot_name=snapshot_name, snapshot_every=snapshot_every, progress=progress
    )
    return projection


def find_account_id(store: EventStore, instruments: Iterable[Instrument]) -> str:
    """The account id the store's first account or order event names; without one, the
    kernel's name for the account of the instruments' venue(s) (``<VENUE>-001``)."""
    names = frozenset(cls.TYPE_NAME for cls in (AccountStateChanged, OrderSubmitted, OrderFilled))
    first = next(iter(store.read(ReadFilter(types=names), batch_size=1)), None)
    if first is not None:
        message = first.decode()
        assert isinstance(message, AccountStateChanged | OrderSubmitted | OrderFilled)
        return str(message.account_id)
    venues = sorted({i.venue for i in instruments})
    return "-".join(venues) + "-001"
