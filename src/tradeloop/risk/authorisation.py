"""Who may trade now: the trading state with its holds, and per-instrument blocks.

The trading state (:class:`TradingStateKeeper`) is account-wide: the strictest of a *base*
state (an operator's decision, or the daily loss limit's REDUCING until the next UTC day) and
the named *holds* that circuit breakers place and only a release (a manual reset) removes.

A *block* stops new positions on one instrument, or on every instrument (``instrument_id``
``None``); orders that reduce a position and cancels still pass (the risk engine's
``trading_authorisation`` check). Each block has a ``source`` (``breaker:venue_errors``,
``risk_breach``, ``kill_switch``, ``blackout``, ...) and a reason. Blocks overlap freely: an
instrument is authorised when no block on it and no block on every instrument remains.
Adding a block publishes :class:`~tradeloop.risk.events.TradingBlocked`, lifting it
:class:`~tradeloop.risk.events.TradingAuthorized`.

The blackout calendar
    A CSV or YAML file of windows in which an instrument (or ``*``: every instrument) may not
    open positions. CSV: a header ``instrument,start,end,reason`` and one window a row. YAML: a
    mapping with a list ``blackouts:`` of mappings with the same four keys. ``start`` and
    ``end`` are ISO-8601 date-times with a zone (``2024-03-20T18:00:00+00:00``, ``...Z``);
    a window is ``[start, end)``. :func:`load_blackout_calendar` names the file and the row of
    any error. The calendar blocks at each window's start and authorises at its end on clock
    alerts (``set_time_alert``), so in a backtest the windows follow the simulated clock; a
    window already open when the calendar is set blocks at once, one already over is ignored.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from tradeloop.config.loader import load_yaml
from tradeloop.core.bus import MessageBus
from tradeloop.core.clock import Clock, TimeEvent, TimerCallback
from tradeloop.core.errors import ConfigError, TradeloopError, ValueRangeError
from tradeloop.core.ids import IdFactory, InstrumentId, instrument_id
from tradeloop.risk.events import TradingAuthorized, TradingBlocked, TradingState, TradingStateChanged

__all__ = [
    "BLACKOUT_SOURCE",
    "BlackoutWindow",
    "TradingAuthorisation",
    "TradingBlock",
    "TradingStateKeeper",
    "load_blackout_calendar",
]

BLACKOUT_SOURCE = "blackout"
"""The source of the blocks the blackout calendar places."""

_COLUMNS = ("instrument", "start", "end", "reason")
_STRICTNESS = {TradingState.ACTIVE: 0, TradingState.REDUCING: 1, TradingState.HALTED: 2}
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class BlackoutWindow:
    """``[start_ns, end_ns)`` in which ``instrument_id`` (``None``: every one) may not open positions."""

    instrument_id: InstrumentId | None
    start_ns: int
    end_ns: int
    reason: str


@dataclass(frozen=True, slots=True)
class TradingBlock:
    """One block in force: on ``instrument_id`` (``None``: every instrument), by ``source``."""

    instrument_id: InstrumentId | None
    source: str
    reason: str


# -- the calendar file ----------------------------------------------------------------------


def _to_ns(value: datetime) -> int:
    delta = value - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1_000


def _instant(value: Any, key: str) -> int:
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        raise ValueError(f"{key} {value} has no time of day; give an ISO-8601 date-time with a zone")
    elif isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.strip())
        except ValueError:
            raise ValueError(f"{key} {value!r} is not an ISO-8601 date-time") from None
    else:
        raise ValueError(f"{key} must be an ISO-8601 date-time, got {value!r}")
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{key} {value!s} has no time zone; add one (+00:00 or Z)")
    return _to_ns(moment)


def _window(row: dict[str, Any]) -> BlackoutWindow:
    missing = [key for key in _COLUMNS if row.get(key) in (None, "")]
    if missing:
        raise ValueError(f"missing {', '.join(missing)}")
    extra = sorted(str(key) for key in row if key not in _COLUMNS)
    if extra:
        raise ValueError(f"unknown field {', '.join(extra)} (fields: {', '.join(_COLUMNS)})")
    raw_id = str(row["instrument"]).strip()
    try:
        iid = None if raw_id == "*" else instrument_id(raw_id)
    except ValueRangeError as exc:
        raise ValueError(f"{exc} (or '*' for every instrument)") from None
    start = _instant(row["start"], "start")
    end = _instant(row["end"], "end")
    if end <= start:
        raise ValueError(f"end {row['end']} is not after start {row['start']}")
    reason = str(row["reason"]).strip()
    if not reason:
        raise ValueError("missing reason")
    return BlackoutWindow(iid, start, end, reason)


def _csv_windows(path: Path) -> list[BlackoutWindow]:
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle, skipinitialspace=True)
            header = [name.strip() for name in reader.fieldnames or ()]
            if sorted(header) != sorted(_COLUMNS):
                raise ConfigError(
                    f"{path}: the header must name the columns {','.join(_COLUMNS)}, got {','.join(header)!r}"
                )
            reader.fieldnames = header
            windows = []
            for number, row in enumerate(reader, start=1):
                if None in row:
                    raise ConfigError(
                        f"{path}: row {number} (line {reader.line_num}): more cells than columns"
                    )
                try:
                    windows.append(_window(row))
                except ValueError as exc:
                    raise ConfigError(f"{path}: row {number} (line {reader.line_num}): {exc}") from None
            return windows
    except FileNotFoundError:
        raise ConfigError(f"{path}: blackout calendar not found") from None
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise ConfigError(f"{path}: cannot read the blackout calendar: {exc}") from None


def _yaml_windows(path: Path) -> list[BlackoutWindow]:
    data = load_yaml(path)  # ConfigError naming the file (and line) on failure
    extra = sorted(str(key) for key in data if key != "blackouts")
    if extra:
        raise ConfigError(f"{path}: unknown key {', '.join(extra)}; the calendar is a list under 'blackouts'")
    rows = data.get("blackouts")
    if not isinstance(rows, list):
        raise ConfigError(f"{path}: 'blackouts' must be a list of windows, got {type(rows).__name__}")
    windows = []
    for number, row in enumerate(rows, start=1):
        if not isinstance(row, dict):
            raise ConfigError(f"{path}: row {number}: a window must be a mapping of {', '.join(_COLUMNS)}")
        try:
            windows.append(_window(row))
        except ValueError as exc:
            raise ConfigError(f"{path}: row {number}: {exc}") from None
    return windows


def load_blackout_calendar(path: Path | str) -> list[BlackoutWindow]:
    """Read a blackout calendar (``.csv``, ``.yaml`` or ``.yml``), in file order.

    Raises
    ------
    ConfigError
        Naming the file, and the row (1-based, the header not counted) of a bad window: a
        missing or unknown field, a bad instrument id, a time without a zone, an end not after
        its start.
    """
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix == ".csv":
        return _csv_windows(p)
    if suffix in (".yaml", ".yml"):
        return _yaml_windows(p)
    raise ConfigError(f"{p}: a blackout calendar must be a .csv, .yaml or .yml file")


# -- the blocks -----------------------------------------------------------------------------


class TradingAuthorisation:
    """Which instruments may open positions now, and the blackout calendar's clock alerts.

    Parameters
    ----------
    bus:
        Where ``TradingBlocked`` and ``TradingAuthorized`` are published.
    clock:
        Event timestamps and the calendar's alerts (a live clock needs a running loop when a
        calendar is set).
    ids:
        Mints event ids.
    """

    def __init__(self, bus: MessageBus, clock: Clock, ids: IdFactory) -> None:
        self._bus = bus
        self._clock = clock
        self._ids = ids
        # (instrument or None, source, key) -> reason; the key tells apart overlapping blocks
        # of one source on one scope (two calendar windows).
        self._blocks: dict[tuple[InstrumentId | None, str, str], str] = {}
        self._timers: list[str] = []
        self._generation = 0

    # -- reads -----------------------------------------------------------------------------

    @property
    def any_blocks(self) -> bool:
        """Whether any block is in force (the order path's fast check)."""
        return bool(self._blocks)

    def blocks(self) -> list[TradingBlock]:
        """Every block in force, oldest first."""
        return [TradingBlock(iid, source, reason) for (iid, source, _), reason in self._blocks.items()]

    def blocked_reasons(self, instrument_id: InstrumentId) -> list[str]:
        """``"<source>: <reason>"`` of every block on the instrument or on every instrument."""
        return [
            f"{source}: {reason}"
            for (iid, source, _), reason in self._blocks.items()
            if iid is None or iid == instrument_id
        ]

    def is_blocked(self, instrument_id: InstrumentId) -> bool:
        return any(iid is None or iid == instrument_id for iid, _, _ in self._blocks)

    # -- changes ---------------------------------------------------------------------------

    def block(
        self,
        instrument_id: InstrumentId | None,
        source: str,
        reason: str,
        *,
        key: str = "",
        correlation_id: str | None = None,
        causation_id: str | None = None,
    ) -> bool:
        """Block new positions on ``instrument_id`` (``None``: all); returns whether it is new.

        A block already placed by the same source (and key) on the same scope is left as it
        is: no second event.
        """
        if not source or not reason:
            raise TradeloopError("a trading block needs a source and a reason")
        slot = (instrument_id, source, key)
        if slot in self._blocks:
            return False
        self._blocks[slot] = reason
        now = self._clock.timestamp_ns()
        self._bus.publish(
            TradingBlocked(
                id=self._ids.new_id(),
                correlation_id=correlation_id or self._ids.new_id(),
                causation_id=causation_id,
                ts_event=now,
                ts_init=now,
                instrument_id=instrument_id,
                reason=reason,
                source=source,
            )
        )
        return True

    def lift(
        self,
        instrument_id: InstrumentId | None,
        source: str,
        reason: str,
        *,
        key: str = "",
        correlation_id: str | None = None,
        causation_id: str | None = None,
    ) -> bool:
        """Lift the block of ``source`` (and key) on ``instrument_id``; returns whether one was."""
        if self._blocks.pop((instrument_id, source, key), None) is None:
            return False
        remaining = tuple(
            dict.fromkeys(
                other_source
                for iid, other_source, _ in self._blocks
                if iid is None or (instrument_id is not None and iid == instrument_id)
            )
        )
        now = self._clock.timestamp_ns()
        self._bus.publish(
            TradingAuthorized(
                id=self._ids.new_id(),
                correlation_id=correlation_id or self._ids.new_id(),
                causation_id=causation_id,
                ts_event=now,
                ts_init=now,
                instrument_id=instrument_id,
                reason=reason,
                source=source,
                blocked_by=remaining,
            )
        )
        return True

    # -- the calendar ----------------------------------------------------------------------

    def set_calendar(self, windows: Iterable[BlackoutWindow]) -> None:
        """Replace the blackout calendar: lift its old blocks, schedule the new windows."""
        self.clear_calendar("blackout calendar replaced")
        self._generation += 1
        now = self._clock.timestamp_ns()
        for number, window in enumerate(windows, start=1):
            if window.end_ns <= now:
                continue
            key = f"{self._generation}:{number}"
            name = f"risk.blackout.{key}"
            if window.start_ns <= now:
                self._open_window(window, key)
            else:
                self._alert(f"{name}.start", window.start_ns, self._opener(window, key))
            self._alert(f"{name}.end", window.end_ns, self._closer(window, key))

    def clear_calendar(self, reason: str) -> None:
        """Cancel the calendar's alerts and lift the blocks of its open windows."""
        for name in self._timers:
            self._clock.cancel_timer(name)
        self._timers.clear()
        for iid, source, key in [slot for slot in self._blocks if slot[1] == BLACKOUT_SOURCE]:
            self.lift(iid, source, reason, key=key)

    def _alert(self, name: str, at_ns: int, callback: TimerCallback) -> None:
        self._clock.set_time_alert(name, at_ns, callback)
        self._timers.append(name)

    def _open_window(self, window: BlackoutWindow, key: str) -> None:
        self.block(window.instrument_id, BLACKOUT_SOURCE, window.reason, key=key)

    def _opener(self, window: BlackoutWindow, key: str) -> TimerCallback:
        def fire(event: TimeEvent) -> None:
            self._timers.remove(event.name)
            self._open_window(window, key)

        return fire

    def _closer(self, window: BlackoutWindow, key: str) -> TimerCallback:
        def fire(event: TimeEvent) -> None:
            self._timers.remove(event.name)
            self.lift(window.instrument_id, BLACKOUT_SOURCE, f"blackout over: {window.reason}", key=key)

        return fire


# -- the trading state ----------------------------------------------------------------------


class TradingStateKeeper:
    """The account-wide trading state: the strictest of the base state and the holds.

    Every change of the resulting state is published as
    :class:`~tradeloop.risk.events.TradingStateChanged` with the reason of what changed it.
    ``reason`` is the reason of the state in force; ``check`` the risk check a REDUCING
    denial is counted under (``max_daily_loss`` while the daily loss limit holds the base
    state, else ``trading_state``).
    """

    __slots__ = (
        "_bus",
        "_clock",
        "_holds",
        "_ids",
        "base_check",
        "base_reason",
        "base_state",
        "check",
        "reason",
        "state",
    )

    def __init__(self, bus: MessageBus, clock: Clock, ids: IdFactory) -> None:
        self._bus = bus
        self._clock = clock
        self._ids = ids
        self._holds: dict[str, tuple[TradingState, str, str]] = {}  # name -> state, reason, check
        self.state = TradingState.ACTIVE
        self.reason = "initial state"
        self.check = "trading_state"
        self.base_state = TradingState.ACTIVE
        self.base_reason = "initial state"
        self.base_check = "trading_state"

    @property
    def holds(self) -> dict[str, tuple[TradingState, str]]:
        """The holds in force: name to (state, reason), oldest first."""
        return {name: (state, reason) for name, (state, reason, _) in self._holds.items()}

    def set_base(
        self, state: TradingState, reason: str, check: str, correlation_id: str, causation_id: str | None
    ) -> bool:
        """Set the base state; the same state again keeps its first reason. Returns whether
        the trading state changed."""
        if state is not self.base_state:
            self.base_state = state
            self.base_reason = reason
        self.base_check = check
        return self._settle(reason, correlation_id, causation_id)

    def hold(
        self,
        name: str,
        state: TradingState,
        reason: str,
        correlation_id: str,
        causation_id: str | None,
        check: str = "trading_state",
    ) -> bool:
        """Place (or replace) the hold ``name``; returns whether the trading state changed.

        ``check`` is what a REDUCING denial under this hold is counted as.
        """
        state = TradingState(state)
        if not name or not reason:
            raise TradeloopError("a trading state hold needs a name and a reason")
        if state is TradingState.ACTIVE:
            raise TradeloopError(f"hold {name!r}: a hold keeps REDUCING or HALTED, not ACTIVE")
        self._holds[name] = (state, reason, check)
        return self._settle(reason, correlation_id, causation_id)

    def release(self, name: str, reason: str, correlation_id: str, causation_id: str | None) -> bool:
        """Remove the hold ``name``; returns whether there was one."""
        if self._holds.pop(name, None) is None:
            return False
        self._settle(reason, correlation_id, causation_id)
        return True

    def _settle(self, reason: str, correlation_id: str, causation_id: str | None) -> bool:
        state, why, check = self.base_state, self.base_reason, self.base_check
        from_base = True
        for held, held_reason, held_check in self._holds.values():
            # The strictest wins; on a tie a hold outranks the base (it outlasts a new day).
            if _STRICTNESS[held] > _STRICTNESS[state] or (from_base and held is state):
                state, why, check, from_base = held, held_reason, held_check, False
        self.reason = why
        self.check = check
        previous = self.state
        if state is previous:
            return False
        self.state = state
        now = self._clock.timestamp_ns()
        self._bus.publish(
            TradingStateChanged(
                id=self._ids.new_id(),
                correlation_id=correlation_id,
                causation_id=causation_id,
                ts_event=now,
                ts_init=now,
                state=state,
                previous=previous,
                reason=reason,
            )
        )
        return True
