"""The portfolio: positions, account, P&L, exposure and drawdown, projected from events.

It applies each fill after the execution engine and before any strategy (bus priority), and
marks positions to market on every bar (close), trade (price) and quote (mid). All money is
exact integer raws; ``Decimal``/``Money`` only at the read API.

Positions net per (strategy, instrument). A fill that crosses zero closes the position (the
whole commission is booked to the closing part) and opens a new one with the rest. Position
ids are deterministic: ``P-<instrument>-<strategy>-<n>``.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal

from tradeloop.core.bus import MessageBus
from tradeloop.core.clock import NANOS_PER_SECOND, Clock
from tradeloop.core.errors import TradeloopError
from tradeloop.core.ids import IdFactory, InstrumentId, PositionId, StrategyId
from tradeloop.model.account import Account
from tradeloop.model.data import Bar, QuoteTick, TradeTick
from tradeloop.model.enums import OrderSide
from tradeloop.model.events import (
    AccountStateChanged,
    OrderFilled,
    PositionChanged,
    PositionClosed,
    PositionEvent,
    PositionOpened,
)
from tradeloop.model.instruments import Instrument
from tradeloop.model.objects import FIXED_PRECISION, FIXED_SCALAR, Money, Price
from tradeloop.model.position import Position

__all__ = ["PRIORITY_PORTFOLIO", "Portfolio"]

PRIORITY_PORTFOLIO = 900
"""Bus priority: after the execution engine, before risk and strategies."""

_DAY_NS = 86_400 * NANOS_PER_SECOND


class Portfolio:
    """Positions and account of one trader, always current with the bus.

    Parameters
    ----------
    equity_sample_ns:
        Record an equity point at most this often (and at every fill); 0 records on every
        mark. The curve feeds reports; risk reads the live values.
    """

    def __init__(
        self,
        bus: MessageBus,
        clock: Clock,
        ids: IdFactory,
        account: Account,
        instruments: Iterable[Instrument] = (),
        *,
        equity_sample_ns: int = 60 * NANOS_PER_SECOND,
    ) -> None:
        self._bus = bus
        self._clock = clock
        self._ids = ids
        self.account = account
        self._instruments: dict[InstrumentId, Instrument] = {}
        self._open: dict[tuple[StrategyId, InstrumentId], Position] = {}
        self._closed: list[Position] = []
        self._purged_realized_raw = 0  # realized P&L of closed positions forgotten by purge_closed
        self._position_count: dict[tuple[StrategyId, InstrumentId], int] = {}
        self._net: dict[InstrumentId, int] = {}  # net size raw per instrument, all strategies
        self._marks: dict[InstrumentId, int] = {}
        # When each mark was taken (ns); a tick's counts 1 ns after its time. So a bar never
        # overrides a newer price, nor a tick of its own close time (it holds trades before that
        # time only), and the per-bar path compares and stores its time without arithmetic.
        self._mark_ns: dict[InstrumentId, int] = {}
        self._values: dict[InstrumentId, int] = {}  # signed market value raw per instrument
        self._value_raw = 0
        self.peak_equity_raw = account.cash_raw
        self.max_drawdown_raw = 0
        self._next_day = 0
        self.day_start_equity_raw = account.cash_raw
        self._sample_ns = equity_sample_ns
        self._next_sample = 0
        self.equity_curve: list[tuple[int, int]] = []
        self.fills = 0
        for instrument in instruments:
            self.add_instrument(instrument)
        bus.subscribe(OrderFilled, self._on_fill, priority=PRIORITY_PORTFOLIO)
        bus.subscribe(Bar, self._on_bar, priority=PRIORITY_PORTFOLIO)
        bus.subscribe(TradeTick, self._on_trade, priority=PRIORITY_PORTFOLIO)
        bus.subscribe(QuoteTick, self._on_quote, priority=PRIORITY_PORTFOLIO)

    def add_instrument(self, instrument: Instrument) -> None:
        if instrument.quote_currency != self.account.currency:
            raise TradeloopError(
                f"{instrument.id} is quoted in {instrument.quote_currency} but the account is in "
                f"{self.account.currency}; multi-currency accounts are not supported"
            )
        self._instruments[instrument.id] = instrument

    def instrument(self, instrument_id: InstrumentId) -> Instrument:
        try:
            return self._instruments[instrument_id]
        except KeyError:
            raise TradeloopError(f"unknown instrument {instrument_id}") from None

    # -- reads -----------------------------------------------------------------------------

    @property
    def currency(self) -> str:
        return self.account.currency

    @property
    def equity_raw(self) -> int:
        return self.account.cash_raw + self._value_raw

    def equity(self) -> Money:
        return Money(self.equity_raw, self.account.currency)

    def cash(self) -> Money:
        return self.account.cash

    def position(self, strategy_id: StrategyId, instrument_id: InstrumentId) -> Position | None:
        """The open position of a strategy on an instrument, if any."""
        return self._open.get((strategy_id, instrument_id))

    def positions_open(self, strategy_id: StrategyId | None = None) -> list[Position]:
        return [p for p in self._open.values() if strategy_id is None or p.strategy_id == strategy_id]

    def positions_closed(self, strategy_id: StrategyId | None = None) -> list[Position]:
        return [p for p in self._closed if strategy_id is None or p.strategy_id == strategy_id]

    def net_position_raw(self, instrument_id: InstrumentId) -> int:
        """Signed net size raw of all strategies on ``instrument_id``."""
        return self._net.get(instrument_id, 0)

    def is_flat(self, instrument_id: InstrumentId | None = None) -> bool:
        if instrument_id is None:
            return not any(self._net.values())
        return not self._net.get(instrument_id, 0)

    def last_price_raw(self, instrument_id: InstrumentId) -> int | None:
        return self._marks.get(instrument_id)

    def last_price(self, instrument_id: InstrumentId) -> Price | None:
        """The latest mark; a quote mid between two ticks keeps the decimal it needs."""
        raw = self._marks.get(instrument_id)
        if raw is None:
            return None
        precision = self.instrument(instrument_id).price_precision
        while raw % 10 ** (FIXED_PRECISION - precision):
            precision += 1
        return Price(raw, precision)

    def exposure_raw(self, instrument_id: InstrumentId) -> int:
        """Absolute market value raw of the net position on ``instrument_id``."""
        return abs(self._values.get(instrument_id, 0))

    def gross_exposure_raw(self) -> int:
        return sum(abs(v) for v in self._values.values())

    def net_exposure_raw(self) -> int:
        return self._value_raw

    def unrealized_pnl_raw(self) -> int:
        total = 0
        for pos in self._open.values():
            mark = self._marks.get(pos.instrument.id, pos.last_px_raw)
            total += pos.unrealized_pnl_raw(mark)
        return total

    def purge_closed(self, keep: int, *, keep_equity_points: int | None = None) -> int:
        """Forget all but the ``keep`` newest closed positions (their realized P&L stays in the
        totals) and, when given, all but the newest ``keep_equity_points`` of the equity curve.
        For long-running nodes; returns how many positions were forgotten."""
        if keep < 0:
            raise TradeloopError(f"purge_closed: keep must be >= 0, got {keep}")
        drop = max(0, len(self._closed) - keep)
        if drop:
            self._purged_realized_raw += sum(p.realized_pnl_raw for p in self._closed[:drop])
            del self._closed[:drop]
        if keep_equity_points is not None and len(self.equity_curve) > keep_equity_points:
            del self.equity_curve[: len(self.equity_curve) - keep_equity_points]
        return drop

    def realized_pnl_raw(self) -> int:
        """Realized P&L net of commissions over closed and open positions."""
        return (
            self._purged_realized_raw
            + sum(p.realized_pnl_raw for p in self._closed)
            + sum(p.realized_pnl_raw for p in self._open.values())
        )

    def daily_pnl_raw(self) -> int:
        """Equity change since the start of the current UTC day."""
        return self.equity_raw - self.day_start_equity_raw

    @property
    def drawdown_raw(self) -> int:
        return self.peak_equity_raw - self.equity_raw

    def drawdown_pct(self) -> Decimal:
        if self.peak_equity_raw <= 0:
            return Decimal(0)
        return Decimal(self.drawdown_raw) * 100 / Decimal(self.peak_equity_raw)

    def money(self, raw: int) -> Money:
        return Money(raw, self.account.currency)

    # -- marks -----------------------------------------------------------------------------

    # The day's P&L baseline is the equity before the first event of a new UTC day changes it,
    # so a gap from the last close to the day's first price counts in the new day. Sampling
    # comes after the event, so a curve point shows the equity the event produced.

    def _on_bar(self, bar: Bar) -> None:
        ts = bar.ts_event
        iid = bar.instrument_id
        if ts < self._mark_ns.get(iid, -1):
            return  # a bar built from ticks arrives after the newer tick that closed it
        self._mark_ns[iid] = ts
        if ts >= self._next_day:
            self._roll_day(ts)
        price = bar.close.raw
        self._marks[iid] = price
        if self._net.get(iid):
            self._revalue(iid, price)
        if ts >= self._next_sample:
            self._sample(ts)

    def _on_trade(self, tick: TradeTick) -> None:
        ts = tick.ts_event
        if ts >= self._next_day:
            self._roll_day(ts)
        iid = tick.instrument_id
        price = tick.price.raw
        self._marks[iid] = price
        self._mark_ns[iid] = ts + 1
        if self._net.get(iid):
            self._revalue(iid, price)
        if ts >= self._next_sample:
            self._sample(ts)

    def _on_quote(self, tick: QuoteTick) -> None:
        ts = tick.ts_event
        if ts >= self._next_day:
            self._roll_day(ts)
        iid = tick.instrument_id
        price = (tick.bid_price.raw + tick.ask_price.raw) // 2
        self._marks[iid] = price
        self._mark_ns[iid] = ts + 1
        if self._net.get(iid):
            self._revalue(iid, price)
        if ts >= self._next_sample:
            self._sample(ts)

    def _revalue(self, instrument_id: InstrumentId, price_raw: int) -> None:
        """Mark the net position of ``instrument_id`` at ``price_raw``; track peak and drawdown."""
        value = (
            price_raw * self._net[instrument_id] * self._instruments[instrument_id].multiplier // FIXED_SCALAR
        )
        self._value_raw += value - self._values[instrument_id]
        self._values[instrument_id] = value
        equity = self.account.cash_raw + self._value_raw
        if equity > self.peak_equity_raw:
            self.peak_equity_raw = equity
        elif self.peak_equity_raw - equity > self.max_drawdown_raw:
            self.max_drawdown_raw = self.peak_equity_raw - equity

    def _roll_day(self, ts: int) -> None:
        self._next_day = (ts // _DAY_NS + 1) * _DAY_NS
        self.day_start_equity_raw = self.account.cash_raw + self._value_raw

    def _sample(self, ts: int) -> None:
        self.equity_curve.append((ts, self.account.cash_raw + self._value_raw))
        self._next_sample = ts + self._sample_ns if self._sample_ns else ts + 1

    # -- fills -----------------------------------------------------------------------------

    def _on_fill(self, fill: OrderFilled) -> None:
        instrument = self.instrument(fill.instrument_id)
        if fill.ts_event >= self._next_day:
            self._roll_day(fill.ts_event)
        self.account.apply_fill(fill, instrument)
        self.fills += 1
        key = (fill.strategy_id, fill.instrument_id)
        qty = fill.last_qty.raw
        signed = qty if fill.order_side is OrderSide.BUY else -qty
        pos = self._open.get(key)
        events: list[PositionEvent] = []
        if pos is None:
            pos = self._new_position(key, instrument, fill.ts_event)
            pos.apply(fill, qty)
            pos.add_commission(fill.commission.raw)
            events.append(self._position_event(PositionOpened, pos, fill))
        elif (pos.net_raw > 0) == (signed > 0) or abs(signed) <= abs(pos.net_raw):
            pos.apply(fill, qty)
            pos.add_commission(fill.commission.raw)
            events.append(
                self._position_event(PositionClosed if pos.is_closed else PositionChanged, pos, fill)
            )
        else:
            closing = abs(pos.net_raw)
            pos.apply(fill, closing)
            pos.add_commission(fill.commission.raw)
            events.append(self._position_event(PositionClosed, pos, fill))
            self._retire(key, pos)
            pos = self._new_position(key, instrument, fill.ts_event)
            pos.apply(fill, qty - closing)
            events.append(self._position_event(PositionOpened, pos, fill))
        if pos.is_closed:
            self._retire(key, pos)
        iid = fill.instrument_id
        net = self._net.get(iid, 0) + signed
        self._net[iid] = net
        self._values.setdefault(iid, 0)
        self._revalue(iid, self._marks.setdefault(iid, fill.last_px.raw))
        self._sample(fill.ts_event)  # every fill is a point of the curve
        for event in events:
            self._bus.publish(event)
        now = self._clock.timestamp_ns()
        self._bus.publish(
            AccountStateChanged(
                id=self._ids.new_id(),
                correlation_id=fill.correlation_id,
                causation_id=fill.id,
                ts_event=fill.ts_event,
                ts_init=now,
                account_id=self.account.id,
                cash=self.account.cash,
                commissions=self.account.commissions,
            )
        )

    def _new_position(
        self, key: tuple[StrategyId, InstrumentId], instrument: Instrument, ts: int
    ) -> Position:
        n = self._position_count.get(key, 0) + 1
        self._position_count[key] = n
        pos = Position(PositionId(f"P-{key[1]}-{key[0]}-{n}"), instrument, key[0], ts)
        self._open[key] = pos
        return pos

    def _retire(self, key: tuple[StrategyId, InstrumentId], pos: Position) -> None:
        if self._open.get(key) is pos:
            del self._open[key]
            self._closed.append(pos)

    def _position_event(self, kind: type[PositionEvent], pos: Position, fill: OrderFilled) -> PositionEvent:
        # Keyword arguments, not a dict splatted in: this runs on every fill.
        id_ = self._ids.new_id()
        now = self._clock.timestamp_ns()
        avg_px_open = str(pos.avg_px_open)
        if kind is PositionClosed:
            return PositionClosed(
                id=id_,
                correlation_id=fill.correlation_id,
                causation_id=fill.id,
                ts_event=fill.ts_event,
                ts_init=now,
                strategy_id=pos.strategy_id,
                instrument_id=fill.instrument_id,
                position_id=pos.id,
                side=pos.side,
                quantity=pos.quantity,
                avg_px_open=avg_px_open,
                realized_pnl=pos.realized_pnl,
                last_px=fill.last_px,
                duration_ns=fill.ts_event - pos.ts_opened,
            )
        return kind(
            id=id_,
            correlation_id=fill.correlation_id,
            causation_id=fill.id,
            ts_event=fill.ts_event,
            ts_init=now,
            strategy_id=pos.strategy_id,
            instrument_id=fill.instrument_id,
            position_id=pos.id,
            side=pos.side,
            quantity=pos.quantity,
            avg_px_open=avg_px_open,
            realized_pnl=pos.realized_pnl,
            last_px=fill.last_px,
        )
