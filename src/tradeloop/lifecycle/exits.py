"""Exit decisions for open positions: which exit conditions fire, most urgent first.

This module is pure: no bus, no clock. :class:`WatchedPosition` is the lifecycle's state for
one open position, :class:`MarketSnapshot` what is known about its market at a check, and
:class:`ExitEvaluator` turns the two into :class:`ExitSignal`\\ s. The evaluator reads and never
changes the watched position; the caller

- feeds each fresh price to :meth:`WatchedPosition.update_trailing` before evaluating (and
  announces a move when it returns ``True``), and
- marks a scale-out level taken (:meth:`WatchedPosition.take_scale_out`) when it acts on that
  level's signal. Until then the level is reported again at every check, so a signal the
  caller had to pass over (another exit was already under way) is not lost.

Money thresholds are compared exactly: P&L as a percentage is never computed to compare it;
``pnl x 100 >= threshold x cost basis`` is checked on integer raws. Thresholds are compiled to
raws once per method. Volatility and edge are statistics, not money, and are floats.

The volatility ratio comes from a :class:`~tradeloop.lifecycle.volatility.VolatilityTracker`
the caller keeps; the market-close rule's calendar is a
:class:`~tradeloop.lifecycle.sessions.SessionClose` (weekdays only: no exchange holidays or
early closes).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal

from tradeloop.core.errors import ValueRangeError
from tradeloop.lifecycle.events import EXIT_PRIORITY, ExitPriority, ExitReason
from tradeloop.lifecycle.methods import ExitRules, MethodConfig
from tradeloop.lifecycle.sessions import SessionClose
from tradeloop.lifecycle.trailing import TrailingStop
from tradeloop.model.instruments import AssetClass, Instrument
from tradeloop.model.objects import FIXED_PRECISION, FIXED_SCALAR
from tradeloop.model.position import Position

__all__ = ["ExitEvaluator", "ExitSignal", "MarketSnapshot", "WatchedPosition"]

_HUNDRED_SCALED = 100 * FIXED_SCALAR  # 100 % as a percent raw
_CENT = Decimal("0.01")

_RANK: dict[ExitReason, tuple[int, int]] = {
    reason: (int(EXIT_PRIORITY[reason]), index) for index, reason in enumerate(ExitReason)
}
"""Sort key of a reason: its priority, then its place in the table of :class:`ExitReason`."""


def _raw(value: Decimal) -> int:
    """A config decimal (at most nine places, validated by the config) as a raw."""
    return int(value.scaleb(FIXED_PRECISION))


def _ns(seconds: Decimal) -> int:
    return int(seconds.scaleb(9))


def _fmt(value: Decimal) -> str:
    """A config decimal as written: ``15``, ``2.5``."""
    return f"{value.normalize():f}"


def _fmt_pct(numerator: int, denominator: int) -> str:
    """``numerator / denominator`` x 100, to two places (for details only)."""
    return f"{(Decimal(numerator * 100) / Decimal(denominator)).quantize(_CENT, ROUND_HALF_EVEN)}%"


def _fmt_price(raw: int, instrument: Instrument) -> str:
    """A price raw at the instrument's precision, or every digit when it is off that precision."""
    value = Decimal(raw).scaleb(-FIXED_PRECISION)
    precision = instrument.price_precision
    if raw % 10 ** (FIXED_PRECISION - precision) == 0:
        return f"{value.quantize(Decimal(1).scaleb(-precision)):f}"
    return f"{value.normalize():f}"


def _fmt_seconds(ns: int) -> str:
    return f"{Decimal(ns).scaleb(-9).normalize():f}s"


# -- data --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MarketSnapshot:
    """What is known about a position's market at a check.

    Parameters
    ----------
    price_raw:
        The mark.
    bid_raw, ask_raw:
        The best bid and ask, when quotes are known (the liquidity exit needs both).
    atr_raw:
        The ATR of the method's trailing ``atr_period``, when warm.
    volatility_ratio:
        Short-window over baseline standard deviation of returns
        (:attr:`~tradeloop.lifecycle.volatility.VolatilityTracker.ratio`), ``None`` until warm.
    edge:
        The latest edge of the instrument, a fraction (``0.07`` = 7 %).
    """

    price_raw: int
    bid_raw: int | None = None
    ask_raw: int | None = None
    atr_raw: int | None = None
    volatility_ratio: float | None = None
    edge: float | None = None


@dataclass(frozen=True, slots=True)
class ExitSignal:
    """One exit condition that fired.

    Parameters
    ----------
    reason, priority:
        Why, and how urgent (``priority`` must be the reason's, :data:`EXIT_PRIORITY`).
    quantity_raw:
        What to close: positive, on the lot grid (the whole position, or a scale-out share).
    detail:
        What was measured, e.g. ``"P&L -15.20% <= -15%"``.
    level:
        For ``SCALE_OUT``, the index of the level in the method's ``scale_out`` tuple (pass it
        to :meth:`WatchedPosition.take_scale_out` when acting on the signal); ``None`` otherwise.

    Raises
    ------
    ValueRangeError
        If the quantity is not positive, the priority is not the reason's, or a scale-out level
        is given for another reason (or missing for ``SCALE_OUT``).
    """

    reason: ExitReason
    priority: ExitPriority
    quantity_raw: int
    detail: str
    level: int | None = None

    def __post_init__(self) -> None:
        if self.quantity_raw <= 0:
            raise ValueRangeError(
                f"{self.reason}: exit quantity must be positive, got raw {self.quantity_raw}"
            )
        if EXIT_PRIORITY[self.reason] is not self.priority:
            raise ValueRangeError(
                f"{self.reason} has priority {EXIT_PRIORITY[self.reason].name}, not {self.priority.name}"
            )
        if (self.reason is ExitReason.SCALE_OUT) != (self.level is not None):
            raise ValueRangeError(f"{self.reason}: level is set exactly for SCALE_OUT signals")


# -- the watched position ----------------------------------------------------------------------


def _cost_basis_raw(position: Position) -> int:
    """What the open lots cost: avg_px_open x quantity x multiplier, as a money raw.

    That is minus the unrealized P&L at a mark of zero (plus it for a short), exact integer
    arithmetic through the position's public API.
    """
    return abs(position.unrealized_pnl_raw(0))


def _checked_basis(position: Position) -> int:
    basis = _cost_basis_raw(position)
    if basis == 0:
        raise ValueRangeError(
            f"{position.id}: the open lots have no cost basis (flat, or entered at a price of 0); "
            "a P&L percentage is undefined"
        )
    return basis


class WatchedPosition:
    """The lifecycle's state for one open position.

    Parameters
    ----------
    position:
        The live :class:`Position` (the portfolio's object: fills change it in place).
    method_name, method:
        The method that opened the position; its thresholds govern it.
    opened_ns:
        When the position opened (the max-holding exit counts from here).

    Attributes
    ----------
    trailing:
        The trailing stop, when the method has one; it trails from the average open price at
        the time the position is watched, to the tick grid's nearest raw.
    last_update_ns:
        When fresh data for the position last arrived; the caller sets it (stale alerts).

    Raises
    ------
    ValueRangeError
        If the position is flat.
    """

    __slots__ = (
        "_band_raw",
        "_levels",
        "_sl_raw",
        "_taken",
        "_target_raw",
        "last_update_ns",
        "method",
        "method_name",
        "opened_ns",
        "position",
        "trailing",
    )

    def __init__(self, position: Position, method_name: str, method: MethodConfig, opened_ns: int) -> None:
        net = position.net_raw
        if net == 0:
            raise ValueRangeError(f"{position.id} is flat; only an open position is watched")
        self.position = position
        self.method_name = method_name
        self.method = method
        self.opened_ns = opened_ns
        self.last_update_ns = opened_ns
        exits = method.exits
        rule = exits.trailing_stop
        self.trailing: TrailingStop | None = None
        if rule is not None:
            entry = position.avg_px_open.scaleb(FIXED_PRECISION).to_integral_value(ROUND_HALF_EVEN)
            self.trailing = TrailingStop(
                rule, long=net > 0, entry_raw=int(entry), instrument=position.instrument
            )
        self._taken: set[int] = set()
        self.use_method(method)

    def use_method(self, method: MethodConfig) -> None:
        """Take ``method``'s thresholds (set at the start, and by a config hot reload); the
        trailing stop keeps the rule and state it was opened with, and the scale-out levels
        already taken stay taken."""
        self.method = method
        exits = method.exits
        self._levels = len(exits.profit_target.scale_out) if exits.profit_target is not None else 0
        self._band_raw = _raw(method.monitor.urgent_band_pct)
        self._sl_raw = _raw(exits.stop_loss_pct) if exits.stop_loss_pct is not None else None
        self._target_raw = _raw(exits.profit_target.target_pct) if exits.profit_target is not None else None

    @property
    def long(self) -> bool:
        """Whether the position is long (by its size now)."""
        return self.position.net_raw > 0

    @property
    def scale_outs_taken(self) -> frozenset[int]:
        """Indexes of the scale-out levels already taken."""
        return frozenset(self._taken)

    def is_scale_out_taken(self, level_index: int) -> bool:
        """Whether scale-out level ``level_index`` was taken."""
        return level_index in self._taken

    def take_scale_out(self, level_index: int) -> None:
        """Mark scale-out level ``level_index`` taken: it is not reported again (idempotent).

        Raises
        ------
        ValueRangeError
            If the method has no such level.
        """
        if not 0 <= level_index < self._levels:
            raise ValueRangeError(
                f"{self.method_name}: no scale-out level {level_index} (the method has {self._levels})"
            )
        self._taken.add(level_index)

    def update_trailing(self, price_raw: int, atr_raw: int | None = None) -> bool:
        """Feed a price (and ATR) to the trailing stop; ``True`` when the stop moved.

        Without a trailing stop this does nothing and returns ``False``.
        """
        trailing = self.trailing
        return trailing.update(price_raw, atr_raw) if trailing is not None else False

    def pnl_pct(self, mark_raw: int) -> Decimal:
        """Unrealized P&L at ``mark_raw`` as a percentage of the cost basis.

        The cost basis is ``avg_px_open x quantity x multiplier``. The result is the quotient
        of two exact integers to ``Decimal``'s 28 significant digits; decisions do not use it
        (they compare the integers).

        Raises
        ------
        ValueRangeError
            If the open lots have no cost basis.
        """
        position = self.position
        basis = _checked_basis(position)
        return Decimal(position.unrealized_pnl_raw(mark_raw) * 100) / Decimal(basis)

    def near_stop_or_target(self, mark_raw: int) -> bool:
        """Whether the mark is within the method's ``urgent_band_pct`` (of the mark) of the
        stop-loss price, the trailing stop or the profit-target price, or already past one.

        Past counts as near: the exit fires there, and until it is done the position deserves
        the urgent interval. A flat position is never near.
        """
        position = self.position
        net = position.net_raw
        if net == 0:
            return False
        band_room = self._band_raw * abs(mark_raw)  # |mark - level| x 100 x 10**9 may be this much
        trailing = self.trailing
        if trailing is not None:
            stop = trailing.stop_raw
            if stop is not None and (
                trailing.is_hit(mark_raw) or abs(mark_raw - stop) * _HUNDRED_SCALED <= band_room
            ):
                return True
        if self._sl_raw is None and self._target_raw is None:
            return False
        basis = _cost_basis_raw(position)
        if basis == 0:
            return False
        # The price at P&L x % is basis x (100 + x) / (100 x size x multiplier) for a long and
        # basis x (100 - x) / (...) for a short: P&L is linear in the mark.
        long = net > 0
        den = 100 * abs(net) * position.instrument.multiplier
        pnl = position.unrealized_pnl_raw(mark_raw) * _HUNDRED_SCALED
        for pct_raw, loss in ((self._sl_raw, True), (self._target_raw, False)):
            if pct_raw is None:
                continue
            x = -pct_raw if loss else pct_raw
            past = pnl <= x * basis if loss else pnl >= x * basis
            num = basis * (_HUNDRED_SCALED + x if long else _HUNDRED_SCALED - x)
            if past or abs(mark_raw * den - num) * _HUNDRED_SCALED <= band_room * den:
                return True
        return False

    def __repr__(self) -> str:
        return f"WatchedPosition({self.position.id} method={self.method_name!r} taken={sorted(self._taken)})"


# -- the evaluator -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Level:
    pnl_raw: int
    close_raw: int
    pnl_pct: Decimal
    close_pct: Decimal


class ExitEvaluator:
    """Evaluates the exit conditions of one method against a watched position.

    Every threshold comes from ``method.exits``; a rule set to ``None`` is off. Thresholds are
    compiled once here, so keep one evaluator per method.

    Parameters
    ----------
    method:
        The method whose exit rules apply.
    """

    __slots__ = (
        "_close",
        "_edge",
        "_expiry_lead_ns",
        "_levels",
        "_max_hold_ns",
        "_needs_pnl",
        "_spread",
        "_stop_loss",
        "_target",
        "_volatility",
        "method",
    )

    def __init__(self, method: MethodConfig) -> None:
        self.method = method
        exits: ExitRules = method.exits
        # Each threshold: (compiled value, the config decimal for details), or None when off.
        self._stop_loss = (
            None if exits.stop_loss_pct is None else (_raw(exits.stop_loss_pct), exits.stop_loss_pct)
        )
        target = exits.profit_target
        self._target = (_raw(target.target_pct), target.target_pct) if target is not None else None
        self._levels = tuple(
            _Level(_raw(level.pnl_pct), _raw(level.close_pct), level.pnl_pct, level.close_pct)
            for level in (target.scale_out if target is not None else ())
        )
        self._needs_pnl = self._stop_loss is not None or self._target is not None
        spread = exits.max_spread_pct
        self._spread = (_raw(spread), spread) if spread is not None else None
        volatility = exits.volatility
        self._volatility = (float(volatility.ratio), volatility.ratio) if volatility is not None else None
        hold = exits.max_holding_seconds
        self._max_hold_ns = _ns(hold) if hold is not None else None
        # The edge is a float fraction; compare it with the threshold as a float fraction too,
        # so an edge of 0.05 meets a 5 % threshold exactly as written.
        edge = exits.edge_decay_pct
        self._edge = (float(edge / 100), edge) if edge is not None else None
        lead = exits.expiry_lead_seconds
        self._expiry_lead_ns = _ns(lead) if lead is not None else None
        self._close = SessionClose(exits.market_close) if exits.market_close is not None else None

    def evaluate(self, watched: WatchedPosition, market: MarketSnapshot, now_ns: int) -> list[ExitSignal]:
        """Every exit condition that fires now, most urgent first.

        Sorted by priority, ties in the table order of :class:`ExitReason` (scale-out levels in
        ascending order); the first signal wins. Reads ``watched`` and never changes it: update
        its trailing stop before, and mark a scale-out level taken when acting on it. A flat
        position gives no signals.

        Raises
        ------
        ValueRangeError
            If a P&L percentage is needed and the open lots have no cost basis.
        """
        position = watched.position
        net = position.net_raw
        if net == 0:
            return []
        qty = abs(net)
        mark = market.price_raw
        instrument = position.instrument
        out: list[ExitSignal] = []
        append = out.append

        pnl = pnl_scaled = basis = 0
        if self._needs_pnl:
            basis = _checked_basis(position)
            pnl = position.unrealized_pnl_raw(mark)
            pnl_scaled = pnl * _HUNDRED_SCALED  # P&L % x basis, at the percent-raw scale

        stop_loss = self._stop_loss
        if stop_loss is not None and pnl_scaled <= -stop_loss[0] * basis:
            detail = f"P&L {_fmt_pct(pnl, basis)} <= -{_fmt(stop_loss[1])}%"
            append(_signal(ExitReason.STOP_LOSS, qty, detail))

        trailing = watched.trailing
        if trailing is not None and trailing.active and trailing.is_hit(mark):
            stop = trailing.stop_raw
            assert stop is not None  # is_hit is False without a stop
            detail = f"trailing stop {_fmt_price(stop, instrument)} hit at {_fmt_price(mark, instrument)}"
            append(_signal(ExitReason.TRAILING_STOP, qty, detail))

        lead = self._expiry_lead_ns
        expiry = instrument.expiry_ns
        if lead is not None and expiry is not None and expiry - now_ns <= lead:
            left = expiry - now_ns
            detail = (
                f"{_fmt_seconds(left)} to expiry <= {_fmt_seconds(lead)}"
                if left >= 0
                else f"expired {_fmt_seconds(-left)} ago"
            )
            append(_signal(ExitReason.EXPIRY, qty, detail))

        close = self._close
        if close is not None and instrument.asset_class is AssetClass.EQUITY:
            to_close = close.ns_to_close(now_ns)
            if to_close is not None:
                rule = close.rule
                detail = (
                    f"{_fmt_seconds(to_close)} to the {rule.time} {rule.timezone} close "
                    f"<= {_fmt(rule.lead_seconds)}s"
                )
                append(_signal(ExitReason.MARKET_CLOSE, qty, detail))

        spread = self._spread
        bid, ask = market.bid_raw, market.ask_raw
        # A mid at or below zero gives no spread percentage: the check is skipped.
        # (ask - bid) / mid x 100 >= max, with mid = (bid + ask) / 2, cross-multiplied.
        if (
            spread is not None
            and bid is not None
            and ask is not None
            and bid + ask > 0
            and (ask - bid) * 2 * _HUNDRED_SCALED >= spread[0] * (bid + ask)
        ):
            detail = f"spread {_fmt_pct(2 * (ask - bid), bid + ask)} >= {_fmt(spread[1])}%"
            append(_signal(ExitReason.LIQUIDITY, qty, detail))

        target = self._target
        if target is not None:
            if pnl_scaled >= target[0] * basis:
                detail = f"P&L {_fmt_pct(pnl, basis)} >= {_fmt(target[1])}%"
                append(_signal(ExitReason.PROFIT_TARGET, qty, detail))
            elif self._levels:
                self._scale_outs(watched, pnl_scaled, basis, pnl, qty, out)

        ratio = market.volatility_ratio
        volatility = self._volatility
        if volatility is not None and ratio is not None and ratio >= volatility[0]:
            detail = f"volatility ratio {ratio:.2f} >= {_fmt(volatility[1])}"
            append(_signal(ExitReason.VOLATILITY, qty, detail))

        hold = self._max_hold_ns
        if hold is not None and now_ns - watched.opened_ns >= hold:
            detail = f"held {_fmt_seconds(now_ns - watched.opened_ns)} >= {_fmt_seconds(hold)}"
            append(_signal(ExitReason.MAX_HOLDING, qty, detail))

        edge = market.edge
        decay = self._edge
        if decay is not None and edge is not None and edge < decay[0]:
            append(_signal(ExitReason.EDGE_DECAY, qty, f"edge {edge * 100:.2f}% < {_fmt(decay[1])}%"))

        if len(out) > 1:
            out.sort(key=_signal_rank)
        return out

    def _scale_outs(
        self, watched: WatchedPosition, pnl_scaled: int, basis: int, pnl: int, qty: int, out: list[ExitSignal]
    ) -> None:
        position = watched.position
        peak = position.peak_raw
        instrument = position.instrument
        for index, level in enumerate(self._levels):
            if pnl_scaled < level.pnl_raw * basis:
                break  # levels ascend: none further is reached
            if watched.is_scale_out_taken(index):
                continue
            share = instrument.round_qty_raw_down(peak * level.close_raw // _HUNDRED_SCALED)
            share = min(share, qty)
            if share <= 0:
                continue
            detail = (
                f"P&L {_fmt_pct(pnl, basis)} >= {_fmt(level.pnl_pct)}%: scale-out level {index} closes "
                f"{_fmt(level.close_pct)}% of peak {instrument.qty_from_raw(peak)}"
            )
            out.append(_signal(ExitReason.SCALE_OUT, share, detail, index))


def _signal(reason: ExitReason, quantity_raw: int, detail: str, level: int | None = None) -> ExitSignal:
    return ExitSignal(reason, EXIT_PRIORITY[reason], quantity_raw, detail, level)


def _signal_rank(signal: ExitSignal) -> tuple[int, int]:
    return _RANK[signal.reason]
