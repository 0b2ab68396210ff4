"""Replay a node's event store: feed stored messages back in order, and "what-if" runs.

* :func:`replay` reads the records of a time range (or one correlation id, or some types) in
  sequence order, decodes each and hands it to a callback and/or a
  :class:`~tradeloop.runtime.projection.Projection`; it returns the counts per type.
* :func:`what_if` takes the market data a session *recorded* and runs it through two backtests,
  the session's config and a changed one (other strategy settings, other risk limits), and
  reports both outcomes side by side. Only the recorded source data is replayed: bars the
  router built from ticks, and price snapshots answered on request, are derived and rebuilt by
  each run itself.
* :func:`record_into` makes a bus record into a store (tests, tools).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from itertools import pairwise
from typing import Literal

from tradeloop.config.diff import changed_keys as config_changes
from tradeloop.config.diff import is_under
from tradeloop.core.bus import MessageBus
from tradeloop.core.errors import ConfigError, TradeloopError
from tradeloop.core.message import Data, Message, message_types
from tradeloop.data.sample import sample_instrument
from tradeloop.model.data import Bar, BarSpec, QuoteTick, TradeTick
from tradeloop.model.enums import OrderStatus
from tradeloop.model.instruments import Instrument
from tradeloop.model.objects import Money
from tradeloop.runtime.backtest import BacktestEngine
from tradeloop.runtime.build import LoadedData, build_engine, make_instrument
from tradeloop.runtime.config import BacktestConfig
from tradeloop.runtime.projection import Projection
from tradeloop.store.port import EventStore, ReadFilter

__all__ = [
    "BatchRecorder",
    "DataKind",
    "Outcome",
    "ReplayCounts",
    "WhatIfReport",
    "config_data_kind",
    "config_instrument",
    "record_into",
    "recorded_market_data",
    "replay",
    "what_if",
]

ProgressCallback = Callable[[int, int], None]
"""Called with (sequence number reached, last sequence number of the store)."""

DataKind = Literal["trades", "quotes", "bars"]
_KIND_TYPES: dict[str, type[Data]] = {"trades": TradeTick, "quotes": QuoteTick, "bars": Bar}
_PROGRESS_STEP = 1 << 13


# -- recording ---------------------------------------------------------------------------------


class BatchRecorder:
    """A bus recorder appending to an event store in batches of ``batch`` messages.

    Call :meth:`flush` when the run is over (the last batch is appended and committed).
    """

    __slots__ = ("_batch", "_buffer", "store")

    def __init__(self, store: EventStore, *, batch: int = 5_000) -> None:
        if batch < 1:
            raise ValueError(f"batch must be at least 1, got {batch}")
        self.store = store
        self._batch = batch
        self._buffer: list[Message] = []

    def __call__(self, message: Message) -> None:
        buffer = self._buffer
        buffer.append(message)
        if len(buffer) >= self._batch:
            self._buffer = []
            self.store.append(buffer)

    def flush(self) -> None:
        if self._buffer:
            batch, self._buffer = self._buffer, []
            self.store.append(batch)
        self.store.flush()


def record_into(bus: MessageBus, store: EventStore, *, batch: int = 5_000) -> BatchRecorder:
    """Record every message ``bus`` dispatches into ``store``; returns the recorder to flush."""
    recorder = BatchRecorder(store, batch=batch)
    bus.add_recorder(recorder)
    return recorder


# -- reading -----------------------------------------------------------------------------------


def _type_names(types: Iterable[str]) -> frozenset[str]:
    if isinstance(types, str):
        raise TypeError("types must be a collection of type names, not a string")
    names = frozenset(types)
    known = message_types()
    unknown = sorted(n for n in names if n not in known)
    if unknown:
        raise ValueError(f"unknown message type(s): {', '.join(unknown)}")
    return names


@dataclass(frozen=True, slots=True)
class ReplayCounts:
    """What a replay fed: records per stored type name, in all, the sequence and ``ts_event``
    range covered, and the wall time it took."""

    counts: dict[str, int]
    total: int
    first_seq: int | None
    last_seq: int | None
    first_ts: int | None
    last_ts: int | None
    seconds: float

    @property
    def rate(self) -> float:
        """Records per second of wall time."""
        return self.total / self.seconds if self.seconds > 0 else 0.0


def replay(
    store: EventStore,
    *,
    from_ts: int | None = None,
    to_ts: int | None = None,
    correlation_id: str | None = None,
    types: Iterable[str] | None = None,
    callback: Callable[[Message], None] | None = None,
    projection: Projection | None = None,
    progress: ProgressCallback | None = None,
) -> ReplayCounts:
    """Feed the stored messages that match, in sequence order, to ``callback`` and/or
    ``projection``; every matching record is decoded (so a replay also checks the log).

    Parameters
    ----------
    from_ts, to_ts:
        ``ts_event`` range in nanoseconds, ``from_ts`` inclusive, ``to_ts`` exclusive.
    correlation_id:
        Only the records of one correlation id (one trading cycle: the causal chain of a trade).
    types:
        Only these stored type names.
    callback:
        Receives each decoded message.
    projection:
        A (fresh) projection fed each record; filtered records make it partial.
    progress:
        Called with (sequence number reached, last sequence number of the store).

    Raises
    ------
    ValueError
        On an empty or reversed time range or an unknown type name.
    """
    if from_ts is not None and to_ts is not None and to_ts <= from_ts:
        raise ValueError(f"the time range is empty: to ({to_ts}) must be after from ({from_ts})")
    names = _type_names(types) if types is not None else None
    where = ReadFilter(from_ts=from_ts, to_ts=to_ts, types=names, correlation_id=correlation_id)
    if projection is not None and (from_ts, to_ts, names, correlation_id) != (None, None, None, None):
        projection.partial = True
    counts: dict[str, int] = {}
    total = 0
    first_seq: int | None = None
    last_seq: int | None = None
    first_ts: int | None = None
    last_ts: int | None = None
    last = store.last_seq()
    started = time.perf_counter()
    for record in store.read(where):
        message = record.decode()
        if callback is not None:
            callback(message)
        if projection is not None:
            projection.apply_record(record, message)
        name = record.type_name
        counts[name] = counts.get(name, 0) + 1
        total += 1
        ts = record.ts_event
        if first_ts is None or ts < first_ts:
            first_ts = ts
        if last_ts is None or ts > last_ts:
            last_ts = ts
        if first_seq is None:
            first_seq = record.seq
        last_seq = record.seq
        if progress is not None and not total % _PROGRESS_STEP:
            progress(record.seq, last)
    if progress is not None:
        progress(last, last)
    return ReplayCounts(
        counts=dict(sorted(counts.items())),
        total=total,
        first_seq=first_seq,
        last_seq=last_seq,
        first_ts=first_ts,
        last_ts=last_ts,
        seconds=time.perf_counter() - started,
    )


# -- what-if -----------------------------------------------------------------------------------


def config_instrument(cfg: BacktestConfig) -> Instrument:
    """The instrument a config trades (the sample's, or ``data.instrument``)."""
    if cfg.data.source == "sample":
        return sample_instrument()
    if cfg.data.instrument is None:
        raise ConfigError("data.instrument is required to know what the session traded")
    return make_instrument(cfg.data.instrument)


def config_data_kind(cfg: BacktestConfig) -> DataKind:
    """The kind of market data a config's session was fed (the sample is trades)."""
    return "trades" if cfg.data.source == "sample" else cfg.data.kind


def recorded_market_data(
    store: EventStore, instrument: Instrument, kind: DataKind, *, bar_spec: BarSpec | None = None
) -> list[Data]:
    """The market data of ``kind`` for ``instrument`` that the store recorded, in ``ts_init``
    order (a stable sort: a live feed's records may arrive slightly out of order).

    For ``bars``, only bars of ``bar_spec`` (when given) are taken.
    """
    cls = _KIND_TYPES.get(kind)
    if cls is None:
        raise ValueError(f"kind must be one of {', '.join(_KIND_TYPES)}, got {kind!r}")
    names = frozenset(n for n, c in message_types().items() if c is cls)
    stream = f"market-{instrument.id}"
    data: list[Data] = []
    # By type (its index yields records in order) and the stream checked here: the stream's
    # index is ordered by version, so SQLite would sort the whole market stream page by page.
    for record in store.read(ReadFilter(types=names)):
        if record.stream_id == stream:
            message = record.decode()
            assert isinstance(message, Data)
            if bar_spec is None or not isinstance(message, Bar) or message.spec == bar_spec:
                data.append(message)
    if any(a.ts_init > b.ts_init for a, b in pairwise(data)):
        data.sort(key=lambda d: d.ts_init)
    return data


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one run of the recorded data produced."""

    orders: int
    denied: int
    fills: int
    trades: int
    final_equity: Money
    realized_pnl: Money
    commissions: Money
    max_drawdown: Money

    @classmethod
    def of(cls, engine: BacktestEngine) -> Outcome:
        """The outcome of a finished engine."""
        portfolio = engine.portfolio
        if portfolio is None:
            raise TradeloopError("the engine has not run")
        orders = engine.execution.orders()
        return cls(
            orders=len(orders),
            denied=sum(1 for o in orders if o.status is OrderStatus.DENIED),
            fills=portfolio.fills,
            trades=len(portfolio.positions_closed()),
            final_equity=portfolio.equity(),
            realized_pnl=portfolio.money(portfolio.realized_pnl_raw()),
            commissions=portfolio.account.commissions,
            max_drawdown=portfolio.money(portfolio.max_drawdown_raw),
        )


_NOT_REPLAYED = ("data", "report", "log", "run.name", "run.output_dir", "node", "logging")
"""Config sections a what-if replay does not use (the data is the recording's)."""

_METRICS = (
    ("orders", "orders"),
    ("orders denied", "denied"),
    ("fills", "fills"),
    ("closed trades", "trades"),
    ("final equity", "final_equity"),
    ("realized P&L (net)", "realized_pnl"),
    ("commissions", "commissions"),
    ("max drawdown", "max_drawdown"),
)


@dataclass(frozen=True, slots=True)
class WhatIfReport:
    """Both outcomes of a what-if replay over the same recorded data."""

    instrument: str
    data_kind: str
    data_count: int
    start_ns: int
    end_ns: int
    original: Outcome
    changed: Outcome
    changed_keys: tuple[str, ...] = field(default=())

    def rows(self) -> list[tuple[str, str, str, str]]:
        """``(metric, original, changed, changed - original)`` per metric, as text."""
        out = []
        for label, name in _METRICS:
            a, b = getattr(self.original, name), getattr(self.changed, name)
            if isinstance(a, Money):
                diff: str = str(b - a)
                if b.raw > a.raw:
                    diff = "+" + diff
            else:
                diff = f"{b - a:+d}"
            out.append((label, str(a), str(b), diff))
        return out

    def difference(self, name: str) -> int | Decimal:
        """``changed - original`` of one :class:`Outcome` field (money as a ``Decimal``)."""
        a, b = getattr(self.original, name), getattr(self.changed, name)
        if isinstance(a, Money) and isinstance(b, Money):
            return (b - a).as_decimal()
        return int(b) - int(a)


def what_if(
    store: EventStore,
    original: BacktestConfig,
    changed: BacktestConfig,
    *,
    instrument: Instrument | None = None,
    kind: DataKind | None = None,
) -> WhatIfReport:
    """Run the session's recorded market data through ``original`` and ``changed`` and
    compare the outcomes.

    Both runs use the recorded data, not the configs' ``data`` sections; everything else of
    each config (strategies, risk, lifecycle, venue, seed) applies to its own run.

    Parameters
    ----------
    instrument:
        The instrument the session traded (default: the one ``original`` names).
    kind:
        The recorded data that fed the session (default: ``original.data.kind``; the sample
        data is trades). Bars are taken of ``original.data.bar_spec`` only.

    Raises
    ------
    TradeloopError
        If the store holds no such market data, or a config cannot be built.
    """
    instrument = instrument if instrument is not None else config_instrument(original)
    kind = kind if kind is not None else config_data_kind(original)
    spec = BarSpec.parse(original.data.bar_spec) if kind == "bars" else None
    data = recorded_market_data(store, instrument, kind, bar_spec=spec)
    if not data:
        raise TradeloopError(f"the store holds no recorded {kind} of {instrument.id} to replay")
    loaded = LoadedData(instrument, data, {})
    outcomes = []
    for cfg in (original, changed):
        engine = build_engine(cfg, event_log=None, loaded=loaded)
        engine.run()
        outcomes.append(Outcome.of(engine))
    return WhatIfReport(
        instrument=str(instrument.id),
        data_kind=kind,
        data_count=len(data),
        start_ns=data[0].ts_init,
        end_ns=data[-1].ts_init,
        original=outcomes[0],
        changed=outcomes[1],
        changed_keys=tuple(
            key
            for key in config_changes(original, changed)
            if not any(is_under(key, section) for section in _NOT_REPLAYED)
        ),
    )
